//! Every Destination against the conformance suite (`ferry_testkit::destination_suite`): a
//! local folder, Dropbox, Koofr and Google Photos on the sandbox, WebDAV on the sandbox's Koofr
//! and on a real `rclone serve webdav`, and S3 on moto's server. Each is a fixture that opens
//! the destination afresh and reads back what the service stores, from the service's side.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_connectors::folder::FolderDestination;
use ferry_connectors::service::{Service as Connector, Session};
use ferry_core::Destination;
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};
use ferry_testkit::destination_conformance;
use ferry_testkit::destination_suite::{DestinationFixture, LandedFile, walk};
use ferry_testkit::moto::Moto;
use futures::StreamExt;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// A local folder

struct FolderFixture(tempfile::TempDir);

impl FolderFixture {
    fn new() -> FolderFixture {
        FolderFixture(tempfile::tempdir().unwrap())
    }
}

#[async_trait]
impl DestinationFixture for FolderFixture {
    fn destination(&self) -> Arc<dyn Destination> {
        Arc::new(FolderDestination::new(self.0.path().join("dest")))
    }

    async fn landed(&self) -> Vec<LandedFile> {
        walk(&self.0.path().join("dest"))
    }
}

// ---------------------------------------------------------------------------------------------
// The sandbox's services: Dropbox, Koofr (its API and its WebDAV) and Google Photos

struct SandboxFixture {
    sb: Sandbox,
    /// How ferry connects: Dropbox, Koofr, Google Photos, or WebDAV (on the sandbox's Koofr).
    connect: &'static Connector,
}

impl SandboxFixture {
    async fn new(connect: &'static Connector) -> SandboxFixture {
        let sb = ferry_sandbox::start(SandboxOptions::default())
            .await
            .unwrap();
        SandboxFixture { sb, connect }
    }

    /// The emulated service that stores what ferry sends.
    fn service(&self) -> Service {
        match self.connect.name {
            "dropbox" => Service::Dropbox,
            "google-photos" => Service::GooglePhotos,
            _ => Service::Koofr,
        }
    }

    fn google_photos(&self) -> Vec<LandedFile> {
        let state = self.sb.state();
        let albums = state["google_photos"]["albums"].as_array().unwrap().clone();
        let mut out = Vec::new();
        for item in state["google_photos"]["media_items"].as_array().unwrap() {
            let titles: Vec<String> = albums
                .iter()
                .filter(|a| {
                    a["media_item_ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|id| id == &item["id"])
                })
                .map(|a| a["title"].as_str().unwrap().to_string())
                .collect();
            let containers = if titles.is_empty() {
                vec![String::new()]
            } else {
                titles
            };
            for container in containers {
                out.push(LandedFile {
                    container,
                    name: item["filename"].as_str().unwrap().to_string(),
                    sha256: item["sha256"].as_str().unwrap().to_string(),
                });
            }
        }
        out
    }
}

/// The files of a sandbox state listing: `(path field, entries)`.
fn files_in(entries: &serde_json::Value, path: &str) -> Vec<LandedFile> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "file")
        .map(|e| LandedFile::at(e[path].as_str().unwrap(), e["sha256"].as_str().unwrap()))
        .collect()
}

#[async_trait]
impl DestinationFixture for SandboxFixture {
    fn destination(&self) -> Arc<dyn Destination> {
        Arc::from(
            common::session(&self.sb, self.connect)
                .destination("")
                .unwrap(),
        )
    }

    async fn landed(&self) -> Vec<LandedFile> {
        match self.service() {
            Service::Dropbox => files_in(&self.sb.state()["dropbox"]["entries"], "path_display"),
            Service::GooglePhotos => self.google_photos(),
            _ => files_in(&self.sb.state()["koofr"]["files"], "path"),
        }
    }

    fn stores_empty_files(&self) -> bool {
        self.service() != Service::GooglePhotos
    }

    fn faults(&self, on: bool) {
        let service = self.service();
        let base = self.sb.faults(service);
        let rate = |r: f64| if on { r } else { 0.0 };
        self.sb.set_faults(
            service,
            FaultConfig {
                rate_429: rate(0.08),
                rate_500: rate(0.04),
                rate_503: rate(0.04),
                rate_reset: rate(0.04),
                rate_truncate: rate(0.04),
                retry_after_secs: if on { 1 } else { base.retry_after_secs },
                ..base
            },
        );
    }

