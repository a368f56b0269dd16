//! The kit for file-store destinations: the local folder, WebDAV, Koofr and S3 each store named
//! files in folders, and place them the same way. What they share is written once here, in
//! [`FileStoreDestination`], the one [`Destination`] over a service's [`FileOps`]:
//!
//! - the staging name ([`staging_name`]): one hidden, stable name a target, beside its final
//!   place;
//! - placing (`commit`): the staged file is renamed to the target's name if that is free, else
//!   to the first free `name (N).ext`, unless one of those already holds these very bytes (then
//!   that file is the item and the staged copy is dropped); never replacing anything, a bounded
//!   number of items at a time;
//! - recognising content (`find`, and a name found taken): the size, then a hash the service
//!   keeps ([`FileOps::same_by_metadata`]), else the file read back and hashed (SHA-256);
//! - a staged copy found gone: an earlier commit whose answer was lost may have placed it;
//! - `finish`: every file with the staging prefix is swept from the job's containers and
//!   wherever this process staged.
//!
//! An adapter says what is truly its own: how to reach the service, how to put the bytes,
//! and the file operations (rename if free, stat, list, delete, read back).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use ferry_core::names::{NameRules, TEMP_PREFIX, with_suffix};
use ferry_core::{
    Capabilities, Container, Content, Destination, EarlierLanding, Error, Holding, Landed, Layout,
    Result, Staged, Target, Uploaded,
};

/// A file's bytes as [`FileOps::read_back`] streams them.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// What [`FileOps::stat`] knows of a file.
#[derive(Clone, Debug, Default)]
pub struct FileStat {
    /// A file (not a folder).
    pub is_file: bool,
    pub size: Option<u64>,
    /// A SHA-256 the service keeps for the file, in hex.
    pub sha256: Option<String>,
    /// An MD5 the service keeps for the file, in hex.
    pub md5: Option<String>,
}

/// One entry of a folder, as [`FileOps::list`] gives it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub is_file: bool,
}

/// What [`FileOps::rename_if_free`] did.
#[derive(Debug)]
pub enum Renamed {
    Done,
    /// Something has the target name: the kit looks at what.
    Taken,
    /// The file to rename is gone.
    SourceGone,
    /// Refused for another reason: the kit says this error unless the staged copy is gone.
    Refused(Error),
}

/// Where a staging token says the bytes are.
pub enum Staging<P> {
    /// Under a hidden staging name: `commit` places them.
    Hidden(P),
    /// Already under a final name (a store that shows a file only once it is complete, as
    /// S3 does, may write there straight away): `commit` confirms the size.
    InPlace(P),
}

/// What an adapter's `put` hands the engine to journal, as JSON, and reads back in `staged`.
pub trait StagingToken: Serialize + DeserializeOwned {
    /// Whose token, in messages: "a WebDAV", "an S3".
    const WHOSE: &'static str;

    fn parse(token: &str) -> Result<Self> {
        serde_json::from_str(token)
            .map_err(|e| Error::permanent(format!("not {} staging token ({e})", Self::WHOSE)))
    }

    /// The token of an upload of `shown` (the item's name, for messages).
    fn uploaded(&self, shown: &str) -> Result<Uploaded> {
        let token = serde_json::to_string(self)
            .map_err(|e| Error::permanent(format!("staging token for {shown}: {e}")))?;
        Ok(Uploaded { token, hash: None })
    }
}

