//! Reading a ferry archive back: the manifest, the `data/` documents and where each media
//! item's bytes are.

use std::io::Read;

use ferry_core::model::{MODEL_VERSION, Record, Versioned};
use ferry_core::traits::Skipped;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::format::{
    self, AlbumsDoc, CheckInsDoc, CommentsDoc, EventsDoc, Manifest, MediaDoc, MessagesDoc,
    NotesDoc, PartInfo, PostsDoc, ProfilesDoc, StoriesDoc, ThreadsDoc,
};
use crate::catalogue::{Catalogue, Detection, Service};
use crate::vfs::ArchiveFs;

/// How deep under the root of the parts a ferry archive is looked for (users extract parts
/// into a folder of their own).
const MAX_DEPTH: usize = 3;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Head {
    format: String,
    model_version: u32,
}

/// Recognises a ferry archive by its `manifest.json` (or, when the last part is missing, by
/// a `part-<N>.json`, so that `read` can say what is missing).
pub fn detect(fs: &ArchiveFs) -> Option<Detection> {
    let marked = |is_marker: &dyn Fn(&str) -> bool| {
        fs.files().find_map(|(path, _)| {
            let (root, name) = match path.rsplit_once('/') {
                Some((folder, name)) => (path.get(..folder.len() + 1)?, name),
                None => ("", path),
            };
            if !is_marker(name) || root.matches('/').count() > MAX_DEPTH {
                return None;
            }
            let head: Head = fs.read_json(path).ok()?;
            (head.format == format::FORMAT_NAME).then(|| (root.to_owned(), head.model_version))
        })
    };
    let (root, version) =
        marked(&|name| name == format::MANIFEST).or_else(|| marked(&format::is_part_info))?;
    Some(Detection {
        service: Service::Ferry,
        era: format!(
            "model-{}",
            if version == 0 { MODEL_VERSION } else { version }
        ),
        root,
    })
}

fn doc<T: DeserializeOwned + Default>(fs: &ArchiveFs, catalogue: &mut Catalogue, path: &str) -> T {
    load_doc(fs, catalogue, path, true)
}

/// A document written only when it has records (notes, events, check-ins, new in model
/// version 3): absent means none.
fn optional_doc<T: DeserializeOwned + Default>(
    fs: &ArchiveFs,
    catalogue: &mut Catalogue,
    path: &str,
) -> T {
    load_doc(fs, catalogue, path, false)
}

fn load_doc<T: DeserializeOwned + Default>(
    fs: &ArchiveFs,
    catalogue: &mut Catalogue,
    path: &str,
    required: bool,
) -> T {
    let full = format!("{}{path}", catalogue.detection.root);
    if !fs.contains(&full) {
        if required {
            catalogue.problem(full, "missing from the archive");
        }
        return T::default();
    }
    match fs.read_json::<Versioned<T>>(&full) {
        Ok(doc) => {
            if doc.model_version > MODEL_VERSION {
                catalogue.problem(
                    full,
                    format!(
                        "written in model version {} by a newer ferry (this one reads {MODEL_VERSION}); read as far as understood",
                        doc.model_version
                    ),
                );
            }
            doc.body
        }
        Err(reason) => {
            catalogue.problem(full, reason);
            T::default()
        }
    }
}

