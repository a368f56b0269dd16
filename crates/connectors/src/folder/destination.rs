//! A local folder as a Destination, on the file-store kit ([`crate::file_store`]).
//!
//! Each item is written to its hidden staging name beside its final place, without a sync of
//! its own; `commit` makes a whole batch durable with one `syncfs` (the kernel's `sync`, scoped
//! to this file system), renames each file into place without ever replacing one
//! (`renameat2(RENAME_NOREPLACE)`), and syncs again so the new names are durable before the
//! engine journals them as done.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use ferry_core::names::TEMP_PREFIX;
use ferry_core::{
    Capabilities, Container, Content, DataType, EarlierLanding, Error, Holding, Landed, Result,
    Staged, Target, Uploaded,
};
use futures::{StreamExt, TryStreamExt};

use super::join_inside;
use crate::file_store::{
    ByteStream, DOCUMENTS, Entry, FileOps, FileStat, FileStoreDestination, Renamed, Staging,
    capabilities, container_parts, same_content,
};

/// A local folder as a destination.
pub type FolderDestination = FileStoreDestination<FolderFiles>;

impl FolderDestination {
    pub fn new(root: impl Into<PathBuf>) -> FolderDestination {
        // Renames are cheap: a few at once hide the trips to the blocking pool.
        FileStoreDestination::over(FolderFiles { root: root.into() }, "the folder", 8)
    }

    pub fn root(&self) -> &Path {
        &self.ops().root
    }
}

/// The folder's file operations: plain file-system calls, off the async threads.
pub struct FolderFiles {
    root: PathBuf,
}

impl FolderFiles {
    fn container_dir(&self, container: &str) -> Result<PathBuf> {
        join_inside(&self.root, container)
    }
}

fn io_err(what: &Path, err: io::Error) -> Error {
    Error::io(what.display(), &err)
}

/// Whether the file `id` under `root` is still what was landed, judged from its size and
/// modification time; `None` when there is no time to compare and only its bytes can tell.
fn quick_check(
    root: &Path,
    id: &str,
    bytes: u64,
    modified: Option<time::OffsetDateTime>,
) -> Option<bool> {
    let Ok(meta) =
        join_inside(root, id).and_then(|path| fs::metadata(&path).map_err(|e| io_err(&path, e)))
    else {
        return Some(false);
    };
    if !meta.is_file() || meta.len() != bytes {
        return Some(false);
    }
    let when = modified?;
    Some(filetime::FileTime::from_last_modification_time(&meta) == file_time(when))
}

impl FolderFiles {
    /// Whether the landed file's bytes hash to what was landed.
    async fn same_bytes(&self, landing: &EarlierLanding) -> bool {
        let Ok(path) = join_inside(&self.root, &landing.landed.id) else {
            return false;
        };
        let staged = Staged {
            token: String::new(),
            bytes: landing.landed.bytes,
            sha256: landing.sha256,
        };
        matches!(same_content(self, &path, &staged).await, Ok(Some(true)))
    }
}

/// Creates a staging file; a folder that vanished under a running job is made again rather
/// than blamed on the item.
fn create_staging(path: &Path) -> Result<File> {
    match File::create(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
            }
            File::create(path).map_err(|e| io_err(path, e))
        }
        other => other.map_err(|e| io_err(path, e)),
    }
}

/// Writes `bytes` to `target` whole or not at all: a staging file beside it, synced, then
/// renamed over it. Only a file ferry wrote is replaced (a document of the model, a page
/// of the viewer): anything else at that name is the person's, and stops the job.
fn replace_file(target: &Path, bytes: &[u8]) -> Result<()> {
    if !replaceable(target) {
        return Err(Error::permanent(format!(
            "{} is there and was not written by ferry; move it away and resume",
            target.display()
        )));
    }
    replace_file_unchecked(target, bytes)
}

