//! `ferry serve`: the web app and JSON API, with the engine's workers in this process.
//!
//! Its settings come from the `[serve]` and `[serve.mail]` tables of ferry.toml (and
//! `FERRY_…` variables); the services it offers from `[services.…]`. With no real OAuth app
//! configured, it starts the sandbox's emulators in-process and offers those, marked
//! "Sandbox" everywhere, so that a new user can try the whole flow at once.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use ferry_connectors::config::Config;
use ferry_connectors::registry::SERVICES;

#[derive(Args)]
pub struct ServeArgs {
    /// The address and port to listen on.
    #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// People reach the server over https (directly or through a proxy): mark the session
    /// cookie Secure.
    #[arg(long, env = "FERRY_SECURE_COOKIES")]
    secure_cookies: bool,
}

/// Whether any service has a real OAuth app (a client id) configured.
fn has_oauth_app(config: &Config) -> bool {
    SERVICES.iter().any(|&service| {
        let config = config.service(service);
        config.client_id.is_some() && service.oauth_app(config).is_some()
    })
}

pub async fn serve(
    data_dir: &Path,
    config_file: &Path,
    database: Option<&str>,
    args: ServeArgs,
) -> Result<()> {
    let settings = ferry_server::ServeSettings::load(Some(config_file))?;
    let services = Config::load(Some(config_file))?;
    let (services, sandbox) = if has_oauth_app(&services) {
        (services, None)
    } else {
        let sandbox = ferry_sandbox::start(ferry_sandbox::SandboxOptions {
            albums: 5,
            photos: 40,
            videos: 3,
            video_size: 4 << 20,
            ..ferry_sandbox::SandboxOptions::default()
        })
        .await
        .context("cannot start the sandbox")?;
        let config = Config::parse(&sandbox.ferry_toml(), None)?;
        (config, Some(sandbox))
    };

    let journal = crate::database::open(data_dir, database).await?;
    let store = journal.store;
    let connections = Arc::new(ferry_endpoints::Connections::new(
        store.clone(),
        data_dir.to_path_buf(),
        Ok(services),
    ));
    let outbox: Option<Arc<dyn ferry_server::Outbox>> = match &settings.mail {
        Some(mail) => Some(Arc::new(ferry_server::Mailer::new(mail)?)),
        None => None,
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public_url = match &settings.public_url {
        Some(url) => url.clone(),
        None => format!("http://{local}").parse()?,
    };
    let archive_dir = settings
        .archive_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("archives"));
    let mut config = ferry_server::ServerConfig::new(public_url.clone(), archive_dir);
    config.secure_cookies = args.secure_cookies;
    config.link_lifetime = settings.link_lifetime;
    config.trusted_proxies = settings.trusted_proxies.clone();
    config.sandbox = sandbox.is_some();
    // The sandbox's emulators listen on loopback.
    config.private_endpoints = settings.private_endpoints || sandbox.is_some();
    config.work_queue = journal.queue.map(ferry_server::WorkQueueHandle);
    if let Some(store) = &settings.archive_store {
        config.archive_store = ferry_server::ArchiveStore::s3(&store.s3, &store.prefix)?;
        eprintln!(
            "finished archives are kept in {}",
            config.archive_store.describe(&config.archive_dir)
        );
    }

    eprintln!("ferry serves on {public_url} (listening on {local})");
    if let Some(sandbox) = &sandbox {
        eprintln!(
            "no OAuth app is configured in {}: offering the sandbox's emulated services ({}), \
             whose accounts are samples and whose data lives only while ferry serves",
            config_file.display(),
            sandbox.base_url()
        );
    }
    if config.work_queue.is_some() {
        eprintln!("transfers go to the database's queue: `ferry worker --database …` moves them");
    }
    if outbox.is_none() {
        eprintln!("no [serve.mail] in the configuration: notices are in-app only");
    }
    let state = ferry_server::AppState::new(store, journal.app, connections, outbox, config);
    let served = ferry_server::serve(listener, state, ferry_server::shutdown_signal()).await;
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    served.context("the server stopped")
}
