//! Slowing down before Facebook throttles us.
//!
//! Graph answers most calls with `X-App-Usage: {"call_count":28,"total_cputime":25,
//! "total_time":25}`, each a percentage of the app's hourly limit (and, on some routes,
//! `X-Business-Use-Case-Usage` with the same figures per business object plus
//! `estimated_time_to_regain_access` in minutes). Throttling starts at 100 % and can take up to
//! an hour to clear, so the [`Throttle`] spaces Graph calls out once any figure passes
//! [`SLOW_FROM`], more the closer it gets to 100, and holds every call back when it is there.
//! CDN downloads are not Graph calls and never wait here.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use ferry_core::Pacer;

/// The usage (percent of the limit) from which calls are spaced out.
pub const SLOW_FROM: f64 = 75.0;

/// What the usage headers of one Graph answer say.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// The highest of every `call_count`, `total_cputime` and `total_time` percentage.
    pub percent: f64,
    /// `estimated_time_to_regain_access`, when Facebook gives one above zero.
    pub regain_after: Option<Duration>,
}

/// Reads `X-App-Usage` and `X-Business-Use-Case-Usage`; `None` when neither is there or
/// readable.
pub fn usage(headers: &HeaderMap) -> Option<Usage> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let app = text("x-app-usage").and_then(app_usage);
    let business = text("x-business-use-case-usage").and_then(business_usage);
    match (app, business) {
        (None, None) => None,
        (app, business) => {
            let business = business.unwrap_or_default();
            Some(Usage {
                percent: app.unwrap_or(0.0).max(business.percent),
                regain_after: business.regain_after,
            })
        }
    }
}

/// `{"call_count":28,"total_cputime":25,"total_time":25}` → 28.
pub fn app_usage(text: &str) -> Option<f64> {
    let value: Value = serde_json::from_str(text).ok()?;
    highest_percent(&value)
}

/// `{"<id>":[{"type":"pages","call_count":..,"estimated_time_to_regain_access":5}]}`: the
/// highest percentage over every entry, and the longest wait announced.
pub fn business_usage(text: &str) -> Option<Usage> {
    let value: Value = serde_json::from_str(text).ok()?;
    let mut found = false;
    let mut usage = Usage::default();
    for entries in value.as_object()?.values() {
        for entry in entries.as_array().into_iter().flatten() {
            if let Some(percent) = highest_percent(entry) {
                found = true;
                usage.percent = usage.percent.max(percent);
            }
            let minutes = entry
                .get("estimated_time_to_regain_access")
                .and_then(number)
                .filter(|m| *m > 0.0);
            if let Some(minutes) = minutes {
                found = true;
                let wait = Duration::from_secs_f64((minutes * 60.0).min(24.0 * 3600.0));
                usage.regain_after = Some(usage.regain_after.map_or(wait, |w| w.max(wait)));
            }
        }
    }
    found.then_some(usage)
}

fn highest_percent(value: &Value) -> Option<f64> {
    ["call_count", "total_cputime", "total_time"]
        .iter()
        .filter_map(|key| value.get(*key).and_then(number))
        .reduce(f64::max)
}

/// A number, also when sent as a string ("28").
fn number(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n: &f64| n.is_finite())
}

/// The pause between calls at `percent` of the limit: none below [`SLOW_FROM`], then growing
/// in proportion up to `max` at 100 %.
pub fn spacing(percent: f64, max: Duration) -> Duration {
    if percent.is_nan() || percent < SLOW_FROM {
        return Duration::ZERO;
    }
    let share = ((percent - SLOW_FROM) / (100.0 - SLOW_FROM)).min(1.0);
    max.mul_f64(share)
}

/// Spaces out the Graph calls of one connection, shared by every listing and opening task:
/// core's [`Pacer`], its interval and holds set from the usage headers.
pub struct Throttle {
    pacer: Pacer,
    max_spacing: Duration,
    /// How long to hold calls back at 100 % when Facebook does not say.
    blocked_wait: Duration,
    /// The last usage level reported in the log, in steps of 5 %, so that a slowdown is
    /// logged when it starts or changes rather than on every call.
    logged_step: Mutex<u32>,
}

impl Throttle {
    pub fn new(max_spacing: Duration, blocked_wait: Duration) -> Throttle {
        Throttle {
            // Facebook says its load itself: no step or ceiling of its own.
            pacer: Pacer::new(Duration::ZERO, Duration::ZERO),
            max_spacing,
            blocked_wait,
            logged_step: Mutex::new(0),
        }
    }

    /// Waits for this call's turn: at once while usage is low.
    pub async fn wait_turn(&self) {
        self.pacer.wait().await;
    }

    /// Takes in the usage headers of a Graph answer (a success or an error).
    pub fn observe(&self, headers: &HeaderMap) {
        if let Some(usage) = usage(headers) {
            self.record(usage);
        }
    }

