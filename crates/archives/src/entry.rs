//! Zip entry names → relative paths that cannot leave the folder they are joined under.
//!
//! A zip entry name is bytes chosen by whoever made the archive. "Zip slip" archives name
//! entries `../../.ssh/authorized_keys`, `/etc/passwd`, `C:\Windows\...` or
//! `..\..\x` (Windows tools write backslashes, and Windows reads them as separators), so a
//! name is accepted only when every component is an ordinary name. The result is safe to
//! *join*; whether each component is a valid file name on the destination is for
//! `ferry_core::names::sanitize` to decide when it is written.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Refusal;

/// How an entry name's bytes were turned into text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameDecoding {
    /// The bytes were valid UTF-8 (what every current exporter writes).
    Utf8,
    /// The bytes were not UTF-8 and were read as IBM code page 437, which is what the zip
    /// specification says a name without the UTF-8 flag is. CP437 maps every byte to a
    /// character, so nothing is lost and the name stays distinct from its neighbours, but a
    /// name written in some other legacy code page (Shift-JIS, CP1252) comes out garbled:
    /// worth a warning that names the entry.
    Cp437,
}

/// A normalised, '/'-separated path inside an archive: at least one component, none of them
/// empty, `.`, `..`, dots-and-spaces only, or starting with a drive letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelativePath {
    path: String,
    decoding: NameDecoding,
}

impl RelativePath {
    /// The path, components joined by `/`, with no leading, trailing or doubled slash.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// How the entry's name bytes were decoded.
    pub fn decoding(&self) -> NameDecoding {
        self.decoding
    }

