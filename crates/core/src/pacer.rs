//! The one adaptive pacer: how calls to one service are spaced out, shared by every task that
//! calls it (modelled on rclone's pacer).
//!
//! Calls start at least an *interval* apart, and none before a *hold* ends. The interval
//! adapts: it doubles on each rate-limit answer (from `step` up to `ceiling`), which also holds
//! every call for the interval or the service's `Retry-After` when longer; it decays on each
//! success, back to no spacing at all. A service that says how loaded it is (Facebook's usage
//! headers) sets the interval and the hold itself instead. The engine's gate is the other
//! layer: it holds every worker when a wait is too long to sleep through inside one call.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

pub struct Pacer {
    state: Mutex<State>,
    /// The interval after the first rate-limit answer.
    step: Duration,
    /// The interval never grows past this.
    ceiling: Duration,
}

struct State {
    interval: Duration,
    /// When the latest call was let through (or is due to be); `None` before the first.
    last_start: Option<Instant>,
    /// No call starts before this instant.
    held_until: Instant,
}

impl State {
    /// The earliest a new call may start. The interval counts from the latest call with the
    /// interval known now, so that a shorter interval speeds up the calls already waiting.
    fn earliest(&self) -> Instant {
        match self.last_start {
            Some(last) => (last + self.interval).max(self.held_until),
            None => self.held_until,
        }
    }
}

impl Pacer {
    pub fn new(step: Duration, ceiling: Duration) -> Pacer {
        Pacer {
            state: Mutex::new(State {
                interval: Duration::ZERO,
                last_start: None,
                held_until: Instant::now(),
            }),
            step,
            ceiling: ceiling.max(step),
        }
    }

    /// Waits for this call's turn: at once while nothing slows calls down.
    pub async fn wait(&self) {
        let start = {
            let mut state = self.lock();
            let start = state.earliest().max(Instant::now());
            state.last_start = Some(start);
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// A call went through: the interval decays, and vanishes once it is small.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        let decayed = state.interval.mul_f64(0.75);
        state.interval = if decayed < self.step / 2 {
            Duration::ZERO
        } else {
            decayed
        };
    }

    /// The service answered that calls come too fast: doubles the interval and holds every
    /// call for it (or for the service's `Retry-After`, when longer). Returns that wait.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Duration {
        let mut state = self.lock();
        state.interval = (state.interval * 2).clamp(self.step, self.ceiling);
        let wait = retry_after.map_or(state.interval, |after| after.max(state.interval));
        state.held_until = state.held_until.max(Instant::now() + wait);
        wait
    }

    /// Sets the interval, for a service that says how loaded it is.
    pub fn set_interval(&self, interval: Duration) {
        self.lock().interval = interval;
    }

    /// Holds every call for `wait` from now (a hold already longer stays).
    pub fn hold(&self, wait: Duration) {
        let mut state = self.lock();
        state.held_until = state.held_until.max(Instant::now() + wait);
    }

    /// The interval currently put between calls.
    pub fn interval(&self) -> Duration {
        self.lock().interval
    }

    /// How long a call made now would wait.
    pub fn current_wait(&self) -> Duration {
        self.lock()
            .earliest()
            .saturating_duration_since(Instant::now())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain values: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs `wait` and says how long it took on the paused clock.
    async fn timed(pacer: &Pacer) -> Duration {
        let start = Instant::now();
        pacer.wait().await;
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn calls_go_at_once_until_the_service_pushes_back() {
        let pacer = Pacer::new(50 * MS, 200 * MS);
        assert_eq!(timed(&pacer).await, Duration::ZERO);
        assert_eq!(timed(&pacer).await, Duration::ZERO);
        assert_eq!(pacer.current_wait(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_interval_doubles_up_to_the_ceiling_and_honours_retry_after() {
        let pacer = Pacer::new(50 * MS, 200 * MS);
        assert_eq!(pacer.throttled(None), 50 * MS);
        assert_eq!(pacer.throttled(None), 100 * MS);
        assert_eq!(
            pacer.throttled(Some(300 * MS)),
            300 * MS,
            "Retry-After when longer"
        );
        assert_eq!(
            pacer.throttled(Some(10 * MS)),
            200 * MS,
            "the interval when longer"
        );
        for _ in 0..10 {
            pacer.throttled(None);
        }
        assert_eq!(pacer.interval(), 200 * MS, "capped");

        // Calls wait out the hold (300 ms from the third answer), then go one interval apart.
        assert_eq!(timed(&pacer).await, 300 * MS);
        assert_eq!(timed(&pacer).await, 200 * MS);
        assert_eq!(timed(&pacer).await, 200 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn successes_bring_it_back_to_full_speed() {
        let pacer = Pacer::new(50 * MS, 200 * MS);
        pacer.throttled(None);
        pacer.throttled(None);
        pacer.succeeded();
        assert_eq!(pacer.interval(), 75 * MS);
        pacer.succeeded();
        assert_eq!(pacer.interval(), Duration::from_micros(56_250));
        pacer.succeeded(); // 42.2 ms
        pacer.succeeded(); // 31.6 ms
        assert!(pacer.interval() > 25 * MS);
        pacer.succeeded();
        assert_eq!(pacer.interval(), Duration::ZERO, "below half a step: none");
        tokio::time::advance(100 * MS).await;
        assert_eq!(timed(&pacer).await, Duration::ZERO);
        assert_eq!(timed(&pacer).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_set_interval_and_a_hold_pace_calls_and_a_shorter_interval_applies_at_once() {
        let pacer = Pacer::new(Duration::ZERO, Duration::ZERO);
        pacer.set_interval(100 * MS);
        assert_eq!(
            timed(&pacer).await,
            Duration::ZERO,
            "the first call goes at once"
        );
        assert_eq!(pacer.current_wait(), 100 * MS);
        pacer.set_interval(Duration::ZERO);
        assert_eq!(pacer.current_wait(), Duration::ZERO);

        pacer.hold(Duration::from_secs(60));
        pacer.hold(Duration::from_secs(1));
        assert_eq!(
            pacer.current_wait(),
            Duration::from_secs(60),
            "the longer hold stays"
        );
        assert_eq!(timed(&pacer).await, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_the_spacing() {
        let pacer = std::sync::Arc::new(Pacer::new(Duration::ZERO, Duration::ZERO));
        pacer.set_interval(10 * MS);
        let start = Instant::now();
        let calls: Vec<_> = (0..5)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.wait().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut took = Vec::new();
        for call in calls {
            took.push(call.await.unwrap());
        }
        took.sort();
        assert_eq!(took, [0, 10, 20, 30, 40].map(|n| n * MS));
    }
}
