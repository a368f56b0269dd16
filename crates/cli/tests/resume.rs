//! A 500-file transfer killed with SIGKILL at several points and re-run each time: every file
//! arrives exactly once, byte-identical, nothing journaled as done is sent again, and no
//! temporary file is left.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

enum KillAt {
    /// This long after the start (early: while planning).
    After(Duration),
    /// Once this many files have landed at the destination.
    Landed(usize),
}

fn spawn(data: &Path, src: &Path, dst: &Path) -> Child {
    ferry(data)
        .args([
            "transfer",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--concurrency",
            "4",
        ])
        .env("RUST_LOG", "ferry_engine=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry starts")
}

fn landed(dst: &Path) -> usize {
    files_under(dst).iter().filter(|p| !is_temporary(p)).count()
}

/// Unit numbers a run's debug log says it started uploading, and journaled as done.
fn log_units(log: &str) -> (Vec<u64>, Vec<u64>) {
    let grab = |prefix: &str| {
        log.lines()
            .filter_map(|l| l.split(prefix).nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect::<Vec<u64>>()
    };
    (grab("uploading unit "), grab("journaled done unit "))
}

#[test]
fn killed_transfers_resume_without_loss_duplicates_or_resends() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    let files = library(&src, 500, 64 * 1024);

    let kills = [
        KillAt::After(Duration::from_millis(5)),
        KillAt::After(Duration::from_millis(60)),
        KillAt::Landed(60),
        KillAt::Landed(200),
        KillAt::Landed(420),
    ];
    let mut journaled_done: HashSet<u64> = HashSet::new();
    let mut interrupted_mid_move = 0;
    // A run that ended before its kill finished the job: the next one is a re-run, a new job.
    let mut finished_runs = 0;
    for kill in &kills {
        let mut child = spawn(&data, &src, &dst);
        let started = Instant::now();
        loop {
            let due = match kill {
                KillAt::After(d) => started.elapsed() >= *d,
                KillAt::Landed(n) => landed(&dst) >= *n,
            };
            if due
                || child.try_wait().unwrap().is_some()
                || started.elapsed() > Duration::from_secs(120)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let finished_by_itself = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let at_kill = landed(&dst);
        let mut log = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        let (uploaded, done) = log_units(&log);
        let resent: Vec<&u64> = uploaded
            .iter()
            .filter(|u| journaled_done.contains(u))
            .collect();
        assert!(
            resent.is_empty(),
            "units journaled as done were sent again: {resent:?}"
        );
        eprintln!(
            "killed after {:?}: {at_kill} files landed, {} uploads started, {} journaled done in this run{}",
            started.elapsed(),
            uploaded.len(),
            done.len(),
            if finished_by_itself {
                " (it had already finished)"
            } else {
                ""
            }
        );
        if finished_by_itself {
            finished_runs += 1;
        }
        if !finished_by_itself && at_kill > 0 && at_kill < files.len() {
            interrupted_mid_move += 1;
        }
        journaled_done.extend(done);
    }
    assert!(
        interrupted_mid_move >= 2,
        "the kills did not interrupt the move often enough"
    );

    // The last run finishes the job.
    let out = ferry(&data)
        .args([
            "transfer",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--json",
        ])
        .env("RUST_LOG", "ferry_engine=debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "final run failed: {}", stderr(&out));
    let (uploaded, _) = log_units(&stderr(&out));
    let resent: Vec<&u64> = uploaded
        .iter()
        .filter(|u| journaled_done.contains(u))
        .collect();
    assert!(
        resent.is_empty(),
        "units journaled as done were sent again: {resent:?}"
    );
    let report = json(&out);
    assert_eq!(report["state"], "done");
    assert_eq!(report["items"]["done"], 500);
    assert_eq!(report["items"]["failed"], 0);

    // Exactly the 500 files, byte-identical, and nothing else (no temporary, no duplicate).
    let expected: BTreeSet<_> = files
        .iter()
        .map(|f| Path::new("Photo Transfer").join(f))
        .collect();
    let found: BTreeSet<_> = files_under(&dst).into_iter().collect();
    assert_eq!(found, expected);
    for f in &files {
        assert_eq!(
            std::fs::read(photo_destination(&dst, f)).unwrap(),
            std::fs::read(src.join(f)).unwrap(),
            "{} differs",
            f.display()
        );
    }

    // Every killed run was resumed by the next, never started afresh.
    let jobs = ferry(&data).args(["jobs", "--json"]).output().unwrap();
    let jobs: serde_json::Value = serde_json::from_slice(&jobs.stdout).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 1 + finished_runs);
}

/// A finished transfer run again, killed, and run once more: whatever the killed run staged
/// is gone when the job ends, and every file is there once.
#[test]
fn a_killed_rerun_leaves_no_staging_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    let files = library(&src, 300, 32 * 1024);
    let run = || {
        ferry(&data)
            .args(["transfer", src.to_str().unwrap(), dst.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{}", stderr(&first));

    // Touch every source file: the re-run must look at each again and stage it.
    let later = filetime::FileTime::from_unix_time(2_000_000_000, 0);
    for f in &files {
        filetime::set_file_mtime(src.join(f), later).unwrap();
    }
    let mut child = spawn(&data, &src, &dst);
    let started = Instant::now();
    while files_under(&dst).iter().filter(|p| is_temporary(p)).count() < 20
        && started.elapsed() < Duration::from_secs(60)
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();

    let last = run();
    assert!(last.status.success(), "{}", stderr(&last));
    let left: Vec<PathBuf> = files_under(&dst)
        .into_iter()
        .filter(|p| is_temporary(p))
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    let expected: BTreeSet<_> = files
        .iter()
        .map(|f| Path::new("Photo Transfer").join(f))
        .collect();
    let found: BTreeSet<_> = files_under(&dst).into_iter().collect();
    assert_eq!(found, expected);
}

/// Eight transfers started at the same moment on a fresh data folder share its journal: the
/// schema is made once, writers wait for each other, and every job ends done.
#[test]
fn simultaneous_transfers_share_a_fresh_journal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let src = dir.path().join("src");
    library(&src, 40, 8 * 1024);
    let children: Vec<Child> = (0..8)
        .map(|i| {
            let dst = dir.path().join(format!("dst{i}"));
            ferry(&data)
                .args([
                    "transfer",
                    src.to_str().unwrap(),
                    dst.to_str().unwrap(),
                    "--json",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a transfer failed: {}", stderr(&out));
        let report = json(&out);
        assert_eq!(report["state"], "done", "{report}");
        assert_eq!(report["items"]["done"], 40, "{report}");
    }
    let jobs = ferry(&data).args(["jobs", "--json"]).output().unwrap();
    let jobs: serde_json::Value = serde_json::from_slice(&jobs.stdout).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 8);
}
