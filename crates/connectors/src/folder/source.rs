//! A local folder as a Source.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_core::{
    Album, Content, Error, MediaItem, NoRecall, Page, Recall, Record, Result, Scope, Skipped,
    Source,
};
use std::io::Read;

use bytes::Bytes;
use futures::StreamExt;
use walkdir::WalkDir;

use super::{join_inside, metadata};

/// Entries per listed page: small enough to journal in one quick transaction.
const PAGE_ENTRIES: usize = 256;
/// Read size when streaming a file: large enough that a photo is one read, and that a video
/// costs few trips to the blocking pool.
const READ_CHUNK: usize = 1024 * 1024;

pub struct FolderSource {
    root: PathBuf,
    /// The walk in progress and how many entries it has handed out, so that consecutive pages
    /// continue it instead of walking again. A cursor that does not match (after a restart)
    /// walks from the start and skips what was already listed: the walk is sorted, so the
    /// same tree gives the same order.
    walk: Arc<Mutex<Option<(walkdir::IntoIter, u64)>>>,
}

impl FolderSource {
    /// A folder source; fails with a clear message when `root` is not a readable folder.
    pub fn open(root: impl Into<PathBuf>) -> Result<FolderSource> {
        let root = root.into();
        let meta = std::fs::metadata(&root)
            .map_err(|e| Error::io(format!("source {}", root.display()), &e))?;
        if !meta.is_dir() {
            return Err(Error::permanent(format!(
                "source {} is not a folder",
                root.display()
            )));
        }
        std::fs::read_dir(&root)
            .map_err(|e| Error::io(format!("source {}", root.display()), &e))?;
        Ok(FolderSource {
            root,
            walk: Arc::new(Mutex::new(None)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn new_walk(root: &Path) -> walkdir::IntoIter {
    WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
}

#[async_trait]
impl Source for FolderSource {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    async fn list(&self, scope: &Scope, cursor: Option<&str>) -> Result<Page> {
        self.list_recalling(scope, cursor, &NoRecall).await
    }

    /// A file whose size and modification time are those of an earlier listing keeps that
    /// listing's record: it is not sniffed or parsed again.
    async fn list_recalling(
        &self,
        scope: &Scope,
        cursor: Option<&str>,
        recall: &dyn Recall,
    ) -> Result<Page> {
        let position: u64 = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::permanent(format!("bad folder cursor {c:?}")))?,
        };
        let (root, walk) = (self.root.clone(), self.walk.clone());
        let (entries, next) =
            tokio::task::spawn_blocking(move || take_entries(&root, &walk, position))
                .await
                .map_err(|e| Error::permanent(format!("listing stopped: {e}")))??;
        let ids: Vec<String> = entries
            .iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| relative_id(&self.root, e.path()))
            .collect();
        let remembered: HashMap<String, MediaItem> = if ids.is_empty() {
            HashMap::new()
        } else {
            recall
                .recall(&ids)
                .await
                .into_iter()
                .filter(|item| item.revision.is_some())
                .map(|item| (item.id.clone(), item))
                .collect()
        };
        let root = self.root.clone();
        let scope = scope.clone();
        tokio::task::spawn_blocking(move || {
            let mut page = Page::default();
            for listed in probe_in_parallel(&root, entries, &scope, &remembered) {
                match listed {
                    Listed::Record(record) => page.records.push(*record),
                    Listed::Skipped(skipped) => page.skipped.push(skipped),
                    Listed::Nothing => {}
                }
            }
            page.next = next;
            page
        })
        .await
        .map_err(|e| Error::permanent(format!("listing stopped: {e}")))
    }

    async fn open(&self, item: &MediaItem) -> Result<Content> {
        let path = join_inside(&self.root, &item.id)?;
        let shown = path.display().to_string();
        // One blocking call opens the file and, when it is small, reads all of it: most photos
        // then cost a single trip to the blocking pool.
        let (file, length, head) = blocking(move || {
            let mut file = std::fs::File::open(&path).map_err(|e| Error::io(path.display(), &e))?;
            let length = file
                .metadata()
                .map_err(|e| Error::io(path.display(), &e))?
                .len();
            let head = read_chunk(&mut file, &path, length)?;
            Ok((file, length, head))
        })
        .await?;
        // The stream ends after `length` bytes: the file as it was when opened. A file that
        // shrinks meanwhile ends short, which the engine's length check turns into a retry.
        let remaining = length - head.len() as u64;
        let rest = read_ahead(file, shown, remaining);
        let stream = futures::stream::once(async move { Ok(head) })
            .filter(|chunk: &Result<Bytes>| {
                futures::future::ready(chunk.as_ref().map_or(true, |c| !c.is_empty()))
            })
            .chain(rest);
        Ok(Content::new(Box::pin(stream), Some(length)))
    }
}

/// Chunks read ahead of the consumer for a large file.
const READ_AHEAD_CHUNKS: usize = 2;

/// The rest of a file as a stream fed by one blocking reader that stays up to
/// `READ_AHEAD_CHUNKS` ahead, so that reading overlaps hashing and writing. Dropping the stream
/// stops the reader.
fn read_ahead(
    mut file: std::fs::File,
    shown: String,
    remaining: u64,
) -> impl futures::Stream<Item = Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(READ_AHEAD_CHUNKS);
    if remaining > 0 {
        #[cfg(target_os = "linux")]
        // SAFETY: advice on an open descriptor; it changes no memory.
        unsafe {
            use std::os::fd::AsRawFd;
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
        }
        tokio::task::spawn_blocking(move || {
            let mut left = remaining;
            while left > 0 {
                let chunk = read_chunk(&mut file, Path::new(&shown), left);
                let stop = match &chunk {
                    Ok(c) if c.is_empty() => return,
                    Ok(c) => {
                        left -= c.len() as u64;
                        false
                    }
                    Err(_) => true,
                };
                if tx.blocking_send(chunk).is_err() || stop {
                    return;
                }
            }
        });
    }
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })
}

