//! Fault injection: per-emulator settings and the middleware that applies them.
//!
//! Decisions come from a counter-indexed hash of the seed, so a run with the same
//! seed and the same request order gets the same faults (tests cannot flake).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::HeaderValue;
use serde::{Deserialize, Serialize};

use crate::util::{ConnKill, mix, throttle};
use crate::{AppState, Service};

/// Fault settings of one emulator. Rates are shares of requests in 0.0..=1.0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    /// Answered as the service's rate-limit error (Facebook: codes 4/17/32/613).
    pub rate_429: f64,
    pub rate_500: f64,
    pub rate_503: f64,
    /// The connection is reset before a response is sent.
    pub rate_reset: f64,
    /// The request is handled, then the response body is cut in half.
    pub rate_truncate: f64,
    /// `Retry-After` on injected 429s (seconds).
    pub retry_after_secs: u64,
    /// Lifetime of access tokens issued from now on.
    pub token_ttl_secs: u64,
    /// Storage quota in bytes for the account (destinations only).
    pub quota_bytes: Option<u64>,
    pub latency_ms: u64,
    pub bandwidth_bytes_per_sec: Option<u64>,
}

/// Kinds of injected faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    #[serde(rename = "429")]
    TooManyRequests,
    #[serde(rename = "500")]
    Internal,
    #[serde(rename = "503")]
    Unavailable,
    #[serde(rename = "reset")]
    Reset,
    #[serde(rename = "truncate")]
    Truncate,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::TooManyRequests,
        FaultKind::Internal,
        FaultKind::Unavailable,
        FaultKind::Reset,
        FaultKind::Truncate,
    ];
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "429" => FaultKind::TooManyRequests,
            "500" => FaultKind::Internal,
            "503" => FaultKind::Unavailable,
            "reset" => FaultKind::Reset,
            "truncate" => FaultKind::Truncate,
            other => {
                return Err(format!(
                    "unknown fault kind {other:?} (429, 500, 503, reset, truncate)"
                ));
            }
        })
    }
}

impl FaultConfig {
    pub fn rate(&self, k: FaultKind) -> f64 {
        match k {
            FaultKind::TooManyRequests => self.rate_429,
            FaultKind::Internal => self.rate_500,
            FaultKind::Unavailable => self.rate_503,
            FaultKind::Reset => self.rate_reset,
            FaultKind::Truncate => self.rate_truncate,
        }
    }
    pub fn set_rate(&mut self, k: FaultKind, r: f64) {
        let r = r.clamp(0.0, 1.0);
        match k {
            FaultKind::TooManyRequests => self.rate_429 = r,
            FaultKind::Internal => self.rate_500 = r,
            FaultKind::Unavailable => self.rate_503 = r,
            FaultKind::Reset => self.rate_reset = r,
            FaultKind::Truncate => self.rate_truncate = r,
        }
    }
}

struct Slot {
    cfg: FaultConfig,
    counter: u64,
}

/// Fault settings and decision counters of every emulator.
pub struct Faults {
    seed: u64,
    slots: Mutex<HashMap<Service, Slot>>,
}

impl Faults {
    pub fn new(seed: u64, initial: FaultConfig) -> Faults {
        let slots = Service::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    Slot {
                        cfg: initial.clone(),
                        counter: 0,
                    },
                )
            })
            .collect();
        Faults {
            seed,
            slots: Mutex::new(slots),
        }
    }

    pub fn get(&self, s: Service) -> FaultConfig {
        self.slots.lock().unwrap()[&s].cfg.clone()
    }

    pub fn set(&self, s: Service, cfg: FaultConfig) {
        let mut g = self.slots.lock().unwrap();
        let slot = g.get_mut(&s).expect("every service has a slot");
        slot.cfg = cfg;
    }

    /// Draws the fault (if any) for the next request; returns it with the draw number.
    pub fn decide(&self, s: Service) -> (Option<FaultKind>, u64) {
        let mut g = self.slots.lock().unwrap();
        let slot = g.get_mut(&s).expect("every service has a slot");
        slot.counter += 1;
        let n = slot.counter;
        let h = mix(self.seed ^ mix(n ^ ((s as u64 + 1) << 56)));
        let u = (h >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for k in FaultKind::ALL {
            acc += slot.cfg.rate(k);
            if u < acc {
                return (Some(k), n);
            }
        }
        (None, n)
    }
}

/// Lets a handler name its route for the request statistics (catch-all routers).
#[derive(Clone, Debug)]
pub struct RouteLabel(pub String);

