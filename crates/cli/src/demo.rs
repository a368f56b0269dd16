//! `ferry demo`: the headline transfer, Facebook → Dropbox, end to end on embedded defaults.
//!
//! The sandbox runs in-process (emulated Facebook with a seeded account, emulated Dropbox);
//! the demo connects both accounts exactly as `ferry connect --token` does (sealed in the
//! vault), then runs the same transfer a person would, with the real HTTP clients.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use ferry_connectors::config::Config;
use ferry_connectors::{dropbox, facebook};
use ferry_core::Scope;
use ferry_engine::{JobSpec, LayoutOptions};
use ferry_sandbox::SandboxOptions;

use crate::connections::{ConnectArgs, ConnectOptions};
use crate::{Mode, RunArgs};

const FACEBOOK: &str = "demo-facebook";
const DROPBOX: &str = "demo-dropbox";

pub async fn run(dir: &Path, keep: bool, run: &RunArgs) -> Result<u8> {
    let sandbox = ferry_sandbox::start(SandboxOptions {
        albums: 5,
        photos: 60,
        videos: 3,
        video_size: 8 << 20,
        ..SandboxOptions::default()
    })
    .await
    .context("cannot start the sandbox")?;
    if !run.json {
        eprintln!(
            "demo: sandbox Facebook and Dropbox running at {}",
            sandbox.base_url()
        );
    }
    // Each sandbox starts empty on a new port: so does the demo's journal.
    for name in ["ferry.db", "ferry.db-wal", "ferry.db-shm"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let config = Config::parse(&sandbox.ferry_toml(), None)?;
    let ferry = crate::open_ferry(dir, Ok(config), None).await?;
    let creds = sandbox.credentials();
    for (service, name, access, refresh) in [
        (
            &facebook::SERVICE,
            FACEBOOK,
            &creds.facebook.access_token,
            &creds.facebook.refresh_token,
        ),
        (
            &dropbox::SERVICE,
            DROPBOX,
            &creds.dropbox.access_token,
            &creds.dropbox.refresh_token,
        ),
    ] {
        crate::connections::connect(
            &ferry.connections,
            ConnectArgs {
                service,
                name: Some(name.into()),
                options: match refresh {
                    Some(refresh) => {
                        ConnectOptions::with(&[("token", access), ("refresh-token", refresh)])
                    }
                    None => ConnectOptions::with(&[("token", access)]),
                },
                no_browser: true,
            },
        )
        .await?;
    }
    let spec = JobSpec {
        sources: vec![format!("{FACEBOOK}:")],
        destination: format!("{DROPBOX}:"),
        scope: Scope::media(),
        layout: LayoutOptions::default(),
        albums: None,
    };
    let (job, _) = ferry.engine.start(crate::LOCAL, &spec).await?;
    let code = crate::execute(&ferry, &job, &spec, run, Mode::Transfer, false).await?;
    if !run.json {
        explain(&sandbox);
    }
    if keep {
        println!();
        println!(
            "The sandbox keeps running at {}; stop it with Ctrl-C.",
            sandbox.base_url()
        );
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    sandbox.shutdown().await;
    Ok(code)
}

/// Where everything landed, read back from the emulated Dropbox.
fn explain(sandbox: &ferry_sandbox::Sandbox) {
    let state = sandbox.state();
    let mut folders: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let entries = state["dropbox"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for entry in entries.iter().filter(|e| e["type"] == "file") {
        let path = entry["path_display"].as_str().unwrap_or_default();
        let folder = path.rsplit_once('/').map(|(f, _)| f).unwrap_or("/");
        let slot = folders.entry(folder.to_string()).or_default();
        slot.0 += 1;
        slot.1 += entry["size"].as_u64().unwrap_or(0);
    }
    println!();
    println!("Where it landed in the (emulated) Dropbox, private, grouped by album:");
    for (folder, (files, bytes)) in &folders {
        println!(
            "  {folder:<48} {files:>4} files  {:>7.1} MiB",
            *bytes as f64 / 1048576.0
        );
    }
    println!();
    println!("Every byte was hashed on the way and checked against Dropbox's content_hash;");
    println!("dates went to client_modified; run it again and nothing is duplicated.");
    println!(
        "Browse it: `ferry demo --keep`, then open {}/_sandbox/state",
        sandbox.base_url()
    );
    println!("With your own accounts: `ferry connect facebook`, `ferry connect dropbox`,");
    println!("then `ferry transfer facebook: dropbox:`.");
}
