//! `/metrics` for Prometheus: this process's counters (items and bytes moved, retries by
//! cause, time waiting on rate limits) with the database's view at scrape time (jobs by
//! state, queue depth). Every worker serves its own counters; any of them (or the server)
//! serves the database's gauges, so sum the counters and take one copy of the gauges.
//!
//! Nothing personal is in it, but it is meant for the operator's network: put it behind
//! the proxy's access rules like any admin endpoint.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ferry_engine::Store;
use ferry_engine::metrics::{CONTENT_TYPE, Gauges, render};
use ferry_engine::queue::WorkQueue;

use crate::AppState;

pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let queue = state.config().work_queue.as_ref().map(|q| q.0.clone());
    respond(state.store(), queue.as_deref()).await
}

async fn respond(store: &dyn Store, queue: Option<&dyn WorkQueue>) -> Response {
    match gauges(store, queue).await {
        Ok(gauges) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&gauges)).into_response(),
        Err(err) => {
            tracing::warn!("metrics: {err}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the journal cannot be read\n",
            )
                .into_response()
        }
    }
}

async fn gauges(store: &dyn Store, queue: Option<&dyn WorkQueue>) -> ferry_engine::Result<Gauges> {
    let jobs = store
        .job_states()
        .await?
        .into_iter()
        .map(|(state, n)| (state.as_str().to_string(), n))
        .collect();
    let queue = match queue {
        Some(queue) => Some(queue.depth().await?),
        None => None,
    };
    Ok(Gauges { jobs, queue })
}

#[derive(Clone)]
struct MetricsOnly {
    store: Arc<dyn Store>,
    queue: Option<Arc<dyn WorkQueue>>,
}

/// Serves only `/metrics` until `shutdown` completes: for `ferry worker`.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    queue: Option<Arc<dyn WorkQueue>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(m): State<MetricsOnly>| async move {
                respond(m.store.as_ref(), m.queue.as_deref()).await
            }),
        )
        .with_state(MetricsOnly { store, queue });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
