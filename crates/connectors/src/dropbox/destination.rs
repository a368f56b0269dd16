//! Dropbox as a Destination: files in folders under the connection's root.
//!
//! `upload` streams an item into an upload session: one `upload_session/start` request with
//! `close=true` for a file that fits in one chunk, else `start` and `append_v2` requests of
//! `chunk_size` bytes each, the last closing the session. Dropbox's `content_hash` is computed
//! on the way. Each chunk is held in memory until Dropbox has it (the source cannot be read
//! twice), so that a passing fault sends the same chunk again at the same offset in the same
//! session instead of starting the item over; `incorrect_offset` says how much of it an
//! unanswered attempt already delivered. Nothing is visible in the Dropbox yet.
//!
//! `commit` places a whole batch with one `upload_session/finish_batch_v2` call: one namespace
//! lock for the batch rather than one per file, which is what keeps Dropbox from answering
//! `too_many_write_operations`. Only one batch is committed at a time, as Dropbox asks.
//!
//! Why not `files/upload` for small files: it writes the file under its final name at once, so
//! the engine could not journal the item as staged before it becomes visible, and each call
//! takes the namespace lock on its own. The bytes are already in a session by the time
//! `commit` runs, so a lone item is committed by the same batch call (with one entry).
//! [`Client::upload`] is there for callers that want one request per file.

use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use ferry_core::content::ByteStream;
use ferry_core::names::{NameRules, with_suffix};
use ferry_core::{
    Capabilities, Container, Content, Destination, Error, Holding, Landed, Layout, Result, RetryPolicy,
    Staged, Target, Uploaded,
};

use super::client::{
    CallError, Client, CommitInfo, Cursor, FileMetadata, FinishArg, FinishEntry, LinkSettings,
    Metadata,
};
use super::content_hash::{BLOCK_SIZE, ContentHasher};
use super::error::{RouteError, map_route};
use crate::service::Session;

/// Bytes per upload request by default: few requests per file, and the most one item holds
/// in memory.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;
/// Dropbox takes at most 150 MiB per request; chunks stay a multiple of 4 MiB below it.
const MAX_CHUNK_SIZE: u64 = 148 << 20;
/// The largest file an upload session builds (2^41 − 2^22 bytes).
pub const MAX_FILE_SIZE: u64 = (1 << 41) - (1 << 22);
/// Entries one `finish_batch_v2` call takes.
pub const MAX_COMMIT_BATCH: usize = 1000;
/// Calls of `finish_batch_v2` for one batch before its failure is handed to the engine (a
/// failed commit costs the engine a new upload of every item in it).
const COMMIT_ATTEMPTS: u32 = 5;
/// The longest wait inside `commit`; a longer `retry_after` goes to the engine, which holds
/// every worker for it.
const MAX_COMMIT_WAIT: Duration = Duration::from_secs(60);
/// The first backoff between commit attempts; it doubles each time.
const COMMIT_BACKOFF: Duration = Duration::from_millis(500);
/// How far `name (N).ext` is counted before giving up on a name.
const MAX_SUFFIX: u32 = 10_000;
/// `incorrect_offset` answers taken for one chunk: each moves forward within it, so a
/// chunk needs two at most (delivered, then closed).
const MAX_OFFSET_CORRECTIONS: u32 = 4;

/// What `upload` hands the engine, and `commit` and `find` read back (journaled as text).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
struct StagedToken {
    /// The closed upload session holding the bytes.
    session_id: String,
    size: u64,
    /// Dropbox's `content_hash` of the bytes, to check what Dropbox stored and to recognise
    /// the item after a crash.
    content_hash: String,
}

impl StagedToken {
    fn parse(token: &str) -> Result<StagedToken> {
        serde_json::from_str(token)
            .map_err(|_| Error::permanent("the staging token is not a Dropbox upload session"))
    }
}

pub struct DropboxDestination {
    client: Client,
    root: Vec<String>,
    chunk_size: u64,
    /// Dropbox commits one batch at a time per account.
    committing: tokio::sync::Mutex<()>,
}

impl DropboxDestination {
    pub fn new(session: Session, root: Vec<String>) -> Result<DropboxDestination> {
        if let Some(bad) = root.iter().find(|p| p.is_empty() || p.contains('/')) {
            return Err(Error::permanent(format!(
                "Dropbox path component {bad:?} is not a folder name"
            )));
        }
        Ok(DropboxDestination {
            client: Client::new(session),
            root,
            chunk_size: DEFAULT_CHUNK_SIZE,
            committing: tokio::sync::Mutex::new(()),
        })
    }

