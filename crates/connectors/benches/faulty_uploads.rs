//! A 1 GiB video uploaded to the sandbox's Dropbox and Google Photos while 10 % of their
//! requests fail (429, 500, 503, connection resets and cut answers, 2 % each), with the
//! connectors' default chunk sizes and retry policy. Each upload must succeed in one `upload`
//! call: a fault is survived by sending the chunk again where it failed, never by starting the
//! item over. Not a timed test: it measures and writes docs/benchmarks.md.
//!
//!     cargo bench -p ferry-connectors --bench faulty_uploads --profile dev
//!
//! (`--profile dev` keeps the build of the whole dependency graph in release mode out of the
//! way; dependencies and the sandbox are optimised in dev builds anyway.) `FERRY_BENCH_MIB`
//! sets the size (default 1024). The sandbox keeps the bytes in a temporary folder.

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use ferry_connectors::auth::Secret;
use ferry_connectors::config::Config;
use ferry_connectors::dropbox::DropboxDestination;
use ferry_connectors::google_photos::GooglePhotosDestination;
use ferry_connectors::service::{Service as Connector, Session, Settings};
use ferry_core::{Container, Content, Destination, MediaItem, MediaKind, Staged, Target};
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};

const PIECE: usize = 1 << 20;
/// The sandbox's seeds, each a different draw of the faults.
const SEEDS: [u64; 3] = [1, 2, 3];

fn main() {
    let mib: usize = std::env::var("FERRY_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let rows = rt.block_on(async {
        let mut rows = Vec::new();
        // Three seeds: three different draws of the faults.
        for seed in SEEDS {
            let state = tempfile::tempdir().expect("a scratch folder");
            let sb = ferry_sandbox::start(SandboxOptions {
                seed,
                state_dir: Some(state.path().to_path_buf()),
                ..SandboxOptions::default()
            })
            .await
            .expect("the sandbox starts");
            for kind in [
                &ferry_connectors::dropbox::SERVICE,
                &ferry_connectors::google_photos::SERVICE,
            ] {
                rows.push(run(&sb, kind, mib, seed).await);
            }
            sb.shutdown().await;
        }
        rows.sort();
        rows
    });
    let mut body = format!(
        "## A {mib} MiB video through 10 % faults (`cargo bench -p ferry-connectors --bench \
         faulty_uploads --profile dev`)\n\nMeasured {} on {}. One video of {mib} MiB, uploaded \
         with one `upload` call into the sandbox while 10 % of the service's requests fail \
         (429 with `Retry-After: 1`, 500, 503, connection reset, answer cut after the request \
         was carried out: 2 % each), default chunks (Dropbox 16 MiB, Google Photos 16 MiB \
         resumable) and the default in-place retry; then committed without faults and its \
         SHA-256 compared with what the sandbox stored. Before issue 14 any one of these faults \
         failed the upload, and the engine started the item over (a new session, the source \
         read again).\n\n| destination | seed | upload | requests | faults met | one call | \
         bytes match |\n|---|---|---|---|---|---|---|\n",
        time::OffsetDateTime::now_utc().date(),
        machine()
    );
    for row in rows {
        body.push_str(&row);
    }
    ferry_testkit::bench::write_section("faulty_uploads", body.trim_end());
    print!("{body}");
}

