//! One large sandbox job moved by 1, 2 and 4 `ferry worker` processes on one PostgreSQL,
//! against the same job moved by one `ferry transfer` without a queue: items/s, bytes/s and
//! how close the scaling is to linear. Not a timed test: it measures and writes
//! docs/benchmarks.md.
//!
//!     cargo bench -p ferry-cli --bench workers
//!
//! Uses the PostgreSQL server in `FERRY_TEST_DATABASE_URL`, else starts a throwaway one with
//! scripts/postgres. `FERRY_BENCH_QUICK=1` moves a fifth of the items to check the harness.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_sandbox::SandboxOptions;

const MASTER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// Latency the sandbox adds to every request: the services are across a network, and a
/// worker's time goes mostly to waiting on them, as in production.
const LATENCY_MS: u64 = 40;
/// Items each worker (and the lone transfer) moves at once.
const CONCURRENCY: &str = "2";
const BATCH_ITEMS: &str = "50";
const WORKERS: [usize; 3] = [1, 2, 4];

struct Run {
    label: String,
    seconds: f64,
    items: u64,
    bytes: u64,
}

impl Run {
    fn items_per_sec(&self) -> f64 {
        self.items as f64 / self.seconds
    }
}

fn main() {
    let quick = std::env::var_os("FERRY_BENCH_QUICK").is_some();
    let photos = if quick { 160 } else { 800 };
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts");
    let (server, started_pg) = match std::env::var("FERRY_TEST_DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let out = Command::new(scripts.join("postgres"))
                .arg("start")
                .output()
                .expect("scripts/postgres start");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let value = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                    .expect("scripts/postgres prints the exports")
                    .to_string()
            };
            (
                value("FERRY_TEST_DATABASE_URL"),
                Some(value("FERRY_TEST_PG_DIR")),
            )
        }
    };
    // SAFETY: set before any thread of ours reads the environment.
    unsafe { std::env::set_var("FERRY_TEST_DATABASE_URL", &server) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _cluster = started_pg.map(|dir| Cluster {
        script: scripts.join("postgres"),
        dir,
    });
    let runs = rt.block_on(measure(photos));
    report(&runs, photos);
}

/// The throwaway PostgreSQL this bench started, stopped however the bench ends.
struct Cluster {
    script: std::path::PathBuf,
    dir: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .args(["stop", &self.dir])
            .status();
    }
}

