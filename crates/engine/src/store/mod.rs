//! The journal behind a trait, so that a PostgreSQL store can serve many workers later while
//! SQLite serves one machine now.

mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;
use ferry_core::{Album, Container, MediaItem, MediaKind, Skipped};

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

/// A connection to a service as the journal keeps it: the secret stays sealed here; only the
/// vault opens it.
#[derive(Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub service: String,
    /// Who the account is (an e-mail address, a name), shown in listings.
    pub account: String,
    /// Non-secret settings as JSON (a WebDAV URL, a user name).
    pub settings: String,
    pub sealed_secret: Vec<u8>,
    pub created_at: String,
}

impl std::fmt::Debug for ConnectionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("service", &self.service)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// A person who signs in to `ferry serve`.
#[derive(Clone)]
pub struct AccountRow {
    pub id: String,
    /// Lowercased and trimmed; unique.
    pub email: String,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub created_at: String,
}

impl std::fmt::Debug for AccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A signed-in browser, found by the SHA-256 of its cookie token. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub token_hash: String,
    pub account_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the person last entered their password in this session.
    pub confirmed_at: i64,
}

/// One line of an account's audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub event: String,
    pub detail: String,
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

#[async_trait]
pub trait Store: Send + Sync {
    async fn create_job(&self, spec: &JobSpec) -> Result<Job>;
    /// A job by its id or an unambiguous prefix of it.
    async fn job(&self, id: &str) -> Result<Job>;
    /// Every job, newest first.
    async fn jobs(&self) -> Result<Vec<Job>>;
    /// The newest unfinished job with exactly this spec, which a re-run continues.
    async fn unfinished_job(&self, spec: &JobSpec) -> Result<Option<Job>>;
    async fn set_state(&self, job: &JobId, state: JobState, reason: Option<&str>) -> Result<()>;

    /// Journals one listed page and the cursor after it, in one transaction.
    async fn save_page(
        &self,
        job: &JobId,
        source_index: usize,
        albums: &[Album],
        items: &[MediaItem],
        skipped: &[Skipped],
        next: Option<&str>,
    ) -> Result<()>;
    async fn albums(&self, job: &JobId) -> Result<Vec<(usize, Album)>>;
    async fn groups(&self, job: &JobId) -> Result<Vec<Group>>;
    /// Puts every unit of `group` in the container `key`, recording the container.
    async fn assign_container(
        &self,
        job: &JobId,
        group: &Group,
        key: &str,
        container: &Container,
    ) -> Result<()>;
    async fn containers(&self, job: &JobId) -> Result<Vec<(String, Container, Option<String>)>>;
    /// The units placed in a container (not the skipped ones), in journal order.
    async fn container_units(&self, job: &JobId, key: &str) -> Result<Vec<i64>>;
    /// Moves units to another container (created when missing): an album split in parts.
    async fn move_units(
        &self,
        job: &JobId,
        seqs: &[i64],
        key: &str,
        container: &Container,
    ) -> Result<()>;
    /// The units of one container with the names their sources gave, in naming order.
    async fn wanted_names(&self, job: &JobId, container: &str) -> Result<Vec<(i64, String)>>;
    async fn set_names(&self, job: &JobId, names: &[(i64, String)]) -> Result<()>;
    async fn mark_planned(&self, job: &JobId) -> Result<()>;
    async fn set_container_dest(&self, job: &JobId, key: &str, dest_id: &str) -> Result<()>;

    /// How the other units of the same source item stand, for a unit about to move: where the
    /// item has landed already, and whether an earlier unit of it is still to move.
    async fn sibling_units(&self, job: &JobId, unit: &Unit) -> Result<Siblings>;

    /// Units still to move (pending or staged) after `after_seq`, in order.
    async fn units_to_move(&self, job: &JobId, after_seq: i64, limit: u32) -> Result<Vec<Unit>>;
    async fn mark_staged(&self, job: &JobId, rows: &[StagedRow]) -> Result<()>;
    async fn record_outcomes(&self, job: &JobId, outcomes: &[Outcome]) -> Result<()>;
    /// Turns failed units back into pending ones (a resume tries them again).
    async fn retry_failed(&self, job: &JobId) -> Result<u64>;

    async fn counts(&self, job: &JobId) -> Result<Counts>;
    async fn failures(&self, job: &JobId, limit: u32) -> Result<Vec<Failure>>;
    async fn skip_reasons(&self, job: &JobId) -> Result<Vec<(String, u64)>>;

    /// Adds a connection; a name already taken is an error.
    async fn add_connection(&self, row: &ConnectionRow) -> Result<()>;
    async fn connections(&self) -> Result<Vec<ConnectionRow>>;
    async fn connection(&self, name: &str) -> Result<Option<ConnectionRow>>;
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
    async fn delete_connection(&self, name: &str) -> Result<bool>;

    /// Adds an account; `false` when the e-mail address is taken already.
    async fn create_account(&self, row: &AccountRow) -> Result<bool>;
    async fn account(&self, id: &str) -> Result<Option<AccountRow>>;
    async fn account_by_email(&self, email: &str) -> Result<Option<AccountRow>>;

    async fn create_session(&self, row: &SessionRow) -> Result<()>;
    /// The session with this token hash, unless it has expired by `now`.
    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>>;
    /// Records that the password was entered again in this session at `at`.
    async fn confirm_session(&self, token_hash: &str, at: i64) -> Result<()>;
    /// Deletes a session (signing out); whether it existed.
    async fn delete_session(&self, token_hash: &str) -> Result<bool>;
    /// Deletes every session expired by `now`; how many.
    async fn delete_expired_sessions(&self, now: i64) -> Result<u64>;

    /// Appends to an account's audit log.
    async fn audit(&self, account_id: &str, event: &str, detail: &str) -> Result<()>;
    /// An account's audit log, newest first.
    async fn audit_log(&self, account_id: &str, limit: u32) -> Result<Vec<AuditEntry>>;
}
