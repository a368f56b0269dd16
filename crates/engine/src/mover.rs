//! The mover: moves a planned job's items with bounded concurrency.
//!
//! Workers stream source → destination staging, hashing on the way, and hand staged items to
//! one committer. The committer journals a batch as staged, asks the destination to commit it
//! (one durable sync for the whole batch), and journals the outcomes. Because workers never
//! wait for commits, batches grow by themselves while a sync is under way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::{
    Container, Content, DestHash, Destination, Error, ErrorKind, HashingStream, Landed, Layout,
    MediaItem, Source, Staged, Target,
};
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::engine::{RunOptions, Stop, Throttle};
use crate::job::JobId;
use crate::metrics;
use crate::progress::Progress;
use crate::retry::{Gate, RetryPolicy};
use crate::store::{Fence, Outcome, StagedRow, Store, Unit, UnitState};
use crate::{EngineError, Result};

/// What one run moves: a job's units (or one part of them) between its endpoints.
pub(crate) struct Run {
    pub job: JobId,
    pub sources: Vec<Arc<dyn Source>>,
    pub dest: Arc<dyn Destination>,
    /// Only these units (first and last seq): a worker's part of the job.
    pub seqs: Option<(i64, i64)>,
    pub progress: Arc<Progress>,
    pub stop: Arc<Stop>,
}

/// Moves every unit still to move (in `seqs` only, when given), in passes: items a commit
/// could not place go back to pending and a later pass takes them again.
pub(crate) async fn move_units(
    store: Arc<dyn Store>,
    run: Run,
    options: &RunOptions,
) -> Result<()> {
    let caps = run.dest.capabilities();
    let (job, seqs, stop) = (run.job.clone(), run.seqs, run.stop.clone());
    let mover = Mover {
        store: store.clone(),
        job: run.job,
        sources: run.sources,
        dest: run.dest,
        retry: options.retry.clone(),
        progress: run.progress,
        stop: run.stop,
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
        if next_to_move(store.as_ref(), &job, seqs).await?.is_none() {
            break;
        }
    }
    Ok(())
}

/// The first unit still to move, in `seqs` when given.
pub(crate) async fn next_to_move(
    store: &dyn Store,
    job: &JobId,
    seqs: Option<(i64, i64)>,
) -> Result<Option<i64>> {
    let after = seqs.map_or(0, |(first, _)| first - 1);
    let next = store.units_to_move(job, after, 1).await?;
    Ok(next
        .first()
        .map(|u| u.seq)
        .filter(|seq| seqs.is_none_or(|(_, last)| *seq <= last)))
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
        let (units_tx, units_rx) = mpsc::channel::<Unit>(concurrency * 4);
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
                    let Some(last) = units.last() else {
                        break;
                    };
                    after = last.seq;
                    for unit in units {
                        if unit.seq > last_seq {
                            break 'fetch;
                        }
                        if this.stop.is_stopped() || units_tx.send(unit).await.is_err() {
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
            .for_each_concurrent(concurrency, |unit| {
                let handoff = handoff_tx.clone();
                async move {
                    if self.stop.is_stopped() {
                        return;
                    }
                    if let Some(h) = self.move_unit(unit).await {
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
    async fn move_unit(&self, unit: Unit) -> Option<Handoff> {
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
            let result = self.try_unit(&unit).await;
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

    async fn try_unit(&self, unit: &Unit) -> ferry_core::Result<Handoff> {
        let container = self.container_id(&unit.container).await?;
        let target = target_for(&unit.item, container, unit.name.clone());

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

/// Where a unit's item goes: its container's id on the destination and its name there.
pub(crate) fn target_for(item: &MediaItem, container: String, name: String) -> Target {
    Target {
        container,
        name,
        size: item.size,
        modified: item.taken.or(item.uploaded).map(|t| t.utc),
        item: item.clone(),
    }
}

pub(crate) fn decode_sha(text: &str) -> Option<[u8; 32]> {
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
