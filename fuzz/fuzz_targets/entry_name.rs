//! `safe_entry_path` on arbitrary bytes: never panics, and what it accepts can never leave
//! the folder it is joined under.
#![no_main]

use std::path::{Component, Path};

use ferry_archives::safe_entry_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|name: &[u8]| {
    let Ok(path) = safe_entry_path(name) else {
        return;
    };
    let text = path.as_str();
    assert!(!text.is_empty());
    assert!(!text.starts_with('/'), "{text:?}");
    assert!(!text.contains('\\') && !text.contains('\0'), "{text:?}");
    for component in path.components() {
        assert!(!component.is_empty(), "{text:?}");
        assert!(
            !component.trim_matches(['.', ' ']).is_empty(),
            "dots-only component in {text:?}"
        );
        let b = component.as_bytes();
        assert!(
            !(b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'),
            "drive letter in {text:?}"
        );
    }
    let root = Path::new("/srv/ferry/extract");
    let joined = path.join_under(root);
    let rest = joined
        .strip_prefix(root)
        .expect("joined path left the root");
    assert!(
        rest.components().all(|c| matches!(c, Component::Normal(_))),
        "{joined:?}"
    );
    assert_eq!(rest.components().count(), path.components().count());
    // Normalising is idempotent.
    let again = safe_entry_path(text.as_bytes()).expect("a normalised path is accepted again");
    assert_eq!(again.as_str(), text);
});
