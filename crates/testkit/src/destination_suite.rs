//! The conformance suite every [`Destination`] passes, the way rclone's fstests run against
//! every backend: the same library, moved by the real engine, must land complete, once, byte
//! for byte, grouped by album, including under injected faults and token expiry; and a re-run
//! with a fresh journal must create nothing new.
//!
//! A destination's tests implement [`DestinationFixture`] (open the destination afresh, say
//! what is stored there, inject faults, expire tokens) and call the checks:
//! [`everything_lands_once`], [`faults_lose_nothing_and_duplicate_nothing`] and
//! [`a_300_mib_file_streams`].
//!
//! The library comes from a generated source (deterministic bytes, streamed, never held whole
//! in memory): nested albums, unicode and hostile names, a case collision, an item in two
//! albums, an item in none, an empty file, a file larger than one upload chunk, and a 300 MiB
//! video in a check of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_core::{
    Album, Content, Destination, Layout, MediaItem, MediaKind, Page, Record, Result, Scope, Source,
    Timestamp,
};
use ferry_engine::{Engine, JobSpec, LayoutOptions, Report, RetryPolicy, RunOptions, SqliteStore};
use futures::StreamExt;
use sha2::{Digest, Sha256};

/// A destination under test, as its service's tests set it up.
#[async_trait]
pub trait DestinationFixture: Send + Sync {
    /// A fresh destination, as a new process would open it.
    fn destination(&self) -> Arc<dyn Destination>;

    /// Every file stored at the destination now, read back from the service itself (its
    /// inspection API, the served folder, the bucket), never through the destination.
    async fn landed(&self) -> Vec<LandedFile>;

    /// Whether the service stores empty files (Google Photos refuses them).
    fn stores_empty_files(&self) -> bool {
        true
    }

    /// Turns the service's injected faults (429s, 5xx, resets, truncated bodies) on or off;
    /// nothing where the service cannot inject any.
    fn faults(&self, on: bool) {
        let _ = on;
    }

    /// Expires every access token now; `false` where the service has none (passwords, keys).
    async fn expire_tokens(&self) -> bool {
        false
    }
}

/// One stored file: its container (folder path or album title, "" for the library), its
/// name, and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LandedFile {
    pub container: String,
    pub name: String,
    pub sha256: String,
}

impl LandedFile {
    /// A file at `path` ('/'-separated; a leading '/' is ignored).
    pub fn at(path: &str, sha256: impl Into<String>) -> LandedFile {
        let path = path.trim_start_matches('/');
        let (container, name) = path.rsplit_once('/').unwrap_or(("", path));
        LandedFile {
            container: container.to_string(),
            name: name.to_string(),
            sha256: sha256.into(),
        }
    }
}

/// Every file under a local folder, hashed.
pub fn walk(root: &std::path::Path) -> Vec<LandedFile> {
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
        out.push(LandedFile::at(
            &relative.to_string_lossy(),
            hex::encode(Sha256::digest(&bytes)),
        ));
    }
    out
}

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

/// The library of every check but the large one.
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

/// SplitMix64: deterministic, fast, and enough for bytes nobody compresses.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
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

async fn sha256_of(spec: &Spec) -> String {
    let mut hasher = Sha256::new();
    let mut stream = Box::pin(bytes_of(spec.seed, spec.size));
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.unwrap());
    }
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
// Running jobs

fn options() -> RunOptions {
    RunOptions {
        concurrency: 4,
        retry: RetryPolicy {
            max_attempts: 30,
            max_rate_limited: 100,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(300),
            max_wait: None,
        },
        ..RunOptions::default()
    }
}

