//! An adaptive spacing of write calls (uploads and `batchCreate`).
//!
//! Google documents no `Retry-After` for the Library API: a 429 RESOURCE_EXHAUSTED only says
//! "slow down". So every write waits for its slot: slots are `delay` apart, the delay doubles
//! on each 429 (up to a ceiling) and decays on each success, back to no spacing at all. All
//! concurrent uploads of one destination share it, so one 429 slows them all.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct Pacer {
    state: Mutex<State>,
    /// The delay after the first 429.
    step: Duration,
    /// The delay never grows past this.
    ceiling: Duration,
}

struct State {
    delay: Duration,
    /// The earliest start of the next write.
    next: Instant,
}

impl Pacer {
    pub fn new(step: Duration, ceiling: Duration) -> Pacer {
        Pacer {
            state: Mutex::new(State {
                delay: Duration::ZERO,
                next: Instant::now(),
            }),
            step,
            ceiling: ceiling.max(step),
        }
    }

    /// Waits for this write's slot.
    pub async fn wait(&self) {
        let slot = {
            let mut state = self.lock();
            let slot = state.next.max(Instant::now());
            state.next = slot + state.delay;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// A write went through: the delay decays, and vanishes once it is small.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        if state.delay.is_zero() {
            return;
        }
        let decayed = state.delay.mul_f64(0.75);
        state.delay = if decayed < self.step / 2 {
            Duration::ZERO
        } else {
            decayed
        };
    }

    /// The service answered 429: doubles the delay and holds every write for it (or for the
    /// service's `Retry-After`, when longer). Returns how long the caller should wait.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Duration {
        let mut state = self.lock();
        state.delay = (state.delay * 2).clamp(self.step, self.ceiling);
        let wait = retry_after.map_or(state.delay, |after| after.max(state.delay));
        state.next = state.next.max(Instant::now() + wait);
        wait
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two plain values: a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn delay(&self) -> Duration {
        self.lock().delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn the_delay_doubles_on_429_and_decays_on_success() {
        let pacer = Pacer::new(50 * MS, 200 * MS);
        let start = Instant::now();
        pacer.wait().await;
        pacer.wait().await;
        assert!(start.elapsed() < 50 * MS, "no spacing before any 429");

        assert_eq!(pacer.throttled(None), 50 * MS);
        assert_eq!(pacer.throttled(None), 100 * MS);
        assert_eq!(
            pacer.throttled(Some(300 * MS)),
            300 * MS,
            "Retry-After when longer"
        );
        for _ in 0..10 {
            pacer.throttled(None);
        }
        assert_eq!(pacer.delay(), 200 * MS, "capped");

        // Writes wait out the hold, then go one delay apart.
        let start = Instant::now();
        pacer.wait().await;
        pacer.wait().await;
        assert!(start.elapsed() >= 390 * MS, "{:?}", start.elapsed());

        for _ in 0..20 {
            pacer.succeeded();
        }
        assert_eq!(pacer.delay(), Duration::ZERO, "back to full speed");
    }
}