/// Reads one chunk of at most `remaining` bytes (less only at the end of the file).
fn read_chunk(file: &mut std::fs::File, path: &Path, remaining: u64) -> Result<Bytes> {
    let want = remaining.min(READ_CHUNK as u64);
    // read_to_end fills spare capacity without zeroing it first.
    let mut buf = Vec::with_capacity(want as usize);
    loop {
        match file.take(want - buf.len() as u64).read_to_end(&mut buf) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path.display(), &e)),
        }
    }
    Ok(Bytes::from(buf))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::permanent(format!("file read stopped: {e}")))?
}

type Entry = walkdir::Result<walkdir::DirEntry>;

/// The next page's worth of walk entries (cheap: no file is opened), and the cursor after them.
fn take_entries(
    root: &Path,
    walk: &Mutex<Option<(walkdir::IntoIter, u64)>>,
    position: u64,
) -> Result<(Vec<Entry>, Option<String>)> {
    let mut guard = walk
        .lock()
        .map_err(|_| Error::permanent("folder walk poisoned"))?;
    let resumable = matches!(guard.as_ref(), Some((_, at)) if *at == position);
    if !resumable {
        let mut fresh = new_walk(root);
        for _ in 0..position {
            if fresh.next().is_none() {
                break;
            }
        }
        *guard = Some((fresh, position));
    }
    let Some((iter, at)) = guard.as_mut() else {
        unreachable!("set above")
    };

    // Walk a page's worth of entries (cheap); the caller probes them in parallel: probing
    // reads each file's head, and on a cold cache those reads are what listing costs.
    let mut entries = Vec::with_capacity(PAGE_ENTRIES);
    let mut finished = false;
    while entries.len() < PAGE_ENTRIES {
        match iter.next() {
            Some(entry) => entries.push(entry),
            None => {
                finished = true;
                break;
            }
        }
    }
    *at += entries.len() as u64;
    let next = (!finished).then(|| at.to_string());
    if finished {
        *guard = None;
    }
    Ok((entries, next))
}

/// Threads probing files at once while listing. Measured on a cold cache, 10,000 files of
/// 100 KiB: 4.0 s one at a time, 2.7 s with 8 threads, 2.2 s with 16.
const PROBE_THREADS: usize = 16;

enum Listed {
    Record(Box<Record>),
    Skipped(Skipped),
    Nothing,
}

