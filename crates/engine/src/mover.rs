//! The engine: runs a job's plan, then moves its items with bounded concurrency.
//!
//! Workers stream source → destination staging, hashing on the way, and hand staged items to
//! one committer. The committer journals a batch as staged, asks the destination to commit it
//! (one durable sync for the whole batch), and journals the outcomes. Because workers never
//! wait for commits, batches grow by themselves while a sync is under way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::{
    Container, Content, DestHash, Destination, Error, ErrorKind, HashingStream, Landed, Layout,
    Source, Staged, Target,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::job::{Job, JobId, JobSpec, JobState};
use crate::metrics;
use crate::plan;
use crate::progress::{Phase, Progress};
use crate::report::Report;
use crate::retry::{Gate, RetryPolicy};
use crate::store::{EarlierLanding, Fence, Outcome, StagedRow, Store, Unit, UnitState};
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
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 4,
            retry: RetryPolicy::default(),
            plan_only: false,
            throttle: None,
            fence: None,
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
        let job = self.store.job(job_id).await?;
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
            self.store
                .set_state(&job.id, JobState::Planning, None)
                .await?;
            if let Err(err) = plan::list_sources(
                self.store.as_ref(),
                &job,
                &sources,
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

        self.move_units(
            &job.id,
            sources,
            dest.clone(),
            options,
            None,
            progress.clone(),
            stop.clone(),
        )
        .await?;
        finish_destination(self.store.as_ref(), &job.id, dest.as_ref()).await;

        let remaining = self.store.units_to_move(&job.id, 0, 1).await?;
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
    #[allow(clippy::too_many_arguments)]
    pub async fn run_range(
        &self,
        job_id: &JobId,
        sources: Vec<Arc<dyn Source>>,
        dest: Arc<dyn Destination>,
        options: &RunOptions,
        seqs: (i64, i64),
        progress: Arc<Progress>,
        stop: Arc<Stop>,
    ) -> Result<RangeOutcome> {
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
        self.move_units(
            &job.id,
            sources,
            dest,
            options,
            Some(seqs),
            progress.clone(),
            stop.clone(),
        )
        .await?;
        progress.set_phase(Phase::Finished);
        let settled = self.next_to_move(&job.id, Some(seqs)).await?.is_none();
        Ok(RangeOutcome {
            settled,
            stopped: stop
                .is_stopped()
                .then(|| stop.reason().unwrap_or_else(|| "stopped".into())),
        })
    }

    /// Moves every unit still to move (in `seqs` only, when given), in passes: items a
    /// commit could not place go back to pending and a later pass takes them again.
    #[allow(clippy::too_many_arguments)]
    async fn move_units(
        &self,
        job_id: &JobId,
        sources: Vec<Arc<dyn Source>>,
        dest: Arc<dyn Destination>,
        options: &RunOptions,
        seqs: Option<(i64, i64)>,
        progress: Arc<Progress>,
        stop: Arc<Stop>,
    ) -> Result<()> {
        let caps = dest.capabilities();
        let mover = Mover {
            store: self.store.clone(),
            job: job_id.clone(),
            sources,
            dest,
            retry: options.retry.clone(),
            progress,
            stop: stop.clone(),
            gate: Arc::new(Gate::new()),
            throttle: options.throttle.clone(),
            containers: Arc::new(tokio::sync::Mutex::new(HashMap::new())),
            max_batch: caps.max_commit_batch.max(1),
            layout: caps.layout,
            seqs,
            fence: options.fence,
        };
        for _ in 0..options.retry.max_attempts.max(1) {
            let moved = mover.pass(options.concurrency.max(1)).await?;
            if moved == 0 || stop.is_stopped() {
                break;
            }
            if self.next_to_move(job_id, seqs).await?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// The first unit still to move, in `seqs` when given.
    async fn next_to_move(&self, job_id: &JobId, seqs: Option<(i64, i64)>) -> Result<Option<i64>> {
        let after = seqs.map_or(0, |(first, _)| first - 1);
        let next = self.store.units_to_move(job_id, after, 1).await?;
        Ok(next
            .first()
            .map(|u| u.seq)
            .filter(|seq| seqs.is_none_or(|(_, last)| *seq <= last)))
    }

    /// The report of a job as the journal has it now.
    pub async fn report(&self, job_id: &JobId, duration: Duration) -> Result<Report> {
        let job = self.store.job(job_id).await?;
        Ok(Report {
            counts: self.store.counts(&job.id).await?,
            failures: self.store.failures(&job.id, 10_000).await?,
            skipped: self.store.skip_reasons(&job.id).await?,
            types_skipped: crate::report::types_skipped(&job.spec.scope),
            job_id: job.id,
            state: job.state,
            reason: job.reason,
            duration_secs: duration.as_secs_f64(),
        })
    }
}

/// What workers hand the committer.
enum Handoff {
    // Boxed: a unit carries its whole record.
    Staged {
        unit: Box<Unit>,
        target: Box<Target>,
        staged: Staged,
        attempts: u32,
    },
    Settled(Outcome),
    /// Not moved in this pass: an earlier unit of the same item must land first.
    Deferred,
}

#[derive(Clone)]
struct Mover {
    store: Arc<dyn Store>,
    job: JobId,
    sources: Vec<Arc<dyn Source>>,
    dest: Arc<dyn Destination>,
    retry: RetryPolicy,
    progress: Arc<Progress>,
    stop: Arc<Stop>,
    gate: Arc<Gate>,
    throttle: Option<Arc<dyn Throttle>>,
    /// Container key → destination id, created on first use.
    containers: Arc<tokio::sync::Mutex<HashMap<String, String>>>,
    max_batch: usize,
    layout: Layout,
    /// Only these units (first and last seq): a worker's part of the job.
    seqs: Option<(i64, i64)>,
    /// Carried to every unit write (see `RunOptions::fence`).
    fence: Option<Fence>,
}

/// Units fetched from the journal at a time.
const FETCH: u32 = 256;
/// How long the committer gathers staged items before committing them together.
const COMMIT_WINDOW: Duration = Duration::from_millis(100);

impl Mover {
    /// One pass over every unit still to move. Returns how many it took up.
    async fn pass(&self, concurrency: usize) -> Result<u64> {
        {
            let mut known = self.containers.lock().await;
            for (key, _, dest_id) in self.store.containers(&self.job).await? {
                if let Some(id) = dest_id {
                    known.insert(key, id);
                }
            }
        }
        let (units_tx, units_rx) = mpsc::channel::<(Unit, Option<EarlierLanding>)>(concurrency * 4);
        let (handoff_tx, handoff_rx) = mpsc::channel::<Handoff>(4096);

        let feeder = {
            let this = self.clone();
            tokio::spawn(async move {
                let (mut after, last_seq) = match this.seqs {
                    Some((first, last)) => (first - 1, last),
                    None => (0, i64::MAX),
                };
                let mut fed = 0u64;
                'fetch: while !this.stop.is_stopped() {
                    let units = this.store.units_to_move(&this.job, after, FETCH).await?;
                    let (Some(first), Some(last)) = (units.first(), units.last()) else {
                        break;
                    };
                    let mut earlier: HashMap<i64, EarlierLanding> = this
                        .store
                        .earlier_landings(&this.job, first.seq, last.seq)
                        .await?
                        .into_iter()
                        .map(|l| (l.seq, l))
                        .collect();
                    after = last.seq;
                    for unit in units {
                        if unit.seq > last_seq {
                            break 'fetch;
                        }
                        let landed = earlier.remove(&unit.seq);
                        if this.stop.is_stopped() || units_tx.send((unit, landed)).await.is_err() {
                            return Ok(fed);
                        }
                        fed += 1;
                    }
                }
                Ok::<u64, EngineError>(fed)
            })
        };
        let committer = {
            let this = self.clone();
            tokio::spawn(async move {
                let result = this.commit_loop(handoff_rx).await;
                // Nothing more can be journaled (the part was lost, the journal is gone): stop
                // taking units rather than upload what could never be recorded.
                if let Err(err) = &result {
                    this.stop.stop(err.to_string());
                }
                result
            })
        };

        tokio_stream_of(units_rx)
            .for_each_concurrent(concurrency, |(unit, earlier)| {
                let handoff = handoff_tx.clone();
                async move {
                    if self.stop.is_stopped() {
                        return;
                    }
                    if let Some(h) = self.move_unit(unit, earlier).await {
                        let _ = handoff.send(h).await;
                    }
                }
            })
            .await;
        drop(handoff_tx);
        let fed = feeder
            .await
            .map_err(|e| EngineError::Store(e.to_string()))??;
        committer
            .await
            .map_err(|e| EngineError::Store(e.to_string()))??;
        Ok(fed)
    }

    fn settled(
        &self,
        unit: &Unit,
        state: UnitState,
        reason: impl Into<String>,
        attempts: u32,
    ) -> Handoff {
        Handoff::Settled(Outcome {
            seq: unit.seq,
            state,
            reason: Some(reason.into()),
            attempts,
            dest_id: None,
            sha256: None,
            bytes: None,
        })
    }

    async fn container_id(&self, key: &str) -> ferry_core::Result<String> {
        let mut known = self.containers.lock().await;
        if let Some(id) = known.get(key) {
            return Ok(id.clone());
        }
        let container = self
            .store
            .containers(&self.job)
            .await
            .map_err(|e| Error::permanent(e.to_string()))?
            .into_iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, c, _)| c)
            .unwrap_or(Container::Library);
        let id = self.dest.ensure_container(&container).await?;
        self.store
            .set_container_dest(&self.job, key, &id)
            .await
            .map_err(|e| Error::permanent(e.to_string()))?;
        known.insert(key.to_string(), id.clone());
        Ok(id)
    }

    /// Moves one unit up to staging; `None` when the job was stopped under it.
    async fn move_unit(&self, unit: Unit, earlier: Option<EarlierLanding>) -> Option<Handoff> {
        let mut attempts = unit.attempts;
        let mut rate_limited = 0u32;
        let mut delays = self.retry.backoff();
        loop {
            if self.stop.is_stopped() {
                return None;
            }
            let waiting = Instant::now();
            if let Some(throttle) = &self.throttle {
                throttle.turn().await;
            }
            self.gate.wait().await;
            metrics::waited_on_rate_limit(waiting.elapsed());
            let result = self.try_unit(&unit, earlier.as_ref()).await;
            let err = match result {
                // Left pending: a later pass takes it once its sibling has landed.
                Ok(Handoff::Deferred) => return None,
                Ok(handoff) => return Some(handoff),
                Err(err) => err,
            };
            if err.kind() == ErrorKind::RateLimited {
                rate_limited += 1;
            } else {
                attempts += 1;
            }
            match err.kind() {
                ErrorKind::NotFound => {
                    return Some(self.settled(
                        &unit,
                        UnitState::Skipped,
                        format!("no longer at the source: {err}"),
                        attempts,
                    ));
                }
                ErrorKind::Permanent => {
                    return Some(self.settled(&unit, UnitState::Failed, err.to_string(), attempts));
                }
                ErrorKind::AuthExpired | ErrorKind::DestinationFull => {
                    self.stop.stop(pause_reason(&err));
                    return None;
                }
                ErrorKind::Retryable | ErrorKind::RateLimited => {
                    if attempts >= self.retry.max_attempts {
                        return Some(self.settled(
                            &unit,
                            UnitState::Failed,
                            format!("gave up after {attempts} attempts: {err}"),
                            attempts,
                        ));
                    }
                    if rate_limited >= self.retry.max_rate_limited {
                        return Some(self.settled(
                            &unit,
                            UnitState::Failed,
                            format!("still rate-limited after {rate_limited} waits: {err}"),
                            attempts,
                        ));
                    }
                    let delay = match &err {
                        Error::RateLimited {
                            retry_after: Some(after),
                            ..
                        } => {
                            self.gate.hold_for(*after).await;
                            if let Some(throttle) = &self.throttle {
                                throttle.hold(*after).await;
                            }
                            *after
                        }
                        _ => delays.next().unwrap_or(self.retry.max_delay),
                    };
                    metrics::retried(err.kind());
                    if err.kind() == ErrorKind::RateLimited {
                        metrics::waited_on_rate_limit(delay);
                    }
                    tracing::info!(item = %unit.item.id, attempt = attempts, "retrying in {delay:?}: {err}");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn try_unit(
        &self,
        unit: &Unit,
        earlier: Option<&EarlierLanding>,
    ) -> ferry_core::Result<Handoff> {
        let container = self.container_id(&unit.container).await?;
        let target = Target {
            container,
            name: unit.name.clone(),
            size: unit.item.size,
            modified: unit.item.taken.or(unit.item.uploaded).map(|t| t.utc),
            item: unit.item.clone(),
        };

        // An item in several albums goes to a destination with native albums once, and is
        // then added to its other albums. Its later units wait for the first to land.
        if self.layout == Layout::Albums && unit.item.albums.len() > 1 {
            let siblings = self
                .store
                .sibling_units(&self.job, unit)
                .await
                .map_err(|e| Error::permanent(e.to_string()))?;
            if let Some((dest_id, sha256, bytes)) = siblings.landed
                && self
                    .dest
                    .add_to_container(&target, &dest_id)
                    .await?
                    .is_some()
            {
                Progress::add(&self.progress.moved_bytes, bytes);
                return Ok(Handoff::Settled(Outcome {
                    seq: unit.seq,
                    state: UnitState::Done,
                    reason: None,
                    attempts: unit.attempts + 1,
                    dest_id: Some(dest_id),
                    sha256: Some(sha256),
                    bytes: Some(bytes),
                }));
            }
            if siblings.earlier_unsettled {
                return Ok(Handoff::Deferred);
            }
        }

        // Moved by an earlier job on this route, unchanged since at both ends: settled from
        // the journal, the source is not read.
        if let Some(earlier) = earlier
            && unit.state == UnitState::Pending
            && unit.item.revision.is_some()
            && let Some(sha256) = decode_sha(&earlier.sha256)
        {
            let landed = Landed {
                id: earlier.dest_id.clone(),
                bytes: earlier.bytes as u64,
                hash: None,
            };
            if self.dest.holds(&target, &landed, &sha256).await? {
                Progress::add(&self.progress.moved_bytes, landed.bytes);
                return Ok(Handoff::Settled(Outcome {
                    seq: unit.seq,
                    state: UnitState::Done,
                    reason: None,
                    attempts: unit.attempts,
                    dest_id: Some(landed.id),
                    sha256: Some(earlier.sha256.clone()),
                    bytes: Some(landed.bytes),
                }));
            }
        }

        // Staged before a crash: it may already be in place.
        if unit.state == UnitState::Staged
            && let (Some(token), Some(sha), Some(bytes)) = (&unit.token, &unit.sha256, unit.bytes)
            && let Some(sha256) = decode_sha(sha)
        {
            let staged = Staged {
                token: token.clone(),
                bytes,
                sha256,
            };
            if let Some(landed) = self.dest.find(&target, &staged).await? {
                // Found in place: the staged copy (if the commit did not consume it) is
                // debris now.
                self.dest.discard(&staged).await;
                Progress::add(&self.progress.moved_bytes, bytes);
                return Ok(Handoff::Settled(done_outcome(
                    unit,
                    &staged,
                    &landed,
                    unit.attempts,
                )));
            }
            self.dest.discard(&staged).await;
        }

        let source = self.sources.get(unit.source_index).ok_or_else(|| {
            Error::permanent(format!("the job has no source #{}", unit.source_index))
        })?;
        tracing::debug!("uploading unit {} ({})", unit.seq, unit.item.id);
        let content = source.open(&unit.item).await?;
        let progress = self.progress.clone();
        let counted = content.stream.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                Progress::add(&progress.moved_bytes, chunk.len() as u64);
            }
        });
        let (content, digest) =
            HashingStream::wrap(Content::new(Box::pin(counted), content.length));
        let uploaded = self.dest.upload(&target, content).await?;
        let Some(digest) = digest.digest() else {
            return Err(Error::retryable(
                "the destination stopped reading before the end of the file",
            ));
        };
        if let Some(DestHash::Sha256(theirs)) = &uploaded.hash
            && *theirs != digest.sha256
        {
            let staged = Staged {
                token: uploaded.token,
                bytes: digest.bytes,
                sha256: digest.sha256,
            };
            self.dest.discard(&staged).await;
            return Err(Error::retryable(
                "the destination's hash differs from what was sent",
            ));
        }
        Ok(Handoff::Staged {
            unit: Box::new(unit.clone()),
            target: Box::new(target),
            staged: Staged {
                token: uploaded.token,
                bytes: digest.bytes,
                sha256: digest.sha256,
            },
            attempts: unit.attempts + 1,
        })
    }

    async fn commit_loop(&self, mut rx: mpsc::Receiver<Handoff>) -> Result<()> {
        while let Some(first) = rx.recv().await {
            // Gather for a moment: one durable sync then serves many items.
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + COMMIT_WINDOW;
            while batch.len() < self.max_batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(h)) => batch.push(h),
                    Ok(None) | Err(_) => break,
                }
            }
            let mut outcomes = Vec::new();
            let mut staged = Vec::new();
            for handoff in batch {
                match handoff {
                    Handoff::Settled(o) => outcomes.push(o),
                    Handoff::Deferred => {}
                    Handoff::Staged {
                        unit,
                        target,
                        staged: s,
                        attempts,
                    } => staged.push((unit, target, s, attempts)),
                }
            }
            if !staged.is_empty() {
                let rows: Vec<StagedRow> = staged
                    .iter()
                    .map(|(u, _, s, _)| StagedRow {
                        seq: u.seq,
                        token: s.token.clone(),
                        sha256: hex_sha(&s.sha256),
                        bytes: s.bytes,
                    })
                    .collect();
                self.store.mark_staged(&self.job, &rows, self.fence).await?;
                let to_commit = staged
                    .iter()
                    .map(|(_, t, s, _)| ((**t).clone(), s.clone()))
                    .collect();
                let results = self.dest.commit(to_commit).await;
                for ((unit, _, s, attempts), result) in staged.into_iter().zip(results) {
                    outcomes.push(self.commit_outcome(&unit, &s, attempts, result).await);
                }
            }
            let settled = outcomes
                .iter()
                .filter(|o| o.state != UnitState::Pending)
                .count() as u64;
            let failed = outcomes
                .iter()
                .filter(|o| o.state == UnitState::Failed)
                .count() as u64;
            self.store
                .record_outcomes(&self.job, &outcomes, self.fence)
                .await?;
            metrics::settled(&outcomes);
            for done in outcomes.iter().filter(|o| o.state == UnitState::Done) {
                tracing::debug!("journaled done unit {}", done.seq);
            }
            Progress::add(&self.progress.settled_items, settled);
            Progress::add(&self.progress.failed_items, failed);
        }
        Ok(())
    }

    async fn commit_outcome(
        &self,
        unit: &Unit,
        staged: &Staged,
        attempts: u32,
        result: ferry_core::Result<Landed>,
    ) -> Outcome {
        let retry_later = |reason: String| Outcome {
            seq: unit.seq,
            state: UnitState::Pending,
            reason: Some(reason),
            attempts,
            dest_id: None,
            sha256: None,
            bytes: None,
        };
        match result {
            Ok(landed) => {
                if landed.bytes != staged.bytes
                    || matches!(&landed.hash, Some(DestHash::Sha256(h)) if *h != staged.sha256)
                {
                    return Outcome {
                        seq: unit.seq,
                        state: UnitState::Failed,
                        reason: Some(format!(
                            "the destination holds {} bytes that do not match the {} sent",
                            landed.bytes, staged.bytes
                        )),
                        attempts,
                        dest_id: Some(landed.id),
                        sha256: None,
                        bytes: None,
                    };
                }
                done_outcome(unit, staged, &landed, attempts)
            }
            Err(err) => {
                self.dest.discard(staged).await;
                match err.kind() {
                    ErrorKind::AuthExpired | ErrorKind::DestinationFull => {
                        self.stop.stop(pause_reason(&err));
                        retry_later(err.to_string())
                    }
                    // A rate limit is waited out, never counted against the item.
                    ErrorKind::RateLimited => {
                        metrics::retried(err.kind());
                        retry_later(err.to_string())
                    }
                    ErrorKind::Retryable if attempts < self.retry.max_attempts => {
                        metrics::retried(err.kind());
                        retry_later(err.to_string())
                    }
                    _ => Outcome {
                        seq: unit.seq,
                        state: UnitState::Failed,
                        reason: Some(err.to_string()),
                        attempts,
                        dest_id: None,
                        sha256: None,
                        bytes: None,
                    },
                }
            }
        }
    }
}

