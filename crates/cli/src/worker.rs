//! `ferry worker`: one of any number of processes, on any number of machines, that move the
//! jobs queued in a shared PostgreSQL database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_engine::queue::{RateLimit, WorkQueue};
use ferry_engine::{AppStore, RunOptions, Store, Worker, WorkerOptions};
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub(crate) struct WorkerArgs {
    /// Items this worker moves at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Seconds a claim on part of a job holds without renewal: how long the part of a worker
    /// that died waits before another takes it. Renewed every third of it.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    lease_secs: u64,
    /// Items per part when a job is split among the workers.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    batch_items: u32,
    /// A rate limit all workers share: SERVICE=ITEMS_PER_SECOND[/BURST], e.g. dropbox=20/5.
    /// Repeat for several services. Every worker of the fleet should be given the same.
    #[arg(long = "rate", value_name = "SERVICE=N[/BURST]", value_parser = parse_rate)]
    rates: Vec<(String, RateLimit)>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, env = "FERRY_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// This worker's name in leases (default: the host name and process id).
    #[arg(long)]
    id: Option<String>,
}

fn parse_rate(text: &str) -> Result<(String, RateLimit), String> {
    let (service, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}': expected SERVICE=N[/BURST]"))?;
    let (per_second, burst) = match rate.split_once('/') {
        Some((n, burst)) => (n, burst),
        None => (rate, "1"),
    };
    let per_second: f64 = per_second
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)
        .ok_or_else(|| {
            format!("'{text}': the rate must be a positive number of items per second")
        })?;
    let burst: u32 = burst
        .parse()
        .ok()
        .filter(|b| *b >= 1)
        .ok_or_else(|| format!("'{text}': the burst must be a whole number of at least 1"))?;
    if service.is_empty() {
        return Err(format!("'{text}': name the service"));
    }
    Ok((service.to_string(), RateLimit { per_second, burst }))
}

fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

/// Notices (and, with `[serve.mail]` and a `public_url`, e-mail) for the people whose
/// transfers this worker finishes or pauses, as `ferry serve` sends them.
fn notices(
    app: &Arc<dyn AppStore>,
    config_file: &std::path::Path,
) -> Result<Arc<ferry_server::TransferNotices>> {
    let settings = ferry_server::ServeSettings::load(Some(config_file))?;
    let (public_url, outbox) = match (&settings.public_url, &settings.mail) {
        (Some(url), Some(mail)) => {
            let outbox: Arc<dyn ferry_server::Outbox> = Arc::new(ferry_server::Mailer::new(mail)?);
            (url.clone(), Some(outbox))
        }
        (url, mail) => {
            if mail.is_some() {
                eprintln!(
                    "[serve] has no public_url: notices are in-app only (e-mail needs links)"
                );
            }
            let url = url
                .clone()
                .unwrap_or_else(|| url::Url::parse("http://localhost:8080/").expect("a valid URL"));
            (url, None)
        }
    };
    let config = ferry_server::ServerConfig::new(public_url, std::path::PathBuf::new());
    Ok(Arc::new(ferry_server::TransferNotices::new(
        app.clone(),
        outbox,
        config,
    )))
}

pub(crate) async fn run(
    store: Arc<dyn Store>,
    app: Arc<dyn AppStore>,
    queue: Arc<dyn WorkQueue>,
    connections: Arc<ferry_endpoints::Connections>,
    config_file: &std::path::Path,
    args: WorkerArgs,
) -> Result<()> {
    let mut options = WorkerOptions::new(args.id.unwrap_or_else(default_id));
    options.run = RunOptions {
        concurrency: usize::from(args.concurrency),
        ..RunOptions::default()
    };
    options.lease = Duration::from_secs(args.lease_secs);
    options.batch_items = args.batch_items;
    for (service, limit) in args.rates {
        if options.rate_limits.insert(service.clone(), limit).is_some() {
            bail!("--rate {service} is given twice");
        }
    }
    let shutdown = CancellationToken::new();
    let metrics = match args.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("metrics at http://{}/metrics", listener.local_addr()?);
            let token = shutdown.clone();
            Some(tokio::spawn(ferry_server::serve_metrics(
                listener,
                store.clone(),
                Some(queue.clone()),
                async move { token.cancelled().await },
            )))
        }
        None => None,
    };
    eprintln!(
        "worker {} takes jobs from the database; stop it with Ctrl-C or SIGTERM",
        options.id
    );
    let opener = Arc::new(ferry_endpoints::JobOpener::new(connections));
    let events = notices(&app, config_file)?;
    let worker = Worker::new(store, queue, opener, options).with_events(events);
    {
        let token = shutdown.clone();
        tokio::spawn(async move {
            ferry_server::shutdown_signal().await;
            token.cancel();
        });
    }
    worker.run(shutdown.clone()).await;
    shutdown.cancel();
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_a_burst() {
        let (service, limit) = parse_rate("dropbox=20/5").unwrap();
        assert_eq!(service, "dropbox");
        assert_eq!(
            limit,
            RateLimit {
                per_second: 20.0,
                burst: 5
            }
        );
        assert_eq!(parse_rate("koofr=0.5").unwrap().1.burst, 1);
        for bad in [
            "dropbox",
            "=3",
            "dropbox=0",
            "dropbox=-1",
            "dropbox=x",
            "dropbox=3/0",
            "dropbox=inf",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