/// Describes a page of entries. What needs no reading (folders, files an earlier listing
/// recognises) is described here; only the files to read are shared among threads: starting
/// threads for a page of remembered files would cost more than the page.
fn probe_in_parallel(
    root: &Path,
    entries: Vec<Entry>,
    scope: &Scope,
    remembered: &HashMap<String, MediaItem>,
) -> Vec<Listed> {
    let mut listed = Vec::with_capacity(entries.len());
    let mut to_read = Vec::new();
    for entry in &entries {
        match entry {
            Ok(entry) => match recognise(root, entry, scope, remembered) {
                Ok(known) => listed.push(known),
                Err(id) => {
                    to_read.push((listed.len(), entry, id));
                    listed.push(Listed::Nothing);
                }
            },
            Err(err) => listed.push(unreadable(err)),
        }
    }
    let per_thread = to_read.len().div_ceil(PROBE_THREADS).max(1);
    let probed: Vec<(usize, Listed)> = std::thread::scope(|threads| {
        let handles: Vec<_> = to_read
            .chunks(per_thread)
            .map(|chunk| {
                threads.spawn(move || {
                    chunk
                        .iter()
                        .map(|(at, entry, id)| (*at, read_entry(entry, id.clone(), scope)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![(
                        usize::MAX,
                        Listed::Skipped(Skipped {
                            id: String::new(),
                            reason: "listing thread failed".into(),
                        }),
                    )]
                })
            })
            .collect()
    });
    for (at, entry) in probed {
        match listed.get_mut(at) {
            Some(slot) => *slot = entry,
            None => listed.push(entry),
        }
    }
    listed
}

fn unreadable(err: &walkdir::Error) -> Listed {
    let shown = err
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let reason = err
        .io_error()
        .map(|e| {
            Error::io("", e)
                .to_string()
                .trim_start_matches(": ")
                .to_string()
        })
        .unwrap_or_else(|| err.to_string());
    Listed::Skipped(Skipped {
        id: shown,
        reason: format!("cannot read: {reason}"),
    })
}

/// The journal id of a path: relative to the root, `/`-separated.
fn relative_id(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.iter().map(|p| p.to_str()).collect();
    Some(parts?.join("/"))
}

/// An entry described without reading it, or `Err(id)` when only its content can tell what
/// it is.
fn recognise(
    root: &Path,
    entry: &walkdir::DirEntry,
    scope: &Scope,
    remembered: &HashMap<String, MediaItem>,
) -> std::result::Result<Listed, String> {
    let path = entry.path();
    let Some(id) = relative_id(root, path) else {
        return Ok(Listed::Skipped(Skipped {
            id: path.display().to_string(),
            reason: "name is not valid UTF-8".into(),
        }));
    };
    let file_type = entry.file_type();
    if file_type.is_dir() {
        let path: Vec<String> = id.split('/').map(str::to_string).collect();
        return Ok(Listed::Record(Box::new(Record::Album(Album {
            title: id.clone(),
            id,
            path,
            description: None,
            created: None,
            location: None,
        }))));
    }
    if file_type.is_symlink() {
        return Ok(Listed::Skipped(Skipped {
            id,
            reason: "symbolic link, not followed".into(),
        }));
    }
    if !file_type.is_file() {
        return Ok(Listed::Skipped(Skipped {
            id,
            reason: "not a regular file".into(),
        }));
    }
    if entry
        .file_name()
        .to_string_lossy()
        .starts_with(ferry_core::names::TEMP_PREFIX)
    {
        return Ok(Listed::Nothing); // ferry's own staging file from a transfer into this folder
    }

    if let Some(earlier) = remembered.get(&id)
        && entry.metadata().ok().as_ref().and_then(metadata::revision) == earlier.revision
    {
        let wanted =
            scope.wants(earlier.kind.data_type()) && scope.in_range(earlier.taken.as_ref());
        return Ok(if wanted {
            Listed::Record(Box::new(Record::Media(earlier.clone())))
        } else {
            Listed::Nothing
        });
    }
    Err(id)
}

/// A file described from its content: what it is, when it was taken, where.
fn read_entry(entry: &walkdir::DirEntry, id: String, scope: &Scope) -> Listed {
    let path = entry.path();
    let file_name = entry.file_name().to_string_lossy().to_string();
    let probe = match metadata::probe(path) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Listed::Skipped(Skipped {
                id,
                reason: "not a photo or video".into(),
            });
        }
        // Unreadable now (permissions): list it by its extension so that the move reports
        // the failure and a later resume can pick it up once it is readable.
        Err(err) => match metadata::kind_from_extension(path) {
            Some((kind, mime_type)) => metadata::Probe {
                kind,
                mime_type,
                taken: None,
                location: None,
            },
            None => {
                return Listed::Skipped(Skipped {
                    id,
                    reason: format!("cannot read: {}", Error::io("", &err)),
                });
            }
        },
    };
    let kind = probe.kind;
    if !scope.wants(kind.data_type()) {
        return Listed::Nothing;
    }
    let meta = entry.metadata().ok();
    let modified = meta.as_ref().and_then(|m| metadata::mtime(m.modified()));
    let revision = meta.as_ref().and_then(metadata::revision);
    let taken = probe.taken.or(modified);
    if !scope.in_range(taken.as_ref()) {
        return Listed::Nothing;
    }
    let albums = match id.rsplit_once('/') {
        Some((parent, _)) => vec![parent.to_string()],
        None => Vec::new(),
    };
    Listed::Record(Box::new(Record::Media(MediaItem {
        id,
        kind,
        file_name,
        caption: None,
        mime_type: probe.mime_type,
        size: meta.map(|m| m.len()),
        taken,
        uploaded: None,
        location: probe.location,
        albums,
        live_photo_of: None,
        revision,
    })))
}
