//! The `ferry` command.

mod connections;
mod database;
mod demo;
mod display;
mod export;
mod inspect;
mod paths;
mod serve;
mod worker;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use connections::LOCAL;
use ferry_core::{DataType, Scope};
use ferry_engine::{
    Engine, Job, JobSpec, LayoutOptions, Report, RunContext, RunOptions, Runner, SqliteStore,
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
    /// Service settings: OAuth apps and endpoints (default: $XDG_CONFIG_HOME/ferry/ferry.toml,
    /// ~/.config/ferry/ferry.toml).
    #[arg(long, global = true, env = "FERRY_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Keep the journal in this PostgreSQL database instead of SQLite in the data folder:
    /// what several processes share (`ferry worker`, `ferry serve`, `--detach`).
    #[arg(
        long,
        global = true,
        env = "FERRY_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Copy photos and videos from one or more sources to a destination (the last argument).
    Transfer(TransferArgs),
    /// Continue a paused, interrupted or partly failed job (a queued job goes back to the
    /// workers).
    Resume {
        /// The job's id (or a unique prefix of it).
        job: String,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Move the jobs queued in a shared PostgreSQL database (--database), with any number of
    /// other workers, until Ctrl-C or SIGTERM.
    Worker(worker::WorkerArgs),
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
    /// Connect an account (OAuth in a browser, or --token / --app-password / --url).
    Connect(connections::ConnectArgs),
    /// List connections (never their secrets).
    Connections {
        #[arg(long)]
        json: bool,
    },
    /// Write a "download your information" archive of everything the sources hold: media
    /// stored as is, records as JSON, a manifest with every file's SHA-256, and an offline
    /// viewer (index.html). Split into parts, optionally encrypted with age.
    Export(export::ExportArgs),
    /// Say what an export archive is (service, layout era) and what it holds: counts per data
    /// type, date range, bytes, and what could not be read and why.
    Inspect {
        /// The export: its zip parts, or a folder holding it.
        #[arg(required = true, value_name = "ARCHIVE")]
        parts: Vec<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a connection where the service allows, and forget it.
    Disconnect { name: String },
    /// Try ferry on embedded defaults: transfers a sample Facebook account's photos and videos
    /// to Dropbox, both emulated in-process by the sandbox.
    Demo {
        /// Keep the sandbox running afterwards, to browse what landed.
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Run the web app and JSON API (accounts, connections, transfers, download your
    /// information), with the transfer workers, until Ctrl-C or SIGTERM.
    Serve(serve::ServeArgs),
    /// Run emulators of Facebook, Dropbox, Google Photos and Koofr (seeded accounts, fault
    /// injection, an inspection API) until stopped.
    Sandbox(ferry_sandbox::SandboxOptions),
}

#[derive(Args)]
struct TransferArgs {
    /// Sources, then the destination: local folders.
    #[arg(required = true, num_args = 2.., value_name = "FROM... TO")]
    paths: Vec<String>,
    /// What to move (photos, videos, posts, comments, stories, messages, profile, notes,
    /// events, check-ins); when left out, everything the destination can hold, and the
    /// report names what it cannot.
    #[arg(long, value_delimiter = ',')]
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
    /// When done, create a view-only link to the transfer folders and print it (Dropbox,
    /// Koofr). Off by default: transfers are private.
    #[arg(long)]
    share_link: bool,
    /// From export archives: write the date and place the export knows into JPEGs that carry
    /// no EXIF (Meta strips it), so that they survive any later copy and Google Photos dates
    /// them right. Off by default: it changes the files' bytes.
    #[arg(long)]
    write_exif: bool,
    /// Queue the job for `ferry worker`s on the shared database (--database), print its
    /// id, and return at once.
    #[arg(long)]
    detach: bool,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args, Clone)]
pub(crate) struct RunArgs {
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
            eprintln!("ferry: {}", ferry_endpoints::one_line(&err));
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

/// The journal, and the connections with the configuration to open them.
struct Ferry {
    engine: Engine,
    connections: Arc<ferry_endpoints::Connections>,
    /// With a shared database: where jobs go for `ferry worker`s.
    queue: Option<Arc<dyn ferry_engine::queue::WorkQueue>>,
    /// The web app's tables: a worker tells people of their transfers' ends there.
    app: Arc<dyn ferry_engine::AppStore>,
}

async fn open_ferry(
    data_dir: &std::path::Path,
    config: std::result::Result<ferry_connectors::config::Config, String>,
    database: Option<&str>,
) -> Result<Ferry> {
    let journal = database::open(data_dir, database).await?;
    Ok(Ferry {
        engine: Engine::new(journal.store.clone()),
        connections: Arc::new(ferry_endpoints::Connections::new(
            journal.store,
            data_dir.to_path_buf(),
            config,
        )),
        queue: journal.queue,
        app: journal.app,
    })
}

async fn open_default(cli: &Cli) -> Result<Ferry> {
    let dir = paths::data_dir(cli.data_dir.clone())?;
    // Read now, reported when a connection needs it: a folder transfer never depends on it.
    let config = paths::config_file(cli.config.clone())
        .map_err(|e| e.to_string())
        .and_then(|path| {
            ferry_connectors::config::Config::load(Some(&path)).map_err(|e| e.to_string())
        });
    open_ferry(&dir, config, cli.database.as_deref()).await
}

async fn run(cli: Cli) -> Result<u8> {
    if let Command::Sandbox(options) = cli.command {
        run_sandbox(options).await?;
        return Ok(EXIT_OK);
    }
    if let Command::Inspect { parts, json } = cli.command {
        return inspect::inspect(parts, json).await;
    }
    if let Command::Serve(args) = cli.command {
        let data_dir = paths::data_dir(cli.data_dir.clone())?;
        let config_file = paths::config_file(cli.config.clone())?;
        serve::serve(&data_dir, &config_file, cli.database.as_deref(), args).await?;
        return Ok(EXIT_OK);
    }
    if let Command::Demo { keep, run } = &cli.command {
        let dir = paths::data_dir(cli.data_dir.clone())?.join("demo");
        return demo::run(&dir, *keep, run).await;
    }
    let ferry = open_default(&cli).await?;
    match cli.command {
        Command::Transfer(args) => transfer(&ferry, args).await,
        Command::Export(args) => export::export(&ferry, args).await,
        Command::Resume { job, run } => {
            let job = ferry.engine.store().job(&job).await?;
            if let Some(queue) = &ferry.queue
                && queue.is_queued(&job.id).await?
            {
                return detach(&ferry, queue.as_ref(), &job, true, run.json).await;
            }
            execute(&ferry, &job, &job.spec, &run, Mode::Resume, false).await
        }
        Command::Worker(args) => {
            let queue = database::require_queue(ferry.queue.as_ref(), "ferry worker")?;
            let config_file = paths::config_file(cli.config.clone())?;
            worker::run(
                ferry.engine.store().clone(),
                ferry.app.clone(),
                queue.clone(),
                ferry.connections.clone(),
                &config_file,
                args,
            )
            .await?;
            Ok(EXIT_OK)
        }
        Command::Connect(args) => {
            connections::connect(&ferry.connections, args).await?;
            Ok(EXIT_OK)
        }
        Command::Connections { json } => {
            connections::list(&ferry.connections, json).await?;
            Ok(EXIT_OK)
        }
        Command::Disconnect { name } => {
            connections::disconnect(&ferry.connections, &name).await?;
            Ok(EXIT_OK)
        }
        Command::Jobs { json } => {
            display::print_jobs(&ferry.engine, json).await?;
            Ok(EXIT_OK)
        }
        Command::Job { job, json } => {
            let engine = &ferry.engine;
            let job = engine.store().job(&job).await?;
            let report = engine.report(&job.id, std::time::Duration::ZERO).await?;
            if json {
                let mut value = report.to_json();
                value["spec"] = serde_json::to_value(&job.spec)?;
                println!("{value}");
            } else {
                display::print_job(&job, &report);
            }
            Ok(exit_code(&report, &job.spec))
        }
        Command::Sandbox(_)
        | Command::Demo { .. }
        | Command::Inspect { .. }
        | Command::Serve(_) => {
            unreachable!("handled above")
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

async fn transfer(ferry: &Ferry, args: TransferArgs) -> Result<u8> {
    let (from, to) = args.paths.split_at(args.paths.len() - 1);
    let options = ferry_archives::SourceOptions {
        write_exif: args.write_exif,
    };
    let sources =
        ferry_endpoints::normalize_sources(&ferry.connections, LOCAL, from, options).await?;
    let destination =
        ferry_endpoints::normalize_destination(&ferry.connections, LOCAL, &to[0]).await?;
    let spec = JobSpec {
        sources,
        destination,
        scope: Scope {
            types: chosen_types(&args.types),
            since: None,
            until: None,
        },
        layout: LayoutOptions {
            photos_root: args.photos_root.clone(),
            videos_root: args.videos_root.clone(),
        },
        albums: None,
    };
    if args.dry_run {
        // A dry run plans into a journal of its own that vanishes with it.
        let dry = Ferry {
            engine: Engine::new(Arc::new(SqliteStore::in_memory().await?)),
            connections: ferry.connections.clone(),
            queue: None,
            app: ferry.app.clone(),
        };
        let job = dry.engine.store().create_job(LOCAL, &spec).await?;
        return execute(&dry, &job, &spec, &args.run, Mode::DryRun, false).await;
    }
    if args.detach {
        let queue = database::require_queue(ferry.queue.as_ref(), "--detach")?;
        if args.share_link {
            bail!("--share-link needs the transfer to finish here: leave out --detach");
        }
        let (job, resumed) = ferry.engine.start(LOCAL, &spec).await?;
        return detach(ferry, queue.as_ref(), &job, resumed, args.run.json).await;
    }
    let (job, resumed) = ferry.engine.start(LOCAL, &spec).await?;
    let mode = if args.share_link {
        Mode::ShareLink
    } else {
        Mode::Transfer
    };
    execute(ferry, &job, &spec, &args.run, mode, resumed).await
}

/// Hands a job to the workers and says so: its id alone on stdout, for scripts.
async fn detach(
    ferry: &Ferry,
    queue: &dyn ferry_engine::queue::WorkQueue,
    job: &ferry_engine::Job,
    resumed: bool,
    json: bool,
) -> Result<u8> {
    ferry_engine::queue::hand_over(ferry.engine.store().as_ref(), queue, job).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"job_id": job.id, "queued": true, "resumed": resumed})
        );
    } else {
        println!("{}", job.id);
        let verb = if resumed { "handed back" } else { "queued" };
        eprintln!(
            "{verb} job {}: `ferry worker`s on the database move it; follow it with `ferry job {}`",
            job.id, job.id
        );
    }
    Ok(EXIT_OK)
}

/// What `execute` is asked to do beyond moving.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Transfer,
    Resume,
    DryRun,
    /// Transfer, then print a view-only link to the transfer folders.
    ShareLink,
}

/// Runs the job here with the machine user's connections, showing its progress; the exit
/// code says how it ended.
async fn execute(
    ferry: &Ferry,
    job: &Job,
    spec: &JobSpec,
    args: &RunArgs,
    mode: Mode,
    resumed: bool,
) -> Result<u8> {
    let engine = &ferry.engine;
    let dry_run = mode == Mode::DryRun;
    let runner = Runner::new(
        engine.store().clone(),
        Arc::new(ferry_endpoints::JobOpener::new(ferry.connections.clone())),
    );
    let opened = runner.open(job).await.map_err(|cause| anyhow!(cause))?;
    let dest = opened.destination.clone();
    if !args.json {
        let verb = if resumed { "resuming" } else { "job" };
        eprintln!(
            "{verb} {}: {} → {}",
            job.id,
            ferry_endpoints::show_sources(&spec.sources),
            spec.destination
        );
    }
    let run = RunContext::new(RunOptions {
        concurrency: args.concurrency as usize,
        plan_only: dry_run,
        ..RunOptions::default()
    });
    let display = display::ProgressDisplay::start(run.progress.clone(), args.json);
    {
        let halt = run.halt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                halt.interrupt("interrupted");
            }
        });
    }
    let result = runner.run(job, opened, &run).await;
    display.finish().await;
    let report = result
        .map_err(|e| anyhow!(e))?
        .ok_or_else(|| anyhow!("job {} was cancelled", job.id))?;
    let links = if mode == Mode::ShareLink && report.complete() {
        share_links(dest.as_ref(), spec).await?
    } else {
        Vec::new()
    };
    if args.json {
        let mut value = report.to_json();
        if mode == Mode::ShareLink {
            value["share_links"] = serde_json::json!(links);
        }
        println!("{value}");
    } else if dry_run {
        display::print_plan(engine, &report, spec).await?;
    } else {
        display::print_report(&report, spec);
        for link in &links {
            println!("view-only link: {link}");
        }
    }
    Ok(if dry_run {
        EXIT_OK
    } else {
        exit_code(&report, spec)
    })
}

