//! Mojibake repair: never panics; leaves text that cannot be a re-encoding alone; undoes a
//! real re-encoding exactly.
#![no_main]

use std::borrow::Cow;

use ferry_archives::mojibake::{fix, fix_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let fixed = fix(text);
        // Anything above U+00FF is genuine Unicode: it must come back untouched.
        if text.chars().any(|c| u32::from(c) > 0xFF) {
            assert!(matches!(fixed, Cow::Borrowed(_)), "{text:?} → {fixed:?}");
        }
        if let Cow::Owned(repaired) = &fixed {
            // A repair makes the text strictly shorter in characters (multi-byte sequences
            // collapse), never longer.
            assert!(repaired.chars().count() < text.chars().count(), "{text:?}");
        }
        // What Meta does to text (each UTF-8 byte as its own character), `fix` undoes.
        let mangled: String = text.bytes().map(char::from).collect();
        assert_eq!(fix(&mangled), text, "{mangled:?}");
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = fix_json(value);
    }
});
