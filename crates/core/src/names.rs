//! File and folder names that are safe on every common file system, and deterministic
//! collision resolution.
//!
//! The rules are the intersection of what Linux, macOS, Windows (NTFS and FAT-family), Dropbox,
//! Koofr and WebDAV servers accept, so that a tree ferry writes can be copied anywhere:
//! no `/ \ : * ? " < > |`, no NUL or control characters, no reserved Windows device names,
//! no trailing dot or space, at most 255 bytes of UTF-8, and Unicode NFC.

use std::collections::HashSet;

use unicode_normalization::UnicodeNormalization;

/// The byte limit of one path component on ext4, APFS, NTFS (in UTF-16 units, which is never
/// fewer than UTF-8 bytes / 3) and most servers.
pub const MAX_NAME_BYTES: usize = 255;

/// How a destination compares and limits names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameRules {
    pub max_bytes: usize,
    /// Whether two names differing only in case are the same file there (macOS, Windows,
    /// Dropbox). Collisions are always resolved as if it were, so a tree stays portable.
    pub case_insensitive: bool,
}

impl Default for NameRules {
    fn default() -> Self {
        NameRules {
            max_bytes: MAX_NAME_BYTES,
            case_insensitive: true,
        }
    }
}

const FORBIDDEN: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|'];
const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "CONIN$",
    "CONOUT$",
];
/// ferry's own temporary files start with this; no item may be named like one.
pub const TEMP_PREFIX: &str = ".ferry-";
/// An extension longer than this is treated as part of the stem when truncating.
const MAX_EXTENSION_BYTES: usize = 16;

/// Makes one path component safe. Idempotent: a safe name comes back unchanged.
pub fn sanitize(name: &str, rules: &NameRules) -> String {
    let mut out: String = name
        .nfc()
        .map(|c| {
            if FORBIDDEN.contains(&c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();

    // Trailing dots and spaces are silently dropped by Windows, which would merge names.
    while out.ends_with('.') || out.ends_with(' ') {
        out.pop();
    }
    if out.is_empty() {
        out.push('_');
    }
    if is_reserved(&out) || out.starts_with(TEMP_PREFIX) {
        out.insert(0, '_');
    }
    let out = truncate(&out, rules.max_bytes);
    // Truncation can expose a trailing dot or space again.
    let trimmed = out.trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        "_".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Whether `name` would be a Windows device name, with or without an extension.
fn is_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem))
}

/// Splits "photo.jpg" into ("photo", ".jpg"); names without a usable extension have none.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(at) if at > 0 && name.len() - at <= MAX_EXTENSION_BYTES + 1 => name.split_at(at),
        _ => (name, ""),
    }
}

/// Cuts the stem at a character boundary so that stem + extension fit in `max` bytes.
fn truncate(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    let (stem, ext) = if ext.len() >= max {
        (name, "")
    } else {
        (stem, ext)
    };
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut.min(stem.len())) {
        cut -= 1;
    }
    format!("{}{}", &stem[..cut.min(stem.len())], ext)
}

