//! The engine: what front ends call to run a job. It plans a job (lists its sources into the
//! journal, gives every item its place and name), then hands the moving to the mover
//! (mover.rs), and ends the job in the state the journal shows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::{Destination, Documents, LandedMedia, Record, Source};

use crate::job::{Job, JobId, JobSpec, JobState};
use crate::mover::{self, Run};
use crate::plan;
use crate::progress::{Phase, Progress};
use crate::report::Report;
use crate::retry::RetryPolicy;
use crate::runner::Opened;
use crate::store::{Fence, Store};
use crate::{EngineError, Result};

/// How a run goes.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Items moved at once.
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// Plan only: list and name everything, move nothing (`--dry-run`).
    pub plan_only: bool,
    /// A budget shared with other processes that every item takes a turn from (workers on
    /// one database); `None` keeps rate limits to this process.
    pub throttle: Option<Arc<dyn Throttle>>,
    /// A worker's claim on the units it moves (a queued job's part): every unit write
    /// carries it, so a worker that lost its part writes nothing more. `None` for a run of
    /// one process.
    pub fence: Option<Fence>,
    /// Makes the files that hold the job's records (posts, messages, …) on destinations
    /// that hold them as files; `None`: such records are not carried (and say so).
    pub documents: Option<Arc<dyn Documents>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 4,
            retry: RetryPolicy::default(),
            plan_only: false,
            throttle: None,
            fence: None,
            documents: None,
        }
    }
}

/// A rate budget beyond this process.
#[async_trait::async_trait]
pub trait Throttle: Send + Sync + std::fmt::Debug {
    /// Waits for this item's turn.
    async fn turn(&self);
    /// Holds everyone sharing the budget off the service for `delay` (it answered 429).
    async fn hold(&self, delay: Duration);
}

/// What a run over part of a job's units left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeOutcome {
    /// Every unit in the range is done, skipped or failed.
    pub settled: bool,
    /// Why the run stopped early: the destination is full, credentials expired, or the
    /// front end stopped it.
    pub stopped: Option<String>,
}

/// Stops a run: set by the engine when the destination is full or credentials expired, or
/// by a front end (Ctrl-C). The job is then paused, resumable.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl Stop {
    pub fn stop(&self, reason: impl Into<String>) {
        if let Ok(mut r) = self.reason.lock()
            && r.is_none()
        {
            *r = Some(reason.into());
        }
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|r| r.clone())
    }
}

