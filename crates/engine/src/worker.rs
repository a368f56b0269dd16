//! A worker: one of many processes on one database that take parts of queued jobs and move
//! them. It claims a part under a lease, renews the lease while it works, and gives the part
//! back (or completes it) when it stops. Killed, it simply stops renewing: the part returns
//! to the pool when the lease runs out and another worker continues from the journal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::engine::{RunOptions, Stop, Throttle};
use crate::job::{Job, JobState};
use crate::progress::Progress;
use crate::queue::{Lease, RateLimit, Renewal, WorkQueue};
use crate::runner::{JobEvents, OpenJob, Opened, Runner};
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Unique among the workers (host and pid, say): leases are held in its name.
    pub id: String,
    pub run: RunOptions,
    /// How long a claim holds without renewal; a dead worker's part waits this long.
    pub lease: Duration,
    /// Units per part when a job is split.
    pub batch_items: u32,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Per-service budgets shared by every worker ("dropbox" → 20 items/s).
    pub rate_limits: HashMap<String, RateLimit>,
}

impl WorkerOptions {
    pub fn new(id: impl Into<String>) -> WorkerOptions {
        WorkerOptions {
            id: id.into(),
            run: RunOptions::default(),
            lease: Duration::from_secs(30),
            batch_items: 200,
            poll: Duration::from_secs(1),
            rate_limits: HashMap::new(),
        }
    }
}

/// Why a worker stopped working on a part, when it was not the engine's own doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interruption {
    /// Another worker has the part now (our lease ran out), or the database was unreachable
    /// for too long to be sure we still hold it.
    LeaseLost,
    /// A person paused or cancelled the job.
    JobStopped,
    /// This worker is shutting down.
    Shutdown,
}

/// Runs the parts of queued jobs: the [`Runner`] with a claim on each part.
pub struct Worker {
    runner: Runner,
    queue: Arc<dyn WorkQueue>,
    options: WorkerOptions,
}

