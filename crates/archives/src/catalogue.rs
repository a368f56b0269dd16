//! What a reader makes of an export: the records in ferry's model, where each media item's
//! bytes are, and what could not be read and why.
//!
//! Every reader (`instagram`, `facebook`, `takeout`, `ferry`) has the same two functions:
//!
//! ```ignore
//! pub fn detect(fs: &ArchiveFs) -> Option<Detection>;
//! pub fn read(fs: &ArchiveFs, detection: &Detection) -> Catalogue;
//! ```
//!
//! `detect` looks for the reader's marker files anywhere in the tree (users unpack exports
//! into extra folders), `read` never fails as a whole: a file it cannot read becomes a
//! problem in the catalogue and the rest is read.

use std::collections::BTreeMap;
use std::fmt;

use ferry_core::model::{MediaKind, Record};
use ferry_core::traits::Skipped;

use crate::vfs::ArchiveFs;

/// Which service made an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Instagram,
    Facebook,
    /// Messenger's separate download of end-to-end encrypted chats.
    FacebookE2ee,
    GoogleTakeout,
    /// ferry's own export archive.
    Ferry,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Instagram => "Instagram",
            Service::Facebook => "Facebook",
            Service::FacebookE2ee => "Messenger end-to-end encrypted chats",
            Service::GoogleTakeout => "Google Takeout",
            Service::Ferry => "ferry",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an export is and where in the tree it starts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Detection {
    pub service: Service,
    /// The layout era, as in archives.md ("v1", "2021", "2022", "2025"; "pre-2024", "2024";
    /// "json", "supplemental-metadata"; ferry's model version).
    pub era: String,
    /// The folder the export's own paths are relative to: "" or a prefix ending in '/'.
    pub root: String,
}

/// Everything read from one export.
#[derive(Clone, Debug)]
pub struct Catalogue {
    pub detection: Detection,
    /// Records in ferry's model. Albums come before the media that name them; readers may
    /// emit in any order otherwise ([`Catalogue::finish`] sorts).
    pub records: Vec<Record>,
    /// Media item id → path of its bytes in the [`ArchiveFs`].
    pub media_paths: BTreeMap<String, String>,
    /// Files and records that could not be read, with the reason; entries the file system
    /// itself refused are added by [`crate::read`].
    pub problems: Vec<Skipped>,
}

impl Catalogue {
    pub fn new(detection: Detection) -> Catalogue {
        Catalogue {
            detection,
            records: Vec::new(),
            media_paths: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    pub fn problem(&mut self, id: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Skipped {
            id: id.into(),
            reason: reason.into(),
        });
    }

    /// Puts albums first, keeping every other record in the order it was read, so that a
    /// source listing the catalogue page by page names each album before its items.
    ///
    /// In place: a stable sort would allocate a buffer as large as the catalogue (tens of MB
    /// for 200,000 messages), while albums are few and can be lifted out and put back.
    pub fn finish(&mut self) {
        let is_album = |r: &Record| matches!(r, Record::Album(_));
        let first_other = self.records.iter().position(|r| !is_album(r));
        let sorted = first_other.is_none_or(|at| !self.records[at..].iter().any(is_album));
        if sorted {
            return;
        }
        let albums: Vec<Record> = self.records.extract_if(.., |r| is_album(r)).collect();
        self.records.splice(0..0, albums);
    }
}

/// What a file is by its first bytes (read at least [`SNIFF_BYTES`]): a photo or video and its
/// MIME type, or `None`. Exports name files without extensions and with wrong ones (a `.HEIC`
/// holding a JPEG), so the extension is only a fallback for content `infer` does not know.
pub fn sniff(head: &[u8], file_name: &str) -> Option<(MediaKind, String)> {
    if let Some(found) = infer::get(head) {
        return MediaKind::of_mime(found.mime_type()).map(|k| (k, found.mime_type().to_owned()));
    }
    let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    let mime = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" | "heif" => "image/heic",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "3gp" => "video/3gpp",
        _ => return None,
    };
    MediaKind::of_mime(mime).map(|k| (k, mime.to_owned()))
}

/// Collects into a vector of exactly the items' size. `collect` over a filter starts at four
/// slots: for the one reaction most messages have, 384 bytes where 96 do, which for 200,000
/// messages is 58 MB of nothing.
pub(crate) fn exact<T>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = items.collect();
    v.shrink_to_fit();
    v
}

/// The start of a problem's reason for what a reader read but ferry's model has no place for,
/// followed by what that is.
pub(crate) const NOT_CARRIED: &str = "read, but not carried (ferry's model has no place for it)";

/// How many leading bytes [`sniff`] wants.
pub const SNIFF_BYTES: usize = 64;

/// Sniffs a file of the archive by content. `None` when it is not media or cannot be read.
pub fn sniff_file(fs: &ArchiveFs, path: &str) -> Option<(MediaKind, String)> {
    let head = fs.head(path, SNIFF_BYTES).ok()?;
    let name = path.rsplit('/').next().unwrap_or(path);
    sniff(&head, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_content_before_the_extension() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        assert_eq!(
            sniff(&jpeg, "photo.HEIC"),
            Some((MediaKind::Photo, "image/jpeg".into()))
        );
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2avc1mp41");
        assert_eq!(
            sniff(&mp4, "PxUCKAJD_17861590900598972").map(|s| s.0),
            Some(MediaKind::Video)
        );
        assert_eq!(sniff(b"{\"a\":1}", "x.json"), None);
        assert_eq!(
            sniff(b"", "empty.jpg"),
            Some((MediaKind::Photo, "image/jpeg".into()))
        );
    }
}