/// The file operations of a file store, and what its service decides itself.
#[async_trait]
pub trait FileOps: Send + Sync + 'static {
    /// How the adapter names a file (a path, segments, a key).
    type Path: Clone + Send + Sync;

    fn describe(&self) -> String;
    fn capabilities(&self) -> Capabilities;
    async fn check(&self) -> Result<()>;
    async fn ensure_container(&self, container: &Container) -> Result<String>;

    /// Streams an item's bytes to `staging` (its [`staging_name`] in the target's container)
    /// and returns the token the engine journals. A failed put cleans up after itself.
    async fn put(&self, target: &Target, staging: Self::Path, content: Content)
    -> Result<Uploaded>;

    /// See [`Destination::holds`].
    async fn holds(&self, target: &Target, landed: &Landed, sha256: &[u8; 32]) -> Result<bool> {
        let _ = (target, landed, sha256);
        Ok(false)
    }

    /// See [`Destination::holds_all`].
    async fn holds_all(&self, landings: &[EarlierLanding]) -> Vec<bool> {
        ferry_core::holds_one_by_one(landings, |l| self.holds(&l.target, &l.landed, &l.sha256))
            .await
    }

    /// See [`Destination::share_link`].
    async fn share_link(&self, folder: &[String]) -> Result<Option<String>> {
        let _ = folder;
        Ok(None)
    }

    /// See [`Destination::claim_documents`].
    async fn claim_documents(&self, route: &str) -> Result<()> {
        let _ = route;
        Ok(())
    }

    /// See [`Destination::put_document`]; only a store that declares holding records as
    /// files is asked.
    async fn put_document(&self, path: &[String], bytes: Vec<u8>) -> Result<()> {
        let _ = bytes;
        Err(Error::permanent(format!(
            "{} cannot hold {}",
            self.describe(),
            path.join("/")
        )))
    }

    /// The path of `name` in the container `dir` (an id from `ensure_container`).
    fn path(&self, dir: &str, name: &str) -> Result<Self::Path>;
    /// The destination's id of the file at `path`.
    fn id(&self, path: &Self::Path) -> String;
    /// `path` in messages.
    fn shown(&self, path: &Self::Path) -> String;
    /// Where a token from [`FileOps::put`] says the bytes are.
    fn staged(&self, staged: &Staged) -> Result<Staging<Self::Path>>;

    /// Renames `from` to `to` unless something has that name: never replaces.
    async fn rename_if_free(&self, from: &Self::Path, to: &Self::Path) -> Result<Renamed>;
    /// What is at `path`; `None` when nothing is.
    async fn stat(&self, path: &Self::Path) -> Result<Option<FileStat>>;
    /// The entries of the container `dir`; `None` when it is not there.
    async fn list(&self, dir: &str) -> Result<Option<Vec<Entry>>>;
    async fn delete(&self, path: &Self::Path) -> Result<()>;
    /// The bytes of the file at `path`; `None` when it is gone. Only asked for when
    /// [`FileOps::same_by_metadata`] cannot tell: a store whose metadata always tells (Koofr
    /// keeps every file's MD5) need not read anything back.
    async fn read_back(&self, path: &Self::Path) -> Result<Option<ByteStream>> {
        Err(Error::permanent(format!(
            "{} is compared by its metadata, not read back",
            self.shown(path)
        )))
    }

    /// Whether a file of the staged size holds the staged bytes, judged from its metadata
    /// alone; `None` when it cannot tell (the file is then read back and hashed). By default,
    /// the SHA-256 the service keeps, when it keeps one.
    fn same_by_metadata(&self, stat: &FileStat, staged: &Staged) -> Option<bool> {
        let sha256 = stat.sha256.as_deref()?;
        Some(sha256.eq_ignore_ascii_case(&hex::encode(staged.sha256)))
    }

    /// Runs before a commit places its batch (the folder makes the staged bytes durable).
    async fn before_place(&self, batch: &[(Target, Staged)]) -> Result<()> {
        let _ = batch;
        Ok(())
    }

    /// Runs once a commit has placed its batch (the folder makes the new names durable).
    async fn after_place(&self, batch: &[(Target, Staged)]) -> Result<()> {
        let _ = batch;
        Ok(())
    }
}

/// The staging name of a target, one rule for every file store: `.ferry-<hex>` and the real
/// extension.
///
/// - Hidden (a leading dot) and reserved: `names::sanitize` never gives an item a name with
///   the prefix, so `finish` may sweep whatever has it, and the folder source skips it.
/// - Stable (a hash of the target's name): a re-upload after a crash replaces the earlier
///   attempt instead of leaving it behind.
/// - The real extension last, because services derive a file's type from its name (Koofr keeps
///   the type a file was stored with through a move), and never `.part`, which ownCloud and
///   Nextcloud refuse to store. A local folder loses nothing by it: the file is hidden and
///   swept all the same.
pub fn staging_name(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let extension = match name.rfind('.') {
        Some(at)
            if at > 0 && name.len() - at <= 17 && !name[at..].eq_ignore_ascii_case(".part") =>
        {
            &name[at..]
        }
        _ => "",
    };
    format!("{TEMP_PREFIX}{}{extension}", hex::encode(&digest[..8]))
}

