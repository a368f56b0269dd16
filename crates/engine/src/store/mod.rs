//! The journal behind a trait: SQLite serves one machine (the CLI's default), PostgreSQL
//! serves many workers on many machines. Both keep the same schema, version for version, and
//! one implementation ([`SqlStore`], in `journal.rs`) serves both: each statement is written
//! once, and what differs between the two is a `Dialect`'s (`sql.rs`).

mod app;
mod journal;
mod postgres;
mod rows;
mod sql;
mod sqlite;

pub use app::{AccountRow, AppStore, ArchiveReady, ArchiveRow, AuditEntry, Notice, SessionRow};
pub use postgres::PgStore;
pub(crate) use rows::container_from_json;
pub use sql::SqlStore;
pub use sqlite::SqliteStore;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::{Album, Container, DataType, MediaItem, MediaKind, Record, Skipped};

use crate::Result;
use crate::job::{Job, JobId, JobSpec, JobState};
use crate::report::{Counts, Failure};

/// One item on its way to one place.
#[derive(Clone, Debug)]
pub struct Unit {
    pub seq: i64,
    pub source_index: usize,
    pub album_id: String,
    pub item: MediaItem,
    pub container: String,
    pub name: String,
    pub state: UnitState,
    pub attempts: u32,
    pub token: Option<String>,
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
}

/// What an earlier job on a job's route landed for one item in one album (a row of the
/// `landings` table): a later job that lists the same record, and finds it still in place,
/// settles it without reading or sending it again.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Landing {
    pub source_id: String,
    pub album_id: String,
    /// The item's JSON record as it was listed then.
    pub record: String,
    /// The container's key in the job's plan, its JSON spec, and its id on the destination.
    pub container: String,
    pub container_spec: String,
    pub container_id: String,
    pub name: String,
    pub dest_id: String,
    pub sha256: String,
    pub bytes: i64,
}

/// Where a unit goes when an earlier job on the route decided it already: the container
/// (key and JSON spec) and the name there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub container: String,
    pub container_spec: String,
    pub name: String,
}

/// One unit of a listed page: an item bound for one of its albums ('' for none).
#[derive(Clone, Debug)]
pub struct ListedUnit<'a> {
    pub item: &'a MediaItem,
    pub album_id: &'a str,
    /// The item as the journal records it (JSON).
    pub record: String,
    /// Set when an earlier job on the route placed it: it goes to the same place again,
    /// and planning leaves it there.
    pub place: Option<Place>,
}

impl<'a> ListedUnit<'a> {
    /// The units of listed items: each item once per album it is in, or once in none.
    pub fn all(items: &'a [MediaItem]) -> Result<Vec<ListedUnit<'a>>> {
        let mut units = Vec::with_capacity(items.len());
        for item in items {
            let record = serde_json::to_string(item)?;
            let albums: Vec<&str> = if item.albums.is_empty() {
                vec![""]
            } else {
                item.albums.iter().map(String::as_str).collect()
            };
            for album_id in albums {
                units.push(ListedUnit {
                    item,
                    album_id,
                    record: record.clone(),
                    place: None,
                });
            }
        }
        Ok(units)
    }
}

/// A listed page, journalled in one transaction with the cursor after it.
#[derive(Clone, Debug, Default)]
pub struct ListedPage<'a> {
    pub source_index: usize,
    pub albums: &'a [Album],
    pub units: Vec<ListedUnit<'a>>,
    pub skipped: &'a [Skipped],
    /// The page's records that are not files (posts, messages, …), for a destination that
    /// holds them: kept as they are, in listing order.
    pub records: &'a [Record],
    /// Units that an earlier job on the route landed and that are still in place, unchanged:
    /// counted on the job (how many, how many bytes), not journalled one by one.
    pub unchanged: (u64, u64),
    pub next: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitState {
    Pending,
    Staged,
    Done,
    Skipped,
    Failed,
}

impl UnitState {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitState::Pending => "pending",
            UnitState::Staged => "staged",
            UnitState::Done => "done",
            UnitState::Skipped => "skipped",
            UnitState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<UnitState> {
        Some(match s {
            "pending" => UnitState::Pending,
            "staged" => UnitState::Staged,
            "done" => UnitState::Done,
            "skipped" => UnitState::Skipped,
            "failed" => UnitState::Failed,
            _ => return None,
        })
    }
}

/// What became of a unit in a move.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub seq: i64,
    pub state: UnitState,
    pub reason: Option<String>,
    pub attempts: u32,
    pub dest_id: Option<String>,
    pub sha256: Option<String>,
    pub bytes: Option<u64>,
}

