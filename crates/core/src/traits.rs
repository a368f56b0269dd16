//! The two traits every connector implements.
//!
//! A [`Source`] lists what it holds, page by page, and opens an item's bytes as a stream.
//! A [`Destination`] receives streams in two steps, so that the engine can journal what it
//! uploaded before it becomes visible: `upload` stages the bytes (a temporary file, an upload
//! session, an upload token) and `commit` places a batch of staged items under their final
//! names. `find` recognises an item that is already there, which covers the window between a
//! commit and its journal write after a crash.

use std::collections::BTreeSet;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::content::Content;
use crate::error::Result;
use crate::model::{DataType, MediaItem, Record, Scope};
use crate::names::NameRules;

/// One page of a source's listing.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub records: Vec<Record>,
    /// Entries the source saw but will not hand out, each with the reason (not a photo,
    /// unreadable, a symbolic link), so that the report accounts for everything.
    pub skipped: Vec<Skipped>,
    /// The cursor of the next page; `None` on the last one.
    pub next: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Skipped {
    pub id: String,
    pub reason: String,
}

#[async_trait]
pub trait Source: Send + Sync {
    /// A short description for messages ("folder /home/ana/Pictures").
    fn describe(&self) -> String;

    /// The types of information it can list (at least one record of each may follow): the
    /// engine asks only for those a destination can hold, and reports the others.
    fn offers(&self) -> BTreeSet<DataType> {
        DataType::MEDIA.into()
    }

    /// Lists one page: albums before the items that name them. `cursor` is `None` for the
    /// first page, then whatever the previous page returned as `next`; cursors survive a
    /// restart of the process.
    async fn list(&self, scope: &Scope, cursor: Option<&str>) -> Result<Page>;

    /// Opens an item's bytes.
    async fn open(&self, item: &MediaItem) -> Result<Content>;

    /// `list`, reusing what `recall` remembers of items the source can tell are unchanged
    /// (by their `revision`, checked without reading the item), instead of reading them
    /// again. Sources that cannot tell list as usual.
    async fn list_recalling(
        &self,
        scope: &Scope,
        cursor: Option<&str>,
        recall: &dyn Recall,
    ) -> Result<Page> {
        let _ = recall;
        self.list(scope, cursor).await
    }
}

/// What earlier jobs on the same route listed from a source: the engine answers from its
/// journal, so a re-run lists an unchanged library without reading it again.
#[async_trait]
pub trait Recall: Send + Sync {
    /// The latest earlier record of each of these ids that has one.
    async fn recall(&self, ids: &[String]) -> Vec<MediaItem>;
}

/// Remembers nothing: a first run.
pub struct NoRecall;

#[async_trait]
impl Recall for NoRecall {
    async fn recall(&self, _ids: &[String]) -> Vec<MediaItem> {
        Vec::new()
    }
}

/// How a destination organises what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Files in folders: `Photo Transfer/<album>/<file>` (folders, Dropbox, Koofr, WebDAV).
    Folders,
    /// Native albums (Google Photos).
    Albums,
}

/// A hash a destination reports for what it stored, which the engine checks against its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestHash {
    Sha256([u8; 32]),
}

/// How a destination holds one type of information ("files in album folders", "items in
/// albums, captions as descriptions"), for people to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    pub data_type: DataType,
    pub how: &'static str,
}

