//! Work for many workers on one database: a queued job is cut into parts that workers claim
//! under leases, renew while they work, and complete. A worker that dies stops renewing; its
//! part goes back to the pool when the lease runs out, and the next worker continues from the
//! journal, which re-sends nothing already done.
//!
//! Part -1 plans a job (lists its sources, names everything). Once planned, the job's units
//! are split into parts of consecutive seqs that several workers move at once.

mod postgres;

pub use postgres::PgQueue;

use std::time::Duration;

use async_trait::async_trait;

use crate::Result;
use crate::job::{JobId, JobState};
use crate::store::Fence;

/// The part that plans a job.
pub const PLAN_PART: i64 = -1;

/// A part of a job that one worker holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub job_id: JobId,
    /// [`PLAN_PART`], or a batch number.
    pub part: i64,
    /// The units of a batch: seqs `first_seq..=last_seq`.
    pub first_seq: i64,
    pub last_seq: i64,
    pub worker: String,
    /// How often the part was claimed, this claim included: more than one means a worker
    /// died or gave it back.
    pub claims: i64,
}

impl Lease {
    pub fn plans(&self) -> bool {
        self.part == PLAN_PART
    }

    /// This claim as a fencing token for the unit writes made under it.
    pub fn fence(&self) -> Fence {
        Fence {
            part: self.part,
            claims: self.claims,
        }
    }
}

/// What renewing a lease found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours; the job is in this state (a person may have paused or cancelled it).
    Held(JobState),
    /// Expired and taken by another worker, or completed: stop working on it.
    Lost,
}

/// How fast one service may be asked, across every worker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Items per second.
    pub per_second: f64,
    /// How many may go at once after a quiet spell.
    pub burst: u32,
}

/// How much work waits, for metrics and capacity planning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Parts any worker could claim now.
    pub ready: u64,
    /// Parts held by a live lease.
    pub leased: u64,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Hands a job to the workers: they plan it if it is not planned yet, then move it.
    async fn enqueue(&self, job: &JobId) -> Result<()>;
    /// Whether the job's work is done by workers (it was enqueued).
    async fn is_queued(&self, job: &JobId) -> Result<bool>;
    /// Takes the next free part for `worker`, for `lease` from now.
    async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Lease>>;
    /// Extends the lease to `lease` from now, if it is still ours.
    async fn renew(&self, held: &Lease, lease: Duration) -> Result<Renewal>;
    /// After planning: cuts the job's units to move into batches of `batch_items`, completes
    /// the plan part and sets the job running, at once. Returns the number of batches.
    async fn split(&self, held: &Lease, batch_items: u32) -> Result<u64>;
    /// Marks a part done. Returns true when it was the job's last open part (the caller
    /// then finishes the job: exactly one worker sees true).
    async fn complete(&self, held: &Lease) -> Result<bool>;
    /// Gives a part back unfinished; others may claim it after `after`.
    async fn release(&self, held: &Lease, after: Duration) -> Result<()>;
    /// A resumed job: reopens every part that still has units to move (and planning, when
    /// the job is not planned), so that workers take them again.
    async fn reopen(&self, job: &JobId) -> Result<()>;
    /// Takes one turn at the service `key`: returns how long to wait before going, which
    /// is the rate limit's share and any hold a 429 put on the service.
    async fn take_turn(&self, key: &str, limit: Option<RateLimit>) -> Result<Duration>;
    /// Holds every worker off `key` for `delay` (the service answered 429 Retry-After).
    async fn hold(&self, key: &str, delay: Duration) -> Result<()>;
    async fn depth(&self) -> Result<QueueDepth>;
}

/// Gives a job to the workers: a new one is queued; one queued before (paused, or stopped
/// by a failure) is reopened, its failed items tried again as a resume does.
pub async fn hand_over(
    store: &dyn crate::store::Store,
    queue: &dyn WorkQueue,
    job: &crate::job::Job,
) -> Result<()> {
    match job.state {
        JobState::Cancelled => {
            return Err(crate::EngineError::Setup(format!(
                "job {} was cancelled",
                job.id
            )));
        }
        JobState::Done => return Ok(()),
        _ => {}
    }
    store.retry_failed(&job.id).await?;
    if queue.is_queued(&job.id).await? {
        let state = if job.planned {
            JobState::Running
        } else {
            JobState::Planning
        };
        store.set_state(&job.id, state, None).await?;
        return queue.reopen(&job.id).await;
    }
    // New to the queue: its plan part plans it (at once, when it is planned already) and
    // splits it.
    store.set_state(&job.id, JobState::Planning, None).await?;
    queue.enqueue(&job.id).await
}