/// `name`, `name (2)`, `name (3)`, …: the names an item may take, in order.
pub fn candidates(name: &str) -> impl Iterator<Item = String> + '_ {
    let rules = NameRules::default();
    (1..=u32::MAX).map(move |n| with_suffix(name, n, &rules))
}

/// The folders of `root` and then of a container: where an item of it goes.
pub fn container_parts(root: &[String], container: &Container) -> Vec<String> {
    let mut parts = root.to_vec();
    match container {
        Container::Folder(folders) => parts.extend(folders.iter().cloned()),
        Container::Album { title, .. } => parts.push(title.clone()),
        Container::Library => {}
    }
    parts
}

/// How every file store holds photos and videos.
pub const FILES_IN_FOLDERS: &str = "files in album folders, dated when taken";

/// How a file store that writes ferry's documents holds every other type.
pub const DOCUMENTS: &str = "data/*.json in ferry's archive layout, with its offline viewer";

/// What a file store can take: folders; names compared ignoring case (safe on stores that
/// ignore it, as Koofr and many disks do, and on a bucket synced to such a disk; harmless on
/// the others).
pub fn capabilities(max_file_size: Option<u64>, max_commit_batch: usize) -> Capabilities {
    Capabilities {
        holds: Holding::media(FILES_IN_FOLDERS),
        layout: Layout::Folders,
        names: NameRules::default(),
        max_file_size,
        max_commit_batch,
        max_album_items: None,
    }
}

/// How a streamed upload to `staging` ended, from the service's answer (`None`: the folder
/// is missing) and the source's failure, if any: what the service stored, else the error,
/// with the staging removed (or the folder made again by `make_folder`).
pub async fn settle_put<O: FileOps, T, F: Future<Output = Result<()>>>(
    ops: &O,
    staging: &O::Path,
    shown: &str,
    (outcome, failure): (Result<Option<T>>, Option<Error>),
    make_folder: impl FnOnce() -> F,
) -> Result<T> {
    match (outcome, failure) {
        (Ok(Some(stored)), None) => Ok(stored),
        (Ok(None), _) => {
            // Deleted under a running job: made again, and the engine sends the file again.
            make_folder().await?;
            Err(Error::retryable(format!(
                "uploading {shown}: its folder had vanished; it was made again"
            )))
        }
        (outcome, failure) => {
            delete_quietly(ops, staging).await;
            Err(match (failure, outcome) {
                (Some(source_error), _) => source_error,
                (None, Err(err)) => err,
                (None, Ok(_)) => Error::retryable(format!("uploading {shown} failed")),
            })
        }
    }
}

/// The type an item is stored with: the source's, else guessed from its name.
pub fn content_type(target: &Target) -> String {
    target.item.mime_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(&target.name)
            .first_or_octet_stream()
            .to_string()
    })
}

/// Whether the file at `path` holds exactly the staged bytes; `None` when nothing is there.
/// Size first, then the service's own hash, else the bytes read back and hashed.
pub async fn same_content<O: FileOps>(
    ops: &O,
    path: &O::Path,
    staged: &Staged,
) -> Result<Option<bool>> {
    let Some(stat) = ops.stat(path).await? else {
        return Ok(None);
    };
    if !stat.is_file || stat.size.is_some_and(|n| n != staged.bytes) {
        return Ok(Some(false));
    }
    if let Some(same) = ops.same_by_metadata(&stat, staged) {
        return Ok(Some(same));
    }
    let Some(mut stream) = ops.read_back(path).await? else {
        return Ok(None);
    };
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        if bytes > staged.bytes {
            return Ok(Some(false));
        }
        hasher.update(&chunk);
    }
    Ok(Some(
        bytes == staged.bytes && <[u8; 32]>::from(hasher.finalize()) == staged.sha256,
    ))
}

/// Deletes the file at `path`, saying only in the debug log when it cannot.
pub async fn delete_quietly<O: FileOps>(ops: &O, path: &O::Path) {
    if let Err(err) = ops.delete(path).await {
        tracing::debug!("could not remove {}: {err}", ops.shown(path));
    }
}

