//! The `ferry` command.

mod demo;
mod display;
mod endpoints;
mod paths;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Parser, Subcommand};
use ferry_core::{DataType, Scope};
use ferry_engine::{
    Engine, JobSpec, LayoutOptions, Progress, Report, RunOptions, SqliteStore, Stop,
};

/// Exit codes: everything done or skipped; some items failed (or the job paused); usage or
/// setup error.
const EXIT_OK: u8 = 0;
const EXIT_INCOMPLETE: u8 = 1;
const EXIT_SETUP: u8 = 2;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Move your photos, videos and data between services, faithfully."
)]
struct Cli {
    /// Where ferry keeps its journal (default: $XDG_DATA_HOME/ferry, ~/.local/share/ferry).
    #[arg(long, global = true, env = "FERRY_DATA_DIR", value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Copy photos and videos from one or more sources to a destination (the last argument).
    Transfer(TransferArgs),
    /// Continue a paused, interrupted or partly failed job.
    Resume {
        /// The job's id (or a unique prefix of it).
        job: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// List jobs, newest first.
    Jobs {
        #[arg(long)]
        json: bool,
    },
    /// Show one job's report.
    Job {
        job: String,
        #[arg(long)]
        json: bool,
    },
    /// Try ferry on embedded defaults: makes a sample photo library and transfers it.
    Demo {
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run emulators of Facebook, Dropbox, Google Photos and Koofr (seeded accounts, fault
    /// injection, an inspection API) until stopped.
    Sandbox(ferry_sandbox::SandboxOptions),
}

#[derive(Args)]
struct TransferArgs {
    /// Sources, then the destination: local folders.
    #[arg(required = true, num_args = 2.., value_name = "FROM... TO")]
    paths: Vec<String>,
    /// What to move.
    #[arg(long, value_delimiter = ',', default_value = "photos,videos")]
    types: Vec<DataType>,
    /// List and name everything, and say where it would go, without moving anything.
    #[arg(long)]
    dry_run: bool,
    /// The folder photos go to on file-like destinations.
    #[arg(long, default_value = "Photo Transfer")]
    photos_root: String,
    /// The folder videos go to on file-like destinations.
    #[arg(long, default_value = "Video Transfer")]
    videos_root: String,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Items moved at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Print exactly one JSON object (the report) at the end, and no progress.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    bound_allocator_memory();
    // One clear line, never a backtrace: a panic is a bug, and the journal survives it.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        eprintln!("ferry: internal error: {message} (the job can be resumed)");
        std::process::exit(EXIT_SETUP as i32);
    }));
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // Metadata readers complain about every odd file; that is not the person's concern.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,nom_exif=off".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("ferry: cannot start: {err}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("ferry: {}", one_line(&err));
            ExitCode::from(EXIT_SETUP)
        }
    }
}

/// glibc gives every thread that allocates its own arena (up to 8 per core), each keeping
/// what was freed in it; 1 MiB stream buffers allocated on one thread and freed on another
/// then linger in many arenas (measured moving 20 files of 100 MiB: peak RSS between 15 and
/// 36 MiB from run to run). Four arenas bound that. Chunks stay below the mmap threshold so
/// that they are reused rather than mapped and faulted in afresh for every MiB.
fn bound_allocator_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
    }
}

/// An error and its causes on one line.
fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace('\n', " ")
}

async fn open_engine(data_dir: Option<std::path::PathBuf>) -> Result<Engine> {
    let dir = paths::data_dir(data_dir)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
    let store = SqliteStore::open(&dir.join("ferry.db"))
        .await
        .with_context(|| format!("cannot open the journal in {}", dir.display()))?;
    Ok(Engine::new(Arc::new(store)))
}

async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Transfer(args) => transfer(cli.data_dir, args).await,
        Command::Resume { job, run } => {
            let engine = open_engine(cli.data_dir).await?;
            let job = engine.store().job(&job).await?;
            execute(&engine, &job.id, &job.spec, &run, false, false).await
        }
        Command::Jobs { json } => {
            let engine = open_engine(cli.data_dir).await?;
            display::print_jobs(&engine, json).await?;
            Ok(EXIT_OK)
        }
        Command::Job { job, json } => {
            let engine = open_engine(cli.data_dir).await?;
            let job = engine.store().job(&job).await?;
            let report = engine.report(&job.id, std::time::Duration::ZERO).await?;
            if json {
                let mut value = report.to_json();
                value["spec"] = serde_json::to_value(&job.spec)?;
                println!("{value}");
            } else {
                display::print_job(&job, &report);
            }
            Ok(exit_code(&report))
        }
        Command::Sandbox(options) => {
            run_sandbox(options).await?;
            Ok(EXIT_OK)
        }
        Command::Demo { run } => {
            let engine = open_engine(cli.data_dir.clone()).await?;
            let dir = paths::data_dir(cli.data_dir)?.join("demo");
            let spec = demo::prepare(&dir, run.json)?;
            let (job, _) = engine.start(&spec).await?;
            let code = execute(&engine, &job.id, &spec, &run, false, false).await?;
            if !run.json {
                demo::explain(&spec);
            }
            Ok(code)
        }
    }
}