impl Holding {
    /// Photos and videos, each held `how`.
    pub fn media(how: &'static str) -> Vec<Holding> {
        DataType::MEDIA
            .into_iter()
            .map(|data_type| Holding { data_type, how })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct Capabilities {
    /// The types of information it holds, and how; the engine asks sources for no other.
    pub holds: Vec<Holding>,
    pub layout: Layout,
    pub names: NameRules,
    pub max_file_size: Option<u64>,
    /// The most items one `commit` call takes.
    pub max_commit_batch: usize,
    /// The most items an album holds (Google Photos: 20,000); a larger source album is split
    /// into "Title", "Title (2)", … when the job is planned.
    pub max_album_items: Option<usize>,
}

impl Capabilities {
    pub fn holds(&self, t: DataType) -> bool {
        self.holds.iter().any(|h| h.data_type == t)
    }
}

/// A photo or video a route has on its destination, for the documents that describe it.
#[derive(Clone, Debug)]
pub struct LandedMedia {
    pub item: MediaItem,
    /// The id of the album this copy is in (an item in several albums has a copy in each
    /// album's folder); empty when in none.
    pub album: String,
    /// Where it is, as names from the destination's root (`["Photo Transfer", "Trip",
    /// "a.jpg"]`).
    pub path: Vec<String>,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
}

/// A file made from a job's records, written once its media have landed.
pub struct Document {
    /// Safe names from the destination's root (`["data", "posts.json"]`).
    pub path: Vec<String>,
    /// Writes the file's bytes; called once, when the file is written.
    pub render: Box<dyn FnOnce() -> Result<Vec<u8>> + Send>,
}

/// Makes the files that hold a job's records on a destination that holds them as files
/// (ferry's archive layout: `data/*.json`): the engine hands over every record the job
/// listed and every photo and video the route has there.
pub trait Documents: Send + Sync + std::fmt::Debug {
    fn documents(&self, records: Vec<Record>, media: Vec<LandedMedia>) -> Vec<Document>;
}

/// Where an item goes on a destination: a folder path (for [`Layout::Folders`]) or an album.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Container {
    /// Safe folder names from the destination's root; empty is the root itself.
    Folder(Vec<String>),
    /// An album with this (safe, unique) title.
    Album {
        title: String,
        description: Option<String>,
    },
    /// The destination's library, outside any album.
    Library,
}

/// An item's place on the destination, decided when the job is planned and never changed.
#[derive(Clone, Debug)]
pub struct Target {
    /// The destination's id for the container, from [`Destination::ensure_container`].
    pub container: String,
    /// The item's safe name in the container.
    pub name: String,
    pub size: Option<u64>,
    /// The time to give the file (the taken time, else the upload time).
    pub modified: Option<OffsetDateTime>,
    pub item: MediaItem,
}

/// What an earlier job landed for a target, to ask the destination whether it still holds
/// it ([`Destination::holds_all`]).
#[derive(Clone, Debug)]
pub struct EarlierLanding {
    pub target: Target,
    pub landed: Landed,
    /// The SHA-256 of the bytes landed.
    pub sha256: [u8; 32],
}

/// Asks `holds` of each landing in turn: `holds_all` for destinations that answer one by one.
pub async fn holds_one_by_one<'a, F, Fut>(landings: &'a [EarlierLanding], holds: F) -> Vec<bool>
where
    F: Fn(&'a EarlierLanding) -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let mut answers = Vec::with_capacity(landings.len());
    for landing in landings {
        answers.push(holds(landing).await.unwrap_or(false));
    }
    answers
}

/// What `upload` hands back.
#[derive(Clone, Debug)]
pub struct Uploaded {
    pub token: String,
    /// The destination's own hash of what it received, when it reports one.
    pub hash: Option<DestHash>,
}

/// Bytes a destination holds but has not yet placed under their final name.
#[derive(Clone, Debug)]
pub struct Staged {
    /// The destination's handle on the staged bytes (a temporary path, a session id, a token).
    pub token: String,
    pub bytes: u64,
    pub sha256: [u8; 32],
}

/// An item in its final place.
#[derive(Clone, Debug)]
pub struct Landed {
    /// The destination's id or path for the item.
    pub id: String,
    pub bytes: u64,
    /// The destination's own hash of what it stored, when it reports one.
    pub hash: Option<DestHash>,
}

#[async_trait]
pub trait Destination: Send + Sync {
    fn describe(&self) -> String;