/// Checks the destination before a job starts, riding out passing faults the way items do: a
/// reset or a 503 on the first request must not stop a transfer.
async fn check_destination(dest: &dyn Destination, retry: &crate::RetryPolicy) -> Result<()> {
    let mut delays = retry.backoff();
    let mut attempt = 1;
    loop {
        match dest.check().await {
            Ok(()) => return Ok(()),
            Err(err)
                if matches!(err.kind(), ErrorKind::Retryable | ErrorKind::RateLimited)
                    && attempt < retry.max_attempts =>
            {
                let delay = match &err {
                    Error::RateLimited {
                        retry_after: Some(after),
                        ..
                    } => *after,
                    _ => delays.next().unwrap_or(retry.max_delay),
                };
                tracing::warn!(destination = %dest.describe(), "checking failed, retrying in {delay:?}: {err}");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(err) => return Err(EngineError::Setup(err.to_string())),
        }
    }
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

/// What a person reads when the job pauses.
fn pause_reason(err: &Error) -> String {
    match err.kind() {
        ErrorKind::DestinationFull => format!("the destination is full ({err}); free some space"),
        ErrorKind::AuthExpired => format!("the authorization expired ({err}); connect again"),
        _ => err.to_string(),
    }
}

fn done_outcome(unit: &Unit, staged: &Staged, landed: &Landed, attempts: u32) -> Outcome {
    Outcome {
        seq: unit.seq,
        state: UnitState::Done,
        reason: None,
        attempts,
        dest_id: Some(landed.id.clone()),
        sha256: Some(hex_sha(&staged.sha256)),
        bytes: Some(staged.bytes),
    }
}

fn hex_sha(sha: &[u8; 32]) -> String {
    sha.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_sha(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A receiver as a stream, without pulling in tokio-stream for one adapter.
fn tokio_stream_of<T: Send + 'static>(rx: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
