//! ferry's own export archive: writing it, and reading it back as a source.
//!
//! # Layout (format version 1)
//!
//! One zip, or parts `OUT-1.zip`, `OUT-2.zip`, … when more than one part is needed (a
//! single-part export is just `OUT.zip`). With encryption each part is its own age file:
//! `OUT.zip.age`, or `OUT-1.zip.age`, `OUT-2.zip.age`, …; decrypting each gives the zip.
//! Parts are written as `OUT-N.zip[.age].partial` and renamed only once all of them are
//! complete, so a crash never leaves something that looks finished.
//!
//! - `part-<N>.json` — the first entry of part N: `{"format":"ferry-archive",
//!   "format_version":1,"part":N}` (named after the part so that extracting every part
//!   into one folder overwrites nothing).
//! - `media/<album folder>/<file>` — the media bytes, stored (not recompressed). A media item
//!   in several albums is stored once, in the folder of its first album; `data/media.json`
//!   lists all its albums. Media in no album are in `media/Not in an album/`. Album folders
//!   follow the album's `path` (nested folders) or its title; names are made safe with
//!   `ferry_core::names` and unique per folder (`name (2).ext`).
//! - `data/*.json` — the records in the versioned model form (docs/model.md), each file
//!   `{"model_version":N,"<key>":[…]}`: `albums.json` (`albums`), `media.json` (`media`: a
//!   media item plus `path` of its bytes and their `sha256`), `posts.json` (`posts`),
//!   `comments.json` (`comments`), `stories.json` (`stories`), `threads.json` (`threads`: a
//!   thread plus `messages`, the path of its messages file, and `message_count`),
//!   `messages/<thread>.json` (`thread_id`, `messages`), `profile.json` (`profiles`), and,
//!   when there are any (model version 3), `notes.json` (`notes`), `events.json` (`events`)
//!   and `check_ins.json` (`check_ins`).
//! - `index.html` and `pages/*.html` — the offline viewer (see [`viewer`]). All links are
//!   relative: extract all parts into one folder and open `index.html`.
//! - `manifest.json` — the last entry of the last part: format name and version, model
//!   version, created time, generator, the sources' descriptions, counts per record type,
//!   every file's path, size, SHA-256 and part number, the items skipped with their reason,
//!   and `abandoned` entries (a media stream that failed half way leaves its partial bytes in
//!   the part, since a streaming zip cannot take them back; they belong to no record).
//!
//! A part is never larger than the split size, unless a single file is larger: it then
//! starts a part of its own (after `part-<N>.json`). A media item whose size the source does not
//! announce also starts a new part, since its size is only known once written.
//!
//! Records keep their ids, so an export read back ([`read`]) gives exactly the records that
//! were exported; media items keep their source ids too, with `Catalogue::media_paths`
//! mapping each to its bytes. Ids must therefore be unique within an export: with several
//! sources, a record whose type and id an earlier source already gave is skipped and
//! reported. A media item that cannot be opened, or whose stream fails, is skipped and
//! reported; an error that pauses a job (expired credentials, a full disk) aborts the export
//! and removes its `.partial` files.
//!
//! Encrypted (`.age`) parts are read like plain ones ([`crate::vfs`] decrypts them through a
//! seekable age reader) when `FERRY_EXPORT_PASSPHRASE` or `FERRY_AGE_IDENTITY` gives the key.

mod documents;
mod format;
mod reader;
pub mod viewer;
mod writer;

pub use documents::ArchiveDocuments;
pub use format::{
    FORMAT_NAME, FORMAT_VERSION, Manifest, ManifestFile, ManifestSkipped, MediaEntry, PartInfo,
    ThreadEntry,
};
pub use reader::{VerifyReport, detect, read, verify};
pub use writer::{
    Encryption, ExportOptions, ExportPhase, ExportProgress, ExportSummary, PartSummary, export,
    part_file_name,
};