    /// Sets the bytes sent per upload request: a multiple of 4 MiB, at most 148 MiB. Smaller
    /// chunks mean more requests; larger ones more bytes to send again after a failure.
    pub fn with_chunk_size(mut self, bytes: u64) -> Result<DropboxDestination> {
        if bytes == 0 || !bytes.is_multiple_of(BLOCK_SIZE as u64) || bytes > MAX_CHUNK_SIZE {
            return Err(Error::permanent(format!(
                "a Dropbox chunk size must be a multiple of 4 MiB up to 148 MiB, not {bytes} bytes"
            )));
        }
        self.chunk_size = bytes;
        Ok(self)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A Dropbox path from folder names under the root: "" for the Dropbox root, else
    /// "/a/b".
    fn path_of<'a>(&'a self, parts: impl IntoIterator<Item = &'a str>) -> String {
        let mut path = String::new();
        for part in self.root.iter().map(String::as_str).chain(parts) {
            path.push('/');
            path.push_str(part);
        }
        path
    }

    /// The path of `target` under its `n`th name (`name (n).ext` from 2 on).
    fn file_path(&self, target: &Target, n: u32) -> String {
        let name = with_suffix(&target.name, n, &self.capabilities().names);
        format!("{}/{name}", target.container)
    }

    /// Looks for our content at the target's name and its `name (N).ext` successors, from
    /// `first` on, up to the first free name. Dropbox compares names ignoring case, and so
    /// does this.
    async fn probe(&self, target: &Target, token: &StagedToken, first: u32) -> Result<Probe> {
        for n in first..=MAX_SUFFIX {
            let path = self.file_path(target, n);
            match self.client.get_metadata(&path).await? {
                None => return Ok(Probe::Free(n)),
                Some(Metadata::File(meta)) if is_ours(&meta, token) => {
                    return Ok(Probe::Found(landed(&meta)));
                }
                Some(_) => {}
            }
        }
        Err(Error::permanent(format!(
            "{}/{}: no free name up to ({MAX_SUFFIX})",
            target.container, target.name
        )))
    }

    /// One `finish_batch_v2` call, tried again on throttling and passing faults with backoff
    /// (honouring `retry_after` up to [`MAX_COMMIT_WAIT`]; a longer one is the engine's).
    async fn finish_batch(&self, entries: &[FinishArg]) -> Result<Vec<FinishEntry>> {
        let policy = RetryPolicy {
            max_attempts: COMMIT_ATTEMPTS,
            max_rate_limited: COMMIT_ATTEMPTS,
            min_delay: COMMIT_BACKOFF,
            max_delay: MAX_COMMIT_WAIT,
            max_wait: Some(MAX_COMMIT_WAIT),
        };
        policy
            .run("committing to Dropbox", || async {
                self.client
                    .finish_batch(entries)
                    .await
                    .map_err(|err| err.into_error())
            })
            .await
    }

    /// What became of one entry of a batch.
    async fn settle(&self, target: &Target, item: Pending, entry: FinishEntry) -> Settled {
        match entry {
            FinishEntry::Success(meta) => {
                // `content_hash` is optional in FileMetadata: without it, the size is all there
                // is to check.
                let unhashed = meta.content_hash.is_none() && meta.size == item.token.size;
                if unhashed || is_ours(&meta, &item.token) {
                    return Settled::Done(Ok(landed(&meta)));
                }
                // Dropbox stored other bytes than those hashed on the way: remove that file
                // (only that revision of it) so that the engine sends the item again.
                let path = meta.place();
                if let Err(err) = self.client.delete(&path, meta.rev.as_deref()).await {
                    tracing::warn!("could not delete the damaged {path}: {}", err.into_error());
                }
                Settled::Done(Err(Error::retryable(format!(
                    "{path}: Dropbox stored content that differs from what was sent"
                ))))
            }
            FinishEntry::Failure { failure } => self.settle_failure(target, item, failure).await,
        }
    }