/// The name a collision turns `name` into: "photo.jpg" → "photo (2).jpg", within the limit.
pub fn with_suffix(name: &str, n: u32, rules: &NameRules) -> String {
    if n <= 1 {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    let suffix = format!(" ({n})");
    let room = rules.max_bytes.saturating_sub(suffix.len() + ext.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}{}", &stem[..cut], suffix, ext)
}

/// The key two names collide on: NFC, and case-folded where the destination ignores case.
pub fn collision_key(name: &str, rules: &NameRules) -> String {
    if rules.case_insensitive {
        name.nfc().collect::<String>().to_lowercase()
    } else {
        name.nfc().collect()
    }
}

/// Hands out distinct safe names within one folder or album. Given the same names in the same
/// order it always hands out the same results, so a re-run maps every item to the same name.
#[derive(Debug, Default)]
pub struct NameAllocator {
    rules: NameRules,
    taken: HashSet<String>,
}

impl NameAllocator {
    pub fn new(rules: NameRules) -> Self {
        NameAllocator {
            rules,
            taken: HashSet::new(),
        }
    }

    /// A safe name for `wanted` not yet handed out here.
    pub fn allocate(&mut self, wanted: &str) -> String {
        let base = sanitize(wanted, &self.rules);
        for n in 1.. {
            let candidate = with_suffix(&base, n, &self.rules);
            if self.taken.insert(collision_key(&candidate, &self.rules)) {
                return candidate;
            }
        }
        unreachable!("the suffix counter is unbounded")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules() -> NameRules {
        NameRules::default()
    }

    #[test]
    fn replaces_what_file_systems_refuse() {
        let r = rules();
        assert_eq!(sanitize("Trip: \"Paris\"?", &r), "Trip_ _Paris__");
        assert_eq!(sanitize("a/b\\c*d<e>f|g", &r), "a_b_c_d_e_f_g");
        assert_eq!(sanitize("tab\there\u{0}nul\u{7f}", &r), "tab_here_nul_");
        assert_eq!(sanitize("ends with dots...", &r), "ends with dots");
        assert_eq!(sanitize("ends with space ", &r), "ends with space");
        assert_eq!(sanitize("", &r), "_");
        assert_eq!(sanitize("..", &r), "_");
        assert_eq!(sanitize(".", &r), "_");
        assert_eq!(sanitize("CON", &r), "_CON");
        assert_eq!(sanitize("com1.txt", &r), "_com1.txt");
        assert_eq!(sanitize("Lpt9 .jpg", &r), "_Lpt9 .jpg");
        assert_eq!(sanitize("CONTACTS.jpg", &r), "CONTACTS.jpg");
        assert_eq!(sanitize(".ferry-1234.part", &r), "_.ferry-1234.part");
        assert_eq!(sanitize("Été 🌞.jpg", &r), "Été 🌞.jpg");
    }

    #[test]
    fn normalises_to_nfc() {
        let decomposed = "E\u{301}te\u{301}.jpg";
        assert_eq!(sanitize(decomposed, &rules()), "Été.jpg");
    }

    #[test]
    fn truncates_long_names_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(200));
        let out = sanitize(&long, &rules());
        assert!(out.len() <= 255);
        assert!(out.ends_with(".jpeg"));
        let suffixed = with_suffix(&out, 12, &rules());
        assert!(suffixed.len() <= 255 && suffixed.ends_with(" (12).jpeg"));
    }

    #[test]
    fn collisions_get_numbered_suffixes_ignoring_case() {
        let mut names = NameAllocator::new(rules());
        assert_eq!(names.allocate("IMG_1.jpg"), "IMG_1.jpg");
        assert_eq!(names.allocate("img_1.JPG"), "img_1 (2).JPG");
        assert_eq!(names.allocate("IMG_1.jpg"), "IMG_1 (3).jpg");
        assert_eq!(names.allocate("IMG_1 (2).jpg"), "IMG_1 (2) (2).jpg");
        assert_eq!(names.allocate("a:b"), "a_b");
        assert_eq!(names.allocate("a?b"), "a_b (2)");
    }

    fn is_safe(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= MAX_NAME_BYTES
            && !name
                .chars()
                .any(|c| FORBIDDEN.contains(&c) || c.is_control())
            && !name.ends_with('.')
            && !name.ends_with(' ')
            && !is_reserved(name)
            && name != "."
            && name != ".."
            && name.nfc().collect::<String>() == name
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn sanitized_names_are_safe_and_stable(name in any::<String>()) {
            let once = sanitize(&name, &rules());
            prop_assert!(is_safe(&once), "unsafe: {:?}", once);
            prop_assert_eq!(sanitize(&once, &rules()), once.clone());
        }

        #[test]
        fn long_names_stay_safe(stem in "[a-zé🌞. ]{100,300}", ext in "[a-z]{0,5}") {
            let out = sanitize(&format!("{stem}.{ext}"), &rules());
            prop_assert!(is_safe(&out));
            for n in [2u32, 99, 100_000] {
                prop_assert!(is_safe(&with_suffix(&out, n, &rules())));
            }
        }

        #[test]
        fn no_two_items_share_a_name_and_the_mapping_is_stable(
            names in proptest::collection::vec("[aA:?. ]{0,3}(\\.[jJ][pP][gG])?( \\([0-9]\\))?", 1..60)
        ) {
            let assign = |names: &[String]| {
                let mut alloc = NameAllocator::new(rules());
                names.iter().map(|n| alloc.allocate(n)).collect::<Vec<_>>()
            };
            let first = assign(&names);
            let keys: HashSet<String> = first.iter().map(|n| collision_key(n, &rules())).collect();
            prop_assert_eq!(keys.len(), first.len(), "two items mapped to one name: {:?}", first);
            prop_assert!(first.iter().all(|n| is_safe(n)));
            prop_assert_eq!(assign(&names), first);
        }
    }
}
