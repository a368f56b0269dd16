//! `ferry serve --database`: on PostgreSQL the server hands transfers to the work queue and
//! moves nothing itself; a worker (the engine's `Worker`, as `ferry worker` runs it) moves
//! them and tells the owner; `/metrics` shows the queue and the jobs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Server;
use ferry_engine::queue::{PgQueue, WorkQueue};
use ferry_engine::{PgStore, Store, Worker, WorkerOptions};
use ferry_server::WorkQueueHandle;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const PASSWORD: &str = "correct horse battery";

async fn metrics(server: &Server) -> String {
    let response = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_database_transfers_wait_for_a_worker_and_metrics_show_them() {
    let url = ferry_testkit::postgres::fresh_database().await;
    let pg = PgStore::connect(&url).await.unwrap();
    let queue: Arc<dyn WorkQueue> = Arc::new(PgQueue::new(pg.pool().clone()));
    let pg = Arc::new(pg);
    let store: Arc<dyn Store> = pg.clone();
    let mut config = common::config();
    config.work_queue = Some(WorkQueueHandle(queue.clone()));
    let sandbox = ferry_sandbox::start(ferry_sandbox::SandboxOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let server = common::start_on(config, sandbox, dir, &data, pg.clone(), None).await;

    let cookie = server.account("ann@example.com", PASSWORD).await;
    for service in ["facebook", "dropbox"] {
        let response = server.connect(&cookie, service).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{service}");
    }
    let response = server
        .post_json(
            &cookie,
            "/api/v1/transfers",
            json!({ "source": "facebook", "destination": "dropbox", "types": ["photos", "videos"] }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();

    // No worker yet: the job waits in the queue, untouched.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting: Value = server
        .get(&cookie, &format!("/api/v1/jobs/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(waiting["state"], "planning", "{waiting}");
    assert_eq!(waiting["items_done"], 0, "{waiting}");
    let text = metrics(&server).await;
    assert!(text.contains("ferry_queue_ready_parts 1"), "{text}");
    assert!(text.contains("ferry_jobs{state=\"planning\"} 1"), "{text}");

    // A worker with the same journal and key takes it to the end.
    let services =
        ferry_connectors::config::Config::parse(&server.sandbox.ferry_toml(), None).unwrap();
    let connections = Arc::new(ferry_endpoints::Connections::new(
        store.clone(),
        data.clone(),
        Ok(services),
    ));
    let mut options = WorkerOptions::new("test-worker");
    options.batch_items = 4;
    options.poll = Duration::from_millis(100);
    options.lease = Duration::from_secs(3);
    // Told of the job's end as `ferry worker` tells it: the server's notices.
    let notices = ferry_server::TransferNotices::new(pg.clone(), None, common::config());
    let worker = Worker::new(
        store.clone(),
        queue.clone(),
        Arc::new(ferry_endpoints::JobOpener::new(connections)),
        options,
    )
    .with_events(Arc::new(notices));
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let stop = stop.clone();
        async move { worker.run(stop).await }
    });
    let done = server.wait_job(&cookie, &id, Duration::from_secs(60)).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["items_failed"], 0, "{done}");
    assert!(done["items_done"].as_u64().unwrap() > 0, "{done}");
    let text = metrics(&server).await;
    assert!(text.contains("ferry_jobs{state=\"done\"} 1"), "{text}");
    assert!(text.contains("ferry_queue_ready_parts 0"), "{text}");
    let notices: Value = server
        .get(&cookie, "/api/v1/notices")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        notices.to_string().contains("has finished"),
        "the owner is told, though the server did not move it: {notices}"
    );
    stop.cancel();
    running.await.unwrap();
}
