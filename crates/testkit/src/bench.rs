//! What the benchmarks of every crate share: writing their figures into docs/benchmarks.md.

use std::path::Path;

/// Replaces a bench's section of docs/benchmarks.md (between `<!-- NAME:start -->` and
/// `<!-- NAME:end -->`), or appends it when the page has none yet.
pub fn write_section(name: &str, body: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let section = format!("{start}\n{body}\n{end}");
    let updated = match (existing.find(&start), existing.find(&end)) {
        (Some(a), Some(b)) if a < b => format!(
            "{}{}{}",
            &existing[..a],
            section,
            &existing[b + end.len()..]
        ),
        _ => format!("{}\n\n{}\n", existing.trim_end(), section),
    };
    std::fs::write(&path, updated).expect("write docs/benchmarks.md");
}
