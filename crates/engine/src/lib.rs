//! ferry-engine: jobs and their journal, planning, moving with bounded concurrency, retrying
//! by error kind, and reports.
//!
//! A job runs in two phases. Plan lists every source into the journal, page by page (the
//! cursor is journaled with each page, so a crash re-lists at most one page), then gives every
//! item its place and name on the destination. Move streams items source → destination N at a
//! time, hashing on the way; staged items are committed in batches and journaled as done only
//! once the destination has them durably. The journal is the single source of truth: a run
//! killed at any instant is continued by the next one, which re-sends nothing already done.

mod engine;
mod job;
pub mod metrics;
mod mover;
mod plan;
mod progress;
pub mod queue;
mod report;
mod retry;
mod runner;
pub mod store;
pub mod vault;
mod worker;

pub use engine::{Engine, RangeOutcome, RunOptions, Stop, Throttle};
pub use job::{Job, JobId, JobSpec, JobState, LayoutOptions};
pub use progress::{Phase, Progress};
pub use report::{Counts, Failure, Report, outcome};
pub use retry::RetryPolicy;
pub use runner::{Halt, JobEvents, OpenJob, Opened, RunContext, Runner};
pub use store::{
    AccountRow, AppStore, ArchiveReady, ArchiveRow, AuditEntry, ConnectionRow, Fence, Notice,
    PgStore, SessionRow, SqliteStore, Store, open_store,
};
pub use vault::Vault;
pub use worker::{Worker, WorkerOptions};

/// Errors of the engine itself (the journal, a job that does not exist); item errors are
/// recorded in the journal, never returned.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("journal: {0}")]
    Store(String),
    #[error("no job matches '{0}'")]
    NoSuchJob(String),
    #[error("'{0}' matches several jobs; give more of the id")]
    AmbiguousJob(String),
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Source(ferry_core::Error),
    /// A fenced write found that another worker claimed the part since (our lease ran out).
    #[error(
        "job {job} part {part}: another worker took the part over; this claim writes nothing more"
    )]
    LostPart { job: String, part: i64 },
}

impl EngineError {
    /// What a person reads when this error stops their job: what they can do about it. The
    /// journal's own words (SQL, lock codes) are for the log, never for the job page or an
    /// e-mail.
    pub fn for_person(&self) -> String {
        match self {
            EngineError::Store(_) => "ferry could not update its records of this transfer; \
                resume it to go on from where it stopped"
                .into(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for EngineError {
    fn from(err: sqlx::Error) -> Self {
        EngineError::Store(err.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for EngineError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        EngineError::Store(err.to_string())
    }
}

impl From<serde_json::Error> for EngineError {
    fn from(err: serde_json::Error) -> Self {
        EngineError::Store(format!("bad record in the journal: {err}"))
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