/// A destination of named files in folders, over a service's [`FileOps`].
pub struct FileStoreDestination<O: FileOps> {
    ops: O,
    /// Where the files are, in messages: "the folder", "Koofr", "the server", "the bucket".
    place: &'static str,
    /// How many staged files one commit places at once.
    commit_concurrency: usize,
    /// Containers this process staged files in: `finish` sweeps them.
    staged_in: Mutex<HashSet<String>>,
}

impl<O: FileOps> FileStoreDestination<O> {
    /// A destination over `ops`, on a store called `place` in messages, placing
    /// `commit_concurrency` files at once.
    pub(crate) fn over(
        ops: O,
        place: &'static str,
        commit_concurrency: usize,
    ) -> FileStoreDestination<O> {
        FileStoreDestination {
            ops,
            place,
            commit_concurrency,
            staged_in: Mutex::default(),
        }
    }

    pub(crate) fn ops(&self) -> &O {
        &self.ops
    }

    fn landed(&self, path: &O::Path, staged: &Staged) -> Landed {
        Landed {
            id: self.ops.id(path),
            bytes: staged.bytes,
            hash: None,
        }
    }

    async fn delete_quietly(&self, path: &O::Path) {
        delete_quietly(&self.ops, path).await;
    }

    async fn gone(&self, path: &O::Path) -> Result<bool> {
        Ok(self.ops.stat(path).await?.is_none())
    }

    /// Renames the staged file to the target's name, or the first free `name (N)`, unless one
    /// of those already holds these bytes; confirms a file put in place already.
    async fn place(&self, target: &Target, staged: &Staged) -> Result<Landed> {
        let from = match self.ops.staged(staged)? {
            Staging::Hidden(path) => path,
            Staging::InPlace(path) => return self.confirm(&path, staged).await,
        };
        for candidate in candidates(&target.name) {
            let to = self.ops.path(&target.container, &candidate)?;
            match self.ops.rename_if_free(&from, &to).await? {
                Renamed::Done => return Ok(self.landed(&to, staged)),
                Renamed::Taken => match same_content(&self.ops, &to, staged).await? {
                    Some(true) => {
                        self.delete_quietly(&from).await;
                        return Ok(self.landed(&to, staged));
                    }
                    Some(false) => continue,
                    None if self.gone(&from).await? => {
                        return self.staged_copy_gone(target, staged).await;
                    }
                    None => {
                        return Err(Error::retryable(format!(
                            "placing {}: the name was taken, then freed again",
                            self.ops.shown(&to)
                        )));
                    }
                },
                Renamed::SourceGone => return self.staged_copy_gone(target, staged).await,
                Renamed::Refused(err) => {
                    if self.gone(&from).await? {
                        return self.staged_copy_gone(target, staged).await;
                    }
                    return Err(err);
                }
            }
        }
        Err(Error::permanent(format!(
            "no free name for {} in {}",
            target.name, target.container
        )))
    }

    /// A file put under its final name: it is the item when it holds the size sent.
    async fn confirm(&self, path: &O::Path, staged: &Staged) -> Result<Landed> {
        let shown = self.ops.shown(path);
        match self.ops.stat(path).await?.and_then(|stat| stat.size) {
            Some(size) if size == staged.bytes => Ok(self.landed(path, staged)),
            Some(size) => Err(Error::retryable(format!(
                "{shown}: {} holds {size} bytes of the {} sent; it will be uploaded again",
                self.place, staged.bytes
            ))),
            None => Err(Error::retryable(format!(
                "{shown} is gone from {}; it will be uploaded again",
                self.place
            ))),
        }
    }

    /// The staged file is gone: an earlier commit whose answer was lost may have placed it
    /// already; otherwise it must be uploaded again.
    async fn staged_copy_gone(&self, target: &Target, staged: &Staged) -> Result<Landed> {
        match self.look_for(target, staged).await? {
            Some(found) => Ok(found),
            None => Err(Error::retryable(format!(
                "the staged copy of {} is gone from {}; it will be uploaded again",
                self.ops
                    .shown(&self.ops.path(&target.container, &target.name)?),
                self.place
            ))),
        }
    }