/// Runs the library to the destination with a journal of its own (a fresh journal is what a
/// re-run on another machine, or after deleting the journal, looks like).
async fn transfer(fixture: &dyn DestinationFixture, library: &Arc<Library>) -> Report {
    let engine = Engine::new(Arc::new(SqliteStore::in_memory().await.unwrap()));
    let spec = JobSpec {
        sources: vec!["generated".into()],
        destination: fixture.destination().describe(),
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
                fixture.destination(),
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

/// What the fixture stores, staging aside (a crash may leave it; `finish` sweeps it).
async fn stored(fixture: &dyn DestinationFixture) -> Vec<LandedFile> {
    let mut files = fixture.landed().await;
    files.retain(|f| !f.name.starts_with(".ferry-"));
    files.sort();
    files
}

/// What must have landed: per item and album, its bytes (an item in two albums lands in
/// both, on Google Photos too: one unit per item and album).
async fn expected(fixture: &dyn DestinationFixture, library: &Library) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for spec in &library.items {
        if spec.size == 0 && !fixture.stores_empty_files() {
            continue;
        }
        let copies = spec.item.albums.len().max(1);
        *out.entry(sha256_of(spec).await).or_default() += copies;
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

fn check_report(fixture: &dyn DestinationFixture, report: &Report, library: &Library) {
    let name = fixture.destination().describe();
    if fixture.stores_empty_files() {
        assert!(report.complete(), "{name} incomplete: {report:?}");
    } else {
        let empties = library.items.iter().filter(|s| s.size == 0).count() as u64;
        assert_eq!(report.counts.failed, empties, "{name}: {report:?}");
    }
}

/// The library lands whole, once, grouped by album with safe names; a re-run with a fresh
/// journal finds it all in place and changes nothing.
pub async fn everything_lands_once(fixture: &dyn DestinationFixture) {
    let name = fixture.destination().describe();
    let library = Arc::new(library());
    let report = transfer(fixture, &library).await;
    check_report(fixture, &report, &library);
    let first = stored(fixture).await;
    assert_eq!(
        by_hash(&first),
        expected(fixture, &library).await,
        "{name}: {first:#?}"
    );
    match fixture.destination().capabilities().layout {
        Layout::Folders => {
            // Grouped by album under the transfer folders, names made safe, nothing outside.
            assert!(
                first
                    .iter()
                    .all(|f| f.container.starts_with("Photo Transfer")
                        || f.container.starts_with("Video Transfer")),
                "{name}: {first:#?}"
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
        }
        Layout::Albums => {
            let titles: BTreeSet<&str> = first.iter().map(|f| f.container.as_str()).collect();
            assert!(
                titles.contains("2019 Summer") && titles.contains(""),
                "{titles:?}"
            );
        }
    }
    let again = transfer(fixture, &library).await;
    check_report(fixture, &again, &library);
    assert_eq!(
        stored(fixture).await,
        first,
        "{name}: the re-run changed the destination"
    );
}

/// Under injected faults, and tokens expiring while the transfer runs, everything lands once.
pub async fn faults_lose_nothing_and_duplicate_nothing(fixture: &dyn DestinationFixture) {
    let name = fixture.destination().describe();
    let library = Arc::new(library());
    fixture.faults(true);
    let expiring = async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            if !fixture.expire_tokens().await {
                return;
            }
        }
    };
    let (report, ()) = futures::join!(transfer(fixture, &library), expiring);
    fixture.faults(false);
    check_report(fixture, &report, &library);
    assert_eq!(
        by_hash(&stored(fixture).await),
        expected(fixture, &library).await,
        "{name}"
    );
}

/// A file far larger than any buffer streams through and lands byte for byte.
pub async fn a_300_mib_file_streams(fixture: &dyn DestinationFixture) {
    let name = fixture.destination().describe();
    let library = Arc::new(large_library());
    let report = transfer(fixture, &library).await;
    assert!(report.complete(), "{name}: {report:?}");
    assert_eq!(
        by_hash(&stored(fixture).await),
        expected(fixture, &library).await,
        "{name}"
    );
}

/// The suite's checks as `#[tokio::test]`s, one module per fixture:
/// `destination_conformance! { folder => FolderFixture::new().await, … }`.
#[macro_export]
macro_rules! destination_conformance {
    ($($name:ident => $fixture:expr),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn everything_lands_once() {
                let fixture = $fixture;
                $crate::destination_suite::everything_lands_once(&fixture).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn faults_lose_nothing_and_duplicate_nothing() {
                let fixture = $fixture;
                $crate::destination_suite::faults_lose_nothing_and_duplicate_nothing(&fixture)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_300_mib_file_streams() {
                let fixture = $fixture;
                $crate::destination_suite::a_300_mib_file_streams(&fixture).await;
            }
        }
    )*};
}
