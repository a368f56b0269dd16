//! Trying again by error kind, the one policy every retry loop in ferry follows: passing
//! faults wait an exponentially growing delay with jitter, a rate limit waits exactly what
//! the service asked (`Retry-After`) and does not count as a failed attempt, and everything
//! else is final at once.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::{Error, ErrorKind, Result};

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts before giving up (the first try included). Rate-limited answers do not
    /// count: the service is telling us when to come back, not that the request is bad.
    pub max_attempts: u32,
    /// Rate-limited answers waited out before giving up: a service that refuses for ever is
    /// not waited on for ever.
    pub max_rate_limited: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` waited out here; a longer one is handed back to the caller
    /// (the engine then holds every worker for it, not one call). `None`: any.
    pub max_wait: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_rate_limited: 100,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_wait: None,
        }
    }
}

impl RetryPolicy {
    /// One call to a service tried again in place (a read, or a write that says where it
    /// goes): a few quick tries; a long `Retry-After` is the engine's to wait out.
    pub fn in_place() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_rate_limited: 5,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_wait: Some(Duration::from_secs(30)),
        }
    }

    /// The delays between attempts, growing exponentially, with jitter.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// Runs `call` until it succeeds, fails for good, or the policy gives up; `what` names
    /// the request in the log.
    pub async fn run<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempts = self.attempts();
        loop {
            let err = match call().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Some(delay) = attempts.after(&err) else {
                return Err(err);
            };
            tracing::info!("{what} failed, trying again in {delay:?}: {err}");
            tokio::time::sleep(delay).await;
        }
    }

    /// The state of one loop that follows this policy, for a loop that is not one call
    /// ([`run`](Self::run) is built on it).
    pub fn attempts(&self) -> Attempts<'_> {
        Attempts {
            policy: self,
            delays: Box::new(self.backoff()),
            failed: 0,
            limited: 0,
        }
    }
}

/// Where one retry loop stands: how many attempts failed and how many rate limits were
/// waited out.
pub struct Attempts<'a> {
    policy: &'a RetryPolicy,
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    failed: u32,
    limited: u32,
}

impl Attempts<'_> {
    /// How long to wait before trying again after `err`; `None` when `err` is final.
    pub fn after(&mut self, err: &Error) -> Option<Duration> {
        let policy = self.policy;
        match (err, err.kind()) {
            (
                Error::RateLimited {
                    retry_after: Some(after),
                    ..
                },
                _,
            ) if self.limited + 1 < policy.max_rate_limited
                && policy.max_wait.is_none_or(|longest| *after <= longest) =>
            {
                self.limited += 1;
                Some(*after)
            }
            (
                Error::RateLimited {
                    retry_after: Some(_),
                    ..
                },
                _,
            ) => None,
            (_, ErrorKind::RateLimited) if self.limited + 1 < policy.max_rate_limited => {
                self.limited += 1;
                Some(self.delays.next().unwrap_or(policy.max_delay))
            }
            (_, ErrorKind::Retryable) if self.failed + 1 < policy.max_attempts => {
                self.failed += 1;
                Some(self.delays.next().unwrap_or(policy.max_delay))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            max_rate_limited: 3,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_wait: Some(Duration::from_millis(50)),
        }
    }

    #[tokio::test]
    async fn passing_faults_are_tried_again_up_to_the_attempts() {
        let calls = AtomicU32::new(0);
        let outcome = quick(3)
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::retryable("reset"))
            })
            .await;
        assert_eq!(outcome.unwrap_err().kind(), ErrorKind::Retryable);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn rate_limits_wait_what_was_asked_and_do_not_spend_attempts() {
        let calls = AtomicU32::new(0);
        let outcome = quick(1)
            .run("test", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(Error::RateLimited {
                        message: "slow down".into(),
                        retry_after: Some(Duration::from_millis(5)),
                    }),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(outcome.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_wait_longer_than_the_policy_takes_is_handed_back() {
        let calls = AtomicU32::new(0);
        let outcome = quick(5)
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::RateLimited {
                    message: "come back in an hour".into(),
                    retry_after: Some(Duration::from_secs(3600)),
                })
            })
            .await;
        assert_eq!(outcome.unwrap_err().kind(), ErrorKind::RateLimited);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn final_errors_are_not_tried_again() {
        let calls = AtomicU32::new(0);
        let outcome = quick(5)
            .run("test", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::NotFound("gone".into()))
            })
            .await;
        assert_eq!(outcome.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