/// Workers killed however the run ends (a failed assertion included).
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn measure(photos: usize) -> Vec<Run> {
    let sandbox = ferry_sandbox::start(SandboxOptions {
        albums: 10,
        photos,
        videos: 0,
        latency_ms: LATENCY_MS,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox");
    let scratch = tempfile::tempdir().expect("scratch");
    let config = scratch.path().join("ferry.toml");
    std::fs::write(&config, sandbox.ferry_toml()).expect("ferry.toml");
    let creds = sandbox.credentials();
    let mut runs = Vec::new();

    let mut labels: Vec<(String, usize)> = vec![("ferry transfer (no queue)".into(), 0)];
    labels.extend(
        WORKERS
            .iter()
            .map(|n| (format!("{n} worker{}", if *n == 1 { "" } else { "s" }), *n)),
    );
    for (round, (label, workers)) in labels.into_iter().enumerate() {
        let database = ferry_testkit::postgres::fresh_database().await;
        let data = scratch.path().join(format!("data-{round}"));
        let ferry = |args: &[&str]| -> Command {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
            cmd.args(args)
                .env("FERRY_DATA_DIR", &data)
                .env("FERRY_CONFIG", &config)
                .env("FERRY_MASTER_KEY", MASTER_KEY)
                .env("FERRY_DATABASE_URL", &database)
                .env_remove("RUST_LOG");
            cmd
        };
        let ok = |cmd: &mut Command| -> String {
            let out = cmd.output().expect("ferry runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        ok(&mut ferry(&[
            "connect",
            "facebook",
            "--name",
            "fb",
            "--token",
            &creds.facebook.access_token,
        ]));
        ok(&mut ferry(&[
            "connect",
            "dropbox",
            "--name",
            "dbx",
            "--token",
            &creds.dropbox.access_token,
        ]));
        let target = format!("dbx:/run-{round}");
        let started = Instant::now();
        let job = if workers == 0 {
            let out = ok(&mut ferry(&[
                "transfer",
                "fb:",
                &target,
                "--json",
                "--concurrency",
                CONCURRENCY,
            ]));
            let report: serde_json::Value = serde_json::from_str(&out).expect("json");
            report["job_id"].as_str().expect("job id").to_string()
        } else {
            let job = ok(&mut ferry(&["transfer", "fb:", &target, "--detach"]))
                .trim()
                .to_string();
            let workers = Workers(
                (0..workers)
                    .map(|i| {
                        ferry(&[
                            "worker",
                            "--id",
                            &format!("w{i}"),
                            "--concurrency",
                            CONCURRENCY,
                            "--batch-items",
                            BATCH_ITEMS,
                        ])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("worker")
                    })
                    .collect(),
            );
            // Straight from the database: a `ferry job` process per poll would take CPU
            // from the workers on a small machine.
            let pool = sqlx::PgPool::connect(&database).await.expect("database");
            loop {
                let (state,): (String,) = sqlx::query_as("SELECT state FROM jobs WHERE id = $1")
                    .bind(&job)
                    .fetch_one(&pool)
                    .await
                    .expect("the job");
                if state == "done" {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(600),
                    "stuck: the job is {state}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            pool.close().await;
            // The job is done: stop them now, before the next run.
            drop(workers);
            job
        };
        let seconds = started.elapsed().as_secs_f64();
        let report: serde_json::Value =
            serde_json::from_str(&ok(&mut ferry(&["job", &job, "--json"]))).expect("json");
        assert_eq!(
            report["items"]["done"].as_u64(),
            Some(photos as u64),
            "{report}"
        );
        let run = Run {
            label,
            seconds,
            items: photos as u64,
            bytes: report["bytes"].as_u64().unwrap_or(0),
        };
        eprintln!(
            "{}: {:.2} s, {:.1} items/s",
            run.label,
            run.seconds,
            run.items_per_sec()
        );
        runs.push(run);
    }
    sandbox.shutdown().await;
    runs
}

fn report(runs: &[Run], photos: usize) {
    let one = runs
        .iter()
        .find(|r| r.label == "1 worker")
        .map(|r| r.items_per_sec())
        .unwrap_or(1.0);
    let mut body = format!(
        "## Many workers, one PostgreSQL (`cargo bench -p ferry-cli --bench workers`)\n\n\
         Measured {} on {}. One job of {photos} photos, sandbox Facebook → sandbox Dropbox, \
         {LATENCY_MS} ms of latency added to every request (the services are across a network), \
         `--concurrency {CONCURRENCY}` per process, parts of {BATCH_ITEMS} items, a fresh \
         PostgreSQL database per run (the throwaway server of the tests). Time from \
         `ferry transfer --detach` to the job being done, polled in the database every 50 ms, so it includes \
         planning and the workers' start. Everything — sandbox, PostgreSQL, workers — shares \
         this machine's cores. Scaling is items/s against one worker; linear would be the \
         number of workers. One worker is slower than the lone transfer because the transfer \
         moves items with the Facebook source that listed them, which still holds the download \
         links of the listing, while a worker opens the source anew and asks Graph for a fresh \
         link per item: one more request (of 40 ms here) per item.\n\n\
         | run | time | items/s | MB/s | vs 1 worker | of linear |\n|---|---|---|---|---|---|\n",
        today(),
        support::machine()
    );
    for run in runs {
        let workers: f64 = run
            .label
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(f64::NAN);
        let speedup = run.items_per_sec() / one;
        let linear = if workers.is_nan() {
            "–".to_string()
        } else {
            format!("{:.0} %", 100.0 * speedup / workers)
        };
        body.push_str(&format!(
            "| {} | {:.2} s | {:.1} | {:.1} | {:.2}× | {} |\n",
            run.label,
            run.seconds,
            run.items_per_sec(),
            run.bytes as f64 / run.seconds / 1e6,
            speedup,
            linear
        ));
    }
    print!("{body}");
    support::write_section("workers", body.trim_end());
}

fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}