/// [`replace_file`] without looking at what is there.
fn replace_file_unchecked(target: &Path, bytes: &[u8]) -> Result<()> {
    let dir = target
        .parent()
        .ok_or_else(|| Error::permanent(format!("{}: no folder", target.display())))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = dir.join(format!("{TEMP_PREFIX}{name}"));
    let mut file = create_staging(&staging)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&staging, target));
    if let Err(err) = written {
        let _ = fs::remove_file(&staging);
        return Err(io_err(target, err));
    }
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The file beside the documents that says whose they are: the route of the transfer that
/// wrote them. Hidden (the folder source skips it), and not a staging name.
const DOCUMENTS_OWNER: &str = ".ferry-documents-of";

/// Takes the documents at `marker`'s folder for `route`, unless another transfer's are
/// there: two transfers into one folder would otherwise replace each other's records.
fn claim(marker: &Path, route: &str) -> Result<()> {
    match fs::read_to_string(marker) {
        Ok(owner) if owner.trim() == route => Ok(()),
        Ok(_) => Err(Error::permanent(format!(
            "{} holds the records of another transfer; choose another folder, or move it \
             away and resume",
            marker.parent().unwrap_or(marker).display()
        ))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            replace_file_unchecked(marker, route.as_bytes())
        }
        Err(err) => Err(io_err(marker, err)),
    }
}

/// Whether `path` is free, or holds a document or page ferry wrote.
fn replaceable(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    const JSON_START: &[u8] = b"{\"model_version\":";
    const HTML_END: &[u8] = b"Written by ferry.</footer></body></html>\n";
    let mut file = match File::open(path) {
        Err(err) => return err.kind() == io::ErrorKind::NotFound,
        Ok(file) => file,
    };
    let mut start = [0u8; JSON_START.len()];
    if file.read_exact(&mut start).is_ok() && start == JSON_START {
        return true;
    }
    let mut end = [0u8; HTML_END.len()];
    file.seek(SeekFrom::End(-(HTML_END.len() as i64))).is_ok()
        && file.read_exact(&mut end).is_ok()
        && end == HTML_END
}

fn file_time(when: time::OffsetDateTime) -> filetime::FileTime {
    filetime::FileTime::from_unix_time(when.unix_timestamp(), when.nanosecond())
}

