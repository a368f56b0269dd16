//! Reading the export archives Instagram, Facebook and Google Takeout hand out, and writing
//! ferry's own archive.
//!
//! Export archives are untrusted input: a zip from anywhere can name entries `../../.bashrc`,
//! claim a kilobyte and inflate to terabytes, or carry text Meta double-encoded. The modules
//! here are the primitives every reader stands on, so that no reader has to get them right
//! on its own:
//!
//! - [`entry`]: zip entry names → paths that cannot leave the folder they are joined under;
//! - [`limits`]: refusing zip bombs before and while inflating;
//! - [`mojibake`]: undoing Meta's Latin-1 re-encoding of UTF-8 text.

pub mod catalogue;
pub mod entry;
pub mod exif;
pub mod facebook;
pub mod ferry;
pub mod instagram;
pub mod limits;
pub mod mojibake;
pub mod source;
pub mod takeout;
pub mod vfs;

pub use catalogue::{Catalogue, Detection, Service};
pub use entry::{NameDecoding, RelativePath, safe_entry_path};
pub use limits::{BoundedReader, Budget, Limits};
pub use source::{ArchiveSource, SourceOptions};
pub use vfs::{ArchiveFs, FileEntry, PartError};

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why an export could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Part(#[from] PartError),
    #[error("{0}")]
    Html(String),
    #[error("{0}")]
    Unrecognised(String),
}

/// Whether a folder could hold an export at all, judged from names alone (no file is opened
/// or `stat`ed): every export ferry recognises has JSON or HTML files, zip parts at its top,
/// or a Google Photos folder. A folder of photos answers `false` after one pass of `readdir`,
/// sparing [`ArchiveFs::open`]'s walk, which reads every file's size (a tenth of a re-run's
/// time). An unreadable folder answers `true`: the full check then says what is wrong.
pub fn may_be_export(folder: &Path) -> bool {
    let mut folders = vec![(folder.to_path_buf(), true)];
    while let Some((dir, top)) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return true;
        };
        for entry in entries {
            let Ok(entry) = entry else {
                return true;
            };
            let Ok(kind) = entry.file_type() else {
                return true;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let lower = name.to_ascii_lowercase();
            if kind.is_dir() {
                if takeout::is_root_name(&name) {
                    return true;
                }
                folders.push((entry.path(), false));
            } else if lower.ends_with(".json")
                || lower.ends_with(".html")
                || lower.ends_with(".htm")
                || top && vfs::is_zip_name(Path::new(&name))
            {
                return true;
            }
        }
    }
    false
}

/// Recognises what the parts hold (trying ferry's own archive first, then each service).
pub fn detect(fs: &ArchiveFs) -> Result<Detection, ReadError> {
    let readers: [fn(&ArchiveFs) -> Option<Detection>; 4] = [
        ferry::detect,
        instagram::detect,
        facebook::detect,
        takeout::detect,
    ];
    if let Some(found) = readers.iter().find_map(|detect| detect(fs)) {
        return Ok(found);
    }
    if let Some(service) = html_export(fs) {
        return Err(ReadError::Html(format!(
            "this is {service} export in HTML format, which ferry cannot read: request a new \
             download in JSON format (Accounts Center → Your information and permissions → \
             Download your information → Format: JSON)"
        )));
    }
    Err(ReadError::Unrecognised(format!(
        "not an export ferry recognises ({} files, none of the marker files of an Instagram, \
         Facebook, Google Takeout or ferry archive)",
        fs.len()
    )))
}

/// Meta's HTML exports have the JSON exports' folders with `.html` files in them.
fn html_export(fs: &ArchiveFs) -> Option<&'static str> {
    let mut found = None;
    for (path, _) in fs.files() {
        if !path.ends_with(".html") {
            continue;
        }
        let has = |folder: &str| path.starts_with(folder) || path.contains(&format!("/{folder}"));
        if has("your_instagram_activity/")
            || has("personal_information/") && path.contains("instagram")
        {
            return Some("an Instagram");
        }
        if has("your_facebook_activity/") || has("your_activity_across_facebook/") {
            return Some("a Facebook");
        }
        if has("messages/inbox/") || has("posts/your_posts") || has("profile_information/") {
            found = Some("an Instagram or Facebook");
        }
    }
    found
}

/// Reads the given parts of one export: indexes them, recognises the export and reads it.
/// Entries the file system refused are added to the catalogue's problems, first.
pub fn read(paths: &[PathBuf], limits: Limits) -> Result<(Arc<ArchiveFs>, Catalogue), ReadError> {
    let fs = ArchiveFs::open(paths, limits)?;
    let detection = detect(&fs)?;
    let mut catalogue = match detection.service {
        Service::Ferry => ferry::read(&fs, &detection),
        Service::Instagram => instagram::read(&fs, &detection),
        Service::Facebook | Service::FacebookE2ee => facebook::read(&fs, &detection),
        Service::GoogleTakeout => takeout::read(&fs, &detection),
    };
    // Entries refused as unsafe come first, so that a short listing (`ferry inspect` shows
    // twenty) never hides them behind files that were merely not read.
    catalogue
        .problems
        .splice(0..0, fs.skipped().iter().cloned());
    catalogue.finish();
    Ok((Arc::new(fs), catalogue))
}

/// Why an archive, or one entry of it, was refused. Each message is one line a user can act
/// on, naming the entry where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("entry name is empty or names only the archive root: {0:?}")]
    EmptyName(String),
    #[error("entry name contains a NUL byte: {0:?}")]
    Nul(String),
    #[error("entry name is an absolute path: {0:?}")]
    Absolute(String),
    #[error("entry name climbs out of the archive with `..`: {0:?}")]
    ParentComponent(String),
    #[error("entry name starts a component with a drive letter: {0:?}")]
    DriveLetter(String),
    #[error(
        "entry name has a component of only dots and spaces, which Windows reads as `..`: {0:?}"
    )]
    DotsOnly(String),
    #[error("archive has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("archive inflates to more than {limit} bytes")]
    TotalTooLarge { limit: u64 },
    #[error(
        "entry inflates {uncompressed} bytes from {compressed} (more than {limit}× — a zip bomb?)"
    )]
    RatioTooHigh {
        compressed: u64,
        uncompressed: u64,
        limit: u64,
    },
    #[error("entry inflated past the {declared} bytes its header declares")]
    LongerThanDeclared { declared: u64 },
    #[error("JSON file of {size} bytes is larger than the {limit}-byte limit")]
    JsonTooLarge { size: u64, limit: u64 },
    #[error(
        "the archive holds this path more than once (twice in one part, or with different \
         bytes in two): which copy is genuine cannot be told, so every copy is left out"
    )]
    DuplicatePath,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_folders_with_export_names_may_be_exports() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("2019/Summer")).unwrap();
        std::fs::write(root.join("2019/Summer/a.jpg"), b"x").unwrap();
        std::fs::write(root.join("notes.txt"), b"x").unwrap();
        // A zip inside a folder is a file like any other; only zip parts at the top count.
        std::fs::write(root.join("2019/old.zip"), b"x").unwrap();
        assert!(!may_be_export(root));

        for (path, what) in [
            ("2019/Summer/a.jpg.supplemental-metadata.json", "a sidecar"),
            ("messages/inbox/x/message_1.HTML", "an HTML page"),
            ("takeout-001.zip", "a zip part"),
            ("Takeout/Google Photos/b.jpg", "a Google Photos folder"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, b"x").unwrap();
            assert!(may_be_export(dir.path()), "{what}");
        }
    }
}