    async fn settle_failure(&self, target: &Target, mut item: Pending, failure: Value) -> Settled {
        let path = self.file_path(target, item.suffix);
        let what = format!("committing {path}");
        let error = RouteError::new(&what, failure, None);
        if error.has("too_many_write_operations") {
            item.busy += 1;
            if item.busy >= COMMIT_ATTEMPTS {
                return Settled::Done(Err(error.to_error()));
            }
            return Settled::Again { item, busy: true };
        }
        if error.has("conflict") && !error.has("file_ancestor") {
            // Taken: by this very content (a re-run, or a crash after a commit), or by
            // another file, which sends this one to the next free name.
            return match self.probe(target, &item.token, item.suffix).await {
                Ok(Probe::Found(landed)) => Settled::Done(Ok(landed)),
                Ok(Probe::Free(n)) => {
                    item.suffix = n;
                    item.renamed += 1;
                    if item.renamed > 3 {
                        // Names keep being taken under us: let the engine come back later.
                        return Settled::Done(Err(Error::retryable(format!(
                            "{what}: the name keeps being taken"
                        ))));
                    }
                    Settled::Again { item, busy: false }
                }
                Err(err) => Settled::Done(Err(err)),
            };
        }
        if error.has("lookup_failed") {
            // The session is gone: maybe an earlier attempt of this very commit placed the
            // file and its answer was lost.
            return match self.probe(target, &item.token, 1).await {
                Ok(Probe::Found(landed)) => Settled::Done(Ok(landed)),
                Ok(Probe::Free(_)) => Settled::Done(Err(Error::retryable(format!(
                    "{what}: the upload session is no longer there ({})",
                    error.summary
                )))),
                Err(err) => Settled::Done(Err(err)),
            };
        }
        Settled::Done(Err(map_route(&what, &error.error, &error.summary)))
    }

    /// Starts a session with its first chunk, sent again after a passing fault. An attempt
    /// whose answer was lost leaves a session only Dropbox knows of; it expires unused.
    async fn start(&self, what: &str, close: bool, chunk: Bytes) -> Result<String> {
        Ok(self
            .client
            .again(what, || {
                self.client.upload_session_start(what, close, chunk.clone())
            })
            .await?)
    }

    /// Appends a chunk at `offset` of the session, sent again after a passing fault. When an
    /// attempt got through unanswered, Dropbox's `incorrect_offset` says how far the session
    /// really is (`correct_offset`) and the rest of the chunk goes from there; a closing chunk
    /// that finds the session closed was delivered (`commit` checks its size and hash).
    async fn append(
        &self,
        what: &str,
        session_id: &str,
        offset: u64,
        chunk: Bytes,
        close: bool,
    ) -> Result<()> {
        let end = offset + chunk.len() as u64;
        let mut at = offset;
        for _ in 0..MAX_OFFSET_CORRECTIONS {
            let piece = chunk.slice((at - offset) as usize..);
            let cursor = Cursor {
                session_id: session_id.to_string(),
                offset: at,
            };
            let sent = self
                .client
                .again(what, || {
                    self.client
                        .upload_session_append(what, cursor.clone(), close, piece.clone())
                })
                .await;
            let refused = match sent {
                Ok(()) => return Ok(()),
                Err(CallError::Route(route)) => route,
                Err(CallError::Other(err)) => return Err(err),
            };
            match refused.correct_offset() {
                Some(correct) if correct != at && (offset..=end).contains(&correct) => {
                    tracing::debug!("{what}: Dropbox has the session up to {correct}");
                    at = correct;
                    if at == end && !close {
                        return Ok(());
                    }
                    // At the end of a closing chunk, an empty append closes the session.
                }
                None if close && refused.has("closed") => return Ok(()),
                _ => return Err(refused.to_error()),
            }
        }
        Err(Error::retryable(format!(
            "{what}: Dropbox keeps moving the upload session's offset"
        )))
    }

    /// Creates a folder; one that is already there is fine.
    async fn create_folder(&self, path: &str) -> Result<()> {
        match self.client.create_folder(path).await {
            Ok(_) => Ok(()),
            Err(CallError::Route(err)) if err.has("conflict") => {
                if err.has("folder") {
                    Ok(())
                } else {
                    Err(Error::permanent(format!(
                        "creating folder {path}: a file is in the way"
                    )))
                }
            }
            Err(err) => Err(err.into_error()),
        }
    }
}

/// An entry still to commit.
struct Pending {
    index: usize,
    token: StagedToken,
    /// Which name it is tried under: 1 is the target's own, then `name (N).ext`.
    suffix: u32,
    /// How often Dropbox answered `too_many_write_operations` for it.
    busy: u32,
    /// How often its name was found taken.
    renamed: u32,
}

