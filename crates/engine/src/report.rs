//! What a job did: counts per state, bytes, duration, every failure with its reason.

use std::collections::BTreeMap;

use ferry_core::DataType;
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
    /// Of the items done, those an earlier job on the same route had landed and that were
    /// found unchanged at both ends: not read or sent again.
    pub unchanged: u64,
    /// Bytes of the unchanged items (part of `bytes`).
    pub unchanged_bytes: u64,
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
    /// Types the person asked for that this route does not carry, each with why: never
    /// dropped silently.
    pub types_skipped: Vec<(DataType, String)>,
    /// Records that are not files (posts, messages, …) the job listed, by record type
    /// ("post", "message"): the destination holds them as documents once the job is done.
    pub records: BTreeMap<String, u64>,
}

/// What a job came to, in one word: `done` when every item is done or skipped with its
/// reason; `done_with_failures` when it ran to its end but some items failed; `failed` when it
/// ran to its end and every item it tried failed; otherwise the job's state (`paused`,
/// `running`, …). Front ends show this rather than the bare state, so that "done" never hides
/// failures; the CLI's exit code agrees with it.
pub fn outcome(state: JobState, counts: &Counts) -> &'static str {
    match state {
        JobState::Done if counts.failed > 0 && counts.done == 0 => "failed",
        JobState::Done if counts.failed > 0 => "done_with_failures",
        other => other.as_str(),
    }
}

impl Report {
    /// See [`outcome`].
    pub fn outcome(&self) -> &'static str {
        outcome(self.state, &self.counts)
    }

    /// Whether every item listed is done or skipped with its reason.
    pub fn settled(&self) -> bool {
        self.state == JobState::Done && self.counts.failed == 0 && self.counts.pending == 0
    }

    /// Whether every item is done or skipped, and every type asked for was carried.
    pub fn complete(&self) -> bool {
        self.settled() && self.types_skipped.is_empty()
    }

    /// The machine-readable summary `--json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "job_id": self.job_id,
            "state": self.outcome(),
            "reason": self.reason,
            "items": {
                "total": self.counts.total,
                "done": self.counts.done,
                "skipped": self.counts.skipped,
                "failed": self.counts.failed,
                "pending": self.counts.pending,
                "unchanged": self.counts.unchanged,
            },
            "bytes": self.counts.bytes,
            "duration_secs": self.duration_secs,
            "failures": self.failures,
            "skipped": self.skipped.iter().map(|(reason, count)| serde_json::json!({"reason": reason, "count": count})).collect::<Vec<_>>(),
            "records": self.records,
            "types_skipped": self.types_skipped.iter().map(|(t, reason)| serde_json::json!({"type": t, "reason": reason})).collect::<Vec<_>>(),
        })
    }
}