    /// The first of `name`, `name (2)`, … holding these bytes, stopping at the first free name.
    async fn look_for(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        for candidate in candidates(&target.name) {
            let path = self.ops.path(&target.container, &candidate)?;
            match same_content(&self.ops, &path, staged).await? {
                None => return Ok(None),
                Some(true) => return Ok(Some(self.landed(&path, staged))),
                Some(false) => {}
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl<O: FileOps> Destination for FileStoreDestination<O> {
    fn describe(&self) -> String {
        self.ops.describe()
    }

    fn capabilities(&self) -> Capabilities {
        self.ops.capabilities()
    }

    async fn check(&self) -> Result<()> {
        self.ops.check().await
    }

    async fn ensure_container(&self, container: &Container) -> Result<String> {
        self.ops.ensure_container(container).await
    }

    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded> {
        let staging = self
            .ops
            .path(&target.container, &staging_name(&target.name))?;
        if let Ok(mut dirs) = self.staged_in.lock() {
            dirs.insert(target.container.clone());
        }
        self.ops.put(target, staging, content).await
    }

    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>> {
        let placed = async {
            self.ops.before_place(&batch).await?;
            let places: Vec<_> = batch.iter().map(|(t, s)| self.place(t, s)).collect();
            let results: Vec<Result<Landed>> = futures::stream::iter(places)
                .buffered(self.commit_concurrency)
                .collect()
                .await;
            self.ops.after_place(&batch).await?;
            Ok::<_, Error>(results)
        };
        match placed.await {
            Ok(results) => results,
            Err(err) => batch.iter().map(|_| Err(err.clone())).collect(),
        }
    }

    async fn find(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        self.look_for(target, staged).await
    }

    async fn holds(&self, target: &Target, landed: &Landed, sha256: &[u8; 32]) -> Result<bool> {
        self.ops.holds(target, landed, sha256).await
    }

    async fn holds_all(&self, landings: &[EarlierLanding]) -> Vec<bool> {
        self.ops.holds_all(landings).await
    }

    /// Only a hidden staged copy: a file put in place that `commit` could not confirm may
    /// still hold the item, which a later `find` recognises.
    async fn discard(&self, staged: &Staged) {
        if let Ok(Staging::Hidden(path)) = self.ops.staged(staged) {
            self.delete_quietly(&path).await;
        }
    }

    async fn finish(&self, containers: &[String]) -> Result<()> {
        let mut dirs: HashSet<String> =
            self.staged_in.lock().map(|d| d.clone()).unwrap_or_default();
        dirs.extend(containers.iter().cloned());
        for dir in dirs {
            let Some(entries) = self.ops.list(&dir).await? else {
                continue;
            };
            for entry in entries {
                // No item is ever named like this (names::sanitize), so it is ours.
                if entry.is_file && entry.name.starts_with(TEMP_PREFIX) {
                    self.delete_quietly(&self.ops.path(&dir, &entry.name)?)
                        .await;
                }
            }
        }
        Ok(())
    }

    async fn share_link(&self, folder: &[String]) -> Result<Option<String>> {
        self.ops.share_link(folder).await
    }

    async fn claim_documents(&self, route: &str) -> Result<()> {
        self.ops.claim_documents(route).await
    }

    async fn put_document(&self, path: &[String], bytes: Vec<u8>) -> Result<()> {
        self.ops.put_document(path, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_hidden_stable_keep_the_extension_and_are_never_part_files() {
        let a = staging_name("IMG_0001.JPG");
        assert!(a.starts_with(".ferry-") && a.ends_with(".JPG"), "{a}");
        assert_eq!(a, staging_name("IMG_0001.JPG"));
        assert_ne!(a, staging_name("IMG_0002.JPG"));
        assert_ne!(staging_name("clip.mp4"), staging_name("clip (2).mp4"));
        assert_eq!(staging_name("README").len(), ".ferry-".len() + 16);
        assert!(!staging_name("x.PART").to_lowercase().ends_with(".part"));
    }

    #[test]
    fn candidates_number_from_the_second() {
        let names: Vec<String> = candidates("a.jpg").take(3).collect();
        assert_eq!(names, ["a.jpg", "a (2).jpg", "a (3).jpg"]);
    }
}
