//! The inspection API for tests and the demo, apart from every service API:
//!
//! - `GET  /_sandbox/state` — every stored file, album and media item with its SHA-256
//! - `GET  /_sandbox/source` — the seeded Facebook account (albums, photos, videos)
//! - `GET  /_sandbox/stats` — request counts by service, route and status
//! - `POST /_sandbox/stats/reset`
//! - `GET  /_sandbox/faults`, `GET|PUT /_sandbox/faults/{service}` — fault settings
//! - `POST /_sandbox/clock/advance?secs=N` — move the clock (expiry tests without sleeping)
//! - `POST /_sandbox/tokens/expire?service=S` — expire every access token of a service now
//! - `POST /_sandbox/facebook/delete?id=ID` — delete a seeded object (Graph then answers 100/33)
//! - `GET  /_sandbox/credentials`, `GET /_sandbox/urls`, `GET /_sandbox/ferry.toml`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use crate::faults::FaultConfig;
use crate::{AppState, Service};

#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatKey {
    pub service: Service,
    pub method: String,
    pub route: String,
    /// HTTP status; 0 when the connection was reset.
    pub status: u16,
    /// The injected fault, if any.
    pub fault: Option<&'static str>,
}

/// Request counters.
#[derive(Default)]
pub struct Stats {
    counts: Mutex<BTreeMap<StatKey, u64>>,
}

impl Stats {
    pub fn record(
        &self,
        service: Service,
        method: &Method,
        route: &str,
        status: u16,
        fault: Option<&'static str>,
    ) {
        let key = StatKey {
            service,
            method: method.to_string(),
            route: route.to_string(),
            status,
            fault,
        };
        *self.counts.lock().unwrap().entry(key).or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> Vec<Value> {
        self.counts
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                json!({"service": k.service, "method": k.method, "route": k.route,
                       "status": k.status, "fault": k.fault, "count": v})
            })
            .collect()
    }

    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }
}

pub fn router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/state", get(state))
        .route("/source", get(source))
        .route("/stats", get(stats))
        .route("/stats/reset", post(stats_reset))
        .route("/faults", get(all_faults))
        .route("/faults/{service}", get(get_faults).put(put_faults))
        .route("/clock/advance", post(advance))
        .route("/tokens/expire", post(expire_tokens))
        .route("/facebook/delete", post(facebook_delete))
        .route("/credentials", get(credentials))
        .route("/urls", get(urls))
        .route("/ferry.toml", get(ferry_toml))
        .with_state(app)
}

pub(crate) fn state_json(app: &AppState) -> Value {
    json!({
        "dropbox": app.dropbox.inspect(),
        "koofr": app.koofr.inspect(),
        "google_photos": app.google.inspect(),
    })
}

async fn state(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(state_json(&app))
}

async fn source(State(app): State<Arc<AppState>>) -> Response {
    // Hashing every original is CPU work: off the threads that serve requests.
    match tokio::task::spawn_blocking(move || crate::facebook::inspect(&app)).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn stats(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "requests": app.stats.snapshot() }))
}

async fn stats_reset(State(app): State<Arc<AppState>>) -> StatusCode {
    app.stats.reset();
    StatusCode::NO_CONTENT
}

async fn all_faults(State(app): State<Arc<AppState>>) -> Json<Value> {
    let m: BTreeMap<&str, FaultConfig> = Service::ALL
        .into_iter()
        .map(|s| (s.as_str(), app.faults.get(s)))
        .collect();
    Json(json!(m))
}

fn bad(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

async fn get_faults(State(app): State<Arc<AppState>>, Path(s): Path<String>) -> Response {
    match Service::parse(&s) {
        Some(svc) => Json(app.faults.get(svc)).into_response(),
        None => bad(format!("unknown service {s:?}")),
    }
}

/// Replaces the named fields of the service's fault settings (a merge, so
/// `{"rate_429": 0.2}` leaves the rest alone).
async fn put_faults(
    State(app): State<Arc<AppState>>,
    Path(s): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(svc) = Service::parse(&s) else {
        return bad(format!("unknown service {s:?}"));
    };
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Value::Object(m),
        _ => return bad("body must be a JSON object".into()),
    };
    let mut cur = serde_json::to_value(app.faults.get(svc)).unwrap_or(Value::Null);
    if let (Value::Object(c), Value::Object(p)) = (&mut cur, patch) {
        for (k, v) in p {
            c.insert(k, v);
        }
    }
    match serde_json::from_value::<FaultConfig>(cur) {
        Ok(cfg) => {
            app.faults.set(svc, cfg.clone());
            Json(cfg).into_response()
        }
        Err(e) => bad(e.to_string()),
    }
}

async fn advance(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let pairs = crate::util::query_pairs(q.as_deref());
    match crate::util::get(&pairs, "secs").and_then(|s| s.parse::<i64>().ok()) {
        Some(secs) => {
            app.clock.advance(secs);
            Json(json!({ "now": crate::util::rfc3339(app.clock.now()) })).into_response()
        }
        None => bad("secs=<integer> is required".into()),
    }
}

async fn credentials(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(json!(app.credentials))
}

async fn urls(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(json!(crate::service_urls(&app.base_url)))
}

async fn ferry_toml(State(app): State<Arc<AppState>>) -> String {
    // Same text as `Sandbox::ferry_toml`, built from the shared state.
    crate::ferry_toml_for(&app.base_url, &app.credentials)
}

async fn expire_tokens(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let pairs = crate::util::query_pairs(q.as_deref());
    match crate::util::get(&pairs, "service").and_then(Service::parse) {
        Some(svc) => {
            let n = app.oauth.expire_all(svc, app.clock.unix());
            Json(json!({ "expired": n })).into_response()
        }
        None => bad("service=facebook|dropbox|google-photos|koofr is required".into()),
    }
}

async fn facebook_delete(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let pairs = crate::util::query_pairs(q.as_deref());
    let Some(id) = crate::util::get(&pairs, "id") else {
        return bad("id=<object id> is required".into());
    };
    let w = &app.world;
    if w.photo(id).is_none() && w.video(id).is_none() && w.album(id).is_none() {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such object" })),
        )
            .into_response();
    }
    app.fb_deleted.lock().unwrap().insert(id.to_string());
    StatusCode::NO_CONTENT.into_response()
}