pub struct Engine {
    store: Arc<dyn Store>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>) -> Engine {
        Engine { store }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `owner`'s unfinished job with this spec (a re-run continues it), or a new one.
    pub async fn start(&self, owner: &str, spec: &JobSpec) -> Result<(Job, bool)> {
        if let Some(job) = self.store.unfinished_job(owner, spec).await? {
            return Ok((job, true));
        }
        Ok((self.store.create_job(owner, spec).await?, false))
    }

    /// Runs a job to its end, or until it pauses.
    pub async fn run(
        &self,
        job_id: &JobId,
        sources: Vec<Arc<dyn Source>>,
        dest: Arc<dyn Destination>,
        options: &RunOptions,
        progress: Arc<Progress>,
        stop: Arc<Stop>,
    ) -> Result<Report> {
        let started = Instant::now();
        let mut job = self.store.job(job_id).await?;
        if job.state == JobState::Cancelled {
            return Err(EngineError::Setup(format!("job {} was cancelled", job.id)));
        }
        if sources.len() != job.spec.sources.len() {
            return Err(EngineError::Setup(format!(
                "job {} has {} sources, {} given",
                job.id,
                job.spec.sources.len(),
                sources.len()
            )));
        }
        check_destination(dest.as_ref(), &options.retry).await?;
        let caps = dest.capabilities();

        if !job.planned {
            progress.set_phase(Phase::Planning);
            job.types_skipped = plan::types_skipped(
                &job.spec.scope,
                &sources,
                dest.as_ref(),
                options.documents.is_some(),
            );
            self.store
                .set_types_skipped(&job.id, &job.types_skipped)
                .await?;
            self.store
                .set_state(&job.id, JobState::Planning, None)
                .await?;
            if let Err(err) = plan::list_sources(
                self.store.as_ref(),
                &job,
                &sources,
                dest.as_ref(),
                &options.retry,
                &progress,
            )
            .await
            {
                let reason = match err {
                    EngineError::Source(e) => format!("listing the source failed: {e}"),
                    other => return Err(other),
                };
                self.store
                    .set_state(&job.id, JobState::Paused, Some(&reason))
                    .await?;
                return self.report(&job.id, started.elapsed()).await;
            }
            plan::assign_places(self.store.as_ref(), &job, &caps).await?;
            self.store.mark_planned(&job.id).await?;
        }
        if options.plan_only {
            return self.report(&job.id, started.elapsed()).await;
        }

        // A resume tries again what failed before: the person may have fixed the cause.
        self.store.retry_failed(&job.id).await?;
        self.store
            .set_state(&job.id, JobState::Running, None)
            .await?;
        let counts = self.store.counts(&job.id).await?;
        Progress::set(&progress.total_items, counts.total);
        Progress::set(
            &progress.settled_items,
            counts.done + counts.skipped + counts.failed,
        );
        Progress::set(&progress.total_bytes, counts.total_bytes);
        Progress::set(&progress.moved_bytes, counts.bytes);
        progress.set_phase(Phase::Moving);

        mover::move_units(
            self.store.clone(),
            Run {
                job: job.id.clone(),
                sources,
                dest: dest.clone(),
                seqs: None,
                progress: progress.clone(),
                stop: stop.clone(),
            },
            options,
        )
        .await?;
        finish_destination(self.store.as_ref(), &job.id, dest.as_ref()).await;

        let remaining = self.store.units_to_move(&job.id, 0, 1).await?;
        if !stop.is_stopped()
            && remaining.is_empty()
            && let Err(reason) = write_documents(
                self.store.as_ref(),
                &job,
                dest.as_ref(),
                options.documents.as_ref(),
            )
            .await
        {
            stop.stop(reason);
        }
        if stop.is_stopped() {
            let reason = stop.reason().unwrap_or_else(|| "stopped".into());
            self.store
                .set_state(&job.id, JobState::Paused, Some(&reason))
                .await?;
        } else if remaining.is_empty() {
            self.store.set_state(&job.id, JobState::Done, None).await?;
        } else {
            self.store
                .set_state(
                    &job.id,
                    JobState::Paused,
                    Some("some items could not be placed; resume to try again"),
                )
                .await?;
        }
        progress.set_phase(Phase::Finished);
        self.report(&job.id, started.elapsed()).await
    }

    /// Moves the units `seqs` of a planned, running job: one worker's part of a job that
    /// several move at once. The job's state is the caller's to set.
    pub async fn run_range(
        &self,
        job_id: &JobId,
        endpoints: Opened,
        options: &RunOptions,
        seqs: (i64, i64),
        progress: Arc<Progress>,
        stop: Arc<Stop>,
    ) -> Result<RangeOutcome> {
        let Opened {
            sources,
            destination: dest,
            ..
        } = endpoints;
        let job = self.store.job(job_id).await?;
        if !job.planned || job.state != JobState::Running {
            return Err(EngineError::Setup(format!(
                "job {} is {}, not running",
                job.id, job.state
            )));
        }
        if sources.len() != job.spec.sources.len() {
            return Err(EngineError::Setup(format!(
                "job {} has {} sources, {} given",
                job.id,
                job.spec.sources.len(),
                sources.len()
            )));
        }
        progress.set_phase(Phase::Moving);
        mover::move_units(
            self.store.clone(),
            Run {
                job: job.id.clone(),
                sources,
                dest,
                seqs: Some(seqs),
                progress: progress.clone(),
                stop: stop.clone(),
            },
            options,
        )
        .await?;
        progress.set_phase(Phase::Finished);
        let settled = mover::next_to_move(self.store.as_ref(), &job.id, Some(seqs))
            .await?
            .is_none();
        Ok(RangeOutcome {
            settled,
            stopped: stop
                .is_stopped()
                .then(|| stop.reason().unwrap_or_else(|| "stopped".into())),
        })
    }

    /// The report of a job as the journal has it now.
    pub async fn report(&self, job_id: &JobId, duration: Duration) -> Result<Report> {
        let job = self.store.job(job_id).await?;
        Ok(Report {
            counts: self.store.counts(&job.id).await?,
            failures: self.store.failures(&job.id, 10_000).await?,
            skipped: self.store.skip_reasons(&job.id).await?,
            records: self.store.record_counts(&job.id).await?,
            types_skipped: job.types_skipped,
            job_id: job.id,
            state: job.state,
            reason: job.reason,
            duration_secs: duration.as_secs_f64(),
        })
    }
}

