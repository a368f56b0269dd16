//! Many workers, one PostgreSQL: `ferry transfer --detach` queues a job, `ferry worker`
//! processes split it, and workers killed with SIGKILL mid-transfer lose nothing and
//! duplicate nothing: every item lands exactly once. Needs `FERRY_TEST_DATABASE_URL`
//! (`scripts/test` starts a throwaway server).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::sandbox::Env;
use ferry_sandbox::SandboxOptions;
use tokio::io::AsyncBufReadExt;
use tokio::process::Child;
use tokio::time::Instant;

fn worker(env: &Env, id: &str, extra: &[&str]) -> Child {
    env.ferry()
        .args([
            "worker",
            "--id",
            id,
            "--lease-secs",
            "3",
            "--batch-items",
            "20",
            "--concurrency",
            "2",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn detach(env: &Env, args: &[&str]) -> String {
    let out = env.ok(&[&["transfer"], args, &["--detach"]].concat()).await;
    let id = common::stdout(&out).trim().to_string();
    assert_eq!(id.len(), 36, "the job id alone on stdout: {id:?}");
    id
}

/// Waits for the job to be done and returns its report.
async fn until_done(env: &Env, job: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let report = common::json(&env.run(&["job", job, "--json"]).await);
        if report["state"] == "done" {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "the workers did not finish: {report}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn until_landed(env: &Env, service: &str, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while env.landed(service).values().sum::<usize>() < at_least {
        assert!(Instant::now() < deadline, "no progress past {at_least}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `(parts, most claims of one part, distinct workers that completed parts)`.
async fn parts(env: &Env, job: &str) -> (i64, i64, i64) {
    let url = env.database.as_deref().unwrap();
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let row: (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), MAX(claims), COUNT(DISTINCT lease_owner)
           FROM work WHERE job_id = $1 AND part >= 0 AND state = 'done'",
    )
    .bind(job)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_mid_transfer_leave_every_item_moved_exactly_once() {
    let env = Env::with_database(SandboxOptions {
        albums: 4,
        photos: 300,
        videos: 2,
        latency_ms: 25,
        ..SandboxOptions::default()
    })
    .await;
    env.connect_all().await;
    let originals = env.originals().await;
    let job = detach(&env, &["fb:", "dbx:"]).await;

    let mut a = worker(&env, "a", &[]);
    let mut b = worker(&env, "b", &[]);
    let _c = worker(&env, "c", &[]);
    until_landed(&env, "dropbox", 60).await;
    a.start_kill().unwrap(); // SIGKILL: no goodbye, its lease simply runs out
    a.wait().await.unwrap();
    until_landed(&env, "dropbox", 150).await;
    b.start_kill().unwrap();
    b.wait().await.unwrap();
    let _d = worker(&env, "d", &[]);

    let report = until_done(&env, &job, Duration::from_secs(240)).await;
    assert_eq!(report["items"]["done"], 302, "{report}");
    assert_eq!(report["items"]["failed"], 0, "{report}");
    assert_eq!(
        env.landed("dropbox"),
        originals,
        "every item exactly once, nothing lost, nothing twice"
    );
    let (count, most_claims, completers) = parts(&env, &job).await;
    assert_eq!(count, 16, "302 items in parts of 20");
    assert!(most_claims >= 2, "a killed worker's part was taken over");
    assert!(
        completers >= 2,
        "the parts were shared: {completers} workers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_workers_and_shows_in_metrics() {
    let env = Env::with_database(SandboxOptions {
        albums: 2,
        photos: 40,
        videos: 0,
        ..SandboxOptions::default()
    })
    .await;
    env.connect_all().await;
    let started = Instant::now();
    let job = detach(&env, &["fb:", "dbx:"]).await;
    let limit = ["--rate", "dropbox=8/1", "--metrics-listen", "127.0.0.1:0"];
    let mut first = worker(&env, "a", &limit);
    let _second = worker(&env, "b", &limit);
    let mut lines = tokio::io::BufReader::new(first.stderr.take().unwrap()).lines();
    let metrics_url = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the worker says where metrics are");
        if let Some(url) = line.strip_prefix("metrics at ") {
            break url.to_string();
        }
    };
    let report = until_done(&env, &job, Duration::from_secs(120)).await;
    assert_eq!(report["items"]["done"], 40, "{report}");
    // 40 items at 8 a second between both workers take at least 39/8 s, however many
    // workers there are: a lower bound, which a slow machine cannot break.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(4800),
        "the limit was not shared: {took:?}"
    );

    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from {text}"))
    };
    assert!(
        value("ferry_rate_limit_wait_seconds_total ") > 0.5,
        "{text}"
    );
    assert!(value("ferry_items_moved_total ") >= 1.0, "{text}");
    assert!(text.contains("ferry_jobs{state=\"done\"} 1"), "{text}");
    assert!(text.contains("ferry_queue_ready_parts 0"), "{text}");
}
