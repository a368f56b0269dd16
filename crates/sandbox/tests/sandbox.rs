//! The crate's public shape: options as CLI flags, URLs, credentials, `ferry.toml`,
//! folder-backed state.

mod common;

use clap::Parser;
use common::*;
use ferry_sandbox::SandboxOptions;
use serde_json::{Value, json};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sandbox: SandboxOptions,
}

#[test]
fn options_are_flags_with_defaults() {
    let d = Cli::parse_from(["ferry"]).sandbox;
    assert_eq!(d.listen.port(), 0);
    assert_eq!(d.fail_kinds.len(), 5);
    let o = Cli::parse_from([
        "ferry",
        "--listen",
        "127.0.0.1:8787",
        "--seed",
        "9",
        "--video-size",
        "50MiB",
        "--fail-rate",
        "0.1",
        "--fail-kinds",
        "429,reset",
        "--quota",
        "1GiB",
        "--bandwidth",
        "10MiB",
        "--state-dir",
        "/tmp/x",
    ])
    .sandbox;
    assert_eq!(o.listen.port(), 8787);
    assert_eq!(o.video_size, 50 << 20);
    assert_eq!(o.quota, Some(1 << 30));
    assert_eq!(o.fail_kinds.len(), 2);
    let f = o.initial_faults();
    assert!((f.rate_429 - 0.05).abs() < 1e-9 && f.rate_500 == 0.0);
}

#[tokio::test]
async fn urls_credentials_and_ferry_toml() {
    let sb = sandbox().await;
    let base = sb.base_url();
    let u = sb.urls();
    assert_eq!(u.dropbox.api_url, format!("{base}/dropbox/api"));
    let toml = sb.ferry_toml();
    for section in [
        "[services.facebook]",
        "[services.dropbox]",
        "[services.google-photos]",
        "[services.koofr]",
    ] {
        assert!(toml.contains(section), "{toml}");
    }
    assert!(toml.contains(&format!("graph_url = \"{base}/facebook/graph\"")));
    assert!(toml.contains(&sb.credentials().dropbox.client_id));
    // The inspection API serves the same.
    let c = client();
    let served = c
        .get(format!("{}/ferry.toml", u.inspect_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, toml);
    let creds: Value = c
        .get(format!("{}/credentials", u.inspect_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(creds["koofr"]["email"], sb.credentials().koofr.email);
    sb.shutdown().await;
}

#[tokio::test]
async fn uploaded_bytes_live_in_the_state_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox_with(SandboxOptions {
        state_dir: Some(dir.path().to_path_buf()),
        ..SandboxOptions::default()
    })
    .await;
    let c = client();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    let r = c
        .post(format!("{}/2/files/upload", sb.urls().dropbox.content_url))
        .bearer_auth(sb.credentials().dropbox.access_token)
        .header("Dropbox-API-Arg", json!({"path": "/disk.bin"}).to_string())
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let on_disk: Vec<_> = std::fs::read_dir(dir.path().join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect();
    assert!(on_disk.contains(&(data.len() as u64)), "{on_disk:?}");
    let r = c
        .post(format!(
            "{}/2/files/download",
            sb.urls().dropbox.content_url
        ))
        .bearer_auth(sb.credentials().dropbox.access_token)
        .header("Dropbox-API-Arg", json!({"path": "/disk.bin"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], &data[..]);
    // The same views from Rust.
    assert_eq!(
        sb.state()["dropbox"]["entries"][0]["path_lower"],
        "/disk.bin"
    );
    assert!(!sb.stats()["requests"].as_array().unwrap().is_empty());
    sb.shutdown().await;
}
