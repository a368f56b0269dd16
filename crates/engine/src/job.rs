//! What a job is: its spec (what to move where) and its state.

use std::fmt;
use std::str::FromStr;

use ferry_core::{DataType, Scope};
use serde::{Deserialize, Serialize};

pub type JobId = String;

/// Where media go on file-like destinations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutOptions {
    pub photos_root: String,
    pub videos_root: String,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        LayoutOptions {
            photos_root: "Photo Transfer".into(),
            videos_root: "Video Transfer".into(),
        }
    }
}

/// What a job moves and where: enough to open its sources and destination again on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The sources as given (folders as absolute paths).
    pub sources: Vec<String>,
    pub destination: String,
    pub scope: Scope,
    #[serde(default)]
    pub layout: LayoutOptions,
    /// Only these albums (source album ids) and the items in them; `None` moves everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub albums: Option<Vec<String>>,
}

impl JobSpec {
    /// The route this spec is for `owner`: jobs with the same owner and spec share what they
    /// landed (the `landings` table), so that a re-run moves only what is new or changed.
    pub fn route(&self, owner: &str) -> crate::Result<String> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(owner.as_bytes());
        hasher.update([0]);
        hasher.update(serde_json::to_vec(self)?);
        Ok(hex::encode(hasher.finalize()))
    }

    /// Whether the job moves this album (all do unless some were chosen).
    pub fn wants_album(&self, album_id: &str) -> bool {
        self.albums
            .as_ref()
            .is_none_or(|chosen| chosen.iter().any(|a| a == album_id))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Listing sources into the journal.
    Planning,
    /// Moving items (or stopped while moving: a killed run leaves this state).
    Running,
    /// Stopped by the destination (full, credentials) or by the person; `resume` continues.
    Paused,
    /// Every item is done, skipped or failed.
    Done,
    /// Stopped for good by the person; never resumed.
    Cancelled,
}

impl JobState {
    /// Whether the job will not move anything more.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Planning => "planning",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "planning" => Ok(JobState::Planning),
            "running" => Ok(JobState::Running),
            "paused" => Ok(JobState::Paused),
            "done" => Ok(JobState::Done),
            "cancelled" => Ok(JobState::Cancelled),
            other => Err(format!("unknown job state '{other}'")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: JobId,
    /// Whose job: '' for the machine's own user, else a server account's id.
    pub owner: String,
    pub spec: JobSpec,
    pub state: JobState,
    /// Why the job is paused.
    pub reason: Option<String>,
    pub plan_source: usize,
    pub plan_cursor: Option<String>,
    pub planned: bool,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// Types the spec asks for that the route cannot carry, with why (decided when the job
    /// is planned).
    pub types_skipped: Vec<(DataType, String)>,
}

impl Job {
    /// What the job lists: the spec's scope without the types its route cannot carry.
    pub fn scope(&self) -> Scope {
        let mut scope = self.spec.scope.clone();
        for (t, _) in &self.types_skipped {
            scope.types.remove(t);
        }
        scope
    }
}