/// Uploads one video of `mib` MiB under faults and commits it; returns its table row.
async fn run(sb: &Sandbox, kind: &'static Connector, mib: usize, seed: u64) -> String {
    let service = match kind.name {
        "dropbox" => Service::Dropbox,
        _ => Service::GooglePhotos,
    };
    let dest: Box<dyn Destination> = match kind.name {
        "dropbox" => Box::new(DropboxDestination::new(session(sb, kind), vec![]).unwrap()),
        _ => Box::new(GooglePhotosDestination::new(session(sb, kind)).unwrap()),
    };
    let container = match kind.name {
        "dropbox" => Container::Folder(vec!["Video Transfer".into()]),
        _ => Container::Library,
    };
    let container = dest.ensure_container(&container).await.unwrap();
    let size = (mib * PIECE) as u64;
    let target = Target {
        container,
        name: "video.mp4".into(),
        size: Some(size),
        modified: None,
        item: MediaItem {
            id: "video".into(),
            kind: MediaKind::Video,
            file_name: "video.mp4".into(),
            caption: None,
            mime_type: Some("video/mp4".into()),
            size: Some(size),
            taken: None,
            uploaded: None,
            location: None,
            albums: vec![],
            live_photo_of: None,
            revision: None,
        },
    };
    let before = requests(sb, service);
    sb.set_faults(
        service,
        FaultConfig {
            rate_429: 0.02,
            rate_500: 0.02,
            rate_503: 0.02,
            rate_reset: 0.02,
            rate_truncate: 0.02,
            retry_after_secs: 1,
            ..sb.faults(service)
        },
    );
    let started = Instant::now();
    let uploaded = dest.upload(&target, video(mib)).await;
    let seconds = started.elapsed().as_secs_f64();
    sb.set_faults(service, FaultConfig::default());
    let after = requests(sb, service);
    let (sent, faults) = (after.0 - before.0, after.1 - before.1);
    let name = match kind.name {
        "dropbox" => "Dropbox",
        _ => "Google Photos",
    };
    let uploaded = match uploaded {
        Ok(uploaded) => uploaded,
        Err(err) => {
            return format!(
                "| {name} | {seed} | failed after {seconds:.1} s: {err} | {sent} | {faults} | no | — |\n"
            );
        }
    };
    let sha = expected_sha(mib);
    let staged = Staged {
        token: uploaded.token,
        bytes: size,
        sha256: sha,
    };
    let landed = dest.commit(vec![(target.clone(), staged)]).await;
    let stored = landed.first().is_some_and(|l| l.is_ok()) && stored_sha(sb, &hex::encode(sha));
    format!(
        "| {name} | {seed} | {seconds:.1} s · {:.0} MB/s | {sent} | {faults} | yes | {} |\n",
        size as f64 / 1e6 / seconds,
        if stored { "yes" } else { "no" }
    )
}

/// A session of the sandbox's seeded account, with the default retry policy.
fn session(sb: &Sandbox, kind: &'static Connector) -> Session {
    let creds = sb.credentials();
    let creds = match kind.name {
        "dropbox" => creds.dropbox,
        _ => creds.google_photos,
    };
    let config = Config::parse(&sb.ferry_toml(), None).unwrap();
    let secret = Secret::tokens(creds.access_token, creds.refresh_token, None);
    Session::new(kind, kind.name, &config, Settings::default(), &secret, None).unwrap()
}

/// The video's bytes, streamed in pieces of 1 MiB: piece `i` is a pattern seeded by `i`.
fn video(mib: usize) -> Content {
    let stream = futures::stream::iter(0..mib).map(|i| Ok(piece(i)));
    Content::new(stream.boxed(), Some((mib * PIECE) as u64))
}

fn piece(i: usize) -> Bytes {
    let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut bytes = Vec::with_capacity(PIECE);
    while bytes.len() < PIECE {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    Bytes::from(bytes)
}

fn expected_sha(mib: usize) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for i in 0..mib {
        hasher.update(piece(i));
    }
    hasher.finalize().into()
}

/// Whether the sandbox stores a file or media item with this SHA-256.
fn stored_sha(sb: &Sandbox, sha: &str) -> bool {
    let state = sb.state();
    let holds = |list: &Value| {
        list.as_array()
            .is_some_and(|items| items.iter().any(|i| i["sha256"] == sha))
    };
    holds(&state["dropbox"]["entries"]) || holds(&state["google_photos"]["media_items"])
}

/// Requests to a service so far, and how many of them met an injected fault.
fn requests(sb: &Sandbox, service: Service) -> (u64, u64) {
    let mut all = (0, 0);
    for r in sb.stats()["requests"].as_array().unwrap() {
        if r["service"] != service.as_str() {
            continue;
        }
        let n = r["count"].as_u64().unwrap_or(0);
        all.0 += n;
        if !r["fault"].is_null() {
            all.1 += n;
        }
    }
    all
}

/// "2 cores, Linux 6.1.0": where the figures were measured.
fn machine() -> String {
    format!(
        "{} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::process::Command::new("uname")
            .arg("-sr")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    )
}
