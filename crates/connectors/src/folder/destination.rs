//! A local folder as a Destination.
//!
//! Each item is written to `.ferry-<hash>.part` beside its final place, without a sync of its
//! own; `commit` makes a whole batch durable with one `syncfs` (the kernel's `sync`, scoped to
//! this file system), renames each file into place without ever replacing one, and syncs again
//! so the new names are durable before the engine journals them as done.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_core::names::{NameRules, TEMP_PREFIX, with_suffix};
use ferry_core::{
    Capabilities, Container, Content, Destination, Error, Landed, Layout, Result, Staged, Target,
    Uploaded,
};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::join_inside;

pub struct FolderDestination {
    root: PathBuf,
    /// Folders this process staged files in: `finish` sweeps leftovers from them.
    staged_in: Arc<Mutex<HashSet<PathBuf>>>,
}

impl FolderDestination {
    pub fn new(root: impl Into<PathBuf>) -> FolderDestination {
        FolderDestination {
            root: root.into(),
            staged_in: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn container_dir(&self, container: &str) -> Result<PathBuf> {
        join_inside(&self.root, container)
    }

    /// The staging path of a target: deterministic, so that a re-upload after a crash
    /// overwrites the earlier attempt instead of leaving it behind.
    fn staging_path(&self, target: &Target) -> Result<PathBuf> {
        let digest = Sha256::digest(target.name.as_bytes());
        let dir = self.container_dir(&target.container)?;
        Ok(dir.join(format!("{TEMP_PREFIX}{}.part", hex::encode(&digest[..8]))))
    }
}

fn io_err(what: &Path, err: io::Error) -> Error {
    Error::io(what.display(), &err)
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

#[async_trait]
impl Destination for FolderDestination {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            layout: Layout::Folders,
            names: NameRules::default(),
            max_file_size: None,
            max_commit_batch: 512,
            max_album_items: None,
        }
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
        let relative = match container {
            Container::Folder(parts) => parts.join("/"),
            Container::Library => String::new(),
            Container::Album { title, .. } => title.clone(),
        };
        let dir = self.container_dir(&relative)?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_err(&dir, e))?;
        Ok(relative)
    }

    async fn upload(&self, target: &Target, mut content: Content) -> Result<Uploaded> {
        let staging = self.staging_path(target)?;
        if let Some(dir) = staging.parent()
            && let Ok(mut dirs) = self.staged_in.lock()
        {
            dirs.insert(dir.to_path_buf());
        }
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
                let mtime =
                    filetime::FileTime::from_unix_time(when.unix_timestamp(), when.nanosecond());
                filetime::set_file_handle_times(&file, None, Some(mtime))
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

    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>> {
        let root = self.root.clone();
        let count = batch.len();
        let dirs: Result<Vec<PathBuf>> = batch
            .iter()
            .map(|(t, _)| self.container_dir(&t.container))
            .collect();
        let outcome = blocking(move || {
            let dirs = dirs?;
            sync_data(&root, batch.iter().map(|(_, s)| Path::new(&s.token)))?;
            let results: Vec<Result<Landed>> = batch
                .iter()
                .zip(&dirs)
                .map(|((target, staged), dir)| place(dir, &target.container, &target.name, staged))
                .collect();
            // The renames themselves must be durable before the journal says "done".
            sync_names(&root, &dirs)?;
            Ok(results)
        })
        .await;
        match outcome {
            Ok(results) => results,
            Err(err) => (0..count).map(|_| Err(err.clone())).collect(),
        }
    }

    async fn find(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        let dir = self.container_dir(&target.container)?;
        let (container, name, staged) = (
            target.container.clone(),
            target.name.clone(),
            staged.clone(),
        );
        blocking(move || {
            for n in 1.. {
                let candidate = with_suffix(&name, n, &NameRules::default());
                let path = dir.join(&candidate);
                match same_content(&path, &staged) {
                    Ok(true) => return Ok(Some(landed(&container, &candidate, &staged))),
                    Ok(false) => continue,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(io_err(&path, err)),
                }
            }
            Ok(None)
        })
        .await
    }

    async fn discard(&self, staged: &Staged) {
        let _ = tokio::fs::remove_file(&staged.token).await;
    }

    /// rsync's quick check: the file is there with the size and modification time ferry gave
    /// it. Without a time to compare, its bytes are hashed (the destination's, not the
    /// source's).
    async fn holds(&self, target: &Target, landed: &Landed, sha256: &[u8; 32]) -> Result<bool> {
        let path = join_inside(&self.root, &landed.id)?;
        let modified = target.modified.map(|when| {
            filetime::FileTime::from_unix_time(when.unix_timestamp(), when.nanosecond())
        });
        let staged = Staged {
            token: String::new(),
            bytes: landed.bytes,
            sha256: *sha256,
        };
        blocking(move || {
            let Ok(meta) = fs::metadata(&path) else {
                return Ok(false);
            };
            if !meta.is_file() || meta.len() != staged.bytes {
                return Ok(false);
            }
            Ok(match modified {
                Some(when) => filetime::FileTime::from_last_modification_time(&meta) == when,
                None => same_content(&path, &staged).unwrap_or(false),
            })
        })
        .await
    }

    async fn finish(&self, containers: &[String]) -> Result<()> {
        let mut dirs: HashSet<PathBuf> =
            self.staged_in.lock().map(|d| d.clone()).unwrap_or_default();
        for container in containers {
            dirs.insert(self.container_dir(container)?);
        }
        blocking(move || {
            for dir in dirs {
                let Ok(entries) = fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with(TEMP_PREFIX) && name.ends_with(".part") {
                        let _ = fs::remove_file(entry.path());
                    }
                }
            }
            Ok(())
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::permanent(format!("file operation stopped: {e}")))?
}

fn landed(container: &str, name: &str, staged: &Staged) -> Landed {
    let id = if container.is_empty() {
        name.to_string()
    } else {
        format!("{container}/{name}")
    };
    Landed {
        id,
        bytes: staged.bytes,
        hash: None,
    }
}

/// Renames the staged file to `name`, or to the first `name (N)` that is free, unless one of
/// those already holds exactly these bytes (then that file is the item).
fn place(dir: &Path, container: &str, name: &str, staged: &Staged) -> Result<Landed> {
    let from = Path::new(&staged.token);
    for n in 1u32.. {
        let candidate = with_suffix(name, n, &NameRules::default());
        let to = dir.join(&candidate);
        match rename_no_replace(from, &to) {
            Ok(()) => return Ok(landed(container, &candidate, staged)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                if same_content(&to, staged).map_err(|e| io_err(&to, e))? {
                    let _ = fs::remove_file(from);
                    return Ok(landed(container, &candidate, staged));
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound && !from.exists() => {
                return Err(Error::retryable(format!(
                    "staged file for {name} disappeared"
                )));
            }
            Err(err) => return Err(io_err(&to, err)),
        }
    }
    unreachable!("the suffix counter is unbounded")
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

/// Whether the file at `path` holds exactly the staged bytes (size first, then SHA-256).
fn same_content(path: &Path, staged: &Staged) -> io::Result<bool> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() || meta.len() != staged.bytes {
        return Ok(false);
    }
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(<[u8; 32]>::from(hasher.finalize()) == staged.sha256)
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
        let unique: HashSet<&PathBuf> = dirs.iter().collect();
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