    fn capabilities(&self) -> Capabilities;

    /// Checks that the destination can be written to at all, before a job starts.
    async fn check(&self) -> Result<()>;

    /// Creates the container when missing and returns its id. Idempotent.
    async fn ensure_container(&self, container: &Container) -> Result<String>;

    /// Streams an item's bytes into a staging area and returns the destination's handle on
    /// them. Nothing is visible under the target's name yet; a failed upload cleans up after
    /// itself, an interrupted one leaves at most staging that `finish` removes.
    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded>;

    /// Places staged items under their target names, one result per item in order. An item
    /// whose name is taken by identical content is that content; one whose name is taken by
    /// different content gets the next free name `name (N).ext`. Never overwrites.
    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>>;

    /// Looks for an item already placed for `target` with this content (after a crash between
    /// a commit and its journal write).
    async fn find(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>>;

    /// Whether the destination still holds, unchanged, what an earlier job landed for this
    /// target as `landed` (these bytes, this SHA-256), judged from the destination's own
    /// metadata: a re-run then settles the item without reading the source. `false` when
    /// unsure or unsupported: the item is moved as usual, and `commit` recognises identical
    /// content under its name.
    async fn holds(&self, target: &Target, landed: &Landed, sha256: &[u8; 32]) -> Result<bool> {
        let _ = (target, landed, sha256);
        Ok(false)
    }

    /// [`Destination::holds`] for many earlier landings at once (a listed page's worth): one
    /// answer per entry, in order; an error counts as `false`. Destinations that can answer
    /// for many together (one blocking task, one listing) override it.
    async fn holds_all(&self, landings: &[EarlierLanding]) -> Vec<bool> {
        holds_one_by_one(landings, |l| self.holds(&l.target, &l.landed, &l.sha256)).await
    }

    /// Places an item this job already landed elsewhere on the destination (as `landed_id`)
    /// into `target`'s container too, without sending its bytes again: one item in several
    /// albums (Google Photos). `None` when the destination cannot; the engine then sends the
    /// bytes again, which on folder-like destinations is the copy per album folder wanted.
    /// Adding an item a container already holds is not an error.
    async fn add_to_container(&self, target: &Target, landed_id: &str) -> Result<Option<Landed>> {
        let _ = (target, landed_id);
        Ok(None)
    }

    /// Drops staged bytes that will not be committed. Best effort.
    async fn discard(&self, staged: &Staged);

    /// Called once a job has moved everything it can: flush, and remove leftover staging from
    /// every container in `containers` (the ids of all the job's containers) as well as from
    /// wherever this process staged. The job's containers are swept whether or not this
    /// process wrote there: a run killed earlier left its staging in them.
    async fn finish(&self, containers: &[String]) -> Result<()> {
        let _ = containers;
        Ok(())
    }

    /// Claims the destination's documents for one transfer (`route`: its owner and spec,
    /// hashed) before they are written: a destination that holds documents refuses when
    /// another transfer's are there, which writing would replace.
    async fn claim_documents(&self, route: &str) -> Result<()> {
        let _ = route;
        Ok(())
    }

    /// Writes a file ferry makes from the job's records (a [`Document`]) at `path`, replacing
    /// the one an earlier run put there. Only destinations that declare holding records as
    /// files are asked.
    async fn put_document(&self, path: &[String], bytes: Vec<u8>) -> Result<()> {
        let _ = (path, bytes);
        Err(crate::Error::permanent(format!(
            "{} cannot hold ferry's documents",
            self.describe()
        )))
    }

    /// Creates (or finds) a view-only link to a folder, given by its safe names from the
    /// destination's root, so that a person can share a transfer with someone who has no
    /// account. `None` when the destination has no such links. Never called unless asked.
    async fn share_link(&self, folder: &[String]) -> Result<Option<String>> {
        let _ = folder;
        Ok(None)
    }
}
