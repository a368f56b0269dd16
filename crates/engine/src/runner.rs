//! Running a job: the one sequence that `ferry transfer` (and `resume`, `demo`), `ferry serve`
//! and `ferry worker` share. Open the job's sources and destination with its owner's
//! connections, pausing the job when they cannot be opened; run the engine; mark a cancelled
//! job; tell the owner when the job finishes or pauses by itself. What differs between them
//! comes in as hooks: how a job is opened ([`OpenJob`]), who is told ([`JobEvents`]), and how
//! the front end stops a run ([`Halt`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ferry_core::{Destination, Documents, Source};

use crate::Result;
use crate::engine::{Engine, RunOptions, Stop};
use crate::job::{Job, JobState};
use crate::progress::Progress;
use crate::report::{Counts, Report};
use crate::store::Store;

/// A job's endpoints, opened.
pub struct Opened {
    pub sources: Vec<Arc<dyn Source>>,
    pub destination: Arc<dyn Destination>,
    /// The destination's service ("dropbox"), whose rate budget every worker shares.
    pub service: String,
    /// Makes the files that hold records on destinations that hold them as files.
    pub documents: Option<Arc<dyn Documents>>,
}

/// Opens a job's sources and destination with its owner's connections.
#[async_trait]
pub trait OpenJob: Send + Sync {
    /// `Err` is why, on one line (a connection was removed).
    async fn open(&self, job: &Job) -> std::result::Result<Opened, String>;
}

/// Told when a job finishes or pauses, to tell its owner (notices, e-mail).
#[async_trait]
pub trait JobEvents: Send + Sync {
    /// The job is done: everything moved, skipped or failed.
    async fn finished(&self, job: &Job, counts: &Counts);
    /// The job paused by itself (a full destination, expired credentials, endpoints that
    /// cannot be opened, a listing that failed): the person has something to fix.
    async fn paused(&self, job: &Job, reason: &str);
}

/// How a front end stops a run (a person's pause or cancel, a shutdown, Ctrl-C), told apart
/// from the engine's own stop (a full destination, expired credentials): only a pause the
/// engine made is news for the job's owner.
#[derive(Debug, Default)]
pub struct Halt {
    stop: Arc<Stop>,
    interrupted: AtomicBool,
    /// Why the job is cancelled, once it is.
    cancelled: Mutex<Option<String>>,
}

impl Halt {
    /// Stops the run; the job pauses with `reason`. The first stop's reason is the job's:
    /// when the engine stopped first, its reason stands and the owner is told.
    pub fn interrupt(&self, reason: &str) {
        self.stop.stop(reason);
        if self.stop.reason().as_deref() == Some(reason) {
            self.interrupted.store(true, Ordering::SeqCst);
        }
    }

    /// Stops the run, then marks the job cancelled with `reason`.
    pub fn cancel(&self, reason: &str) {
        if let Ok(mut cancelled) = self.cancelled.lock() {
            cancelled.get_or_insert_with(|| reason.to_string());
        }
        self.interrupt(reason);
    }

    /// The stop the engine watches.
    pub fn stop(&self) -> &Arc<Stop> {
        &self.stop
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn cancelled(&self) -> Option<String> {
        self.cancelled.lock().ok().and_then(|c| c.clone())
    }
}

/// One run of a whole job in this process.
pub struct RunContext {
    pub options: RunOptions,
    /// What the front end shows (a progress bar, the job's page).
    pub progress: Arc<Progress>,
    pub halt: Arc<Halt>,
}

impl RunContext {
    pub fn new(options: RunOptions) -> RunContext {
        RunContext {
            options,
            progress: Arc::new(Progress::default()),
            halt: Arc::new(Halt::default()),
        }
    }
}

/// Runs jobs: the engine, the way to open a job's endpoints, and who hears of the end.
pub struct Runner {
    engine: Engine,
    opener: Arc<dyn OpenJob>,
    events: Option<Arc<dyn JobEvents>>,
}

impl Runner {
    pub fn new(store: Arc<dyn Store>, opener: Arc<dyn OpenJob>) -> Runner {
        Runner {
            engine: Engine::new(store),
            opener,
            events: None,
        }
    }

    /// Tells `events` when a job finishes or pauses by itself.
    pub fn with_events(mut self, events: Arc<dyn JobEvents>) -> Runner {
        self.events = Some(events);
        self
    }

    /// Whether anyone hears of a job's end (what to tell need not be gathered otherwise).
    pub fn has_events(&self) -> bool {
        self.events.is_some()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.engine.store()
    }

    /// Opens the job's endpoints; `Err` is why they cannot be, on one line.
    pub async fn open(&self, job: &Job) -> std::result::Result<Opened, String> {
        self.opener.open(job).await
    }

    /// Opens the job's endpoints, or pauses the job with the reason they cannot be opened
    /// and tells its owner (`None`).
    pub async fn open_or_pause(&self, job: &Job) -> Result<Option<Opened>> {
        match self.open(job).await {
            Ok(opened) => Ok(Some(opened)),
            Err(cause) => {
                self.pause(job, &format!("cannot open the services: {cause}"))
                    .await?;
                Ok(None)
            }
        }
    }

    /// Runs the whole job to its end or until it pauses, and tells its owner when it
    /// finished or paused by itself. `None`: the front end cancelled it, and it is marked
    /// so. An `Err` (the journal failed) is the caller's to record.
    pub async fn run(&self, job: &Job, opened: Opened, run: &RunContext) -> Result<Option<Report>> {
        let options = RunOptions {
            documents: opened.documents.or_else(|| run.options.documents.clone()),
            ..run.options.clone()
        };
        let result = self
            .engine
            .run(
                &job.id,
                opened.sources,
                opened.destination,
                &options,
                run.progress.clone(),
                run.halt.stop.clone(),
            )
            .await;
        if let Some(reason) = run.halt.cancelled() {
            if let Err(err) = self
                .store()
                .set_state(&job.id, JobState::Cancelled, Some(&reason))
                .await
            {
                tracing::warn!(job = %job.id, "marking the job cancelled: {err}");
            }
            return Ok(None);
        }
        let report = result?;
        if report.state == JobState::Done {
            self.finished(job, &report.counts).await;
        } else if !run.halt.interrupted() {
            self.paused(job, report.reason.as_deref().unwrap_or_default())
                .await;
        }
        Ok(Some(report))
    }

    /// Pauses the job with `reason` and tells its owner.
    pub async fn pause(&self, job: &Job, reason: &str) -> Result<()> {
        self.store()
            .set_state(&job.id, JobState::Paused, Some(reason))
            .await?;
        self.paused(job, reason).await;
        Ok(())
    }

    /// Tells the job's owner it paused.
    pub async fn paused(&self, job: &Job, reason: &str) {
        if let Some(events) = &self.events {
            events.paused(job, reason).await;
        }
    }

    /// Tells the job's owner it finished.
    pub async fn finished(&self, job: &Job, counts: &Counts) {
        if let Some(events) = &self.events {
            events.finished(job, counts).await;
        }
    }
}
