//! What a job did: counts per state, bytes, duration, every failure with its reason.

use serde::Serialize;

use crate::job::{JobId, JobState};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: u64,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Not settled yet (the job is paused or was stopped).
    pub pending: u64,
    /// Bytes of the items done.
    pub bytes: u64,
    /// Bytes of every item, as listed or moved.
    pub total_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub item: String,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub job_id: JobId,
    pub state: JobState,
    /// Why the job is paused, when it is.
    pub reason: Option<String>,
    pub counts: Counts,
    pub duration_secs: f64,
    pub failures: Vec<Failure>,
    /// Why items were skipped, with how many each.
    pub skipped: Vec<(String, u64)>,
}

impl Report {
    /// Whether every item is done or skipped.
    pub fn complete(&self) -> bool {
        self.state == JobState::Done && self.counts.failed == 0 && self.counts.pending == 0
    }

    /// The machine-readable summary `--json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "job_id": self.job_id,
            "state": self.state,
            "reason": self.reason,
            "items": {
                "total": self.counts.total,
                "done": self.counts.done,
                "skipped": self.counts.skipped,
                "failed": self.counts.failed,
                "pending": self.counts.pending,
            },
            "bytes": self.counts.bytes,
            "duration_secs": self.duration_secs,
            "failures": self.failures,
            "skipped": self.skipped.iter().map(|(reason, count)| serde_json::json!({"reason": reason, "count": count})).collect::<Vec<_>>(),
        })
    }
}
