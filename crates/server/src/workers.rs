//! The engine's jobs, run inside `ferry serve`: one task per running transfer, with its live
//! progress and its stop handle, and one task per archive being built.
//!
//! The journal stays the truth: a job this process runs is a journal job like any other, so a
//! server killed at any instant loses nothing. A stopping server pauses its jobs with
//! [`SHUTDOWN_REASON`] and resumes exactly those when it starts again; a job the person
//! paused stays paused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_endpoints::{Connections, JobOpener};
use ferry_engine::queue::WorkQueue;
use ferry_engine::{
    AppStore, Counts, Engine, Halt, Job, JobEvents, JobState, Progress, RunContext, RunOptions,
    Runner,
};

use crate::ServerConfig;
use crate::notify::{Message, Notifier};

/// Why a job is paused while the server is down; the next start resumes these.
pub const SHUTDOWN_REASON: &str = "the server stopped; it goes on when the server starts again";
const PAUSED_BY_PERSON: &str = "paused by you";
const CANCELLED_BY_PERSON: &str = "cancelled by you";

/// A transfer running in this process.
pub struct Running {
    pub progress: Arc<Progress>,
    halt: Arc<Halt>,
    rate: Mutex<RateMeter>,
}

impl Running {
    /// Bytes per second, smoothed over the last seconds.
    pub fn rate(&self) -> f64 {
        let moved = Progress::get(&self.progress.moved_bytes);
        match self.rate.lock() {
            Ok(mut meter) => meter.observe(Instant::now(), moved),
            Err(_) => 0.0,
        }
    }
}

/// A moving average of a byte counter's rate.
struct RateMeter {
    last: Option<(Instant, u64)>,
    rate: f64,
}

impl RateMeter {
    fn observe(&mut self, now: Instant, bytes: u64) -> f64 {
        match self.last {
            None => self.last = Some((now, bytes)),
            Some((at, before)) => {
                let secs = now.duration_since(at).as_secs_f64();
                // Below half a second the sample is mostly noise: keep the last figure.
                if secs >= 0.5 {
                    let sample = bytes.saturating_sub(before) as f64 / secs;
                    self.rate = if self.rate == 0.0 {
                        sample
                    } else {
                        0.7 * self.rate + 0.3 * sample
                    };
                    self.last = Some((now, bytes));
                }
            }
        }
        self.rate
    }
}

#[derive(Clone)]
pub struct Workers {
    inner: Arc<Inner>,
}

struct Inner {
    /// Opens jobs with their owners' connections and tells them of the end.
    runner: Runner,
    connections: Arc<Connections>,
    notifier: Notifier,
    config: ServerConfig,
    running: Mutex<HashMap<String, Arc<Running>>>,
    /// Transfers: a stopping server waits for them to pause.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Archive builds: a stopping server abandons them (they start again on the next start).
    builds: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    stopping: AtomicBool,
}

impl Workers {
    pub fn new(
        engine: Engine,
        connections: Arc<Connections>,
        notifier: Notifier,
        config: ServerConfig,
    ) -> Workers {
        let runner = Runner::new(
            engine.store().clone(),
            Arc::new(JobOpener::new(connections.clone())),
        )
        .with_events(Arc::new(TransferNotices {
            notifier: notifier.clone(),
        }));
        Workers {
            inner: Arc::new(Inner {
                runner,
                connections,
                notifier,
                config,
                running: Mutex::new(HashMap::new()),
                tasks: Mutex::new(Vec::new()),
                builds: Mutex::new(Vec::new()),
                stopping: AtomicBool::new(false),
            }),
        }
    }

    pub fn engine(&self) -> &Engine {
        self.inner.runner.engine()
    }

    /// The live handle of a job this process is running.
    pub fn running(&self, job_id: &str) -> Option<Arc<Running>> {
        self.inner.running.lock().ok()?.get(job_id).cloned()
    }

