//! The [`Destination`] implementation: albums, uploads, `batchCreate`, and recognising what an
//! earlier run already placed (see the module documentation for how and its limit).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex as SyncMutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use ferry_core::names::NameRules;
use ferry_core::{
    Capabilities, Container, Content, Destination, Error, ErrorKind, Holding, Landed, Layout, MediaKind,
    Pacer, Result, RetryPolicy, Staged, Target, Uploaded,
};

use super::client::{Client, FileInfo, MAX_BATCH_CREATE, NewMediaItem, SimpleMediaItem};
use super::error;
use super::upload::{self, Feed, Sizes};
use crate::service::Session;

/// The largest photo Google Photos takes (upload guide: 200 MB).
pub const MAX_PHOTO_BYTES: u64 = 200 * 1000 * 1000;
/// The largest video Google Photos takes (upload guide: 20 GB).
pub const MAX_VIDEO_BYTES: u64 = 20 * 1000 * 1000 * 1000;
/// The most items an album holds.
pub const MAX_ALBUM_ITEMS: usize = 20_000;
/// `newMediaItems[].description` is at most this many characters.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Album titles are at most this many characters.
const MAX_TITLE_CHARS: usize = 500;

/// The knobs of the connector; the defaults suit the real service, tests shrink them.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Files up to this size are sent in one raw request; larger ones resumably.
    pub raw_limit: u64,
    /// The resumable protocol's chunk (rounded up to the granularity the service states).
    pub chunk_size: u64,
    /// The spacing of write calls after a first 429; it doubles on each further one.
    pub pacer_step: Duration,
    /// The spacing never grows past this.
    pub pacer_ceiling: Duration,
    /// How `commit` sends again a `batchCreate` that failed for a passing reason or was
    /// rate limited, before it gives up (a failed commit costs the engine a new upload of
    /// every item in it).
    pub commit_retry: RetryPolicy,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            raw_limit: 32 << 20,
            chunk_size: 16 << 20,
            pacer_step: Duration::from_secs(1),
            pacer_ceiling: Duration::from_secs(30),
            commit_retry: RetryPolicy {
                max_attempts: 4,
                max_rate_limited: 8,
                min_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(8),
                // A longer hold is the engine's to wait out, with every worker.
                max_wait: Some(Duration::from_secs(60)),
            },
        }
    }
}

/// The albums this app made, by title, loaded once.
#[derive(Default)]
struct AlbumIndex {
    by_title: HashMap<String, String>,
    titles: HashMap<String, String>,
}

impl AlbumIndex {
    fn insert(&mut self, title: String, id: String) {
        self.titles
            .entry(id.clone())
            .or_insert_with(|| title.clone());
        // Two albums with one title (an earlier crash, another tool): the first listed wins,
        // the same one on every run.
        self.by_title.entry(title).or_insert(id);
    }
}

/// What the app already placed in one container: file name → media item id.
struct Placed {
    by_name: HashMap<String, String>,
    /// A `batchCreate` ended without a readable answer: some of its items may exist. Listed
    /// again before the next use.
    stale: bool,
}

/// The state `commit` and `find` work on, one call at a time (Google asks for `batchCreate`
/// calls to be serial per user).
#[derive(Default)]
struct Ledger {
    /// By container id ("" for the library).
    placed: HashMap<String, Placed>,
}

pub struct GooglePhotosDestination {
    session: Session,
    client: Client,
    tuning: Tuning,
    albums: Mutex<Option<AlbumIndex>>,
    ledger: Mutex<Ledger>,
    /// Albums found deleted while the job ran, by id, with their title.
    deleted: SyncMutex<HashMap<String, String>>,
}

impl GooglePhotosDestination {
    pub fn new(session: Session) -> Result<GooglePhotosDestination> {
        GooglePhotosDestination::with_tuning(session, Tuning::default())
    }

