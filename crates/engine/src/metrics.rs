//! What this process has moved, for Prometheus: items and bytes moved, retries by cause, and
//! time spent waiting on rate limits. Counters live for the whole process; a front end adds
//! its own gauges (jobs by state, queue depth) at each scrape and renders them together.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ferry_core::ErrorKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::store::{Outcome, UnitState};

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Default)]
struct Counters {
    items_moved: Counter,
    items_failed: Counter,
    bytes_moved: Counter,
    retries: Family<CauseLabel, Counter>,
    rate_limit_wait: Counter<f64, AtomicU64>,
}

static COUNTERS: LazyLock<Counters> = LazyLock::new(Counters::default);

pub(crate) fn settled(outcomes: &[Outcome]) {
    for outcome in outcomes {
        match outcome.state {
            UnitState::Done => {
                COUNTERS.items_moved.inc();
                COUNTERS.bytes_moved.inc_by(outcome.bytes.unwrap_or(0));
            }
            UnitState::Failed => {
                COUNTERS.items_failed.inc();
            }
            _ => {}
        }
    }
}

pub(crate) fn retried(cause: ErrorKind) {
    COUNTERS
        .retries
        .get_or_create(&CauseLabel {
            cause: cause.as_str().to_string(),
        })
        .inc();
}

pub(crate) fn waited_on_rate_limit(waited: Duration) {
    if !waited.is_zero() {
        COUNTERS.rate_limit_wait.inc_by(waited.as_secs_f64());
    }
}

/// What the database says at scrape time.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Jobs per state.
    pub jobs: Vec<(String, u64)>,
    /// Parts of queued jobs waiting for a worker, and parts being worked on (`None` when
    /// nothing is queued: a single-process store).
    pub queue: Option<crate::queue::QueueDepth>,
}

/// The counters of this process and `gauges`, in the OpenMetrics text format.
pub fn render(gauges: &Gauges) -> String {
    let mut registry = Registry::with_prefix("ferry");
    let counters = &*COUNTERS;
    registry.register(
        "items_moved",
        "Items this process moved to a destination (done)",
        counters.items_moved.clone(),
    );
    registry.register(
        "items_failed",
        "Items this process gave up on",
        counters.items_failed.clone(),
    );
    registry.register(
        "bytes_moved",
        "Bytes of the items this process moved",
        counters.bytes_moved.clone(),
    );
    registry.register(
        "retries",
        "Attempts retried, by cause (retryable, rate_limited)",
        counters.retries.clone(),
    );
    registry.register(
        "rate_limit_wait_seconds",
        "Time items spent waiting on rate limits (shared budgets, Retry-After)",
        counters.rate_limit_wait.clone(),
    );
    let jobs = Family::<StateLabel, Gauge>::default();
    for (state, n) in &gauges.jobs {
        jobs.get_or_create(&StateLabel {
            state: state.clone(),
        })
        .set(i64::try_from(*n).unwrap_or(i64::MAX));
    }
    registry.register("jobs", "Jobs by state", jobs);
    if let Some(depth) = gauges.queue {
        let ready = Gauge::<i64>::default();
        ready.set(i64::try_from(depth.ready).unwrap_or(i64::MAX));
        registry.register(
            "queue_ready_parts",
            "Parts of queued jobs waiting for a worker (queue depth)",
            ready,
        );
        let leased = Gauge::<i64>::default();
        leased.set(i64::try_from(depth.leased).unwrap_or(i64::MAX));
        registry.register(
            "queue_leased_parts",
            "Parts of queued jobs a live worker holds",
            leased,
        );
    }
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}