/// Starts the emulators, says where they are and how to point ferry at them, and waits for
/// Ctrl-C.
async fn run_sandbox(options: ferry_sandbox::SandboxOptions) -> Result<()> {
    let sandbox = ferry_sandbox::start(options)
        .await
        .context("cannot start the sandbox")?;
    let urls = sandbox.urls();
    println!("ferry sandbox is running at {}", sandbox.base_url());
    println!("  Facebook Graph  {}", urls.facebook.graph_url);
    println!("  Dropbox API     {}", urls.dropbox.api_url);
    println!("  Google Photos   {}", urls.google_photos.api_url);
    println!("  Koofr           {}", urls.koofr.base_url);
    println!("  Inspection API  {}", urls.inspect_url);
    println!();
    println!("# ferry.toml: point ferry at the sandbox (sandbox credentials, not real ones)");
    println!("{}", sandbox.ferry_toml());
    println!("# Ready-made accounts and tokens:");
    println!("{}", serde_json::to_string_pretty(&sandbox.credentials())?);
    println!();
    println!("Stop with Ctrl-C.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sandbox.shutdown().await;
    Ok(())
}

async fn transfer(data_dir: Option<std::path::PathBuf>, args: TransferArgs) -> Result<u8> {
    let (from, to) = args.paths.split_at(args.paths.len() - 1);
    let sources = from
        .iter()
        .map(|s| endpoints::normalize_source(s))
        .collect::<Result<Vec<_>>>()?;
    let destination = endpoints::normalize_destination(&to[0])?;
    let spec = JobSpec {
        sources,
        destination,
        scope: Scope {
            types: args.types.iter().copied().collect(),
            since: None,
            until: None,
        },
        layout: LayoutOptions {
            photos_root: args.photos_root.clone(),
            videos_root: args.videos_root.clone(),
        },
    };
    if args.dry_run {
        // A dry run plans into a journal of its own that vanishes with it.
        let engine = Engine::new(Arc::new(SqliteStore::in_memory().await?));
        let job = engine.store().create_job(&spec).await?;
        return execute(&engine, &job.id, &spec, &args.run, true, false).await;
    }
    let engine = open_engine(data_dir).await?;
    let (job, resumed) = engine.start(&spec).await?;
    execute(&engine, &job.id, &spec, &args.run, false, resumed).await
}

async fn execute(
    engine: &Engine,
    job_id: &str,
    spec: &JobSpec,
    args: &RunArgs,
    dry_run: bool,
    resumed: bool,
) -> Result<u8> {
    let sources = spec
        .sources
        .iter()
        .map(|s| endpoints::open_source(s))
        .collect::<Result<Vec<_>>>()?;
    let dest = endpoints::open_destination(&spec.destination)?;
    if !args.json {
        let verb = if resumed { "resuming" } else { "job" };
        eprintln!(
            "{verb} {job_id}: {} → {}",
            spec.sources.join(", "),
            spec.destination
        );
    }
    let options = RunOptions {
        concurrency: args.concurrency as usize,
        plan_only: dry_run,
        ..RunOptions::default()
    };
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(Stop::default());
    let display = display::ProgressDisplay::start(progress.clone(), args.json);
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.stop("interrupted");
            }
        });
    }
    let job_id = job_id.to_string();
    let result = engine
        .run(&job_id, sources, dest, &options, progress, stop)
        .await;
    display.finish().await;
    let report = result.map_err(|e| anyhow!(e))?;
    if args.json {
        println!("{}", report.to_json());
    } else if dry_run {
        display::print_plan(engine, &report, spec).await?;
    } else {
        display::print_report(&report, spec);
    }
    Ok(if dry_run { EXIT_OK } else { exit_code(&report) })
}

fn exit_code(report: &Report) -> u8 {
    if report.complete() {
        EXIT_OK
    } else {
        EXIT_INCOMPLETE
    }
}