    pub fn record(&self, usage: Usage) {
        let spacing = spacing(usage.percent, self.max_spacing);
        self.pacer.set_interval(spacing);
        let hold = match usage.regain_after {
            Some(wait) => Some(wait),
            None if usage.percent >= 100.0 => Some(self.blocked_wait),
            None => None,
        };
        if let Some(hold) = hold {
            self.pacer.hold(hold);
        }
        let mut logged_step = self.logged_step.lock().unwrap_or_else(|e| e.into_inner());
        let step = (usage.percent.clamp(0.0, 1000.0) / 5.0) as u32;
        let slow = usage.percent >= SLOW_FROM || hold.is_some();
        if slow && step != *logged_step {
            match hold {
                Some(hold) => tracing::info!(
                    "Facebook usage at {:.0}% of the app's limit: holding calls for {}s",
                    usage.percent,
                    hold.as_secs()
                ),
                None => tracing::info!(
                    "Facebook usage at {:.0}% of the app's limit: slowing down to one call every {:.1}s",
                    usage.percent,
                    spacing.as_secs_f64()
                ),
            }
            *logged_step = step;
        } else if !slow && *logged_step != 0 {
            tracing::info!(
                "Facebook usage back to {:.0}% of the app's limit: full speed",
                usage.percent
            );
            *logged_step = 0;
        }
    }

    /// The pause currently put between calls.
    pub fn current_spacing(&self) -> Duration {
        self.pacer.interval()
    }

    /// How long the next call would wait from now.
    pub fn current_wait(&self) -> Duration {
        self.pacer.current_wait()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use tokio::time::Instant;

    #[test]
    fn app_usage_reads_the_highest_figure() {
        assert_eq!(
            app_usage(r#"{"call_count":28,"total_cputime":25,"total_time":91}"#),
            Some(91.0)
        );
        assert_eq!(app_usage(r#"{"call_count":"12"}"#), Some(12.0));
        assert_eq!(app_usage("{}"), None);
        assert_eq!(app_usage("not json"), None);
    }

    #[test]
    fn business_usage_reads_every_object_and_the_wait_in_minutes() {
        let text = r#"{"1234":[{"type":"pages","call_count":40,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":0}],
                       "5678":[{"type":"instagram","call_count":100,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":3}]}"#;
        let usage = business_usage(text).unwrap();
        assert_eq!(usage.percent, 100.0);
        assert_eq!(usage.regain_after, Some(Duration::from_secs(180)));
        assert_eq!(business_usage("[]"), None);
    }

    #[test]
    fn headers_combine_both() {
        let mut headers = HeaderMap::new();
        assert_eq!(usage(&headers), None);
        headers.insert(
            "x-app-usage",
            HeaderValue::from_static(r#"{"call_count":80,"total_cputime":2,"total_time":3}"#),
        );
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"1":[{"call_count":10,"estimated_time_to_regain_access":2}]}"#,
            ),
        );
        let got = usage(&headers).unwrap();
        assert_eq!(got.percent, 80.0);
        assert_eq!(got.regain_after, Some(Duration::from_secs(120)));
    }

    #[test]
    fn spacing_grows_from_the_threshold_to_the_limit() {
        let max = Duration::from_secs(30);
        assert_eq!(spacing(10.0, max), Duration::ZERO);
        assert_eq!(spacing(74.9, max), Duration::ZERO);
        assert_eq!(spacing(75.0, max), Duration::ZERO);
        assert_eq!(spacing(87.5, max), Duration::from_secs(15));
        assert!(spacing(95.0, max) > spacing(90.0, max));
        assert_eq!(spacing(100.0, max), max);
        assert_eq!(spacing(250.0, max), max);
        assert_eq!(spacing(f64::NAN, max), Duration::ZERO);
    }

    #[tokio::test]
    async fn the_throttle_slows_near_the_limit_and_holds_at_it() {
        let throttle = Throttle::new(Duration::from_secs(20), Duration::from_secs(60));
        throttle.record(Usage {
            percent: 20.0,
            regain_after: None,
        });
        assert_eq!(throttle.current_spacing(), Duration::ZERO);
        assert_eq!(throttle.current_wait(), Duration::ZERO);

        throttle.record(Usage {
            percent: 95.0,
            regain_after: None,
        });
        assert_eq!(throttle.current_spacing(), Duration::from_secs(16));

        throttle.record(Usage {
            percent: 100.0,
            regain_after: None,
        });
        assert!(throttle.current_wait() > Duration::from_secs(55));

        // Back to low usage: no more spacing, but the hold already announced stays.
        throttle.record(Usage {
            percent: 5.0,
            regain_after: None,
        });
        assert_eq!(throttle.current_spacing(), Duration::ZERO);
        assert!(throttle.current_wait() > Duration::from_secs(55));
    }

    #[tokio::test]
    async fn usage_falling_again_lets_calls_through_at_once() {
        let throttle = Throttle::new(Duration::from_secs(20), Duration::from_secs(60));
        throttle.record(Usage {
            percent: 95.0,
            regain_after: None,
        });
        throttle.wait_turn().await; // the first call goes at once
        assert!(throttle.current_wait() > Duration::from_secs(15));
        throttle.record(Usage {
            percent: 10.0,
            regain_after: None,
        });
        assert_eq!(throttle.current_wait(), Duration::ZERO);
    }

    #[tokio::test]
    async fn calls_are_spaced_in_turn() {
        let throttle = Throttle::new(Duration::from_millis(200), Duration::from_secs(60));
        throttle.record(Usage {
            percent: 100.0 - 12.5,
            regain_after: None,
        });
        // 87.5 % → half the maximum spacing between consecutive calls.
        let started = Instant::now();
        throttle.wait_turn().await;
        throttle.wait_turn().await;
        throttle.wait_turn().await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(190), "{took:?}");
        assert!(took < Duration::from_millis(1000), "{took:?}");
    }
}
