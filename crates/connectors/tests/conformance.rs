//! The conformance suite every Destination passes, the way rclone's fstests run against every
//! backend: the same library, moved by the real engine, must land complete, once, byte for byte,
//! grouped by album, on a local folder, Dropbox, Koofr, Google Photos and WebDAV (the sandbox's
//! Koofr WebDAV and a real `rclone serve webdav`) and S3 (moto's server), including under
//! injected faults and token expiry, and a re-run with a fresh journal must create nothing new.
//!
//! The library comes from a generated source (deterministic bytes, streamed, never held whole
//! in memory): nested albums, unicode and hostile names, a case collision, an item in two
//! albums, an item in none, an empty file, a file larger than one upload chunk, and a 300 MiB
//! video in a test of its own.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_connectors::folder::FolderDestination;
use ferry_connectors::service::ServiceKind;
use ferry_core::{
    Album, Content, Destination, MediaItem, MediaKind, Page, Record, Result, Scope, Source,
    Timestamp,
};
use ferry_engine::{Engine, JobSpec, LayoutOptions, Report, RetryPolicy, RunOptions, SqliteStore};
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::media::SplitMix;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};
use futures::StreamExt;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// The generated library

#[derive(Clone)]
struct Spec {
    item: MediaItem,
    seed: u64,
    size: u64,
}

struct Library {
    albums: Vec<Album>,
    items: Vec<Spec>,
}

fn album(id: &str, path: &[&str]) -> Album {
    Album {
        id: id.into(),
        title: path.last().copied().unwrap_or(id).to_string(),
        path: path.iter().map(|p| p.to_string()).collect(),
        description: Some(format!("the album {id}")),
        created: None,
        location: None,
    }
}

fn item(id: &str, name: &str, kind: MediaKind, size: u64, albums: &[&str]) -> Spec {
    let taken = Timestamp::from_unix(1_560_000_000 + id.len() as i64 * 86_400);
    Spec {
        item: MediaItem {
            id: id.into(),
            kind,
            file_name: name.into(),
            caption: Some(format!("caption of {id} ✓")),
            mime_type: Some(
                match kind {
                    MediaKind::Photo => "image/jpeg",
                    MediaKind::Video => "video/mp4",
                }
                .into(),
            ),
            size: Some(size),
            taken,
            uploaded: taken,
            location: None,
            albums: albums.iter().map(|a| a.to_string()).collect(),
            live_photo_of: None,
            revision: None,
        },
        seed: id
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)),
        size,
    }
}

/// The library of every test but the large one.
fn library() -> Library {
    use MediaKind::{Photo, Video};
    Library {
        albums: vec![
            album("summer", &["Family", "2019 Summer"]),
            album("trip", &["Trip: \"Paris\"?"]),
            album("unicode", &["Ünïcødé 🗼 été"]),
            album("dots", &[".."]),
        ],
        items: vec![
            item("p1", "IMG_0001.jpg", Photo, 200_000, &["summer"]),
            item("p2", "img_0001.JPG", Photo, 150_000, &["summer"]),
            item("p3", "../../etc/passwd.jpg", Photo, 30_000, &["trip"]),
            item(
                "p4",
                "Tour Eiffel 🗼.jpg",
                Photo,
                120_000,
                &["trip", "unicode"],
            ),
            item(
                "p5",
                "e\u{301}te\u{301} à la plage.jpg",
                Photo,
                80_000,
                &["unicode"],
            ),
            item("p6", "CON.jpg", Photo, 10_000, &["dots"]),
            item("p7", "no album.jpg", Photo, 50_000, &[]),
            item("p8", "a 9 MiB photo.jpg", Photo, 9 << 20, &["summer"]),
            item("p9", "empty.jpg", Photo, 0, &["trip"]),
            item(
                "p10",
                "name with spaces # and % and ?.jpg",
                Photo,
                40_000,
                &["trip"],
            ),
            item("v1", "clip.mp4", Video, 3 << 20, &["trip"]),
        ],
    }
}

fn large_library() -> Library {
    Library {
        albums: vec![album("big", &["Big"])],
        items: vec![item(
            "v300",
            "300 MiB.mp4",
            MediaKind::Video,
            300 << 20,
            &["big"],
        )],
    }
}

/// Deterministic bytes of an item, as a stream of 1 MiB chunks.
fn bytes_of(seed: u64, size: u64) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
    const CHUNK: u64 = 1 << 20;
    futures::stream::unfold((SplitMix(seed), 0u64), move |(mut rng, sent)| async move {
        if sent >= size {
            return None;
        }
        let n = CHUNK.min(size - sent) as usize;
        let mut chunk = Vec::with_capacity(n + 8);
        while chunk.len() < n {
            chunk.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        chunk.truncate(n);
        Some((Ok(Bytes::from(chunk)), (rng, sent + n as u64)))
    })
}

