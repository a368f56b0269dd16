//! A local folder as a Source.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_core::{Album, Content, Error, MediaItem, Page, Record, Result, Scope, Skipped, Source};
use std::io::Read;

use bytes::{Bytes, BytesMut};
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
        let position: u64 = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::permanent(format!("bad folder cursor {c:?}")))?,
        };
        let root = self.root.clone();
        let walk = self.walk.clone();
        let scope = scope.clone();
        tokio::task::spawn_blocking(move || list_page(&root, &walk, &scope, position))
            .await
            .map_err(|e| Error::permanent(format!("listing stopped: {e}")))?
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
        let rest = futures::stream::try_unfold((file, remaining), move |(mut file, remaining)| {
            let shown = shown.clone();
            async move {
                if remaining == 0 {
                    return Ok(None);
                }
                let (file, chunk) = blocking(move || {
                    let chunk = read_chunk(&mut file, Path::new(&shown), remaining)?;
                    Ok((file, chunk))
                })
                .await?;
                let left = remaining - chunk.len() as u64;
                Ok(if chunk.is_empty() {
                    None
                } else {
                    Some((chunk, (file, left)))
                })
            }
        });
        let stream = futures::stream::once(async move { Ok(head) })
            .filter(|chunk: &Result<Bytes>| {
                futures::future::ready(chunk.as_ref().map_or(true, |c| !c.is_empty()))
            })
            .chain(rest);
        Ok(Content::new(Box::pin(stream), Some(length)))
    }
}

/// Reads one chunk of at most `remaining` bytes (less only at the end of the file).
fn read_chunk(file: &mut std::fs::File, path: &Path, remaining: u64) -> Result<Bytes> {
    let want = remaining.min(READ_CHUNK as u64) as usize;
    let mut buf = BytesMut::zeroed(want);
    let mut filled = 0;
    while filled < want {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path.display(), &e)),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::permanent(format!("file read stopped: {e}")))?
}

fn list_page(
    root: &Path,
    walk: &Mutex<Option<(walkdir::IntoIter, u64)>>,
    scope: &Scope,
    position: u64,
) -> Result<Page> {
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

    let mut page = Page::default();
    let mut taken = 0;
    while taken < PAGE_ENTRIES {
        let Some(entry) = iter.next() else {
            *guard = None;
            return Ok(page);
        };
        taken += 1;
        *at += 1;
        match entry {
            Ok(entry) => describe_entry(root, &entry, scope, &mut page),
            Err(err) => {
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
                page.skipped.push(Skipped {
                    id: shown,
                    reason: format!("cannot read: {reason}"),
                });
            }
        }
    }
    page.next = Some(at.to_string());
    Ok(page)
}

/// The journal id of a path: relative to the root, `/`-separated.
fn relative_id(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.iter().map(|p| p.to_str()).collect();
    Some(parts?.join("/"))
}

fn describe_entry(root: &Path, entry: &walkdir::DirEntry, scope: &Scope, page: &mut Page) {
    let path = entry.path();
    let Some(id) = relative_id(root, path) else {
        page.skipped.push(Skipped {
            id: path.display().to_string(),
            reason: "name is not valid UTF-8".into(),
        });
        return;
    };
    let file_type = entry.file_type();
    if file_type.is_dir() {
        let path: Vec<String> = id.split('/').map(str::to_string).collect();
        page.records.push(Record::Album(Album {
            title: id.clone(),
            id,
            path,
            description: None,
            created: None,
            location: None,
        }));
        return;
    }
    if file_type.is_symlink() {
        page.skipped.push(Skipped {
            id,
            reason: "symbolic link, not followed".into(),
        });
        return;
    }
    if !file_type.is_file() {
        page.skipped.push(Skipped {
            id,
            reason: "not a regular file".into(),
        });
        return;
    }
    let file_name = entry.file_name().to_string_lossy().to_string();
    if file_name.starts_with(ferry_core::names::TEMP_PREFIX) {
        return; // ferry's own staging file from a transfer into this folder
    }

    let probe = match metadata::probe(path) {
        Ok(Some(found)) => found,
        Ok(None) => {
            page.skipped.push(Skipped {
                id,
                reason: "not a photo or video".into(),
            });
            return;
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
                page.skipped.push(Skipped {
                    id,
                    reason: format!("cannot read: {}", Error::io("", &err)),
                });
                return;
            }
        },
    };
    let kind = probe.kind;
    if !scope.wants(kind.data_type()) {
        return;
    }
    let meta = entry.metadata().ok();
    let modified = meta.as_ref().and_then(|m| metadata::mtime(m.modified()));
    let taken = probe.taken.or(modified);
    if !scope.in_range(taken.as_ref()) {
        return;
    }
    let albums = match id.rsplit_once('/') {
        Some((parent, _)) => vec![parent.to_string()],
        None => Vec::new(),
    };
    page.records.push(Record::Media(MediaItem {
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
    }));
}
