//! Progress while a job runs, and reports after.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use ferry_engine::{Engine, Job, JobSpec, Phase, Progress, Report};
use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};
use tokio::sync::oneshot;

/// A progress bar on a terminal, a plain line every few seconds elsewhere, nothing for --json.
pub struct ProgressDisplay {
    done: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressDisplay {
    pub fn start(progress: Arc<Progress>, quiet: bool) -> ProgressDisplay {
        if quiet {
            return ProgressDisplay {
                done: None,
                task: None,
            };
        }
        let (tx, mut rx) = oneshot::channel();
        let terminal = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let bar = terminal.then(new_bar);
            let tick = if terminal {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(2)
            };
            let started = Instant::now();
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tokio::time::sleep(tick) => {}
                }
                match &bar {
                    Some(bar) => draw(bar, &progress),
                    None => eprintln!("{}", plain_line(&progress, started.elapsed())),
                }
            }
            if let Some(bar) = bar {
                draw(&bar, &progress);
                bar.finish_and_clear();
            }
        });
        ProgressDisplay {
            done: Some(tx),
            task: Some(task),
        }
    }

    pub async fn finish(mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(planning_style());
    bar
}

/// While planning there is nothing to measure against yet: a spinner and a count.
fn planning_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn moving_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

fn draw(bar: &ProgressBar, p: &Progress) {
    match p.phase() {
        Phase::Planning => {
            bar.set_message(format!("planning: {} listed", Progress::get(&p.listed)))
        }
        _ => {
            if bar.length() == Some(0) {
                bar.set_style(moving_style());
            }
            let total = Progress::get(&p.total_bytes);
            bar.set_length(total);
            bar.set_position(Progress::get(&p.moved_bytes).min(total));
            bar.set_message(format!(
                "{}/{} items",
                Progress::get(&p.settled_items),
                Progress::get(&p.total_items)
            ));
        }
    }
    bar.tick();
}

fn plain_line(p: &Progress, elapsed: Duration) -> String {
    match p.phase() {
        Phase::Planning => format!("planning: {} listed", Progress::get(&p.listed)),
        _ => {
            let moved = Progress::get(&p.moved_bytes);
            let total = Progress::get(&p.total_bytes).max(moved);
            let rate = moved as f64 / elapsed.as_secs_f64().max(0.001);
            let eta = if rate > 0.0 {
                Duration::from_secs_f64((total - moved) as f64 / rate)
            } else {
                Duration::ZERO
            };
            format!(
                "moving: {}/{} items, {} of {}, {}/s, ETA {}",
                Progress::get(&p.settled_items),
                Progress::get(&p.total_items),
                HumanBytes(moved),
                HumanBytes(total),
                HumanBytes(rate as u64),
                HumanDuration(eta)
            )
        }
    }
}

pub fn print_report(report: &Report, spec: &JobSpec) {
    let c = &report.counts;
    let took = Duration::from_secs_f64(report.duration_secs);
    // Items an earlier job on the route moved and that are unchanged cost no transfer.
    let moved = c.bytes.saturating_sub(c.unchanged_bytes);
    let rate = moved as f64 / report.duration_secs.max(0.001);
    println!("Job {}: {}", report.job_id, report.outcome());
    println!(
        "  {} items: {} done{}, {} skipped, {} failed{}",
        c.total,
        c.done,
        if c.unchanged > 0 {
            format!(
                " ({} unchanged since an earlier run, not sent again)",
                c.unchanged
            )
        } else {
            String::new()
        },
        c.skipped,
        c.failed,
        if c.pending > 0 {
            format!(", {} not yet moved", c.pending)
        } else {
            String::new()
        }
    );
    println!(
        "  {} in {} ({}/s this run)",
        HumanBytes(moved),
        HumanDuration(took),
        HumanBytes(rate as u64)
    );
    print_details(report);
    println!("  Destination: {}", spec.destination);
    if let Some(reason) = &report.reason {
        println!("Paused: {reason}");
        println!(
            "  When the cause is fixed, continue with: ferry resume {}",
            report.job_id
        );
    } else if c.failed > 0 {
        println!(
            "  To try the failed items again: ferry resume {}",
            report.job_id
        );
    }
}