fn sha256_of(spec: &Spec) -> String {
    let mut hasher = Sha256::new();
    let mut stream = Box::pin(bytes_of(spec.seed, spec.size));
    futures::executor::block_on(async {
        while let Some(chunk) = stream.next().await {
            hasher.update(chunk.unwrap());
        }
    });
    hex::encode(hasher.finalize())
}

struct GeneratedSource(Arc<Library>);

#[async_trait]
impl Source for GeneratedSource {
    fn describe(&self) -> String {
        "generated library".into()
    }

    async fn list(&self, _scope: &Scope, _cursor: Option<&str>) -> Result<Page> {
        let mut records: Vec<Record> = self.0.albums.iter().cloned().map(Record::Album).collect();
        records.extend(self.0.items.iter().map(|s| Record::Media(s.item.clone())));
        Ok(Page {
            records,
            skipped: Vec::new(),
            next: None,
        })
    }

    async fn open(&self, item: &MediaItem) -> Result<Content> {
        let spec = self
            .0
            .items
            .iter()
            .find(|s| s.item.id == item.id)
            .expect("the engine opens only listed items");
        Ok(Content::new(
            bytes_of(spec.seed, spec.size).boxed(),
            Some(spec.size),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Destinations under test

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Folder,
    Dropbox,
    Koofr,
    GooglePhotos,
    WebdavKoofr,
    WebdavRclone,
    S3,
}

struct Harness {
    kind: Kind,
    sb: Sandbox,
    dir: tempfile::TempDir,
    rclone: Option<Child>,
    rclone_url: Option<String>,
    moto: Option<ferry_testkit::moto::Moto>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(child) = &mut self.rclone {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One landed file: its container (folder path or album title, "" for the library), its
/// name, and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct LandedFile {
    container: String,
    name: String,
    sha256: String,
}

impl Harness {
    async fn new(kind: Kind) -> Harness {
        let sb = ferry_sandbox::start(SandboxOptions::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (rclone, rclone_url) = if kind == Kind::WebdavRclone {
            let (child, url) = start_rclone(&dir.path().join("served"));
            (Some(child), Some(url))
        } else {
            (None, None)
        };
        let moto = (kind == Kind::S3).then(|| {
            let moto = ferry_testkit::moto::Moto::start();
            moto.create_bucket("ferry").unwrap();
            moto
        });
        Harness {
            kind,
            sb,
            dir,
            rclone,
            rclone_url,
            moto,
        }
    }

    fn folder(&self) -> PathBuf {
        self.dir.path().join("dest")
    }

    /// A fresh destination, as a new process would open it.
    fn destination(&self) -> Arc<dyn Destination> {
        match self.kind {
            Kind::Folder => Arc::new(FolderDestination::new(self.folder())),
            Kind::Dropbox => Arc::from(
                common::session(&self.sb, ServiceKind::Dropbox)
                    .destination("")
                    .unwrap(),
            ),
            Kind::Koofr => Arc::from(
                common::session(&self.sb, ServiceKind::Koofr)
                    .destination("")
                    .unwrap(),
            ),
            Kind::GooglePhotos => Arc::from(
                common::session(&self.sb, ServiceKind::GooglePhotos)
                    .destination("")
                    .unwrap(),
            ),
            Kind::WebdavKoofr => Arc::from(
                common::session(&self.sb, ServiceKind::Webdav)
                    .destination("")
                    .unwrap(),
            ),
            Kind::WebdavRclone => {
                let mut session = common::session(&self.sb, ServiceKind::Webdav);
                session.settings.url = self.rclone_url.clone();
                session.settings.user = Some("u".into());
                session.auth = ferry_connectors::auth::Auth::Basic {
                    user: "u".into(),
                    password: "p".to_string().into(),
                };
                Arc::from(session.destination("").unwrap())
            }
            Kind::S3 => Arc::from(self.s3_session().destination("").unwrap()),
        }
    }

    fn s3_session(&self) -> ferry_connectors::service::Session {
        let moto = self.moto.as_ref().expect("an S3 harness runs moto");
        ferry_connectors::service::Session::new(
            ServiceKind::S3,
            "s3",
            &ferry_connectors::config::Config::defaults(),
            ferry_connectors::service::Settings {
                url: Some(moto.endpoint()),
                user: Some("test".into()),
                bucket: Some("ferry".into()),
                ..Default::default()
            },
            &ferry_connectors::auth::Secret::password("test".into()),
            None,
        )
        .unwrap()
    }

    fn service(&self) -> Option<Service> {
        match self.kind {
            Kind::Dropbox => Some(Service::Dropbox),
            Kind::Koofr | Kind::WebdavKoofr => Some(Service::Koofr),
            Kind::GooglePhotos => Some(Service::GooglePhotos),
            Kind::Folder | Kind::WebdavRclone | Kind::S3 => None,
        }
    }

    /// Whether access tokens can expire under it (OAuth, not passwords).
    fn has_tokens(&self) -> bool {
        matches!(self.kind, Kind::Dropbox | Kind::GooglePhotos)
    }

    async fn landed(&self) -> Vec<LandedFile> {
        let mut out = match self.kind {
            Kind::S3 => {
                let config = ferry_connectors::s3::S3Config::from_session(&self.s3_session());
                objects(&config.unwrap().operator().unwrap()).await
            }
            Kind::Folder => walk(&self.folder()),
            Kind::WebdavRclone => walk(&self.dir.path().join("served")),
            Kind::Dropbox => self.sb.state()["dropbox"]["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["type"] == "file")
                .map(|e| split(e["path_display"].as_str().unwrap(), &e["sha256"]))
                .collect(),
            Kind::Koofr | Kind::WebdavKoofr => self.sb.state()["koofr"]["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["type"] == "file")
                .map(|e| split(e["path"].as_str().unwrap(), &e["sha256"]))
                .collect(),
            Kind::GooglePhotos => {
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
        };
        // Staging that a crash may leave is not content (and is swept by `finish`).
        out.retain(|f| !f.name.starts_with(".ferry-"));
        out.sort();
        out
    }

    fn faults(&self, on: bool) {
        if let Some(service) = self.service() {
            let base = self.sb.faults(service);
            self.sb.set_faults(
                service,
                if on {
                    FaultConfig {
                        rate_429: 0.08,
                        rate_500: 0.04,
                        rate_503: 0.04,
                        rate_reset: 0.04,
                        rate_truncate: 0.04,
                        retry_after_secs: 1,
                        ..base
                    }
                } else {
                    FaultConfig {
                        rate_429: 0.0,
                        rate_500: 0.0,
                        rate_503: 0.0,
                        rate_reset: 0.0,
                        rate_truncate: 0.0,
                        ..base
                    }
                },
            );
        }
    }

    async fn expire_tokens(&self) {
        let service = match self.kind {
            Kind::Dropbox => "dropbox",
            Kind::GooglePhotos => "google-photos",
            _ => return,
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
    }
}

fn split(path: &str, sha: &serde_json::Value) -> LandedFile {
    let path = path.trim_start_matches('/');
    let (container, name) = path.rsplit_once('/').unwrap_or(("", path));
    LandedFile {
        container: container.to_string(),
        name: name.to_string(),
        sha256: sha.as_str().unwrap().to_string(),
    }
}

/// Every object of a bucket, hashed as it streams.
async fn objects(operator: &opendal::Operator) -> Vec<LandedFile> {
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
        let (container, name) = entry.path().rsplit_once('/').unwrap_or(("", entry.path()));
        out.push(LandedFile {
            container: container.to_string(),
            name: name.to_string(),
            sha256: hex::encode(hasher.finalize()),
        });
    }
    out
}

fn walk(root: &Path) -> Vec<LandedFile> {
    let mut out = Vec::new();
    if !root.exists() {
        return out;
    }
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(root).unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        out.push(LandedFile {
            container: relative
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            name: relative.file_name().unwrap().to_string_lossy().into_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
        });
    }
    out
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
    let child = Command::new("rclone")
        .args(["serve", "webdav"])
        .arg(dir)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--user", "u", "--pass", "p"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rclone is needed for the WebDAV tests: install it (apt-get install rclone) or run `bash scripts/test`");
    let mut child = child;
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
// Running jobs

fn options() -> RunOptions {
    RunOptions {
        concurrency: 4,
        retry: RetryPolicy {
            max_attempts: 30,
            max_rate_limited: 100,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(300),
        },
        ..RunOptions::default()
    }
}

/// Runs the library to the destination with a journal of its own (a fresh journal is what a
/// re-run on another machine, or after deleting the journal, looks like).
async fn transfer(h: &Harness, library: &Arc<Library>) -> Report {
    let engine = Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap()));
    let spec = JobSpec {
        sources: vec!["generated".into()],
        destination: format!("{:?}", h.kind),
        scope: Scope::media(),
        layout: LayoutOptions::default(),
        albums: None,
    };
    let (job, _) = engine.start("", &spec).await.unwrap();
    let source: Arc<dyn Source> = Arc::new(GeneratedSource(library.clone()));
    // A paused job (tokens, quota) resumes with a new destination, as a new process would.
    for _ in 0..3 {
        let report = engine
            .run(
                &job.id,
                vec![source.clone()],
                h.destination(),
                &options(),
                Arc::default(),
                Arc::default(),
            )
            .await
            .unwrap();
        if report.complete() || report.counts.pending == 0 {
            return report;
        }
    }
    engine.report(&job.id, Duration::ZERO).await.unwrap()
}

/// What must have landed: per item and album, its bytes (an item in two albums lands in
/// both); Google Photos refuses empty files.
fn expected(h: &Harness, library: &Library) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for spec in &library.items {
        if h.kind == Kind::GooglePhotos && spec.size == 0 {
            continue;
        }
        // One unit per (item, album): on Google Photos too, for now (one media item added
        // to several albums is issue 5's Takeout work).
        let copies = spec.item.albums.len().max(1);
        *out.entry(sha256_of(spec)).or_default() += copies;
    }
    out
}

fn by_hash(files: &[LandedFile]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in files {
        *out.entry(f.sha256.clone()).or_default() += 1;
    }
    out
}

fn check_report(h: &Harness, report: &Report, library: &Library) {
    let empties = library.items.iter().filter(|s| s.size == 0).count() as u64;
    if h.kind == Kind::GooglePhotos {
        assert_eq!(report.counts.failed, empties, "{:?}: {report:?}", h.kind);
    } else {
        assert!(report.complete(), "{:?} incomplete: {report:?}", h.kind);
    }
}

async fn everything_lands_once(kind: Kind) {
    let h = Harness::new(kind).await;
    let library = Arc::new(library());
    let report = transfer(&h, &library).await;
    check_report(&h, &report, &library);
    let first = h.landed().await;
    let want = expected(&h, &library);
    assert_eq!(by_hash(&first), want, "{kind:?}: {first:#?}");
    if kind != Kind::GooglePhotos {
        // Grouped by album under the transfer folders, names made safe, nothing outside.
        assert!(
            first
                .iter()
                .all(|f| f.container.starts_with("Photo Transfer")
                    || f.container.starts_with("Video Transfer")),
            "{kind:?}: {first:#?}"
        );
        assert!(
            first
                .iter()
                .any(|f| f.container == "Photo Transfer/Family/2019 Summer")
        );
        assert!(first.iter().any(|f| f.name == "Tour Eiffel 🗼.jpg"));
        assert!(
            first
                .iter()
                .all(|f| !f.name.contains('/') && f.name != "..")
        );
        let summer: Vec<&str> = first
            .iter()
            .filter(|f| f.container == "Photo Transfer/Family/2019 Summer")
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(summer.len(), 3, "the case collision keeps both: {summer:?}");
    } else {
        let titles: std::collections::BTreeSet<&str> =
            first.iter().map(|f| f.container.as_str()).collect();
        assert!(
            titles.contains("2019 Summer") && titles.contains(""),
            "{titles:?}"
        );
    }
    // A re-run with a fresh journal finds everything there and creates nothing.
    let again = transfer(&h, &library).await;
    check_report(&h, &again, &library);
    assert_eq!(
        h.landed().await,
        first,
        "{kind:?}: the re-run changed the destination"
    );
    drop(h);
}

async fn faults_lose_nothing_and_duplicate_nothing(kind: Kind) {
    let h = Harness::new(kind).await;
    let library = Arc::new(library());
    h.faults(true);
    if h.has_tokens() {
        // Tokens expire while the transfer runs: refreshed, never a failed item.
        let sb_url = h.sb.base_url();
        let service = if kind == Kind::Dropbox {
            "dropbox"
        } else {
            "google-photos"
        };
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(400)).await;
                let _ = reqwest::Client::new()
                    .post(format!("{sb_url}/_sandbox/tokens/expire?service={service}"))
                    .send()
                    .await;
            }
        });
    }
    let report = transfer(&h, &library).await;
    h.faults(false);
    check_report(&h, &report, &library);
    assert_eq!(
        by_hash(&h.landed().await),
        expected(&h, &library),
        "{kind:?}"
    );
    h.expire_tokens().await;
    drop(h);
}

async fn a_300_mib_file_streams(kind: Kind) {
    let h = Harness::new(kind).await;
    let library = Arc::new(large_library());
    let report = transfer(&h, &library).await;
    assert!(report.complete(), "{kind:?}: {report:?}");
    assert_eq!(
        by_hash(&h.landed().await),
        expected(&h, &library),
        "{kind:?}"
    );
    drop(h);
}

macro_rules! conformance {
    ($($name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn everything_lands_once() {
                super::everything_lands_once($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn faults_lose_nothing_and_duplicate_nothing() {
                super::faults_lose_nothing_and_duplicate_nothing($kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_300_mib_file_streams() {
                super::a_300_mib_file_streams($kind).await;
            }
        }
    )*};
}

conformance! {
    folder => Kind::Folder,
    dropbox => Kind::Dropbox,
    koofr => Kind::Koofr,
    google_photos => Kind::GooglePhotos,
    webdav_koofr => Kind::WebdavKoofr,
    webdav_rclone => Kind::WebdavRclone,
    s3 => Kind::S3,
}