    /// The components, outermost first. Never empty.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.path.split('/')
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// `root` with this path's components pushed one at a time; always inside `root`.
    pub fn join_under(&self, root: &Path) -> PathBuf {
        let mut out = root.to_path_buf();
        for component in self.components() {
            out.push(component);
        }
        out
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// Checks and normalises a zip entry name (the raw bytes, as stored in the archive).
///
/// Refuses empty names, NUL bytes, absolute paths (`/x`, `\x`, `\\server\share`),
/// `..` components, components of only dots and spaces (Windows trims trailing dots and
/// spaces, so `.. ` would become `..`), and components starting with a drive letter
/// (`C:`, `C:x`, which `PathBuf::push` on Windows treats as a new root). Backslashes are
/// separators, as they are to the Windows tools that write them. `./` components, doubled
/// slashes and a trailing slash (directory entries) are dropped.
pub fn safe_entry_path(name: &[u8]) -> Result<RelativePath, Refusal> {
    if name.is_empty() {
        return Err(Refusal::EmptyName(String::new()));
    }
    let (text, decoding) = decode(name);
    if name.contains(&0) {
        return Err(Refusal::Nul(text));
    }
    if text.starts_with(['/', '\\']) {
        return Err(Refusal::Absolute(text));
    }
    let mut parts: Vec<&str> = Vec::new();
    for component in text.split(['/', '\\']) {
        match component {
            "" | "." => {}
            ".." => return Err(Refusal::ParentComponent(text)),
            c if c.trim_matches(['.', ' ']).is_empty() => return Err(Refusal::DotsOnly(text)),
            c if starts_with_drive(c) => return Err(Refusal::DriveLetter(text)),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(Refusal::EmptyName(text));
    }
    Ok(RelativePath {
        path: parts.join("/"),
        decoding,
    })
}

/// `C:`, `c:photos`: an ASCII letter then a colon.
fn starts_with_drive(component: &str) -> bool {
    let b = component.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

fn decode(name: &[u8]) -> (String, NameDecoding) {
    match std::str::from_utf8(name) {
        Ok(s) => (s.to_string(), NameDecoding::Utf8),
        Err(_) => (
            name.iter()
                .map(|&b| {
                    if b < 0x80 {
                        char::from(b)
                    } else {
                        CP437_HIGH[usize::from(b - 0x80)]
                    }
                })
                .collect(),
            NameDecoding::Cp437,
        ),
    }
}

/// Code page 437, bytes 0x80..=0xFF (the lower half is ASCII).
const CP437_HIGH: [char; 128] = [
    '\u{00c7}', '\u{00fc}', '\u{00e9}', '\u{00e2}', '\u{00e4}', '\u{00e0}', '\u{00e5}', '\u{00e7}',
    '\u{00ea}', '\u{00eb}', '\u{00e8}', '\u{00ef}', '\u{00ee}', '\u{00ec}', '\u{00c4}', '\u{00c5}',
    '\u{00c9}', '\u{00e6}', '\u{00c6}', '\u{00f4}', '\u{00f6}', '\u{00f2}', '\u{00fb}', '\u{00f9}',
    '\u{00ff}', '\u{00d6}', '\u{00dc}', '\u{00a2}', '\u{00a3}', '\u{00a5}', '\u{20a7}', '\u{0192}',
    '\u{00e1}', '\u{00ed}', '\u{00f3}', '\u{00fa}', '\u{00f1}', '\u{00d1}', '\u{00aa}', '\u{00ba}',
    '\u{00bf}', '\u{2310}', '\u{00ac}', '\u{00bd}', '\u{00bc}', '\u{00a1}', '\u{00ab}', '\u{00bb}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{2561}', '\u{2562}', '\u{2556}',
    '\u{2555}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255d}', '\u{255c}', '\u{255b}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252c}', '\u{251c}', '\u{2500}', '\u{253c}', '\u{255e}', '\u{255f}',
    '\u{255a}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256c}', '\u{2567}',
    '\u{2568}', '\u{2564}', '\u{2565}', '\u{2559}', '\u{2558}', '\u{2552}', '\u{2553}', '\u{256b}',
    '\u{256a}', '\u{2518}', '\u{250c}', '\u{2588}', '\u{2584}', '\u{258c}', '\u{2590}', '\u{2580}',
    '\u{03b1}', '\u{00df}', '\u{0393}', '\u{03c0}', '\u{03a3}', '\u{03c3}', '\u{00b5}', '\u{03c4}',
    '\u{03a6}', '\u{0398}', '\u{03a9}', '\u{03b4}', '\u{221e}', '\u{03c6}', '\u{03b5}', '\u{2229}',
    '\u{2261}', '\u{00b1}', '\u{2265}', '\u{2264}', '\u{2320}', '\u{2321}', '\u{00f7}', '\u{2248}',
    '\u{00b0}', '\u{2219}', '\u{00b7}', '\u{221a}', '\u{207f}', '\u{00b2}', '\u{25a0}', '\u{00a0}',
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

    fn ok(name: &str) -> String {
        safe_entry_path(name.as_bytes())
            .unwrap()
            .as_str()
            .to_string()
    }

    fn refused(name: &[u8]) -> Refusal {
        safe_entry_path(name).unwrap_err()
    }

    #[test]
    fn accepts_and_normalises_ordinary_names() {
        assert_eq!(ok("posts_1.json"), "posts_1.json");
        assert_eq!(ok("media/posts/202301/a.jpg"), "media/posts/202301/a.jpg");
        assert_eq!(
            ok("./Takeout//Google Photos/./x.jpg"),
            "Takeout/Google Photos/x.jpg"
        );
        assert_eq!(ok("Takeout/Google Fotos/"), "Takeout/Google Fotos");
        assert_eq!(ok("dir\\sub\\file.txt"), "dir/sub/file.txt");
        assert_eq!(ok("a/..b/c..d/.hidden"), "a/..b/c..d/.hidden");
        assert_eq!(
            ok("Zdjęcia Google/métadonnées.json"),
            "Zdjęcia Google/métadonnées.json"
        );
        assert_eq!(ok("notes/12:30.txt"), "notes/12:30.txt");
        let p = safe_entry_path(b"a/b/c.jpg").unwrap();
        assert_eq!(p.file_name(), "c.jpg");
        assert_eq!(p.components().collect::<Vec<_>>(), ["a", "b", "c.jpg"]);
        assert_eq!(p.decoding(), NameDecoding::Utf8);
        assert_eq!(
            p.join_under(Path::new("/root")),
            Path::new("/root/a/b/c.jpg")
        );
    }

    #[test]
    fn refuses_traversal_and_roots() {
        assert_eq!(refused(b""), Refusal::EmptyName(String::new()));
        assert!(matches!(refused(b"./"), Refusal::EmptyName(_)));
        assert!(matches!(refused(b"//"), Refusal::Absolute(_)));
        assert!(matches!(refused(b"/etc/passwd"), Refusal::Absolute(_)));
        assert!(matches!(
            refused(b"\\\\server\\share\\x"),
            Refusal::Absolute(_)
        ));
        assert!(matches!(refused(b"\\Windows\\x"), Refusal::Absolute(_)));
        assert!(matches!(refused(b"../x"), Refusal::ParentComponent(_)));
        assert!(matches!(refused(b"a/../../x"), Refusal::ParentComponent(_)));
        assert!(matches!(
            refused(b"a\\..\\..\\x"),
            Refusal::ParentComponent(_)
        ));
        assert!(matches!(refused(b"a/..\\x"), Refusal::ParentComponent(_)));
        assert!(matches!(refused(b"a/.. /x"), Refusal::DotsOnly(_)));
        assert!(matches!(refused(b"a/.../x"), Refusal::DotsOnly(_)));
        assert!(matches!(
            refused(b"C:\\Windows\\x"),
            Refusal::DriveLetter(_)
        ));
        assert!(matches!(refused(b"c:x"), Refusal::DriveLetter(_)));
        assert!(matches!(refused(b"a/D:/x"), Refusal::DriveLetter(_)));
        assert!(matches!(refused(b"a\0b"), Refusal::Nul(_)));
    }

    #[test]
    fn refusals_read_as_one_line() {
        let message = refused(b"../../.ssh/authorized_keys").to_string();
        assert_eq!(
            message,
            "entry name climbs out of the archive with `..`: \"../../.ssh/authorized_keys\""
        );
        assert!(!refused(b"a\n/../x").to_string().contains('\n'));
    }

    #[test]
    fn non_utf8_names_are_read_as_cp437() {
        // "Fotos/Señor.jpg" as an old Windows zip tool writes it (ñ is 0xA4 in CP437).
        let p = safe_entry_path(b"Fotos/Se\xa4or.jpg").unwrap();
        assert_eq!(p.as_str(), "Fotos/Señor.jpg");
        assert_eq!(p.decoding(), NameDecoding::Cp437);
        let all: Vec<u8> = (0x80..=0xff).collect();
        let p = safe_entry_path(&all).unwrap();
        assert_eq!(p.as_str().chars().count(), 128);
        assert!(p.as_str().starts_with("ÇüéâäàåçêëèïîìÄÅ"));
        assert!(p.as_str().ends_with("√ⁿ²■\u{a0}"));
    }

    /// Bytes that exercise the interesting cases far more often than uniform bytes would.
    fn hostile_name() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            3 => prop::sample::select(b"./\\:Cc a\0".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..24)
    }

    proptest! {
        #[test]
        fn accepted_paths_stay_under_the_root(name in hostile_name()) {
            let root = Path::new("/srv/ferry/extract");
            if let Ok(p) = safe_entry_path(&name) {
                let joined = p.join_under(root);
                let rest = joined.strip_prefix(root).expect("joined path left the root");
                let parts: Vec<_> = rest.components().collect();
                prop_assert!(parts.iter().all(|c| matches!(c, Component::Normal(_))), "{:?}", joined);
                prop_assert_eq!(parts.len(), p.components().count());
                // Normalising is idempotent.
                let again = safe_entry_path(p.as_str().as_bytes()).unwrap();
                prop_assert_eq!(again.as_str(), p.as_str());
            }
        }

        #[test]
        fn any_bytes_never_panic_and_never_yield_dot_dot(name in prop::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = safe_entry_path(&name) {
                prop_assert!(p.components().all(|c| !c.is_empty() && c != "." && c != ".."));
                prop_assert!(!p.as_str().contains('\\'));
            }
        }
    }
}