    fn keep(list: &Mutex<Vec<tokio::task::JoinHandle<()>>>, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut tasks) = list.lock() {
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        }
    }

    /// Runs a job in the background, unless it runs already. `announce`: tell the owner it
    /// started (not on a resume after a restart).
    pub fn run(&self, job_id: &str, announce: bool) {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        if let Some(queue) = self.queue() {
            let workers = self.clone();
            let job_id = job_id.to_string();
            tokio::spawn(async move {
                workers.hand_over(queue.as_ref(), &job_id, announce).await;
            });
            return;
        }
        let run = RunContext::new(RunOptions {
            concurrency: self.inner.config.transfer_concurrency.max(1),
            ..RunOptions::default()
        });
        let running = Arc::new(Running {
            progress: run.progress.clone(),
            halt: run.halt.clone(),
            rate: Mutex::new(RateMeter {
                last: None,
                rate: 0.0,
            }),
        });
        {
            let Ok(mut map) = self.inner.running.lock() else {
                return;
            };
            if map.contains_key(job_id) {
                return;
            }
            map.insert(job_id.to_string(), running.clone());
        }
        let workers = self.clone();
        let job_id = job_id.to_string();
        let task = tokio::spawn(async move {
            workers.transfer(&job_id, &run, announce).await;
            if let Ok(mut map) = workers.inner.running.lock() {
                map.remove(&job_id);
            }
        });
        Self::keep(&self.inner.tasks, task);
    }

    async fn transfer(&self, job_id: &str, run: &RunContext, announce: bool) {
        let runner = &self.inner.runner;
        let job = match runner.store().job(job_id).await {
            Ok(job) => job,
            Err(err) => {
                tracing::error!(job = job_id, error = %err, "cannot read the job");
                return;
            }
        };
        if announce {
            self.announce(&job).await;
        }
        let result = async {
            match runner.open_or_pause(&job).await? {
                Some(opened) => runner.run(&job, opened, run).await.map(|_| ()),
                None => Ok(()),
            }
        }
        .await;
        if let Err(err) = result {
            tracing::error!(job = job_id, error = %err, "the transfer stopped");
            let _ = runner.pause(&job, &err.for_person()).await;
        }
    }

    /// Tells the job's owner it started.
    async fn announce(&self, job: &Job) {
        let what = describe(&job.spec.sources, &job.spec.destination);
        self.inner
            .notifier
            .tell(
                &job.owner,
                Message {
                    subject: "Your transfer has started".into(),
                    text: format!("Your transfer {what} has started."),
                    link: format!("/jobs/{}", job.id),
                },
            )
            .await;
    }

    fn queue(&self) -> Option<Arc<dyn WorkQueue>> {
        self.inner.config.work_queue.as_ref().map(|q| q.0.clone())
    }

    /// With a shared database: queues the job (again, when resumed) for `ferry worker`s.
    async fn hand_over(&self, queue: &dyn WorkQueue, job_id: &str, announce: bool) {
        let store = self.engine().store();
        let handed = async {
            let job = store.job(job_id).await?;
            ferry_engine::queue::hand_over(store.as_ref(), queue, &job).await?;
            Ok::<_, ferry_engine::EngineError>(job)
        }
        .await;
        match handed {
            Ok(job) if announce => self.announce(&job).await,
            Ok(_) => {}
            Err(err) => tracing::error!(job = job_id, error = %err, "cannot queue the job"),
        }
    }

    /// Pauses a running job (it stops taking new items and finishes those in flight).
    pub async fn pause(&self, job_id: &str) -> ferry_engine::Result<bool> {
        if self.queue().is_some() {
            // The workers' next lease renewal sees it and stops.
            let store = self.engine().store();
            let job = store.job(job_id).await?;
            if job.state.is_final() || job.state == JobState::Paused {
                return Ok(false);
            }
            store
                .set_state(&job.id, JobState::Paused, Some(PAUSED_BY_PERSON))
                .await?;
            return Ok(true);
        }
        Ok(match self.running(job_id) {
            Some(running) => {
                running.halt.interrupt(PAUSED_BY_PERSON);
                true
            }
            None => false,
        })
    }

    /// Cancels a job: a running one stops and is then marked cancelled; one not running is
    /// marked at once.
    pub async fn cancel(&self, job_id: &str) -> ferry_engine::Result<()> {
        if let Some(running) = self.running(job_id) {
            running.halt.cancel(CANCELLED_BY_PERSON);
            return Ok(());
        }
        self.engine()
            .store()
            .set_state(
                &job_id.to_string(),
                JobState::Cancelled,
                Some(CANCELLED_BY_PERSON),
            )
            .await
    }

    /// On start: resumes the accounts' jobs that were moving when the server stopped (or was
    /// killed), and builds again the archives that were being built.
    pub async fn resume_all(&self) {
        let store = self.engine().store();
        // Queued jobs are the workers' to resume.
        let jobs = if self.queue().is_some() {
            Ok(Vec::new())
        } else {
            store.unfinished_jobs().await
        };
        match jobs {
            Ok(jobs) => {
                for job in jobs {
                    // '' is the machine's own user: the CLI's jobs are the CLI's to resume.
                    let interrupted = matches!(job.state, JobState::Planning | JobState::Running)
                        || job.reason.as_deref() == Some(SHUTDOWN_REASON);
                    if !job.owner.is_empty() && interrupted {
                        self.run(&job.id, false);
                    }
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot list the jobs to resume"),
        }
        match self.app().building_archives().await {
            Ok(archives) => {
                for archive in archives {
                    self.build_archive(archive.id);
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot list the archives to build"),
        }
    }

    /// Builds an archive in the background (see `archives::build`).
    pub fn build_archive(&self, archive_id: String) {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let workers = self.clone();
        let task = tokio::spawn(async move {
            crate::archives::build(&workers, &archive_id).await;
        });
        Self::keep(&self.inner.builds, task);
    }

    pub fn connections(&self) -> &Connections {
        &self.inner.connections
    }

    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// The web app's tables (archives, notices, the audit log).
    pub fn app(&self) -> &Arc<dyn AppStore> {
        self.inner.notifier.app()
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// Whether the server is stopping (an archive build interrupted now is built again on
    /// the next start, not failed).
    pub fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Pauses every running job with [`SHUTDOWN_REASON`] and waits (at most 30 s) for them to
    /// settle their items in flight; archive builds are abandoned and start again later.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        if let Ok(map) = self.inner.running.lock() {
            for running in map.values() {
                running.halt.interrupt(SHUTDOWN_REASON);
            }
        }
        if let Ok(mut builds) = self.inner.builds.lock() {
            for build in builds.drain(..) {
                build.abort();
            }
        }
        let tasks: Vec<_> = match self.inner.tasks.lock() {
            Ok(mut tasks) => tasks.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(Duration::from_secs(30), all)
            .await
            .is_err()
        {
            tracing::warn!("some jobs did not pause within 30 s; they resume from the journal");
        }
    }
}

/// "Your transfer … has finished: 7 of 8 items copied, 1 skipped."
fn finished_message(job: &Job, c: &Counts) -> Message {
    let what = describe(&job.spec.sources, &job.spec.destination);
    let mut text = format!(
        "Your transfer {what} has finished: {} of {} items copied",
        c.done, c.total
    );
    if c.skipped > 0 {
        text.push_str(&format!(", {} skipped", c.skipped));
    }
    if c.failed > 0 {
        text.push_str(&format!(
            ", {} failed (see why on the job's page)",
            c.failed
        ));
    }
    text.push('.');
    Message {
        subject: "Your transfer has finished".into(),
        text,
        link: format!("/jobs/{}", job.id),
    }
}

fn paused_message(job_id: &str, what: &str, reason: &str) -> Message {
    Message {
        subject: "Your transfer is paused".into(),
        text: format!(
            "Your transfer {what} is paused: {reason}. Resume it once the cause is fixed."
        ),
        link: format!("/jobs/{job_id}"),
    }
}

/// What `ferry worker`s tell people when their transfers end: the same notices and e-mail as
/// a server that runs its transfers itself.
pub struct TransferNotices {
    notifier: Notifier,
}

impl TransferNotices {
    /// `config` gives the links their address (`public_url`); `outbox` sends the e-mail.
    pub fn new(
        app: Arc<dyn AppStore>,
        outbox: Option<Arc<dyn crate::Outbox>>,
        config: ServerConfig,
    ) -> TransferNotices {
        TransferNotices {
            notifier: Notifier::new(app, outbox, config),
        }
    }
}

#[async_trait::async_trait]
impl JobEvents for TransferNotices {
    async fn finished(&self, job: &Job, counts: &Counts) {
        // '' is the machine's own user (the CLI): no account to tell.
        if job.owner.is_empty() {
            return;
        }
        self.notifier
            .tell(&job.owner, finished_message(job, counts))
            .await;
        let what = describe(&job.spec.sources, &job.spec.destination);
        let _ = self
            .notifier
            .app()
            .audit(
                &job.owner,
                "transfer_finished",
                &format!("{} {what}", job.id),
            )
            .await;
    }

    async fn paused(&self, job: &Job, reason: &str) {
        if job.owner.is_empty() {
            return;
        }
        let what = describe(&job.spec.sources, &job.spec.destination);
        self.notifier
            .tell(&job.owner, paused_message(&job.id, &what, reason))
            .await;
    }
}

/// "from facebook to dropbox", from the journal's endpoint specs.
pub fn describe(sources: &[String], destination: &str) -> String {
    let name = |spec: &str| spec.trim_end_matches(':').to_string();
    format!(
        "from {} to {}",
        sources
            .iter()
            .map(|s| name(s))
            .collect::<Vec<_>>()
            .join(", "),
        name(destination)
    )
}
