//! The gate that holds every worker while a service has asked us to wait (one worker's 429
//! means the others would get one too). The retry policy itself is core's (`RetryPolicy`),
//! shared by every retry loop in ferry.

use std::time::Duration;

pub use ferry_core::RetryPolicy;
use tokio::sync::Mutex;
use tokio::time::Instant;

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