#[async_trait]
impl FileOps for FolderFiles {
    type Path = PathBuf;

    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = capabilities(None, 512);
        caps.holds.extend(
            DataType::ALL
                .into_iter()
                .filter(|t| !t.is_media())
                .map(|data_type| Holding {
                    data_type,
                    how: DOCUMENTS,
                }),
        );
        caps
    }

    async fn claim_documents(&self, route: &str) -> Result<()> {
        let marker = self.root.join("data").join(DOCUMENTS_OWNER);
        let route = route.to_owned();
        blocking(move || claim(&marker, &route)).await
    }

    async fn put_document(&self, path: &[String], bytes: Vec<u8>) -> Result<()> {
        let target = join_inside(&self.root, &path.join("/"))?;
        blocking(move || replace_file(&target, &bytes)).await
    }

    async fn check(&self) -> Result<()> {
        let root = self.root.clone();
        blocking(move || {
            match fs::metadata(&root) {
                Ok(meta) if !meta.is_dir() => Err(Error::permanent(format!(
                    "destination {} is a file, not a folder",
                    root.display()
                ))),
                Ok(_) => {
                    // Prove we can write before a long job starts.
                    let probe =
                        root.join(format!("{TEMP_PREFIX}probe-{}.part", std::process::id()));
                    File::create(&probe).map_err(|e| io_err(&root, e))?;
                    let _ = fs::remove_file(&probe);
                    Ok(())
                }
                // Created with the first folder; its parent must be there already (a typo in
                // a path should not silently build a tree somewhere).
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    match root.parent().filter(|p| !p.as_os_str().is_empty()) {
                        Some(parent) if !parent.is_dir() => Err(Error::permanent(format!(
                            "destination {}: its parent folder does not exist",
                            root.display()
                        ))),
                        _ => Ok(()),
                    }
                }
                Err(err) => Err(io_err(&root, err)),
            }
        })
        .await
    }

    async fn ensure_container(&self, container: &Container) -> Result<String> {
        let relative = container_parts(&[], container).join("/");
        let dir = self.container_dir(&relative)?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err(&dir, e))?;
        Ok(relative)
    }

    async fn put(
        &self,
        target: &Target,
        staging: PathBuf,
        mut content: Content,
    ) -> Result<Uploaded> {
        // The whole write runs in one blocking task that pulls chunks from the stream: one
        // trip to the blocking pool per file rather than one per system call.
        let path = staging.clone();
        // Messages name the file as the person will know it, not its staging name.
        let shown = self.container_dir(&target.container)?.join(&target.name);
        let modified = target.modified;
        let runtime = tokio::runtime::Handle::current();
        let result = blocking(move || {
            let mut file = create_staging(&path)?;
            while let Some(chunk) = runtime.block_on(content.stream.next()) {
                file.write_all(&chunk?).map_err(|e| io_err(&shown, e))?;
            }
            if let Some(when) = modified {
                filetime::set_file_handle_times(&file, None, Some(file_time(when)))
                    .map_err(|e| io_err(&path, e))?;
            }
            Ok(())
        })
        .await;
        match result {
            Ok(()) => Ok(Uploaded {
                token: staging.to_string_lossy().into_owned(),
                hash: None,
            }),
            Err(err) => {
                // A partial file is never left for someone to mistake for the real one.
                let _ = tokio::fs::remove_file(&staging).await;
                Err(err)
            }
        }
    }

    /// rsync's quick check: the file is there with the size and modification time ferry gave
    /// it. Without a time to compare, its bytes are hashed (the destination's, not the
    /// source's).
    async fn holds(&self, target: &Target, landed: &Landed, sha256: &[u8; 32]) -> Result<bool> {
        let check = EarlierLanding {
            target: target.clone(),
            landed: landed.clone(),
            sha256: *sha256,
        };
        Ok(self.holds_all(std::slice::from_ref(&check)).await[0])
    }

    /// The quick checks of a whole page in one blocking task: a re-run of 10,000 unchanged
    /// files is then 10,000 `stat`s, not 10,000 trips to the blocking pool.
    async fn holds_all(&self, landings: &[EarlierLanding]) -> Vec<bool> {
        let root = self.root.clone();
        let wanted: Vec<(String, u64, Option<time::OffsetDateTime>)> = landings
            .iter()
            .map(|l| (l.landed.id.clone(), l.landed.bytes, l.target.modified))
            .collect();
        let quick = blocking(move || {
            Ok(wanted
                .into_iter()
                .map(|(id, bytes, modified)| quick_check(&root, &id, bytes, modified))
                .collect::<Vec<_>>())
        })
        .await
        .unwrap_or_else(|_| vec![Some(false); landings.len()]);
        let mut answers = Vec::with_capacity(landings.len());
        for (landing, quick) in landings.iter().zip(quick) {
            answers.push(match quick {
                Some(answer) => answer,
                None => self.same_bytes(landing).await,
            });
        }
        answers
    }

    fn path(&self, dir: &str, name: &str) -> Result<PathBuf> {
        Ok(self.container_dir(dir)?.join(name))
    }

    fn id(&self, path: &PathBuf) -> String {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let parts: Vec<String> = relative
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        parts.join("/")
    }

    fn shown(&self, path: &PathBuf) -> String {
        path.display().to_string()
    }

    fn staged(&self, staged: &Staged) -> Result<Staging<PathBuf>> {
        Ok(Staging::Hidden(PathBuf::from(&staged.token)))
    }

    async fn rename_if_free(&self, from: &PathBuf, to: &PathBuf) -> Result<Renamed> {
        let (from, to) = (from.clone(), to.clone());
        blocking(move || {
            Ok(match rename_no_replace(&from, &to) {
                Ok(()) => Renamed::Done,
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Renamed::Taken,
                Err(err) if err.kind() == io::ErrorKind::NotFound && !from.exists() => {
                    Renamed::SourceGone
                }
                Err(err) => Renamed::Refused(io_err(&to, err)),
            })
        })
        .await
    }

    async fn stat(&self, path: &PathBuf) -> Result<Option<FileStat>> {
        let path = path.clone();
        blocking(move || match fs::metadata(&path) {
            Ok(meta) => Ok(Some(FileStat {
                is_file: meta.is_file(),
                size: Some(meta.len()),
                ..FileStat::default()
            })),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_err(&path, err)),
        })
        .await
    }

    async fn list(&self, dir: &str) -> Result<Option<Vec<Entry>>> {
        let dir = self.container_dir(dir)?;
        blocking(move || {
            let Ok(entries) = fs::read_dir(&dir) else {
                return Ok(None);
            };
            Ok(Some(
                entries
                    .flatten()
                    .map(|entry| Entry {
                        name: entry.file_name().to_string_lossy().into_owned(),
                        is_file: entry.file_type().is_ok_and(|t| t.is_file()),
                    })
                    .collect(),
            ))
        })
        .await
    }

    async fn delete(&self, path: &PathBuf) -> Result<()> {
        tokio::fs::remove_file(path)
            .await
            .map_err(|e| io_err(path, e))
    }

    async fn read_back(&self, path: &PathBuf) -> Result<Option<ByteStream>> {
        let file = match tokio::fs::File::open(path).await {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(io_err(path, err)),
        };
        let shown = path.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)
            .map_err(move |e| io_err(&shown, e));
        Ok(Some(stream.boxed()))
    }

    /// One `syncfs` makes the whole batch's bytes durable (one `fsync` a file elsewhere).
    async fn before_place(&self, batch: &[(Target, Staged)]) -> Result<()> {
        let root = self.root.clone();
        let files: Vec<PathBuf> = batch.iter().map(|(_, s)| PathBuf::from(&s.token)).collect();
        blocking(move || sync_data(&root, files.iter().map(PathBuf::as_path))).await
    }

    /// The renames themselves must be durable before the journal says "done".
    async fn after_place(&self, batch: &[(Target, Staged)]) -> Result<()> {
        let root = self.root.clone();
        let dirs: Vec<PathBuf> = batch
            .iter()
            .filter_map(|(t, _)| self.container_dir(&t.container).ok())
            .collect();
        blocking(move || sync_names(&root, &dirs)).await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::permanent(format!("file operation stopped: {e}")))?
}