/// Writes the files that hold the job's records (ferry's archive layout), once every unit
/// is settled: every record the job listed, and every photo and video its route has on the
/// destination (an unchanged re-run journals none of them, so the route's landings say
/// where they are). Written again on every run, replacing the last ones. `Err` is why the
/// job pauses: a run that cannot make documents (`None`) never ends a job that listed
/// records as done.
async fn write_documents(
    store: &dyn Store,
    job: &Job,
    dest: &dyn Destination,
    documents: Option<&Arc<dyn Documents>>,
) -> std::result::Result<(), String> {
    let journal = |e: EngineError| format!("reading the journal for the documents: {e}");
    let mut records: Vec<Record> = Vec::new();
    let mut after = 0;
    loop {
        let pages = store
            .record_pages(&job.id, after, 64)
            .await
            .map_err(journal)?;
        let Some((last, _)) = pages.last() else { break };
        after = *last;
        for (_, json) in pages {
            let page: Vec<Record> = serde_json::from_str(&json)
                .map_err(|e| format!("a journalled page of records is unreadable: {e}"))?;
            records.extend(page);
        }
    }
    if records.is_empty() {
        return Ok(());
    }
    let Some(documents) = documents else {
        return Err(
            "this run cannot write the files that hold the job's posts, messages and \
             other records; continue it with `ferry resume`"
                .into(),
        );
    };
    records.extend(
        store
            .albums(&job.id)
            .await
            .map_err(journal)?
            .into_iter()
            .map(|(_, album)| Record::Album(album)),
    );
    let route = job.spec.route(&job.owner).map_err(journal)?;
    dest.claim_documents(&route)
        .await
        .map_err(|e| e.to_string())?;
    store.remember_landings(&job.id).await.map_err(journal)?;
    let media = store
        .route_landings(&job.id)
        .await
        .map_err(journal)?
        .into_iter()
        .filter_map(|landing| {
            let item = serde_json::from_str(&landing.record).ok()?;
            let container = crate::store::container_from_json(&landing.container_spec).ok()?;
            let mut path = match container {
                ferry_core::Container::Folder(names) => names,
                _ => return None,
            };
            path.push(landing.name);
            Some(LandedMedia {
                item,
                album: landing.album_id,
                path,
                sha256: landing.sha256,
            })
        })
        .collect();
    for document in documents.documents(records, media) {
        let shown = document.path.join("/");
        let bytes = (document.render)().map_err(|e| format!("making {shown}: {e}"))?;
        dest.put_document(&document.path, bytes)
            .await
            .map_err(|e| format!("writing {shown}: {e}"))?;
    }
    Ok(())
}

/// Checks the destination before a job starts, riding out passing faults the way items do: a
/// reset or a 503 on the first request must not stop a transfer.
async fn check_destination(dest: &dyn Destination, retry: &RetryPolicy) -> Result<()> {
    let what = format!("checking {}", dest.describe());
    retry
        .run(&what, || dest.check())
        .await
        .map_err(|err| EngineError::Setup(err.to_string()))
}

/// Lets the destination flush and sweep leftover staging from every container of the job
/// (a run killed earlier staged in folders this one may never write to).
pub(crate) async fn finish_destination(store: &dyn Store, job: &JobId, dest: &dyn Destination) {
    let containers: Vec<String> = match store.containers(job).await {
        Ok(known) => known.into_iter().filter_map(|(_, _, id)| id).collect(),
        Err(err) => {
            tracing::warn!("reading the job's containers: {err}");
            Vec::new()
        }
    };
    if let Err(err) = dest.finish(&containers).await {
        tracing::warn!("cleaning up the destination: {err}");
    }
}