    async fn expire_tokens(&self) -> bool {
        let service = match self.connect.name {
            "dropbox" => "dropbox",
            "google-photos" => "google-photos",
            _ => return false,
        };
        let url = format!(
            "{}/_sandbox/tokens/expire?service={service}",
            self.sb.base_url()
        );
        let answer = reqwest::Client::new().post(url).send().await.unwrap();
        assert!(
            answer.status().is_success(),
            "expiring tokens: {}",
            answer.status()
        );
        true
    }
}

// ---------------------------------------------------------------------------------------------
// A real WebDAV server: `rclone serve webdav`

struct RcloneFixture {
    dir: tempfile::TempDir,
    rclone: Child,
    url: String,
    /// For its session's configuration only: nothing here talks to it.
    sb: Sandbox,
}

impl RcloneFixture {
    async fn new() -> RcloneFixture {
        let dir = tempfile::tempdir().unwrap();
        let (rclone, url) = start_rclone(&dir.path().join("served"));
        let sb = ferry_sandbox::start(SandboxOptions::default())
            .await
            .unwrap();
        RcloneFixture {
            dir,
            rclone,
            url,
            sb,
        }
    }
}

impl Drop for RcloneFixture {
    fn drop(&mut self) {
        let _ = self.rclone.kill();
        let _ = self.rclone.wait();
    }
}

#[async_trait]
impl DestinationFixture for RcloneFixture {
    fn destination(&self) -> Arc<dyn Destination> {
        let mut session = common::session(&self.sb, &ferry_connectors::webdav::SERVICE);
        session.settings.url = Some(self.url.clone());
        session.settings.user = Some("u".into());
        session.auth = ferry_connectors::auth::Auth::Basic {
            user: "u".into(),
            password: "p".to_string().into(),
        };
        Arc::from(session.destination("").unwrap())
    }

    async fn landed(&self) -> Vec<LandedFile> {
        walk(&self.dir.path().join("served"))
    }
}

/// `rclone serve webdav` on a free loopback port (Debian's rclone; `bash scripts/test`
/// installs it).
fn start_rclone(dir: &Path) -> (Child, String) {
    std::fs::create_dir_all(dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("rclone")
        .args(["serve", "webdav"])
        .arg(dir)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--user", "u", "--pass", "p"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rclone is needed for the WebDAV tests: install it (apt-get install rclone) or run `bash scripts/test`");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("rclone serve webdav did not start");
}

// ---------------------------------------------------------------------------------------------
// S3: moto's server

struct S3Fixture(Moto);

impl S3Fixture {
    fn new() -> S3Fixture {
        let moto = Moto::start();
        moto.create_bucket("ferry").unwrap();
        S3Fixture(moto)
    }

    fn session(&self) -> Session {
        Session::new(
            &ferry_connectors::s3::SERVICE,
            "s3",
            &ferry_connectors::config::Config::defaults(),
            ferry_connectors::service::Settings {
                url: Some(self.0.endpoint()),
                user: Some("test".into()),
                bucket: Some("ferry".into()),
                ..Default::default()
            },
            &ferry_connectors::auth::Secret::password("test".into()),
            None,
        )
        .unwrap()
    }
}

#[async_trait]
impl DestinationFixture for S3Fixture {
    fn destination(&self) -> Arc<dyn Destination> {
        Arc::from(self.session().destination("").unwrap())
    }

    /// Every object of the bucket, hashed as it streams.
    async fn landed(&self) -> Vec<LandedFile> {
        let config = ferry_connectors::s3::S3Config::from_session(&self.session()).unwrap();
        let operator = config.operator().unwrap();
        let mut out = Vec::new();
        for entry in operator.list_with("").recursive(true).await.unwrap() {
            if !entry.metadata().is_file() {
                continue;
            }
            let reader = operator.reader(entry.path()).await.unwrap();
            let mut stream = reader.into_bytes_stream(..).await.unwrap();
            let mut hasher = Sha256::new();
            while let Some(chunk) = stream.next().await {
                hasher.update(chunk.unwrap());
            }
            out.push(LandedFile::at(entry.path(), hex::encode(hasher.finalize())));
        }
        out
    }
}

destination_conformance! {
    folder => FolderFixture::new(),
    dropbox => SandboxFixture::new(&ferry_connectors::dropbox::SERVICE).await,
    koofr => SandboxFixture::new(&ferry_connectors::koofr::SERVICE).await,
    google_photos => SandboxFixture::new(&ferry_connectors::google_photos::SERVICE).await,
    webdav_koofr => SandboxFixture::new(&ferry_connectors::webdav::SERVICE).await,
    webdav_rclone => RcloneFixture::new().await,
    s3 => S3Fixture::new(),
}