/// A unit whose bytes the destination holds under a staging token.
#[derive(Clone, Debug)]
pub struct StagedRow {
    pub seq: i64,
    pub token: String,
    pub sha256: String,
    pub bytes: u64,
}

/// A worker's claim on a part of a queued job: the part, and the claim's number (`claims` in
/// the `work` table), a fencing token. Unit writes that carry it change the journal only
/// while that claim is the part's latest, checked by the database in the write itself: a
/// worker that stalled past its lease, and whose part was claimed again, writes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence {
    pub part: i64,
    pub claims: i64,
}

/// A connection to a service as the journal keeps it: the secret stays sealed here; only the
/// vault opens it.
#[derive(Clone, sqlx::FromRow)]
pub struct ConnectionRow {
    pub id: String,
    /// Whose connection: '' for the machine's own user, else a server account's id. Names
    /// are unique per owner.
    pub owner: String,
    pub name: String,
    pub service: String,
    /// Who the account is (an e-mail address, a name), shown in listings.
    pub account: String,
    /// Non-secret settings as JSON (a WebDAV URL, a user name).
    pub settings: String,
    #[sqlx(rename = "secret")]
    pub sealed_secret: Vec<u8>,
    pub created_at: String,
}

impl std::fmt::Debug for ConnectionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRow")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("service", &self.service)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// The other units of one source item (an item in several albums has a unit per album).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Siblings {
    /// A done sibling: its id on the destination, SHA-256 (hex) and size.
    pub landed: Option<(String, String, u64)>,
    /// Whether a sibling journalled before this unit is still pending or staged.
    pub earlier_unsettled: bool,
}

/// The (source, album, kind) groups whose units share a container.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    pub source_index: usize,
    pub album_id: String,
    pub kind: MediaKind,
}

/// Opens the journal at `location`: a `postgres://` or `postgresql://` URL is a PostgreSQL
/// database (shared by many workers), anything else the path of a SQLite file.
pub async fn open_store(location: &str) -> Result<Arc<dyn Store>> {
    if postgres::is_url(location) {
        Ok(Arc::new(PgStore::connect(location).await?))
    } else {
        Ok(Arc::new(SqliteStore::open(Path::new(location)).await?))
    }
}

/// The engine's journal: jobs, what they listed (albums, units), where it goes (containers),
/// how it went; and the connections that jobs read and write with (the CLI's and the
/// server's alike). The web app's own tables are [`AppStore`]'s.
#[async_trait]
pub trait Store: Send + Sync {
    /// A new job of `owner` ('' for the machine's own user, else a server account's id).
    async fn create_job(&self, owner: &str, spec: &JobSpec) -> Result<Job>;
    /// A job by its id or an unambiguous prefix of it.
    async fn job(&self, id: &str) -> Result<Job>;
    /// Every job, newest first.
    async fn jobs(&self, owner: &str) -> Result<Vec<Job>>;
    /// The newest unfinished job with exactly this spec, which a re-run continues.
    /// Every job, of any owner, that is not done or cancelled (a server starting up resumes
    /// its accounts' jobs).
    async fn unfinished_jobs(&self) -> Result<Vec<Job>>;
    async fn unfinished_job(&self, owner: &str, spec: &JobSpec) -> Result<Option<Job>>;
    /// How many jobs are in each state, of every owner (for metrics).
    async fn job_states(&self) -> Result<Vec<(JobState, u64)>>;
    async fn set_state(&self, job: &JobId, state: JobState, reason: Option<&str>) -> Result<()>;