    pub fn with_tuning(session: Session, tuning: Tuning) -> Result<GooglePhotosDestination> {
        let pacer = Pacer::new(tuning.pacer_step, tuning.pacer_ceiling);
        Ok(GooglePhotosDestination {
            client: Client::new(session.clone(), pacer),
            session,
            tuning,
            albums: Mutex::new(None),
            ledger: Mutex::new(Ledger::default()),
            deleted: SyncMutex::new(HashMap::new()),
        })
    }

    /// The error for an item bound for an album that was deleted under the running job.
    fn deleted_album(&self, album_id: &str) -> Option<Error> {
        let deleted = self.deleted.lock().unwrap_or_else(|e| e.into_inner());
        deleted.get(album_id).map(|title| {
            Error::Permanent(format!(
                "the Google Photos album \"{title}\" was deleted while ferry was adding to it; \
                 resume the transfer to create it again"
            ))
        })
    }

    /// Records that an album is gone: forgotten by the index (so that the next job, or a
    /// resume, creates it again) and refused to every item still bound for it.
    async fn forget_album(&self, album_id: &str) -> Error {
        let title = {
            let mut albums = self.albums.lock().await;
            let title = albums
                .as_ref()
                .and_then(|index| index.titles.get(album_id).cloned());
            if let (Some(index), Some(title)) = (albums.as_mut(), &title) {
                index.by_title.remove(title);
                index.titles.remove(album_id);
            }
            title.unwrap_or_else(|| album_id.to_string())
        };
        self.deleted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(album_id.to_string(), title);
        self.deleted_album(album_id)
            .unwrap_or_else(|| Error::permanent("the album was deleted"))
    }

    /// Turns a client error about a container into one the engine can act on: a deleted
    /// album must never read as `NotFound`, which would skip the item.
    async fn container_error(&self, container: &str, err: Error) -> Error {
        match err {
            Error::NotFound(message) if container.is_empty() => Error::Retryable(message),
            Error::NotFound(_) => self.forget_album(container).await,
            other => other,
        }
    }

