//! Retrying by error kind: exponential backoff with jitter for passing faults, the service's
//! own `Retry-After` honoured exactly, and a gate that holds every worker while a service has
//! asked us to wait (one worker's 429 means the others would get one too).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per item before it fails (the first try included). Rate-limited answers do
    /// not count: the service is telling us when to come back, not that the item is bad.
    pub max_attempts: u32,
    /// Rate-limited answers an item waits out before it fails: a service that refuses for
    /// ever is not waited on for ever.
    pub max_rate_limited: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_rate_limited: 100,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delays between attempts of one item, growing exponentially, with jitter.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

/// Holds all workers until a rate limit has passed.
#[derive(Debug)]
pub(crate) struct Gate {
    open_at: Mutex<Instant>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate {
            open_at: Mutex::new(Instant::now()),
        }
    }

    pub async fn wait(&self) {
        let at = *self.open_at.lock().await;
        tokio::time::sleep_until(at).await;
    }

    pub async fn hold_for(&self, delay: Duration) {
        let mut at = self.open_at.lock().await;
        *at = (*at).max(Instant::now() + delay);
    }
}
