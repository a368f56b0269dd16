//! The work queue on PostgreSQL: parts claimed by one worker at a time, leases that return a
//! dead worker's part to the pool, the last completion finishing the job, and rate budgets
//! shared through the database. Runs on a fresh database from `FERRY_TEST_DATABASE_URL`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferry_connectors::folder::{FolderDestination, FolderSource};
use ferry_core::Scope;
use ferry_engine::queue::{PLAN_PART, PgQueue, RateLimit, Renewal, WorkQueue};
use ferry_engine::store::{Outcome, StagedRow, UnitState};
use ferry_engine::{
    Engine, EngineError, JobSpec, JobState, Opened, PgStore, Progress, RunOptions, Stop, Store,
};
use ferry_sandbox::media::{PhotoSpec, jpeg};

async fn queue_and_store() -> (Arc<dyn Store>, Arc<dyn WorkQueue>) {
    let url = ferry_testkit::postgres::fresh_database().await;
    let store = PgStore::connect(&url).await.unwrap();
    let queue: Arc<dyn WorkQueue> = Arc::new(PgQueue::new(store.pool().clone()));
    (Arc::new(store), queue)
}

fn photos(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("p{i:03}.jpg")),
            jpeg(&PhotoSpec::new(i as u64)),
        )
        .unwrap();
    }
}

/// A queued job of `n` photos from one folder to another, planned by worker "planner".
async fn planned_job(
    store: &Arc<dyn Store>,
    queue: &Arc<dyn WorkQueue>,
    dir: &Path,
    n: usize,
    batch: u32,
) -> String {
    photos(&dir.join("src"), n);
    let spec = JobSpec {
        sources: vec![dir.join("src").display().to_string()],
        destination: dir.join("dst").display().to_string(),
        scope: Scope::media(),
        layout: Default::default(),
        albums: None,
    };
    let job = store.create_job("", &spec).await.unwrap();
    queue.enqueue(&job.id).await.unwrap();
    let plan = queue
        .claim("planner", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the plan part is free");
    assert_eq!(
        (plan.part, plan.job_id.as_str()),
        (PLAN_PART, job.id.as_str())
    );
    // Nobody else gets anything while the job plans: its batches do not exist yet.
    assert_eq!(
        queue.claim("other", Duration::from_secs(60)).await.unwrap(),
        None
    );
    Engine::new(store.clone())
        .run(
            &job.id,
            vec![Arc::new(FolderSource::open(dir.join("src")).unwrap())],
            Arc::new(FolderDestination::new(dir.join("dst"))),
            &RunOptions {
                plan_only: true,
                ..RunOptions::default()
            },
            Arc::new(Progress::default()),
            Arc::new(Stop::default()),
        )
        .await
        .unwrap();
    let parts = queue.split(&plan, batch).await.unwrap();
    assert_eq!(parts, (n as u64).div_ceil(u64::from(batch)));
    assert_eq!(store.job(&job.id).await.unwrap().state, JobState::Running);
    job.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_workers_each_get_a_different_part() {
    let (store, queue) = queue_and_store().await;
    let dir = tempfile::tempdir().unwrap();
    let job = planned_job(&store, &queue, dir.path(), 95, 10).await;
    assert_eq!(queue.depth().await.unwrap().ready, 10);

    let mut racers = Vec::new();
    for w in 0..8 {
        let queue = queue.clone();
        racers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(lease) = queue
                .claim(&format!("w{w}"), Duration::from_secs(60))
                .await
                .unwrap()
            {
                got.push(lease);
            }
            got
        }));
    }
    let mut leases = Vec::new();
    for racer in racers {
        leases.extend(racer.await.unwrap());
    }
    let parts: BTreeSet<i64> = leases.iter().map(|l| l.part).collect();
    assert_eq!(
        leases.len(),
        10,
        "every part claimed exactly once: {leases:?}"
    );
    assert_eq!(parts, (0..10).collect());
    // The parts cover every unit once, in order.
    let mut sorted = leases.clone();
    sorted.sort_by_key(|l| l.part);
    assert_eq!(sorted.first().unwrap().first_seq, 1);
    assert_eq!(sorted.last().unwrap().last_seq, 95);
    for pair in sorted.windows(2) {
        assert_eq!(pair[0].last_seq + 1, pair[1].first_seq);
    }
    assert_eq!(queue.depth().await.unwrap().leased, 10);

    // Only the last completion finishes the job, whoever makes it.
    for (i, lease) in sorted.iter().enumerate() {
        assert_eq!(queue.complete(lease).await.unwrap(), i == sorted.len() - 1);
    }
    assert!(queue.is_queued(&job).await.unwrap());
    assert_eq!(queue.depth().await.unwrap(), Default::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_part_returns_when_its_lease_runs_out() {
    let (store, queue) = queue_and_store().await;
    let dir = tempfile::tempdir().unwrap();
    let job = planned_job(&store, &queue, dir.path(), 5, 10).await;

    let dead = queue
        .claim("dead", Duration::from_millis(600))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        queue
            .renew(&dead, Duration::from_millis(600))
            .await
            .unwrap(),
        Renewal::Held(JobState::Running)
    );
    assert_eq!(
        queue.claim("alive", Duration::from_secs(60)).await.unwrap(),
        None
    );
    tokio::time::sleep(Duration::from_millis(900)).await;

    let alive = queue
        .claim("alive", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("an expired lease frees the part");
    assert_eq!((alive.part, alive.claims), (dead.part, 2));
    // The dead worker, come back, finds it has lost the part and cannot complete it.
    assert_eq!(
        queue.renew(&dead, Duration::from_secs(60)).await.unwrap(),
        Renewal::Lost
    );
    assert!(!queue.complete(&dead).await.unwrap());
    assert_eq!(
        queue.renew(&alive, Duration::from_secs(60)).await.unwrap(),
        Renewal::Held(JobState::Running)
    );

    // A paused job's parts wait, and its workers learn of it at their next renewal.
    store
        .set_state(&job, JobState::Paused, Some("paused by you"))
        .await
        .unwrap();
    assert_eq!(
        queue.renew(&alive, Duration::from_secs(60)).await.unwrap(),
        Renewal::Held(JobState::Paused)
    );
    queue.release(&alive, Duration::ZERO).await.unwrap();
    assert_eq!(
        queue.claim("other", Duration::from_secs(60)).await.unwrap(),
        None
    );
    let paused = store.job(&job).await.unwrap();
    ferry_engine::queue::hand_over(store.as_ref(), queue.as_ref(), &paused)
        .await
        .unwrap();
    let again = queue
        .claim("other", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.part, again.claims), (dead.part, 3));
    assert!(
        queue.complete(&again).await.unwrap(),
        "the only part is the last"
    );
}