    /// The album index, listed on first use.
    async fn album_index(&self) -> Result<tokio::sync::MutexGuard<'_, Option<AlbumIndex>>> {
        let mut albums = self.albums.lock().await;
        if albums.is_none() {
            let mut index = AlbumIndex::default();
            for album in self.client.all_albums().await? {
                index.insert(album.title, album.id);
            }
            *albums = Some(index);
        }
        Ok(albums)
    }

    async fn ensure_album(&self, title: &str) -> Result<String> {
        let title: String = title.chars().take(MAX_TITLE_CHARS).collect();
        let mut albums = self.album_index().await?;
        let Some(index) = albums.as_mut() else {
            return Err(Error::retryable("the album index was not loaded"));
        };
        if let Some(id) = index.by_title.get(&title) {
            return Ok(id.clone());
        }
        match self.client.create_album(&title).await {
            Ok(album) => {
                index.insert(title, album.id.clone());
                Ok(album.id)
            }
            Err(err) => {
                // The album may exist though its answer was lost: list again next time
                // rather than create a second one.
                if matches!(err, Error::Retryable(_)) {
                    *albums = None;
                }
                Err(err)
            }
        }
    }

    /// What the app already placed in `container`, listed when first needed or stale.
    async fn placed<'l>(
        &self,
        ledger: &'l mut Ledger,
        container: &str,
    ) -> Result<&'l mut HashMap<String, String>> {
        let fresh = ledger.placed.get(container).is_some_and(|p| !p.stale);
        if !fresh {
            let by_name = if container.is_empty() {
                self.list_library(ledger).await?
            } else {
                self.list_album(container).await?
            };
            ledger.placed.insert(
                container.to_string(),
                Placed {
                    by_name,
                    stale: false,
                },
            );
        }
        match ledger.placed.get_mut(container) {
            Some(placed) => Ok(&mut placed.by_name),
            None => Err(Error::retryable("the listing of a container was lost")),
        }
    }

    async fn list_album(&self, album_id: &str) -> Result<HashMap<String, String>> {
        let title = {
            let albums = self.albums.lock().await;
            albums
                .as_ref()
                .and_then(|index| index.titles.get(album_id).cloned())
                .unwrap_or_else(|| album_id.to_string())
        };
        let items = match self.client.album_items(album_id, &title).await {
            Ok(items) => items,
            Err(err) => return Err(self.container_error(album_id, err).await),
        };
        Ok(by_name(items))
    }

    /// The library's own items: every item the app made minus those in its albums (ferry
    /// puts an item in an album or in the library, never both, and the same name may be in
    /// both for different files).
    async fn list_library(&self, ledger: &mut Ledger) -> Result<HashMap<String, String>> {
        let album_ids: Vec<String> = {
            let albums = self.album_index().await?;
            albums
                .as_ref()
                .map(|index| index.titles.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut in_albums = HashSet::new();
        for album_id in album_ids {
            if self.deleted_album(&album_id).is_some() {
                continue;
            }
            match Box::pin(self.placed(ledger, &album_id)).await {
                Ok(placed) => in_albums.extend(placed.values().cloned()),
                // Deleted since it was listed: its items are in no album now.
                Err(_) if self.deleted_album(&album_id).is_some() => {}
                Err(err) => return Err(err),
            }
        }
        let items = self.client.all_items().await?;
        Ok(by_name(
            items
                .into_iter()
                .filter(|item| !in_albums.contains(&item.id)),
        ))
    }

    /// Places the items of one container (`indices` into `batch`), filling `results`.
    async fn commit_container(
        &self,
        ledger: &mut Ledger,
        container: &str,
        batch: &[(Target, Staged)],
        indices: &[usize],
        results: &mut [Option<Result<Landed>>],
    ) -> Option<Error> {
        if let Some(err) = self.deleted_album(container) {
            settle(results, indices, &err);
            return None;
        }
        // One name once: a second item of the same name shares the first one's fate.
        let mut first_of: HashMap<&str, usize> = HashMap::new();
        let mut twins = Vec::new();
        let mut pending = Vec::new();
        for &i in indices {
            match first_of.get(batch[i].0.name.as_str()) {
                Some(&first) => twins.push((i, first)),
                None => {
                    first_of.insert(&batch[i].0.name, i);
                    pending.push(i);
                }
            }
        }
        let halt = self.place(ledger, container, batch, pending, results).await;
        for (twin, first) in twins {
            results[twin] = results[first].clone();
        }
        halt
    }

    /// The retry loop of one container: each round skips what is already there and sends
    /// the rest; after a failure whose outcome is unknown the container is listed again
    /// before anything is resent, so that nothing is created twice. Returns an error that
    /// stops the whole commit (a full account, dead credentials).
    async fn place(
        &self,
        ledger: &mut Ledger,
        container: &str,
        batch: &[(Target, Staged)],
        mut pending: Vec<usize>,
        results: &mut [Option<Result<Landed>>],
    ) -> Option<Error> {
        let mut attempts = self.tuning.commit_retry.attempts();
        loop {
            let (retry, err) = match self.round(ledger, container, batch, pending, results).await {
                Round::Done => return None,
                Round::Halt(err) => return Some(err),
                Round::Again(retry, err) => (retry, err),
            };
            let Some(delay) = attempts.after(&err) else {
                settle(results, &retry, &err);
                return None;
            };
            // After a 429 the delay is the pacer's hold, which every write waits out too.
            tracing::debug!("sending Google Photos batchCreate again in {delay:?}: {err}");
            tokio::time::sleep(delay).await;
            pending = retry;
        }
    }

    /// One round of [`place`](Self::place).
    async fn round(
        &self,
        ledger: &mut Ledger,
        container: &str,
        batch: &[(Target, Staged)],
        mut pending: Vec<usize>,
        results: &mut [Option<Result<Landed>>],
    ) -> Round {
        match self.placed(ledger, container).await {
            Ok(placed) => pending.retain(|&i| {
                let (target, staged) = &batch[i];
                let Some(id) = placed.get(&target.name) else {
                    return true;
                };
                results[i] = Some(Ok(landed(id, staged)));
                false
            }),
            Err(err) => return self.failed(ledger, container, pending, err, results).await,
        }
        let album_id = (!container.is_empty()).then_some(container);
        let mut retry = Vec::new();
        let mut last_error = None;
        for chunk in pending.chunks(MAX_BATCH_CREATE) {
            if let Some(gone) = self.deleted_album(container) {
                settle(results, chunk, &gone);
                continue;
            }
            let answers = match self.create(container, album_id, batch, chunk).await {
                Ok(answers) => answers,
                Err(err) => {
                    match self
                        .failed(ledger, container, chunk.to_vec(), err, results)
                        .await
                    {
                        Round::Done => {}
                        Round::Again(again, err) => {
                            retry.extend(again);
                            last_error = Some(err);
                        }
                        halt @ Round::Halt(_) => return halt,
                    }
                    continue;
                }
            };
            for (&i, answer) in chunk.iter().zip(answers) {
                let (target, staged) = &batch[i];
                match answer {
                    Answer::Created(id) => {
                        if let Some(placed) = ledger.placed.get_mut(container) {
                            placed.by_name.insert(target.name.clone(), id.clone());
                        }
                        results[i] = Some(Ok(landed(&id, staged)));
                    }
                    Answer::Failed(err) => results[i] = Some(Err(err)),
                    Answer::Unknown(err) => {
                        mark_stale(ledger, container);
                        retry.push(i);
                        last_error = Some(err);
                    }
                }
            }
        }
        match last_error {
            Some(err) => Round::Again(retry, err),
            None => Round::Done,
        }
    }

    /// Sorts out a call about `items` that failed as a whole: another round for a passing
    /// failure, else the error is their result.
    async fn failed(
        &self,
        ledger: &mut Ledger,
        container: &str,
        items: Vec<usize>,
        err: Error,
        results: &mut [Option<Result<Landed>>],
    ) -> Round {
        let err = self.container_error(container, err).await;
        match err.kind() {
            ErrorKind::Retryable => {
                // The call may have been carried out though its answer was lost.
                mark_stale(ledger, container);
                Round::Again(items, err)
            }
            ErrorKind::RateLimited => Round::Again(items, err),
            kind if kind.pauses_job() => Round::Halt(err),
            _ => {
                settle(results, &items, &err);
                Round::Done
            }
        }
    }

    /// One `batchCreate`, and what became of each item.
    async fn create(
        &self,
        container: &str,
        album_id: Option<&str>,
        batch: &[(Target, Staged)],
        chunk: &[usize],
    ) -> Result<Vec<Answer>> {
        let items: Vec<NewMediaItem> = chunk
            .iter()
            .map(|&i| {
                let (target, staged) = &batch[i];
                NewMediaItem {
                    description: description(target),
                    simple_media_item: SimpleMediaItem {
                        upload_token: staged.token.clone(),
                        file_name: target.name.clone(),
                    },
                }
            })
            .collect();
        let what = match album_id {
            Some(_) => {
                let title = self.album_title(container).await;
                format!(
                    "adding {} items to Google Photos album \"{title}\"",
                    items.len()
                )
            }
            None => format!("adding {} items to the Google Photos library", items.len()),
        };
        let response = self.client.batch_create(&what, album_id, &items).await?;
        let mut by_token: HashMap<String, _> = response
            .new_media_item_results
            .into_iter()
            .map(|r| (r.upload_token.clone(), r))
            .collect();
        Ok(chunk
            .iter()
            .map(|&i| {
                let (target, staged) = &batch[i];
                let Some(result) = by_token.remove(&staged.token) else {
                    return Answer::Unknown(Error::retryable(format!(
                        "{what}: the answer says nothing about {}",
                        target.name
                    )));
                };
                let status = result.status.unwrap_or_default();
                if !error::is_ok(status.code) {
                    let err =
                        error::item_status(&target.name, status.code.unwrap_or(0), &status.message);
                    return Answer::Failed(err);
                }
                match result.media_item {
                    Some(item) => Answer::Created(item.id),
                    None => Answer::Unknown(Error::retryable(format!(
                        "{what}: {} was accepted without a media item",
                        target.name
                    ))),
                }
            })
            .collect())
    }

    async fn album_title(&self, album_id: &str) -> String {
        let albums = self.albums.lock().await;
        albums
            .as_ref()
            .and_then(|index| index.titles.get(album_id).cloned())
            .unwrap_or_else(|| album_id.to_string())
    }
}

/// How one round of a container's commit ended.
enum Round {
    /// Every item sent has its result.
    Done,
    /// What became of these items is unknown after a passing failure: another round.
    Again(Vec<usize>, Error),
    /// Stop the whole commit.
    Halt(Error),
}

/// Gives `items` that have no result yet this error.
fn settle(results: &mut [Option<Result<Landed>>], items: &[usize], err: &Error) {
    for &i in items {
        results[i].get_or_insert_with(|| Err(err.clone()));
    }
}

fn landed(id: &str, staged: &Staged) -> Landed {
    Landed {
        id: id.to_string(),
        bytes: staged.bytes,
        hash: None,
    }
}

/// One item's fate in a `batchCreate` answer.
enum Answer {
    Created(String),
    Failed(Error),
    /// Not reported, or reported without its media item: it may or may not exist.
    Unknown(Error),
}

fn mark_stale(ledger: &mut Ledger, container: &str) {
    if let Some(placed) = ledger.placed.get_mut(container) {
        placed.stale = true;
    }
}

fn by_name(items: impl IntoIterator<Item = super::client::MediaItem>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for item in items {
        map.entry(item.filename).or_insert(item.id);
    }
    map
}

/// The item's caption as its description, cut to what Google takes.
fn description(target: &Target) -> Option<String> {
    let caption = target.item.caption.as_deref()?.trim();
    (!caption.is_empty()).then(|| caption.chars().take(MAX_DESCRIPTION_CHARS).collect())
}

/// The MIME type to announce: the source's, else one guessed from the name.
fn mime_type(target: &Target) -> Option<String> {
    target
        .item
        .mime_type
        .clone()
        .filter(|m| m.starts_with("image/") || m.starts_with("video/"))
        .or_else(|| {
            mime_guess::from_path(&target.name)
                .first()
                .map(|m| m.essence_str().to_string())
                .filter(|m| m.starts_with("image/") || m.starts_with("video/"))
        })
}

/// Refuses what Google Photos cannot hold, before sending a byte.
fn check_size(target: &Target, size: u64) -> Result<()> {
    if size == 0 {
        return Err(Error::permanent(format!(
            "{}: Google Photos does not accept empty files",
            target.name
        )));
    }
    let (limit, kind) = match target.item.kind {
        MediaKind::Photo => (MAX_PHOTO_BYTES, "photos"),
        MediaKind::Video => (MAX_VIDEO_BYTES, "videos"),
    };
    if size > limit {
        return Err(Error::permanent(format!(
            "{}: {size} bytes is more than Google Photos takes for {kind} ({} MB)",
            target.name,
            limit / 1_000_000
        )));
    }
    Ok(())
}

#[async_trait]
impl Destination for GooglePhotosDestination {
    fn describe(&self) -> String {
        format!("Google Photos {}:", self.session.name)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            holds: Holding::media("items in albums, captions as descriptions"),
            layout: Layout::Albums,
            names: NameRules::default(),
            max_file_size: Some(MAX_VIDEO_BYTES),
            max_commit_batch: MAX_BATCH_CREATE,
            max_album_items: Some(MAX_ALBUM_ITEMS),
        }
    }

    async fn check(&self) -> Result<()> {
        self.client.list_albums(1, None).await.map(|_| ())
    }

    async fn ensure_container(&self, container: &Container) -> Result<String> {
        match container {
            Container::Library => Ok(String::new()),
            // Google Photos albums have no description field; the title is what carries over.
            Container::Album { title, .. } => self.ensure_album(title).await,
            Container::Folder(parts) if parts.is_empty() => Ok(String::new()),
            Container::Folder(parts) => Err(Error::permanent(format!(
                "Google Photos has albums, not folders ({})",
                parts.join("/")
            ))),
        }
    }

    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded> {
        if let Some(err) = self.deleted_album(&target.container) {
            return Err(err);
        }
        let length = content.length.or(target.size);
        if let Some(size) = length {
            check_size(target, size)?;
        }
        let what = format!("uploading {} to Google Photos", target.name);
        let mime = mime_type(target);
        let file = FileInfo {
            name: &target.name,
            mime: mime.as_deref(),
        };
        let feed = Feed::new(content.stream);
        let sizes = Sizes {
            raw_limit: self.tuning.raw_limit,
            chunk: self.tuning.chunk_size,
        };
        let token = upload::upload(&self.client, &what, &file, &feed, length, sizes).await?;
        if length.is_none() {
            // Only now is the size known; the token is left to expire.
            check_size(target, feed.sent())?;
        }
        Ok(Uploaded { token, hash: None })
    }

    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>> {
        let mut results: Vec<Option<Result<Landed>>> = vec![None; batch.len()];
        let mut ledger = self.ledger.lock().await;
        let mut containers: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, (target, _)) in batch.iter().enumerate() {
            match containers
                .iter_mut()
                .find(|(c, _)| *c == target.container.as_str())
            {
                Some((_, indices)) => indices.push(i),
                None => containers.push((&target.container, vec![i])),
            }
        }
        for (container, indices) in containers {
            if let Some(err) = self
                .commit_container(&mut ledger, container, &batch, &indices, &mut results)
                .await
            {
                // A full account or dead credentials: no point sending the rest.
                for result in results.iter_mut().filter(|r| r.is_none()) {
                    *result = Some(Err(err.clone()));
                }
                break;
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::retryable("the item was not committed"))))
            .collect()
    }

    async fn find(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        if let Some(err) = self.deleted_album(&target.container) {
            return Err(err);
        }
        let mut ledger = self.ledger.lock().await;
        let placed = match self.placed(&mut ledger, &target.container).await {
            Ok(placed) => placed,
            Err(err) => return Err(self.container_error(&target.container, err).await),
        };
        Ok(placed.get(&target.name).map(|id| landed(id, staged)))
    }

    async fn add_to_container(&self, target: &Target, landed_id: &str) -> Result<Option<Landed>> {
        if target.container.is_empty() {
            // The library holds every item already.
            return Ok(Some(Landed {
                id: landed_id.to_string(),
                bytes: target.size.unwrap_or(0),
                hash: None,
            }));
        }
        if let Some(err) = self.deleted_album(&target.container) {
            return Err(err);
        }
        let what = format!("adding {} to an album", target.name);
        if let Err(err) = self
            .client
            .add_to_album(&what, &target.container, &[landed_id])
            .await
        {
            return Err(self.container_error(&target.container, err).await);
        }
        Ok(Some(Landed {
            id: landed_id.to_string(),
            bytes: target.size.unwrap_or(0),
            hash: None,
        }))
    }

    /// Upload tokens cannot be deleted; an unused one expires after a day and shows nowhere.
    async fn discard(&self, _staged: &Staged) {}
}
