//! The JSON documents of a ferry archive, shared by the writer and the reader.

use ferry_core::model::{
    Album, CheckIn, Comment, Event, MediaItem, Message, Note, Post, Profile, Story, Thread,
};
use serde::{Deserialize, Serialize};

/// `format` in `manifest.json` and `part-<N>.json`.
pub const FORMAT_NAME: &str = "ferry-archive";
/// The version of the archive layout (paths, manifest, part-<N>.json). The records inside carry
/// the model's own version (`model_version`).
pub const FORMAT_VERSION: u32 = 1;

pub const MANIFEST: &str = "manifest.json";
/// `part-<N>.json`, the first entry of part N: named after the part so that all parts can
/// be extracted into one folder.
pub fn part_info_name(part: u32) -> String {
    format!("part-{part}.json")
}

/// Whether an archive path (relative to the root) is a `part-<N>.json`.
pub fn is_part_info(path: &str) -> bool {
    path.strip_prefix("part-")
        .and_then(|p| p.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `part-<N>.json`, the first entry of every part.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PartInfo {
    pub format: String,
    pub format_version: u32,
    /// 1-based number of this part.
    pub part: u32,
}

/// `manifest.json`, the last entry of the last part.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub model_version: u32,
    /// RFC 3339, UTC.
    pub created: String,
    /// "ferry <version>".
    pub generator: String,
    /// What each source described itself as.
    pub sources: Vec<String>,
    /// Records per type ("album", "media", "post", …).
    pub counts: std::collections::BTreeMap<String, u64>,
    /// Every file of the archive except `manifest.json` itself and the `part-<N>.json` of each
    /// part, in the order written.
    pub files: Vec<ManifestFile>,
    /// Items that are not in the archive, with the reason.
    pub skipped: Vec<ManifestSkipped>,
    /// Entries a part holds that are not part of the archive: a media stream that failed half
    /// way had already written part of its bytes, which a streaming zip cannot take back.
    pub abandoned: Vec<ManifestFile>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManifestFile {
    /// Path inside the archive (relative, `/`-separated).
    pub path: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file's bytes (empty for abandoned entries).
    pub sha256: String,
    /// 1-based part number holding the file.
    pub part: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ManifestSkipped {
    pub id: String,
    pub reason: String,
}

/// An entry of `data/media.json`: the model's media item plus where its bytes are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaEntry {
    #[serde(flatten)]
    pub item: MediaItem,
    /// Path of the bytes inside the archive (under `media/`).
    pub path: String,
    /// Lowercase hex SHA-256 of the bytes.
    #[serde(default)]
    pub sha256: String,
}

/// An entry of `data/threads.json`: the model's thread plus the file holding its messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadEntry {
    #[serde(flatten)]
    pub thread: Thread,
    /// `data/messages/<name>.json`.
    pub messages: String,
    #[serde(default)]
    pub message_count: u64,
}

// The bodies of the `data/` documents; each file is `Versioned<Body>`, i.e.
// `{"model_version": N, "<key>": [...]}` (N: `MODEL_VERSION` when written).

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AlbumsDoc {
    pub albums: Vec<Album>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaDoc {
    pub media: Vec<MediaEntry>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PostsDoc {
    pub posts: Vec<Post>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommentsDoc {
    pub comments: Vec<Comment>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoriesDoc {
    pub stories: Vec<Story>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ThreadsDoc {
    pub threads: Vec<ThreadEntry>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MessagesDoc {
    pub thread_id: String,
    pub messages: Vec<Message>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfilesDoc {
    pub profiles: Vec<Profile>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NotesDoc {
    pub notes: Vec<Note>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsDoc {
    pub events: Vec<Event>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckInsDoc {
    pub check_ins: Vec<CheckIn>,
}

pub const ALBUMS: &str = "data/albums.json";
pub const MEDIA: &str = "data/media.json";
pub const POSTS: &str = "data/posts.json";
pub const COMMENTS: &str = "data/comments.json";
pub const STORIES: &str = "data/stories.json";
pub const THREADS: &str = "data/threads.json";
pub const PROFILE: &str = "data/profile.json";
pub const NOTES: &str = "data/notes.json";
pub const EVENTS: &str = "data/events.json";
pub const CHECK_INS: &str = "data/check_ins.json";