enum Settled {
    Done(Result<Landed>),
    /// To commit in the next round; `busy` when Dropbox asked to wait.
    Again {
        item: Pending,
        busy: bool,
    },
}

enum Probe {
    /// Our content is already there.
    Found(Landed),
    /// The first free name (`n` for [`with_suffix`]).
    Free(u32),
}

fn is_ours(meta: &FileMetadata, token: &StagedToken) -> bool {
    meta.size == token.size
        && meta
            .content_hash
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&token.content_hash))
}

fn landed(meta: &FileMetadata) -> Landed {
    Landed {
        id: meta.place(),
        bytes: meta.size,
        hash: None,
    }
}

#[async_trait]
impl Destination for DropboxDestination {
    fn describe(&self) -> String {
        format!(
            "Dropbox {}:/{}",
            self.client.session().name,
            self.root.join("/")
        )
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            holds: Holding::media(crate::file_store::FILES_IN_FOLDERS),
            layout: Layout::Folders,
            // Dropbox compares names ignoring case and takes 255 characters per component.
            names: NameRules {
                max_bytes: 255,
                case_insensitive: true,
            },
            max_file_size: Some(MAX_FILE_SIZE),
            max_commit_batch: MAX_COMMIT_BATCH,
            max_album_items: None,
        }
    }

    async fn check(&self) -> Result<()> {
        self.client.get_current_account().await?;
        let usage = self.client.get_space_usage().await?;
        if usage.is_full() {
            return Err(Error::DestinationFull(format!(
                "{}: the Dropbox account is out of space",
                self.describe()
            )));
        }
        let root = self.path_of([]);
        if !root.is_empty()
            && let Some(Metadata::File(_)) = self.client.get_metadata(&root).await?
        {
            return Err(Error::permanent(format!(
                "{}: {root} is a file, not a folder",
                self.describe()
            )));
        }
        Ok(())
    }

    async fn ensure_container(&self, container: &Container) -> Result<String> {
        let path = match container {
            Container::Folder(parts) => self.path_of(parts.iter().map(String::as_str)),
            // Albums belong to album destinations; a folder destination keeps them at its root.
            Container::Library | Container::Album { .. } => self.path_of([]),
        };
        if !path.is_empty() {
            self.create_folder(&path).await?;
        }
        Ok(path)
    }

    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded> {
        let shown = format!("{}/{}", target.container, target.name);
        let length = content.length;
        if let Some(length) = length
            && length > MAX_FILE_SIZE
        {
            return Err(Error::permanent(format!(
                "{shown}: {length} bytes is more than Dropbox takes in one file"
            )));
        }
        let mut feed = Feed::new(content.stream);
        let mut session_id: Option<String> = None;
        let mut offset = 0u64;
        let what = format!("uploading {shown}");
        loop {
            // This request's bytes: the rest of the file up to a chunk.
            let want = match length {
                Some(total) => total.saturating_sub(offset).min(self.chunk_size),
                None => self.chunk_size,
            };
            let chunk = feed.take(want).await?;
            let size = chunk.len() as u64;
            if let Some(total) = length
                && size < want
            {
                return Err(Error::retryable(format!(
                    "{shown}: the source ended after {} of {total} bytes",
                    offset + size
                )));
            }
            // Whether it ends the file: without a length, the end shows only once the source
            // says so.
            let close = match length {
                Some(total) => offset + size == total,
                None => feed.at_end().await?,
            };
            match &session_id {
                None => session_id = Some(self.start(&what, close, chunk).await?),
                Some(id) => self.append(&what, id, offset, chunk, close).await?,
            }
            offset += size;
            if close {
                break;
            }
        }
        // Read to the end: a source longer than it announced is an error, and a hashing
        // wrapper learns the stream is complete.
        if !feed.at_end().await? {
            return Err(Error::retryable(format!(
                "{shown}: the source sent more than the {offset} bytes it announced"
            )));
        }
        let token = StagedToken {
            session_id: session_id
                .ok_or_else(|| Error::retryable(format!("{shown}: Dropbox gave no session")))?,
            size: offset,
            content_hash: std::mem::take(&mut feed.hasher).finish(),
        };
        let token = serde_json::to_string(&token)
            .map_err(|e| Error::permanent(format!("{shown}: encoding the staging token: {e}")))?;
        Ok(Uploaded { token, hash: None })
    }

    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>> {
        let _one_at_a_time = self.committing.lock().await;
        let mut results: Vec<Option<Result<Landed>>> = batch.iter().map(|_| None).collect();
        let mut pending = Vec::new();
        for (index, (_, staged)) in batch.iter().enumerate() {
            match StagedToken::parse(&staged.token) {
                Ok(token) => pending.push(Pending {
                    index,
                    token,
                    suffix: 1,
                    busy: 0,
                    renamed: 0,
                }),
                Err(err) => results[index] = Some(Err(err)),
            }
        }
        let mut round = 0u32;
        let mut busy = false;
        while !pending.is_empty() {
            round += 1;
            if busy {
                // Dropbox was busy with other writes: a pause lets its namespace lock go.
                tokio::time::sleep(COMMIT_BACKOFF * round.min(8)).await;
            }
            busy = false;
            let mut again = Vec::new();
            let mut rest = std::mem::take(&mut pending);
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(MAX_COMMIT_BATCH));
                let group = std::mem::replace(&mut rest, tail);
                let entries: Vec<FinishArg> = group
                    .iter()
                    .map(|item| {
                        let target = &batch[item.index].0;
                        FinishArg {
                            cursor: Cursor {
                                session_id: item.token.session_id.clone(),
                                offset: item.token.size,
                            },
                            commit: CommitInfo::add(
                                self.file_path(target, item.suffix),
                                target.modified,
                            ),
                        }
                    })
                    .collect();
                match self.finish_batch(&entries).await {
                    Ok(answers) => {
                        for (item, entry) in group.into_iter().zip(answers) {
                            let index = item.index;
                            match self.settle(&batch[index].0, item, entry).await {
                                Settled::Done(result) => results[index] = Some(result),
                                Settled::Again { item, busy: wait } => {
                                    busy |= wait;
                                    again.push(item);
                                }
                            }
                        }
                    }
                    Err(err) => {
                        for item in group {
                            results[item.index] = Some(Err(err.clone()));
                        }
                    }
                }
            }
            pending = again;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::retryable("the commit was not answered"))))
            .collect()
    }

    async fn find(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        // A token from something else cannot be recognised by content: send the item again.
        let Ok(token) = StagedToken::parse(&staged.token) else {
            return Ok(None);
        };
        match self.probe(target, &token, 1).await? {
            Probe::Found(landed) => Ok(Some(landed)),
            Probe::Free(_) => Ok(None),
        }
    }

    /// Dropbox has no call to drop an upload session; an unused one expires on its own.
    async fn discard(&self, _staged: &Staged) {}

    async fn share_link(&self, folder: &[String]) -> Result<Option<String>> {
        let path = self.path_of(folder.iter().map(String::as_str));
        if path.is_empty() {
            return Err(Error::permanent(
                "Dropbox cannot share the root of an account; share a folder in it",
            ));
        }
        let mut settings = Some(LinkSettings::public_viewer());
        loop {
            match self
                .client
                .create_shared_link(&path, settings.clone())
                .await
            {
                Ok(link) => return Ok(Some(link.url)),
                // A plan that cannot choose settings (Basic) still gets the default link,
                // which is public and view-only.
                Err(CallError::Route(err)) if err.has("settings_error") && settings.is_some() => {
                    settings = None;
                }
                Err(CallError::Route(err)) if err.has("shared_link_already_exists") => {
                    if let Some(url) = err
                        .error
                        .get("shared_link_already_exists")
                        .and_then(|m| m.get("metadata"))
                        .and_then(|m| m.get("url"))
                        .and_then(Value::as_str)
                    {
                        return Ok(Some(url.to_string()));
                    }
                    let links = self.client.list_shared_links(&path).await?;
                    let lower = path.to_lowercase();
                    let link = links
                        .iter()
                        .find(|l| l.path_lower.as_deref() == Some(lower.as_str()))
                        .or(links.first())
                        .ok_or_else(|| {
                            Error::retryable(format!(
                                "sharing {path}: Dropbox says a link exists but lists none"
                            ))
                        })?;
                    return Ok(Some(link.url.clone()));
                }
                Err(err) => return Err(err.into_error()),
            }
        }
    }
}

