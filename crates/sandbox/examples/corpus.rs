//! Writes one tree of the export-archive corpus, to look at or to feed to `ferry inspect`:
//!
//!     cargo run -p ferry-sandbox --example corpus -- instagram 2025 /tmp/ig [PARTS]
//!
//! Services and eras: instagram (v1, 2021, 2022, 2025), facebook (pre2024, 2022, 2024, e2ee,
//! html), takeout (json, supplemental). With PARTS, the tree is also zipped into that many
//! parts next to it (`<dir>-zips/`). The manifest of what a reader must find is printed.

use std::path::PathBuf;

use ferry_sandbox::corpus::{facebook, instagram, takeout, zip_parts};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [service, era, dir, rest @ ..] = args.as_slice() else {
        eprintln!("usage: corpus SERVICE ERA DIR [PARTS]");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let manifest = match (service.as_str(), era.as_str()) {
        ("instagram", "v1") => instagram::write(&dir, instagram::Era::V1),
        ("instagram", "2021") => instagram::write(&dir, instagram::Era::Y2021),
        ("instagram", "2022") => instagram::write(&dir, instagram::Era::Y2022),
        ("instagram", "2025") => instagram::write(&dir, instagram::Era::Y2025),
        ("facebook", "pre2024") => facebook::write(&dir, facebook::Era::Pre2024),
        ("facebook", "2022") => facebook::write(&dir, facebook::Era::Y2022),
        ("facebook", "2024") => facebook::write(&dir, facebook::Era::Y2024),
        ("facebook", "e2ee") => facebook::write(&dir, facebook::Era::E2ee),
        ("facebook", "html") => facebook::write(&dir, facebook::Era::Html),
        ("takeout", "json") => takeout::write(&dir, takeout::Era::Json),
        ("takeout", "supplemental") => takeout::write(&dir, takeout::Era::Supplemental),
        _ => {
            eprintln!("unknown service or era: {service} {era}");
            std::process::exit(2);
        }
    }
    .expect("write the tree");
    if let Some(parts) = rest.first().and_then(|p| p.parse().ok()) {
        let zips = dir.with_extension("zips");
        let stem = format!("{service}-{era}");
        for part in zip_parts(&dir, &zips, &stem, parts).expect("zip the tree") {
            eprintln!("{}", part.display());
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&manifest).expect("manifest JSON")
    );
}