/// How soon a part given back unfinished may be taken again: long enough not to spin on a
/// part whose items wait for another part, short enough not to matter.
const RETRY_PART_AFTER: Duration = Duration::from_secs(2);

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn WorkQueue>,
        opener: Arc<dyn OpenJob>,
        options: WorkerOptions,
    ) -> Worker {
        Worker {
            runner: Runner::new(store, opener),
            queue,
            options,
        }
    }

    /// Tells `events` when a job this worker moves finishes or pauses.
    pub fn with_events(mut self, events: Arc<dyn JobEvents>) -> Worker {
        self.runner = self.runner.with_events(events);
        self
    }

    /// Works until `shutdown`, then gives back what it holds.
    pub async fn run(&self, shutdown: CancellationToken) {
        tracing::info!(worker = %self.options.id, "worker started");
        while !shutdown.is_cancelled() {
            let idle = match self.queue.claim(&self.options.id, self.options.lease).await {
                Ok(Some(lease)) => {
                    tracing::info!(job = %lease.job_id, part = lease.part, claims = lease.claims, "claimed");
                    if let Err(err) = self.work(&lease, &shutdown).await {
                        tracing::warn!(job = %lease.job_id, part = lease.part, "{err}");
                        if let Err(err) = self.queue.release(&lease, RETRY_PART_AFTER).await {
                            tracing::warn!(
                                "giving back job {} part {}: {err}",
                                lease.job_id,
                                lease.part
                            );
                        }
                    }
                    false
                }
                Ok(None) => true,
                Err(err) => {
                    tracing::warn!("looking for work: {err}");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.options.poll) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
        tracing::info!(worker = %self.options.id, "worker stopped");
    }

    async fn work(&self, lease: &Lease, shutdown: &CancellationToken) -> Result<()> {
        let job = self.runner.store().job(&lease.job_id).await?;
        let Some(opened) = self.runner.open_or_pause(&job).await? else {
            return self.queue.release(lease, Duration::ZERO).await;
        };
        let stop = Arc::new(Stop::default());
        let interruption = Arc::new(Mutex::new(None));
        let heartbeat = self.heartbeat(lease, stop.clone(), interruption.clone(), shutdown.clone());
        let result = if lease.plans() {
            self.plan(lease, &job, opened, stop.clone()).await
        } else {
            self.move_part(lease, &job, opened, stop.clone(), &interruption)
                .await
        };
        heartbeat.abort();
        let interrupted = interruption.lock().ok().and_then(|i| *i);
        match (result, interrupted) {
            // Someone else holds the part now: touch nothing of it. The journal may have told
            // us first, refusing a write under our stale claim.
            (_, Some(Interruption::LeaseLost)) => Ok(()),
            (Err(err @ crate::EngineError::LostPart { .. }), _) => {
                tracing::info!("{err}");
                Ok(())
            }
            (Ok(Some(finished)), _) => {
                if finished {
                    tracing::info!(job = %job.id, part = lease.part, "part done");
                }
                Ok(())
            }
            // Stopped under us: others may take it at once.
            (Ok(None), Some(_)) => self.queue.release(lease, Duration::ZERO).await,
            (Ok(None), None) => self.queue.release(lease, RETRY_PART_AFTER).await,
            (Err(err), _) => Err(err),
        }
    }

    /// Plans the job, then splits it into parts. `Some` when the part is done with.
    async fn plan(
        &self,
        lease: &Lease,
        job: &Job,
        opened: Opened,
        stop: Arc<Stop>,
    ) -> Result<Option<bool>> {
        let options = RunOptions {
            plan_only: true,
            ..self.options.run.clone()
        };
        let report = self
            .runner
            .engine()
            .run(
                &job.id,
                opened.sources,
                opened.destination,
                &options,
                Arc::new(Progress::default()),
                stop.clone(),
            )
            .await?;
        let job = self.runner.store().job(&job.id).await?;
        if !job.planned {
            // Listing failed (the job is paused with the reason) or we were stopped.
            tracing::info!(job = %job.id, state = %report.state, "planning stopped");
            if job.state == JobState::Paused
                && let Some(reason) = &job.reason
                && !stop.is_stopped()
            {
                self.runner.paused(&job, reason).await;
            }
            return Ok(None);
        }
        let parts = self.queue.split(lease, self.options.batch_items).await?;
        tracing::info!(job = %job.id, parts, units = report.counts.total, "planned");
        if parts == 0 {
            // Nothing to move: the job is done as soon as it is planned.
            let store = self.runner.store();
            store.set_state(&job.id, JobState::Done, None).await?;
            if self.runner.has_events() {
                self.runner
                    .finished(&job, &store.counts(&job.id).await?)
                    .await;
            }
        }
        Ok(Some(true))
    }

    /// Moves one part. `Some` when the part is done with (completed, or the job paused).
    async fn move_part(
        &self,
        lease: &Lease,
        job: &Job,
        opened: Opened,
        stop: Arc<Stop>,
        interruption: &Mutex<Option<Interruption>>,
    ) -> Result<Option<bool>> {
        let store = self.runner.store();
        let throttle: Arc<dyn Throttle> = Arc::new(SharedBudget {
            queue: self.queue.clone(),
            key: opened.service.clone(),
            limit: self.options.rate_limits.get(&opened.service).copied(),
        });
        let options = RunOptions {
            throttle: Some(throttle),
            fence: Some(lease.fence()),
            ..self.options.run.clone()
        };
        let destination = opened.destination.clone();
        let outcome = self
            .runner
            .engine()
            .run_range(
                &job.id,
                opened,
                &options,
                (lease.first_seq, lease.last_seq),
                Arc::new(Progress::default()),
                stop,
            )
            .await?;
        let interrupted = interruption.lock().ok().and_then(|i| *i);
        if let (Some(reason), None) = (&outcome.stopped, interrupted) {
            // The engine stopped: the destination is full or the authorization expired. The
            // whole job waits for the person; the other workers see it and stop too.
            store
                .set_state(&job.id, JobState::Paused, Some(reason))
                .await?;
            self.queue.release(lease, Duration::ZERO).await?;
            self.runner.paused(job, reason).await;
            return Ok(Some(false));
        }
        if !outcome.settled {
            return Ok(None);
        }
        if self.queue.complete(lease).await? {
            // The last part of the job: only this worker sees it.
            crate::engine::finish_destination(store.as_ref(), &job.id, destination.as_ref()).await;
            let counts = store.counts(&job.id).await?;
            if counts.pending == 0 {
                store.set_state(&job.id, JobState::Done, None).await?;
                tracing::info!(job = %job.id, done = counts.done, failed = counts.failed, "job done");
                self.runner.finished(job, &counts).await;
            }
        }
        Ok(Some(true))
    }

    /// Renews the lease every third of its length until aborted. Stops the work when the
    /// lease is lost, the job is paused or cancelled, or the worker shuts down.
    fn heartbeat(
        &self,
        lease: &Lease,
        stop: Arc<Stop>,
        interruption: Arc<Mutex<Option<Interruption>>>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let queue = self.queue.clone();
        let lease = lease.clone();
        let length = self.options.lease;
        let every = length / 3;
        let expected = if lease.plans() {
            JobState::Planning
        } else {
            JobState::Running
        };
        tokio::spawn(async move {
            let interrupt = |why: Interruption, reason: &str| {
                if let Ok(mut slot) = interruption.lock() {
                    slot.get_or_insert(why);
                }
                stop.stop(reason);
            };
            let mut last_renewed = Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.cancelled() => {
                        interrupt(Interruption::Shutdown, "the worker is shutting down");
                        return;
                    }
                }
                match queue.renew(&lease, length).await {
                    Ok(Renewal::Held(state)) => {
                        last_renewed = Instant::now();
                        if state != expected {
                            interrupt(Interruption::JobStopped, "the job was stopped");
                            return;
                        }
                    }
                    Ok(Renewal::Lost) => {
                        interrupt(Interruption::LeaseLost, "another worker took the part");
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(
                            "renewing the lease of job {} part {}: {err}",
                            lease.job_id,
                            lease.part
                        );
                        // Stop before the lease can run out under us.
                        if last_renewed.elapsed() > length * 2 / 3 {
                            interrupt(Interruption::LeaseLost, "the database is unreachable");
                            return;
                        }
                    }
                }
            }
        })
    }
}

/// A service's rate budget in the database, shared by every worker.
struct SharedBudget {
    queue: Arc<dyn WorkQueue>,
    key: String,
    limit: Option<RateLimit>,
}

impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBudget")
            .field("key", &self.key)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Throttle for SharedBudget {
    async fn turn(&self) {
        match self.queue.take_turn(&self.key, self.limit).await {
            Ok(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
            Ok(_) => {}
            // The journal's own writes will fail and stop the work if the database is gone.
            Err(err) => tracing::warn!(service = %self.key, "taking a turn: {err}"),
        }
    }

    async fn hold(&self, delay: Duration) {
        if let Err(err) = self.queue.hold(&self.key, delay).await {
            tracing::warn!(service = %self.key, "holding the service: {err}");
        }
    }
}