/// The source stream, cut into chunks of exact sizes, hashed as it goes.
struct Feed {
    stream: ByteStream,
    /// Bytes read from the source and not yet handed to a chunk.
    pending: Option<Bytes>,
    hasher: ContentHasher,
    ended: bool,
}

impl Feed {
    fn new(stream: ByteStream) -> Feed {
        Feed {
            stream,
            pending: None,
            hasher: ContentHasher::new(),
            ended: false,
        }
    }

    /// The next chunk from the source, or `None` at its end.
    async fn pull(&mut self) -> Option<Result<Bytes>> {
        if let Some(bytes) = self.pending.take() {
            return Some(Ok(bytes));
        }
        loop {
            if self.ended {
                return None;
            }
            match self.stream.next().await {
                None => self.ended = true,
                Some(Ok(bytes)) if bytes.is_empty() => {}
                Some(Ok(bytes)) => return Some(Ok(bytes)),
                Some(Err(err)) => {
                    self.ended = true;
                    return Some(Err(err));
                }
            }
        }
    }

    /// At most `max` bytes of a chunk.
    async fn piece(&mut self, max: u64) -> Option<Result<Bytes>> {
        if max == 0 {
            return None;
        }
        let mut bytes = match self.pull().await? {
            Ok(bytes) => bytes,
            Err(err) => return Some(Err(err)),
        };
        if bytes.len() as u64 > max {
            self.pending = Some(bytes.split_off(max as usize));
        }
        self.hasher.update(&bytes);
        Some(Ok(bytes))
    }