/// "1 post", "3 stories", "2 check-ins".
fn record_words(kind: &str, n: u64) -> String {
    let kind = kind.replace('_', "-");
    match (n, kind.as_str()) {
        (1, _) => kind,
        (_, "story") => "stories".into(),
        _ => format!("{kind}s"),
    }
}

fn print_details(report: &Report) {
    if !report.records.is_empty() {
        let kinds: Vec<String> = report
            .records
            .iter()
            .map(|(kind, n)| format!("{n} {}", record_words(kind, *n)))
            .collect();
        println!(
            "  Records, kept as documents (data/*.json): {}",
            kinds.join(", ")
        );
    }
    if !report.types_skipped.is_empty() {
        println!("  Not moved:");
        for (data_type, reason) in &report.types_skipped {
            println!("    {data_type}: {reason}");
        }
    }
    if !report.skipped.is_empty() {
        println!("  Skipped:");
        for (reason, count) in &report.skipped {
            println!("    {count} × {reason}");
        }
    }
    if !report.failures.is_empty() {
        println!("  Failed:");
        for f in &report.failures {
            println!("    {}: {}", f.item, f.reason);
        }
    }
}

pub fn print_job(job: &Job, report: &Report) {
    let c = &report.counts;
    println!("Job {}: {}", job.id, report.outcome());
    println!(
        "  From: {}",
        ferry_endpoints::show_sources(&job.spec.sources)
    );
    println!("  To:   {}", job.spec.destination);
    println!("  Created {}, updated {}", job.created_at, job.updated_at);
    println!(
        "  {} items: {} done, {} skipped, {} failed, {} pending; {} of {} moved",
        c.total,
        c.done,
        c.skipped,
        c.failed,
        c.pending,
        HumanBytes(c.bytes),
        HumanBytes(c.total_bytes)
    );
    if let Some(reason) = &job.reason {
        println!("  Paused: {reason}");
    }
    print_details(report);
}

pub async fn print_plan(engine: &Engine, report: &Report, spec: &JobSpec) -> Result<()> {
    let c = &report.counts;
    println!("Dry run: nothing was moved.");
    println!(
        "  {} items to move ({}), {} skipped",
        c.pending,
        HumanBytes(c.total_bytes),
        c.skipped
    );
    let containers = engine.store().containers(&report.job_id).await?;
    if !containers.is_empty() {
        println!("  Into {}:", spec.destination);
        for (key, _, _) in containers {
            println!("    {key}/");
        }
    }
    print_details(report);
    Ok(())
}

pub async fn print_jobs(engine: &Engine, json: bool) -> Result<()> {
    let jobs = engine.store().jobs(crate::LOCAL).await?;
    if json {
        let mut out = Vec::new();
        for job in &jobs {
            let counts = engine.store().counts(&job.id).await?;
            out.push(serde_json::json!({
                "job_id": job.id,
                "state": ferry_engine::outcome(job.state, &counts),
                "reason": job.reason,
                "sources": job.spec.sources,
                "destination": job.spec.destination,
                "created_at": job.created_at,
                "updated_at": job.updated_at,
                "items": {"total": counts.total, "done": counts.done, "skipped": counts.skipped, "failed": counts.failed, "pending": counts.pending},
                "bytes": counts.bytes,
            }));
        }
        println!("{}", serde_json::Value::Array(out));
        return Ok(());
    }
    if jobs.is_empty() {
        println!("No jobs yet. Start one with: ferry transfer FROM TO");
        return Ok(());
    }
    println!(
        "{:<36}  {:<18}  {:>13}  {:<20}  ROUTE",
        "JOB", "STATE", "DONE/TOTAL", "CREATED"
    );
    for job in jobs {
        let counts = engine.store().counts(&job.id).await?;
        let state = ferry_engine::outcome(job.state, &counts);
        println!(
            "{:<36}  {:<18}  {:>13}  {:<20}  {} → {}",
            job.id,
            state,
            format!("{}/{}", counts.done + counts.skipped, counts.total),
            job.created_at.get(..19).unwrap_or(&job.created_at),
            ferry_endpoints::show_sources(&job.spec.sources),
            job.spec.destination
        );
    }
    Ok(())
}