/// View-only links to the transfer folders (photos and videos), where the destination makes
/// them.
async fn share_links(dest: &dyn ferry_core::Destination, spec: &JobSpec) -> Result<Vec<String>> {
    if dest.capabilities().layout != ferry_core::Layout::Folders {
        bail!("--share-link: {} has no shareable folders", dest.describe());
    }
    let mut links = Vec::new();
    let mut roots = Vec::new();
    if spec.scope.wants(DataType::Photos) {
        roots.push(spec.layout.photos_root.clone());
    }
    if spec.scope.wants(DataType::Videos) && !roots.contains(&spec.layout.videos_root) {
        roots.push(spec.layout.videos_root.clone());
    }
    for root in roots {
        match dest.share_link(std::slice::from_ref(&root)).await {
            Ok(Some(link)) => links.push(link),
            Ok(None) => bail!("--share-link: {} makes no links", dest.describe()),
            // A folder that received nothing has nothing to share.
            Err(ferry_core::Error::NotFound(_)) => {}
            Err(err) => return Err(anyhow!("creating the link to {root}: {err}")),
        }
    }
    Ok(links)
}

/// The types named with `--types`; every type when none is.
pub(crate) fn chosen_types(named: &[DataType]) -> BTreeSet<DataType> {
    if named.is_empty() {
        DataType::ALL.into()
    } else {
        named.iter().copied().collect()
    }
}

/// Success when every item is settled and every type the person named was carried. With no
/// `--types` (every type), moving what the route can carry is success: the report names
/// what stayed behind.
fn exit_code(report: &Report, spec: &JobSpec) -> u8 {
    let named = spec.scope.types.len() < DataType::ALL.len();
    let carried = report.types_skipped.is_empty() || !named;
    if report.settled() && carried {
        EXIT_OK
    } else {
        EXIT_INCOMPLETE
    }
}
