//! Repair of Meta's mojibake.
//!
//! Instagram and Facebook exports write every UTF-8 *byte* of non-ASCII text as its own
//! `\u00XX` escape, so a JSON decoder yields `"ð\u{9f}\u{98}\u{82}"` for 😂 and `"KÃ¸benhavn"`
//! for København — in values and in object keys alike. The repair reads the characters back as
//! the bytes they were and decodes those as UTF-8.
//!
//! It must never damage text that arrived correctly, so it only acts when the string *can* be a
//! re-encoding: every character is at most U+00FF (a real emoji or `ř` rules that out) and
//! those bytes are valid UTF-8 (a lone `é`, byte 0xE9, is not). Genuine Latin-1-range text that
//! happens to be a valid re-encoding (the two characters `Ã©` typed on purpose) is
//! indistinguishable and gets repaired; in Meta exports that is the right bet.
//!
//! Run it over Meta trees only: Google Takeout writes proper UTF-8.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// The text `s` was before Meta re-encoded it, or `s` itself when it is not a re-encoding.
pub fn fix(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut bytes = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => bytes.push(b),
            // A character above U+00FF cannot come from one byte: the text is real Unicode.
            Err(_) => return Cow::Borrowed(s),
        }
    }
    match String::from_utf8(bytes) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(s),
    }
}

/// Repairs every string in a parsed Meta JSON tree, object keys included (Meta mangles keys
/// too: `"Navn pÃ¥ cookie"`). If two keys repair to the same text, the later one wins, as it
/// would have in the original file.
pub fn fix_json(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(fix_owned(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(fix_json).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (fix_owned(k), fix_json(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

/// [`fix`] without copying strings that need no repair.
fn fix_owned(s: String) -> String {
    match fix(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(fixed) => fixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What Meta does to a string: each UTF-8 byte becomes the character of the same number.
    fn latin1_mojibake(s: &str) -> String {
        s.bytes().map(char::from).collect()
    }

    /// Parses `escaped` the way an export's JSON string literal would be parsed.
    fn parsed(escaped: &str) -> String {
        serde_json::from_str(&format!("\"{escaped}\"")).unwrap()
    }

    #[test]
    fn repairs_the_reference_vectors() {
        let cases = [
            (r"\u00f0\u009f\u0098\u0082", "😂"),
            (r"K\u00c3\u00b8benhavn", "København"),
            (r"\u00e2\u0080\u0099", "\u{2019}"),
            (r"\u00e2\u009d\u00a4", "❤"),
            (r"f\u00e2\u0080\u00a6", "f…"),
            (r"\u00c5\u0099", "ř"),
            (r"T H \u00ce\u00a3", "T H Σ"),
            (r"\u00c3\u00a9", "é"),
            (r"\u00f0\u009f\u0098\u0080", "😀"),
        ];
        for (escaped, expected) in cases {
            assert_eq!(fix(&parsed(escaped)), expected, "{escaped}");
        }
    }

    #[test]
    fn leaves_genuine_text_alone() {
        for s in [
            "café",         // lone 0xE9 is not UTF-8
            "Ã",            // lone 0xC3 is a truncated sequence
            "Ãx",           // 0xC3 0x78: bad continuation byte
            "naïve façade", // Latin-1 accents that do not chain into UTF-8
            "København",    // ø is U+00F8, but 0xF8 is never valid UTF-8
            "Σ and 😂",     // above U+00FF
            "Ã© and ř",     // looks repairable, but ř proves it is real Unicode
            "plain ascii",
            "",
        ] {
            assert!(matches!(fix(s), Cow::Borrowed(b) if b == s), "{s:?}");
        }
    }

    #[test]
    fn fix_json_repairs_keys_and_nested_values() {
        let tree: Value = serde_json::from_str(
            r#"{"S\u00c3\u00b8g": [{"Navn p\u00c3\u00a5 cookie": "\u00e2\u009d\u00a4"}, 3, null, true],
                "title": "caf\u00e9", "n": 1.5}"#,
        )
        .unwrap();
        assert_eq!(
            fix_json(tree),
            json!({"Søg": [{"Navn på cookie": "❤"}, 3, null, true], "title": "café", "n": 1.5})
        );
    }

    proptest! {
        #[test]
        fn undoes_mojibake_of_any_string(s in any::<String>()) {
            let mangled = latin1_mojibake(&s);
            prop_assert_eq!(fix(&mangled), s);
        }

        #[test]
        fn never_touches_text_with_a_char_above_ff(
            head in any::<String>(),
            wide in proptest::char::range('\u{100}', char::MAX),
            tail in any::<String>(),
        ) {
            let s = format!("{head}{wide}{tail}");
            prop_assert_eq!(fix(&s), s.as_str());
        }

        #[test]
        fn fix_json_agrees_with_fix(k in any::<String>(), v in any::<String>()) {
            let fixed = fix_json(json!({ latin1_mojibake(&k): [latin1_mojibake(&v)] }));
            prop_assert_eq!(fixed, json!({ k: [v] }));
        }
    }
}