/// Reads the records of a ferry archive. Media item ids are the ids the records were
/// exported with (so that an export round-trips exactly); `media_paths` maps each to the
/// path of its bytes in the file system.
pub fn read(fs: &ArchiveFs, detection: &Detection) -> Catalogue {
    let mut catalogue = Catalogue::new(detection.clone());
    let root = detection.root.clone();
    let manifest_path = format!("{root}{}", format::MANIFEST);
    let manifest: Option<Manifest> = if fs.contains(&manifest_path) {
        match fs.read_json(&manifest_path) {
            Ok(m) => Some(m),
            Err(reason) => {
                catalogue.problem(&manifest_path, reason);
                None
            }
        }
    } else {
        let parts = given_parts(fs, &root);
        catalogue.problem(
            &manifest_path,
            format!(
                "missing: the manifest is in the last part of the archive, which was not given \
                 (parts given: {parts})"
            ),
        );
        None
    };
    if let Some(manifest) = &manifest {
        for file in &manifest.files {
            let full = format!("{root}{}", file.path);
            match fs.get(&full) {
                None => catalogue.problem(
                    full,
                    format!(
                        "missing (it is in part {}, which was not given?)",
                        file.part
                    ),
                ),
                Some(entry) if entry.size != file.size => catalogue.problem(
                    full,
                    format!(
                        "is {} bytes, the manifest says {}: the archive is damaged",
                        entry.size, file.size
                    ),
                ),
                Some(_) => {}
            }
        }
    }

    let albums: AlbumsDoc = doc(fs, &mut catalogue, format::ALBUMS);
    catalogue
        .records
        .extend(albums.albums.into_iter().map(Record::Album));
    let media: MediaDoc = doc(fs, &mut catalogue, format::MEDIA);
    for entry in media.media {
        let full = format!("{root}{}", entry.path);
        if !fs.contains(&full) {
            catalogue.problem(
                &entry.item.id,
                format!("its bytes ({full}) are not in the parts given"),
            );
            continue;
        }
        catalogue.media_paths.insert(entry.item.id.clone(), full);
        catalogue.records.push(Record::Media(entry.item));
    }
    let posts: PostsDoc = doc(fs, &mut catalogue, format::POSTS);
    catalogue
        .records
        .extend(posts.posts.into_iter().map(Record::Post));
    let comments: CommentsDoc = doc(fs, &mut catalogue, format::COMMENTS);
    catalogue
        .records
        .extend(comments.comments.into_iter().map(Record::Comment));
    let stories: StoriesDoc = doc(fs, &mut catalogue, format::STORIES);
    catalogue
        .records
        .extend(stories.stories.into_iter().map(Record::Story));
    let threads: ThreadsDoc = doc(fs, &mut catalogue, format::THREADS);
    let mut message_files: Vec<String> = Vec::new();
    for entry in threads.threads {
        if !entry.messages.is_empty() {
            message_files.push(entry.messages.clone());
        }
        catalogue.records.push(Record::Thread(entry.thread));
    }
    // Messages whose thread was not exported have a file but no thread entry.
    let prefix = format!("{root}data/messages/");
    for (path, _) in fs.files_under(&prefix) {
        if let Some(relative) = path.strip_prefix(&root)
            && relative.ends_with(".json")
            && !message_files.iter().any(|f| f == relative)
        {
            message_files.push(relative.to_owned());
        }
    }
    for file in message_files {
        let messages: MessagesDoc = doc(fs, &mut catalogue, &file);
        catalogue
            .records
            .extend(messages.messages.into_iter().map(Record::Message));
    }
    let profiles: ProfilesDoc = doc(fs, &mut catalogue, format::PROFILE);
    catalogue
        .records
        .extend(profiles.profiles.into_iter().map(Record::Profile));
    let notes: NotesDoc = optional_doc(fs, &mut catalogue, format::NOTES);
    catalogue
        .records
        .extend(notes.notes.into_iter().map(Record::Note));
    let events: EventsDoc = optional_doc(fs, &mut catalogue, format::EVENTS);
    catalogue
        .records
        .extend(events.events.into_iter().map(Record::Event));
    let check_ins: CheckInsDoc = optional_doc(fs, &mut catalogue, format::CHECK_INS);
    catalogue
        .records
        .extend(check_ins.check_ins.into_iter().map(Record::CheckIn));
    catalogue
}

fn given_parts(fs: &ArchiveFs, root: &str) -> String {
    let parts: Vec<String> = fs
        .files_under(root)
        .filter_map(|(path, _)| path.strip_prefix(root))
        .filter(|name| format::is_part_info(name))
        .filter_map(|name| fs.read_json::<PartInfo>(&format!("{root}{name}")).ok())
        .map(|info| info.part.to_string())
        .collect();
    if parts.is_empty() {
        "unknown".into()
    } else {
        parts.join(", ")
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Files whose SHA-256 was checked and matched.
    pub ok: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files missing, of the wrong size or with the wrong SHA-256, and a missing manifest.
    pub problems: Vec<Skipped>,
}

/// Checks every file the manifest lists against its size and SHA-256 (reads everything).
pub fn verify(fs: &ArchiveFs, detection: &Detection) -> VerifyReport {
    let mut report = VerifyReport::default();
    let root = &detection.root;
    let manifest_path = format!("{root}{}", format::MANIFEST);
    let manifest: Manifest = match fs.read_json(&manifest_path) {
        Ok(m) => m,
        Err(reason) => {
            report.problems.push(Skipped {
                id: manifest_path,
                reason,
            });
            return report;
        }
    };
    for file in manifest.files {
        let full = format!("{root}{}", file.path);
        let mut problem = |reason: String| {
            report.problems.push(Skipped {
                id: full.clone(),
                reason,
            })
        };
        let mut reader = match fs.reader(&full) {
            Ok(r) => r,
            Err(e) => {
                problem(format!("cannot be read (part {}): {e}", file.part));
                continue;
            }
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        let failed = loop {
            match reader.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default();
                    hasher.update(chunk);
                    size += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e.to_string()),
            }
        };
        report.bytes += size;
        if let Some(e) = failed {
            problem(format!("cannot be read: {e}"));
        } else if size != file.size {
            problem(format!("is {size} bytes, the manifest says {}", file.size));
        } else if hex::encode(hasher.finalize()) != file.sha256 {
            problem("SHA-256 differs from the manifest: the file is damaged".into());
        } else {
            report.ok += 1;
        }
    }
    report
}