    /// Whether the source has nothing more (reading ahead one chunk to know).
    async fn at_end(&mut self) -> Result<bool> {
        match self.pull().await {
            None => Ok(true),
            Some(Ok(bytes)) => {
                self.pending = Some(bytes);
                Ok(false)
            }
            Some(Err(err)) => Err(err),
        }
    }

    /// The next `max` bytes of the source (fewer only where it ends), in one piece: a chunk to
    /// hold until Dropbox has it.
    async fn take(&mut self, max: u64) -> Result<Bytes> {
        let mut chunk = BytesMut::with_capacity(max as usize);
        while (chunk.len() as u64) < max {
            match self.piece(max - chunk.len() as u64).await {
                None => break,
                // One piece the whole size: no copy.
                Some(Ok(bytes)) if chunk.is_empty() && bytes.len() as u64 == max => {
                    return Ok(bytes);
                }
                Some(Ok(bytes)) => chunk.extend_from_slice(&bytes),
                Some(Err(err)) => return Err(err),
            }
        }
        Ok(chunk.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_of(chunks: &[&'static [u8]]) -> Feed {
        let items: Vec<Result<Bytes>> = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Feed::new(Box::pin(futures::stream::iter(items)))
    }

    #[tokio::test]
    async fn pieces_are_cut_at_exact_sizes() {
        let mut feed = feed_of(&[b"abcde", b"", b"fgh", b"ij"]);
        let mut got = Vec::new();
        while let Some(piece) = feed.piece(4).await {
            got.push(piece.unwrap());
        }
        assert_eq!(got, [&b"abcd"[..], b"e", b"fgh", b"ij"]);
        assert!(feed.at_end().await.unwrap());
        assert_eq!(
            std::mem::take(&mut feed.hasher).finish(),
            super::super::content_hash::content_hash(b"abcdefghij")
        );
    }

    #[tokio::test]
    async fn chunks_are_taken_whole_across_pieces() {
        let mut feed = feed_of(&[b"abc", b"defgh", b"ij"]);
        assert_eq!(feed.take(4).await.unwrap(), &b"abcd"[..]);
        assert_eq!(feed.take(4).await.unwrap(), &b"efgh"[..]);
        assert_eq!(feed.take(4).await.unwrap(), &b"ij"[..]);
        assert!(feed.take(4).await.unwrap().is_empty());
        assert!(feed.at_end().await.unwrap());
    }

    #[tokio::test]
    async fn reading_ahead_keeps_the_bytes() {
        let mut feed = feed_of(&[b"abc"]);
        assert!(!feed.at_end().await.unwrap());
        assert_eq!(feed.piece(10).await.unwrap().unwrap(), &b"abc"[..]);
        assert!(feed.at_end().await.unwrap());
    }

    #[test]
    fn tokens_round_trip_and_refuse_strangers() {
        let token = StagedToken {
            session_id: "pid_upload_session:x".into(),
            size: 3,
            content_hash: "ab".into(),
        };
        let text = serde_json::to_string(&token).unwrap();
        assert_eq!(StagedToken::parse(&text).unwrap(), token);
        assert!(StagedToken::parse("/tmp/.ferry-1.part").is_err());
    }
}