/// Marks a response as the result of an injected fault (for statistics).
#[derive(Clone, Debug)]
pub struct Injected(pub &'static str);

/// The middleware in front of every emulator's service routes.
pub async fn middleware(
    State((app, svc)): State<(Arc<AppState>, Service)>,
    req: Request,
    next: Next,
) -> Response {
    let cfg = app.faults.get(svc);
    let method = req.method().clone();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    // Catch-all routers: fold the path the same way their handlers label it.
    let route = match svc {
        Service::Facebook if matched.contains("{*") => {
            crate::facebook::route_label(req.uri().path())
        }
        Service::Dropbox if matched.contains("{*") => crate::dropbox::route_label(req.uri().path()),
        _ if matched.is_empty() => req.uri().path().to_string(),
        _ => matched,
    };
    let path = req.uri().path().to_string();
    let kill = req
        .extensions()
        .get::<ConnectInfo<ConnKill>>()
        .map(|c| c.0.clone());

    if cfg.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.latency_ms)).await;
    }
    let (fault, n) = app.faults.decide(svc);
    tracing::debug!(service = svc.as_str(), %method, route = %route, fault = ?fault, "sandbox request");
    let label = |resp: &Response| {
        resp.extensions()
            .get::<RouteLabel>()
            .map(|l| l.0.clone())
            .unwrap_or_else(|| route.clone())
    };
    let resp = match fault {
        Some(FaultKind::Reset) => {
            if let Some(k) = &kill {
                k.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            app.stats.record(svc, &method, &route, 0, Some("reset"));
            // The body errors too, in case the connection was not ours to kill.
            return Response::new(Body::from_stream(futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("injected reset"))
            })));
        }
        Some(k @ (FaultKind::TooManyRequests | FaultKind::Internal | FaultKind::Unavailable)) => {
            let r = injected_error(svc, k, cfg.retry_after_secs.max(1), n, &path);
            app.stats.record(
                svc,
                &method,
                &label(&r),
                r.status().as_u16(),
                Some(kind_name(k)),
            );
            return r;
        }
        Some(FaultKind::Truncate) => {
            let req = throttle_request(req, cfg.bandwidth_bytes_per_sec);
            let r = next.run(req).await;
            app.stats.record(
                svc,
                &method,
                &label(&r),
                r.status().as_u16(),
                Some("truncate"),
            );
            truncate(r)
        }
        None => {
            let req = throttle_request(req, cfg.bandwidth_bytes_per_sec);
            let r = next.run(req).await;
            app.stats
                .record(svc, &method, &label(&r), r.status().as_u16(), None);
            r
        }
    };
    match cfg.bandwidth_bytes_per_sec {
        Some(bps) if bps > 0 => {
            use axum::body::HttpBody as _;
            let (mut parts, body) = resp.into_parts();
            // Keep the length a stream would lose, so clients still see Content-Length.
            let bodyless = parts.status == http::StatusCode::NO_CONTENT
                || parts.status == http::StatusCode::NOT_MODIFIED
                || method == http::Method::HEAD;
            if let (Some(n), false) = (body.size_hint().exact(), bodyless) {
                parts
                    .headers
                    .entry(http::header::CONTENT_LENGTH)
                    .or_insert(HeaderValue::from(n));
            }
            Response::from_parts(
                parts,
                Body::from_stream(throttle(body.into_data_stream(), bps)),
            )
        }
        _ => resp,
    }
}

fn kind_name(k: FaultKind) -> &'static str {
    match k {
        FaultKind::TooManyRequests => "429",
        FaultKind::Internal => "500",
        FaultKind::Unavailable => "503",
        FaultKind::Reset => "reset",
        FaultKind::Truncate => "truncate",
    }
}

fn throttle_request(req: Request, bps: Option<u64>) -> Request {
    match bps {
        Some(bps) if bps > 0 => {
            let (parts, body) = req.into_parts();
            Request::from_parts(
                parts,
                Body::from_stream(throttle(body.into_data_stream(), bps)),
            )
        }
        _ => req,
    }
}

/// Sends the headers and half of the body, then fails the stream so the client sees a
/// body shorter than its `Content-Length`.
fn truncate(resp: Response) -> Response {
    use axum::body::HttpBody as _;
    let (mut parts, body) = resp.into_parts();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .or_else(|| body.size_hint().exact());
    let Some(len) = declared else {
        // Unknown length (chunked): cut after the first chunk, leaving the chunked encoding open.
        let s = body.into_data_stream().take(1).chain(cut());
        return Response::from_parts(parts, Body::from_stream(s));
    };
    parts
        .headers
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    let keep = len / 2;
    let mut sent = 0u64;
    let s = body
        .into_data_stream()
        .map(move |r| {
            r.map(|b| {
                let room = keep.saturating_sub(sent) as usize;
                let b = if b.len() > room { b.slice(..room) } else { b };
                sent += b.len() as u64;
                b
            })
        })
        .take_while(|r| futures::future::ready(!matches!(r, Ok(b) if b.is_empty())))
        .chain(cut());
    Response::from_parts(parts, Body::from_stream(s))
}

/// The end of a truncated body: wait a moment so the connection flushes what was sent
/// (headers and the first half), then fail the stream, which aborts the connection.
fn cut() -> impl futures::Stream<Item = Result<Bytes, axum::Error>> {
    futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(axum::Error::new(std::io::Error::other(
            "injected truncation",
        )))
    })
}

/// The service's own shape for an injected 429/500/503.
fn injected_error(svc: Service, k: FaultKind, retry_after: u64, n: u64, path: &str) -> Response {
    match svc {
        Service::Facebook => crate::facebook::injected_error(k, n),
        Service::Dropbox => crate::dropbox::injected_error(k, retry_after, n, path),
        Service::GooglePhotos => crate::google_photos::injected_error(k, retry_after),
        Service::Koofr => crate::koofr::injected_error(k, retry_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_rates_and_are_reproducible() {
        let cfg = FaultConfig {
            rate_429: 0.1,
            rate_reset: 0.2,
            ..FaultConfig::default()
        };
        let a = Faults::new(7, cfg.clone());
        let b = Faults::new(7, cfg);
        let mut count = HashMap::new();
        for _ in 0..10_000 {
            let (x, _) = a.decide(Service::Dropbox);
            assert_eq!(x, b.decide(Service::Dropbox).0);
            *count.entry(x).or_insert(0u32) += 1;
        }
        let c429 = count[&Some(FaultKind::TooManyRequests)];
        let creset = count[&Some(FaultKind::Reset)];
        assert!((900..1100).contains(&c429), "{c429}");
        assert!((1850..2150).contains(&creset), "{creset}");
        assert!(!count.contains_key(&Some(FaultKind::Internal)));
    }
}