/// Files the destination holds under their final names (staging names start with
/// `.ferry-` and keep the extension).
fn landed(dst: &Path) -> usize {
    let mut count = 0;
    let mut folders = vec![dst.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "jpg")
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".ferry-"))
            {
                count += 1;
            }
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_part_writes_nothing_more() {
    let (store, queue) = queue_and_store().await;
    let dir = tempfile::tempdir().unwrap();
    let job = planned_job(&store, &queue, dir.path(), 4, 10).await;
    // Tokens are staging paths to the folder destination: none that exists.
    let token = |seq: i64| {
        dir.path()
            .join(format!("staged-{seq}"))
            .display()
            .to_string()
    };
    let staged = |seq: i64| StagedRow {
        seq,
        token: token(seq),
        sha256: "00".repeat(32),
        bytes: 1,
    };

    let stale = queue
        .claim("stale", Duration::from_millis(600))
        .await
        .unwrap()
        .unwrap();
    // While its claim is the part's latest, its writes land.
    store
        .mark_staged(&job, &[staged(1)], Some(stale.fence()))
        .await
        .unwrap();

    // It stalls past its lease, and another worker claims the part.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let next = queue
        .claim("next", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("an expired lease frees the part");
    assert_eq!((next.part, next.claims), (stale.part, 2));

    // Back, the stale worker can record neither staged rows nor outcomes.
    let lost = |result: Result<(), EngineError>| match result {
        Err(EngineError::LostPart { part, .. }) => assert_eq!(part, stale.part),
        other => panic!("a stale claim wrote: {other:?}"),
    };
    lost(
        store
            .mark_staged(&job, &[staged(2)], Some(stale.fence()))
            .await,
    );
    let done = Outcome {
        seq: 1,
        state: UnitState::Done,
        reason: None,
        attempts: 1,
        dest_id: Some("d1".into()),
        sha256: Some("00".repeat(32)),
        bytes: Some(1),
    };
    lost(
        store
            .record_outcomes(&job, std::slice::from_ref(&done), Some(stale.fence()))
            .await,
    );
    let units = store.units_to_move(&job, 0, 10).await.unwrap();
    let states: Vec<_> = units.iter().map(|u| (u.seq, u.state)).collect();
    assert_eq!(
        states,
        [
            (1, UnitState::Staged),
            (2, UnitState::Pending),
            (3, UnitState::Pending),
            (4, UnitState::Pending)
        ]
    );
    assert_eq!(units[0].token, Some(token(1)));

    // The engine under the stale claim stops at its first write: nothing is journaled, and
    // nothing committed to the destination.
    let run = |fence| {
        let store = store.clone();
        let job = job.clone();
        let dir = dir.path().to_path_buf();
        async move {
            Engine::new(store)
                .run_range(
                    &job,
                    Opened {
                        sources: vec![Arc::new(FolderSource::open(dir.join("src")).unwrap())],
                        destination: Arc::new(FolderDestination::new(dir.join("dst"))),
                        service: "folder".into(),
                        documents: None,
                    },
                    &RunOptions {
                        fence: Some(fence),
                        ..RunOptions::default()
                    },
                    (stale.first_seq, stale.last_seq),
                    Arc::new(Progress::default()),
                    Arc::new(Stop::default()),
                )
                .await
        }
    };
    match run(stale.fence()).await {
        Err(EngineError::LostPart { .. }) => {}
        other => panic!("the stale claim moved: {other:?}"),
    }
    assert_eq!(store.counts(&job).await.unwrap().done, 0);
    assert_eq!(landed(&dir.path().join("dst")), 0);

    // The part's new holder moves it all.
    let outcome = run(next.fence()).await.unwrap();
    assert!(outcome.settled, "{outcome:?}");
    assert_eq!(store.counts(&job).await.unwrap().done, 4);
    assert_eq!(landed(&dir.path().join("dst")), 4);
    assert!(queue.complete(&next).await.unwrap());
}

#[tokio::test]
async fn rate_budgets_space_turns_and_a_hold_stops_everyone() {
    let (_store, queue) = queue_and_store().await;
    let limit = Some(RateLimit {
        per_second: 10.0,
        burst: 1,
    });
    // Each turn reserves the next slot: 0, 0.1, 0.2, 0.3 s after the first. What a turn is
    // told to wait is its slot less the time since the first turn, however slow the
    // statements are on a loaded machine.
    let first = std::time::Instant::now();
    let mut turns = Vec::new();
    for _ in 0..4 {
        let wait = queue.take_turn("dropbox", limit).await.unwrap();
        turns.push((first.elapsed(), wait));
    }
    assert!(turns[0].1 < Duration::from_millis(20), "{turns:?}");
    for (i, (since_first, wait)) in turns.iter().enumerate().skip(1) {
        let slot = Duration::from_millis(100 * i as u64);
        let reserved = *since_first + *wait;
        assert!(
            reserved + Duration::from_millis(60) > slot
                && reserved < slot + *since_first + Duration::from_millis(60),
            "turn {i}: {turns:?}"
        );
    }
    // Another service has its own budget; no limit means no wait.
    assert_eq!(
        queue.take_turn("koofr", None).await.unwrap(),
        Duration::ZERO
    );
    // A 429 with Retry-After holds every worker off the service, limited or not.
    let holding = std::time::Instant::now();
    queue.hold("koofr", Duration::from_secs(2)).await.unwrap();
    let held = queue.take_turn("koofr", None).await.unwrap();
    let between = holding.elapsed();
    assert!(
        held <= Duration::from_secs(2) && held + between >= Duration::from_millis(1990),
        "{held:?} in {between:?}"
    );
    // A burst lets that many go at once after a quiet spell.
    let bursty = Some(RateLimit {
        per_second: 1.0,
        burst: 3,
    });
    let mut waits = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..4 {
        waits.push(queue.take_turn("google_photos", bursty).await.unwrap());
    }
    let elapsed = started.elapsed();
    assert!(
        waits[..3].iter().all(|w| *w < Duration::from_millis(50)),
        "{waits:?}"
    );
    // The fourth turn's slot is one interval after the first: whatever time the four calls
    // themselves took (a loaded machine) is waited less.
    assert!(
        waits[3] <= Duration::from_secs(1) && waits[3] + elapsed >= Duration::from_millis(990),
        "{waits:?} in {elapsed:?}"
    );
}