    /// Journals one listed page and the cursor after it, in one transaction.
    async fn save_page(&self, job: &JobId, page: ListedPage<'_>) -> Result<()>;
    async fn albums(&self, job: &JobId) -> Result<Vec<(usize, Album)>>;
    async fn groups(&self, job: &JobId) -> Result<Vec<Group>>;
    /// Puts every unit of `group` not placed yet in the container `key`, recording the
    /// container.
    async fn assign_container(
        &self,
        job: &JobId,
        group: &Group,
        key: &str,
        container: &Container,
    ) -> Result<()>;
    async fn containers(&self, job: &JobId) -> Result<Vec<(String, Container, Option<String>)>>;
    /// The units in a container still to name: those this plan put there (not the ones an
    /// earlier job on the route placed, which keep their names), in journal order.
    async fn unnamed_units(&self, job: &JobId, key: &str) -> Result<Vec<i64>>;
    /// Moves units to another container (created when missing): an album split in parts.
    async fn move_units(
        &self,
        job: &JobId,
        seqs: &[i64],
        key: &str,
        container: &Container,
    ) -> Result<()>;
    /// The units of one container still to name, with the names their sources gave, in
    /// naming order.
    async fn wanted_names(&self, job: &JobId, container: &str) -> Result<Vec<(i64, String)>>;
    async fn set_names(&self, job: &JobId, names: &[(i64, String)]) -> Result<()>;
    async fn mark_planned(&self, job: &JobId) -> Result<()>;
    /// Remembers which types the job was asked for that its route cannot carry, and why.
    async fn set_types_skipped(&self, job: &JobId, skipped: &[(DataType, String)]) -> Result<()>;
    async fn set_container_dest(&self, job: &JobId, key: &str, dest_id: &str) -> Result<()>;

    /// How the other units of the same source item stand, for a unit about to move: where the
    /// item has landed already, and whether an earlier unit of it is still to move.
    async fn sibling_units(&self, job: &JobId, unit: &Unit) -> Result<Siblings>;

    /// Units still to move (pending or staged) after `after_seq`, in order.
    async fn units_to_move(&self, job: &JobId, after_seq: i64, limit: u32) -> Result<Vec<Unit>>;
    /// What earlier jobs on this job's route landed of these source ids of source
    /// `source_index`, every album of each (see [`Landing`]).
    async fn landings(
        &self,
        job: &JobId,
        source_index: usize,
        ids: &[String],
    ) -> Result<Vec<Landing>>;
    /// The names that earlier jobs on this job's route landed in the container `key`: a new
    /// unit there takes another name.
    async fn landed_names(&self, job: &JobId, key: &str) -> Result<Vec<String>>;
    /// Remembers under the job's route what the job landed so far (as stopping does).
    async fn remember_landings(&self, job: &JobId) -> Result<()>;
    /// Everything the job's route has landed on its destination, in source order.
    async fn route_landings(&self, job: &JobId) -> Result<Vec<Landing>>;
    /// How many records that are not files the job listed, by record type ("post").
    async fn record_counts(&self, job: &JobId) -> Result<BTreeMap<String, u64>>;
    /// The job's records that are not files, page by page: up to `limit` pages after page
    /// `after` (0 for the first), each its number and its records as a JSON array.
    async fn record_pages(&self, job: &JobId, after: i64, limit: u32)
    -> Result<Vec<(i64, String)>>;
    /// How many items earlier jobs on this job's route landed in the album container `key`
    /// and its parts (`key#2`, …): new items join after them.
    async fn landed_count(&self, job: &JobId, key: &str) -> Result<u64>;
    /// With a `fence` (a worker's part of a queued job), writes only while that claim holds
    /// the part, and fails with [`EngineError::LostPart`] otherwise, writing nothing. `None`
    /// for a run of one process.
    ///
    /// [`EngineError::LostPart`]: crate::EngineError::LostPart
    async fn mark_staged(
        &self,
        job: &JobId,
        rows: &[StagedRow],
        fence: Option<Fence>,
    ) -> Result<()>;
    /// Fenced as [`Store::mark_staged`] is.
    async fn record_outcomes(
        &self,
        job: &JobId,
        outcomes: &[Outcome],
        fence: Option<Fence>,
    ) -> Result<()>;
    /// Turns failed units back into pending ones (a resume tries them again).
    async fn retry_failed(&self, job: &JobId) -> Result<u64>;

    async fn counts(&self, job: &JobId) -> Result<Counts>;
    async fn failures(&self, job: &JobId, limit: u32) -> Result<Vec<Failure>>;
    async fn skip_reasons(&self, job: &JobId) -> Result<Vec<(String, u64)>>;

    /// Adds a connection; a name already taken is an error.
    async fn add_connection(&self, row: &ConnectionRow) -> Result<()>;
    async fn connections(&self, owner: &str) -> Result<Vec<ConnectionRow>>;
    async fn connection(&self, owner: &str, name: &str) -> Result<Option<ConnectionRow>>;
    /// Replaces a connection's sealed secret (a refreshed token).
    async fn update_connection_secret(&self, id: &str, sealed: &[u8]) -> Result<()>;
    /// Replaces who a connection is and its credentials (connecting again).
    async fn update_connection(
        &self,
        id: &str,
        account: &str,
        settings: &str,
        sealed: &[u8],
    ) -> Result<()>;
    /// Deletes a connection; whether it existed.
    async fn delete_connection(&self, owner: &str, name: &str) -> Result<bool>;
}