#[cfg(target_os = "linux")]
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(from.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let to = CString::new(to.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    // File systems without RENAME_NOREPLACE: a hard link also refuses to replace.
    if err.raw_os_error() == Some(libc::EINVAL) || err.raw_os_error() == Some(libc::ENOSYS) {
        return link_then_unlink(from_path(&from), from_path(&to));
    }
    Err(err)
}

#[cfg(target_os = "linux")]
fn from_path(c: &std::ffi::CString) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(c.as_bytes()))
}

#[cfg(not(target_os = "linux"))]
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    link_then_unlink(from, to)
}

fn link_then_unlink(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

/// Makes the staged files' data durable: one `syncfs` for the whole batch on Linux, else one
/// `fsync` per file.
fn sync_data<'a>(root: &Path, files: impl Iterator<Item = &'a Path>) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        syncfs(root)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        for file in files {
            File::open(file)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_err(file, e))?;
        }
        Ok(())
    }
}

fn sync_names(root: &Path, dirs: &[PathBuf]) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = dirs;
        syncfs(root)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        let unique: std::collections::HashSet<&PathBuf> = dirs.iter().collect();
        for dir in unique {
            File::open(dir)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_err(dir, e))?;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn syncfs(root: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let dir = File::open(root).map_err(|e| io_err(root, e))?;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(io_err(root, io::Error::last_os_error()));
    }
    Ok(())
}
