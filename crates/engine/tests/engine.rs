//! The engine against a real folder source and a folder destination wrapped in a scripted
//! fault injector: retries by kind, Retry-After honoured, backoff, permanent errors, pauses
//! and resume.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_connectors::folder::{FolderDestination, FolderSource};
use ferry_core::{
    Capabilities, Container, Content, DataType, Destination, Error, Landed, Result, Scope, Source,
    Staged, Target, Uploaded,
};
use ferry_engine::{
    Engine, JobSpec, JobState, LayoutOptions, Progress, RetryPolicy, RunOptions, SqliteStore, Stop,
};
use ferry_sandbox::media::{PhotoSpec, jpeg};

/// A folder destination that fails uploads as scripted, per file name, and records when each
/// upload was attempted.
struct Flaky {
    inner: FolderDestination,
    script: Mutex<HashMap<String, VecDeque<Error>>>,
    attempts: Mutex<HashMap<String, Vec<Instant>>>,
    capabilities: Option<Capabilities>,
}

impl Flaky {
    fn new(root: &Path, script: Vec<(&str, Vec<Error>)>) -> Flaky {
        Flaky {
            inner: FolderDestination::new(root),
            script: Mutex::new(
                script
                    .into_iter()
                    .map(|(n, e)| (n.to_string(), e.into()))
                    .collect(),
            ),
            attempts: Mutex::default(),
            capabilities: None,
        }
    }

    /// Claims other capabilities than a folder's (an album layout, a size limit).
    fn with_capabilities(mut self, capabilities: Capabilities) -> Flaky {
        self.capabilities = Some(capabilities);
        self
    }

    fn attempts(&self, name: &str) -> Vec<Instant> {
        self.attempts
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl Destination for Flaky {
    fn describe(&self) -> String {
        "flaky folder".into()
    }
    fn capabilities(&self) -> Capabilities {
        self.capabilities
            .clone()
            .unwrap_or_else(|| self.inner.capabilities())
    }
    async fn check(&self) -> Result<()> {
        self.inner.check().await
    }
    async fn ensure_container(&self, c: &Container) -> Result<String> {
        self.inner.ensure_container(c).await
    }
    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded> {
        self.attempts
            .lock()
            .unwrap()
            .entry(target.name.clone())
            .or_default()
            .push(Instant::now());
        let scripted = self
            .script
            .lock()
            .unwrap()
            .get_mut(&target.name)
            .and_then(|q| q.pop_front());
        if let Some(err) = scripted {
            return Err(err);
        }
        self.inner.upload(target, content).await
    }
    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>> {
        self.inner.commit(batch).await
    }
    async fn find(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        self.inner.find(target, staged).await
    }
    async fn discard(&self, staged: &Staged) {
        self.inner.discard(staged).await
    }
    async fn holds(&self, target: &Target, landed: &Landed, sha256: &[u8; 32]) -> Result<bool> {
        self.inner.holds(target, landed, sha256).await
    }
    async fn finish(&self, containers: &[String]) -> Result<()> {
        self.inner.finish(containers).await
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
    engine: Engine,
}

async fn fixture(names: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    std::fs::create_dir_all(src.join("Album")).unwrap();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(
            src.join("Album").join(name),
            jpeg(&PhotoSpec::new(i as u64)),
        )
        .unwrap();
    }
    let store = SqliteStore::open(&dir.path().join("journal.db"))
        .await
        .unwrap();
    Fixture {
        src,
        dst,
        engine: Engine::new(Arc::new(store)),
        _dir: dir,
    }
}

fn spec(f: &Fixture) -> JobSpec {
    JobSpec {
        sources: vec![f.src.display().to_string()],
        destination: f.dst.display().to_string(),
        scope: Scope::media(),
        layout: LayoutOptions::default(),
        albums: None,
    }
}

fn options() -> RunOptions {
    RunOptions {
        concurrency: 3,
        retry: RetryPolicy {
            max_attempts: 4,
            max_rate_limited: 100,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(400),
            max_wait: None,
        },
        plan_only: false,
        throttle: None,
        fence: None,
        documents: None,
    }
}

async fn run(f: &Fixture, dest: Arc<dyn Destination>) -> ferry_engine::Report {
    let (job, _) = f.engine.start("", &spec(f)).await.unwrap();
    let source: Arc<dyn Source> = Arc::new(FolderSource::open(&f.src).unwrap());
    f.engine
        .run(
            &job.id,
            vec![source],
            dest,
            &options(),
            Arc::new(Progress::default()),
            Arc::new(Stop::default()),
        )
        .await
        .unwrap()
}

fn album_files(f: &Fixture) -> Vec<String> {
    let dir = f.dst.join("Photo Transfer/Album");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn retries_by_kind_and_reports_permanent_failures() {
    let f = fixture(&["a.jpg", "b.jpg", "c.jpg", "d.jpg"]).await;
    let limited = || Error::RateLimited {
        retry_after: Some(Duration::from_millis(300)),
        message: "slow down".into(),
    };
    let flaky = Arc::new(Flaky::new(
        &f.dst,
        vec![
            ("a.jpg", vec![limited(), limited()]),
            (
                "b.jpg",
                vec![Error::retryable("reset"), Error::retryable("reset")],
            ),
            ("c.jpg", vec![Error::permanent("refused: bad file")]),
        ],
    ));
    let report = run(&f, flaky.clone()).await;

    assert_eq!(report.state, JobState::Done);
    assert_eq!((report.counts.done, report.counts.failed), (3, 1));
    // "done" never hides a failure: what --json and `ferry jobs` show.
    assert_eq!(report.outcome(), "done_with_failures");
    assert_eq!(report.to_json()["state"], "done_with_failures");
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].item, "Album/c.jpg");
    assert!(report.failures[0].reason.contains("refused: bad file"));

    // Retry-After is honoured: no attempt comes sooner than the service asked.
    let a = flaky.attempts("a.jpg");
    assert_eq!(a.len(), 3);
    for gap in gaps(&a) {
        assert!(gap >= Duration::from_millis(300), "retried after {gap:?}");
    }
    // Passing faults back off at least the minimum delay.
    let b = flaky.attempts("b.jpg");
    assert_eq!(b.len(), 3);
    for gap in gaps(&b) {
        assert!(gap >= Duration::from_millis(50), "backed off only {gap:?}");
    }
    // A permanent error is tried once.
    assert_eq!(flaky.attempts("c.jpg").len(), 1);
    assert_eq!(album_files(&f), vec!["a.jpg", "b.jpg", "d.jpg"]);
}

#[tokio::test]
async fn gives_up_on_a_fault_that_never_passes() {
    let f = fixture(&["a.jpg"]).await;
    let flaky = Arc::new(Flaky::new(
        &f.dst,
        vec![("a.jpg", (0..10).map(|_| Error::retryable("503")).collect())],
    ));
    let report = run(&f, flaky.clone()).await;
    assert_eq!(report.counts.failed, 1);
    assert_eq!(report.outcome(), "failed", "every item it tried failed");
    assert!(
        report.failures[0]
            .reason
            .contains("gave up after 4 attempts"),
        "{}",
        report.failures[0].reason
    );
    assert_eq!(flaky.attempts("a.jpg").len(), 4);
}

#[tokio::test]
async fn a_full_destination_pauses_the_job_and_resume_finishes_it() {
    let names: Vec<String> = (0..12).map(|i| format!("p{i:02}.jpg")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let f = fixture(&refs).await;
    let flaky = Arc::new(Flaky::new(
        &f.dst,
        vec![(
            "p05.jpg",
            vec![Error::DestinationFull("no space left".into())],
        )],
    ));
    let report = run(&f, flaky).await;
    assert_eq!(report.state, JobState::Paused);
    let reason = report.reason.as_deref().unwrap();
    assert!(
        reason.contains("destination is full") && reason.contains("no space left"),
        "{reason}"
    );
    assert!(report.counts.pending >= 1);
    assert_eq!(report.counts.failed, 0, "a full destination fails nothing");

    // Space is back: the same job, resumed, moves the rest exactly once.
    let report = run(&f, Arc::new(FolderDestination::new(&f.dst))).await;
    assert_eq!(report.state, JobState::Done);
    assert_eq!(report.counts.done, 12);
    assert_eq!(album_files(&f), names);
}

#[tokio::test]
async fn expired_credentials_pause_the_job() {
    let f = fixture(&["a.jpg", "b.jpg"]).await;
    let flaky = Arc::new(Flaky::new(
        &f.dst,
        vec![("a.jpg", vec![Error::AuthExpired("token expired".into())])],
    ));
    let report = run(&f, flaky).await;
    assert_eq!(report.state, JobState::Paused);
    let reason = report.reason.as_deref().unwrap();
    assert!(
        reason.contains("authorization expired") && reason.contains("token expired"),
        "{reason}"
    );
    let report = run(&f, Arc::new(FolderDestination::new(&f.dst))).await;
    assert!(report.complete());
    assert_eq!(album_files(&f), vec!["a.jpg", "b.jpg"]);
}

#[tokio::test]
async fn an_item_gone_from_the_source_is_skipped_with_its_reason() {
    let f = fixture(&["a.jpg", "b.jpg"]).await;
    let (job, _) = f.engine.start("", &spec(&f)).await.unwrap();
    let source: Arc<dyn Source> = Arc::new(FolderSource::open(&f.src).unwrap());
    let plan_only = RunOptions {
        plan_only: true,
        ..options()
    };
    let dest: Arc<dyn Destination> = Arc::new(FolderDestination::new(&f.dst));
    f.engine
        .run(
            &job.id,
            vec![source.clone()],
            dest.clone(),
            &plan_only,
            Arc::default(),
            Arc::default(),
        )
        .await
        .unwrap();
    std::fs::remove_file(f.src.join("Album/a.jpg")).unwrap();
    let report = f
        .engine
        .run(
            &job.id,
            vec![source],
            dest,
            &options(),
            Arc::default(),
            Arc::default(),
        )
        .await
        .unwrap();
    assert!(report.complete());
    assert_eq!((report.counts.done, report.counts.skipped), (1, 1));
    assert!(report.skipped[0].0.starts_with("no longer at the source"));
}

#[tokio::test]
async fn a_rerun_as_a_new_job_duplicates_nothing_and_a_different_file_gets_a_new_name() {
    let f = fixture(&["a.jpg", "b.jpg"]).await;
    let report = run(&f, Arc::new(FolderDestination::new(&f.dst))).await;
    assert!(report.complete());
    // Someone puts a different file where b.jpg would go; then a fresh job runs.
    std::fs::write(
        f.dst.join("Photo Transfer/Album/b.jpg"),
        b"someone else's file",
    )
    .unwrap();
    let report = run(&f, Arc::new(FolderDestination::new(&f.dst))).await;
    assert!(report.complete());
    assert_eq!(album_files(&f), vec!["a.jpg", "b (2).jpg", "b.jpg"]);
    assert_eq!(
        std::fs::read(f.dst.join("Photo Transfer/Album/b.jpg")).unwrap(),
        b"someone else's file"
    );
    assert_eq!(
        std::fs::read(f.dst.join("Photo Transfer/Album/b (2).jpg")).unwrap(),
        std::fs::read(f.src.join("Album/b.jpg")).unwrap()
    );
}

#[tokio::test]
async fn a_rerun_moves_only_what_is_new_or_changed() {
    let f = fixture(&["a.jpg", "b.jpg", "c.jpg"]).await;
    let first = Arc::new(Flaky::new(&f.dst, vec![]));
    assert!(run(&f, first.clone()).await.complete());
    assert_eq!(first.attempts("a.jpg").len(), 1);

    // Nothing changed: the new job settles every item from the journal, uploading nothing.
    let again = Arc::new(Flaky::new(&f.dst, vec![]));
    let report = run(&f, again.clone()).await;
    assert!(report.complete());
    assert_eq!(report.counts.done, 3);
    assert_eq!(
        report.counts.unchanged, 3,
        "journalled again: {:?}",
        report.counts
    );
    for name in ["a.jpg", "b.jpg", "c.jpg"] {
        assert!(again.attempts(name).is_empty(), "{name} was sent again");
    }

    // One source file rewritten, one destination file removed, one new file: those three
    // move, the unchanged one does not.
    std::fs::write(f.src.join("Album/a.jpg"), jpeg(&PhotoSpec::new(40))).unwrap();
    std::fs::remove_file(f.dst.join("Photo Transfer/Album/b.jpg")).unwrap();
    std::fs::write(f.src.join("Album/d.jpg"), jpeg(&PhotoSpec::new(41))).unwrap();
    let third = Arc::new(Flaky::new(&f.dst, vec![]));
    let report = run(&f, third.clone()).await;
    assert!(report.complete());
    assert_eq!(report.counts.done, 4);
    assert_eq!(report.counts.unchanged, 1);
    let sent: Vec<usize> = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
        .iter()
        .map(|n| third.attempts(n).len())
        .collect();
    assert_eq!(sent, vec![1, 1, 0, 1]);
    assert_eq!(
        album_files(&f),
        vec!["a (2).jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    );
    assert_eq!(
        std::fs::read(f.dst.join("Photo Transfer/Album/a (2).jpg")).unwrap(),
        std::fs::read(f.src.join("Album/a.jpg")).unwrap()
    );
}

/// A crash between journaling items as staged and committing them, in a re-run whose items
/// were already in place: the items are recognised where they are, and their staged copies
/// are gone when the job ends, although this run stages nothing itself.
#[tokio::test]
async fn staged_copies_of_items_found_in_place_are_removed() {
    use sha2::Digest;
    let f = fixture(&["a.jpg", "b.jpg"]).await;
    assert!(
        run(&f, Arc::new(FolderDestination::new(&f.dst)))
            .await
            .complete()
    );

    // The same transfer again after the sources were touched: a new job that must look at
    // each item. It plans, then "crashes" with both items journaled as staged.
    let later = filetime::FileTime::from_unix_time(2_000_000_000, 0);
    for name in ["a.jpg", "b.jpg"] {
        filetime::set_file_mtime(f.src.join("Album").join(name), later).unwrap();
    }
    let (job, _) = f.engine.start("", &spec(&f)).await.unwrap();
    let source: Arc<dyn Source> = Arc::new(FolderSource::open(&f.src).unwrap());
    let plan_only = RunOptions {
        plan_only: true,
        ..options()
    };
    f.engine
        .run(
            &job.id,
            vec![source.clone()],
            Arc::new(FolderDestination::new(&f.dst)),
            &plan_only,
            Arc::new(Progress::default()),
            Arc::new(Stop::default()),
        )
        .await
        .unwrap();
    let store = f.engine.store();
    let mut rows = Vec::new();
    for unit in store.units_to_move(&job.id, 0, 10).await.unwrap() {
        let bytes = std::fs::read(f.src.join(&unit.item.id)).unwrap();
        let staged = f
            .dst
            .join("Photo Transfer/Album")
            .join(format!(".ferry-crash-{}.part", unit.seq));
        std::fs::write(&staged, &bytes).unwrap();
        rows.push(ferry_engine::store::StagedRow {
            seq: unit.seq,
            token: staged.display().to_string(),
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            bytes: bytes.len() as u64,
        });
    }
    assert_eq!(rows.len(), 2);
    store.mark_staged(&job.id, &rows, None).await.unwrap();

    let dest = Arc::new(Flaky::new(&f.dst, vec![]));
    let report = f
        .engine
        .run(
            &job.id,
            vec![source],
            dest.clone(),
            &options(),
            Arc::new(Progress::default()),
            Arc::new(Stop::default()),
        )
        .await
        .unwrap();
    assert!(report.complete());
    assert!(dest.attempts("a.jpg").is_empty() && dest.attempts("b.jpg").is_empty());
    assert_eq!(album_files(&f), vec!["a.jpg", "b.jpg"]);
}

#[tokio::test]
async fn rate_limits_do_not_use_up_an_items_attempts() {
    let f = fixture(&["a.jpg"]).await;
    let limited = || Error::RateLimited {
        retry_after: Some(Duration::from_millis(10)),
        message: "slow down".into(),
    };
    // Three passing faults fit the four attempts; the five 429s between them must not count.
    let flaky = Arc::new(Flaky::new(
        &f.dst,
        vec![(
            "a.jpg",
            vec![
                limited(),
                Error::retryable("503"),
                limited(),
                limited(),
                Error::retryable("503"),
                limited(),
                limited(),
                Error::retryable("503"),
            ],
        )],
    ));
    let report = run(&f, flaky.clone()).await;
    assert!(report.complete(), "{:?}", report.failures);
    assert_eq!(flaky.attempts("a.jpg").len(), 9);
}

#[tokio::test]
async fn albums_past_the_destination_limit_are_split_into_numbered_parts() {
    let names: Vec<String> = (0..7).map(|i| format!("p{i}.jpg")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let f = fixture(&refs).await;
    let (job, _) = f.engine.start("", &spec(&f)).await.unwrap();
    let source: Arc<dyn Source> = Arc::new(FolderSource::open(&f.src).unwrap());
    let folder = FolderDestination::new(&f.dst);
    let albums = Capabilities {
        layout: ferry_core::Layout::Albums,
        max_album_items: Some(3),
        ..folder.capabilities()
    };
    let dest: Arc<dyn Destination> = Arc::new(Flaky::new(&f.dst, vec![]).with_capabilities(albums));
    let plan_only = RunOptions {
        plan_only: true,
        ..options()
    };
    f.engine
        .run(
            &job.id,
            vec![source],
            dest,
            &plan_only,
            Arc::default(),
            Arc::default(),
        )
        .await
        .unwrap();
    let store = f.engine.store();
    let units = store.units_to_move(&job.id, 0, 100).await.unwrap();
    let mut parts = Vec::new();
    for (key, container, _) in store.containers(&job.id).await.unwrap() {
        let Container::Album { title, .. } = container else {
            panic!("albums layout: {container:?}");
        };
        parts.push((title, units.iter().filter(|u| u.container == key).count()));
    }
    parts.sort();
    assert_eq!(
        parts,
        vec![
            ("Album".to_string(), 3),
            ("Album (2)".to_string(), 3),
            ("Album (3)".to_string(), 1)
        ]
    );
}

/// A folder of photos that also says it has posts, and notes whether it was asked for them.
struct WithPosts {
    folder: FolderSource,
    asked_for_posts: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Source for WithPosts {
    fn describe(&self) -> String {
        self.folder.describe()
    }
    fn offers(&self) -> std::collections::BTreeSet<DataType> {
        [DataType::Photos, DataType::Videos, DataType::Posts].into()
    }
    async fn list(&self, scope: &Scope, cursor: Option<&str>) -> Result<ferry_core::Page> {
        let mut page = self.folder.list(scope, cursor).await?;
        if scope.wants(DataType::Posts) {
            self.asked_for_posts
                .store(true, std::sync::atomic::Ordering::SeqCst);
            if cursor.is_none() {
                page.records
                    .push(ferry_core::Record::Post(ferry_core::Post {
                        id: "post:1".into(),
                        author: None,
                        created: None,
                        updated: None,
                        text: Some("Hello".into()),
                        attachments: Vec::new(),
                        location: None,
                        reactions: Vec::new(),
                    }));
            }
        }
        Ok(page)
    }
    async fn open(&self, item: &ferry_core::MediaItem) -> Result<Content> {
        self.folder.open(item).await
    }
}

#[tokio::test]
async fn types_the_destination_cannot_hold_are_not_asked_for_and_are_named() {
    let f = fixture(&["a.jpg", "b.jpg"]).await;
    let spec = JobSpec {
        scope: Scope::everything(),
        ..spec(&f)
    };
    let (job, _) = f.engine.start("", &spec).await.unwrap();
    let source = Arc::new(WithPosts {
        folder: FolderSource::open(&f.src).unwrap(),
        asked_for_posts: Default::default(),
    });
    let report = f
        .engine
        .run(
            &job.id,
            vec![source.clone()],
            Arc::new(FolderDestination::new(&f.dst)),
            &options(),
            Arc::new(Progress::default()),
            Arc::new(Stop::default()),
        )
        .await
        .unwrap();
    assert_eq!(report.counts.done, 2);
    // Posts are offered and cannot be held; events are not offered, so nothing is left.
    let skipped: Vec<DataType> = report.types_skipped.iter().map(|(t, _)| *t).collect();
    assert_eq!(skipped, vec![DataType::Posts]);
    let reason = &report.types_skipped[0].1;
    assert!(
        reason.contains("holds photos and videos only") && reason.contains("ferry export"),
        "{reason}"
    );
    assert!(
        !source
            .asked_for_posts
            .load(std::sync::atomic::Ordering::SeqCst)
    );
    assert!(report.settled() && !report.complete());
    // The job remembers it, for every later report.
    let job = f.engine.store().job(&job.id).await.unwrap();
    assert_eq!(job.types_skipped, report.types_skipped);
    assert!(!job.scope().wants(DataType::Posts) && job.scope().wants(DataType::Events));
}

/// Writes one document listing the ids of the records it was given.
#[derive(Debug)]
struct IdsDocument;

impl ferry_core::Documents for IdsDocument {
    fn documents(
        &self,
        records: Vec<ferry_core::Record>,
        _media: Vec<ferry_core::LandedMedia>,
    ) -> Vec<ferry_core::Document> {
        let ids: Vec<String> = records.iter().map(|r| r.id().to_owned()).collect();
        vec![ferry_core::Document {
            path: vec!["data".into(), "ids.json".into()],
            render: Box::new(move || {
                Ok(format!("{{\"model_version\":3,\"ids\":{ids:?}}}").into_bytes())
            }),
        }]
    }
}

/// Runs `job` from the folder with posts to the folder destination.
async fn run_with_posts(
    f: &Fixture,
    job: &ferry_engine::JobId,
    options: RunOptions,
) -> ferry_engine::Report {
    let source: Arc<dyn Source> = Arc::new(WithPosts {
        folder: FolderSource::open(&f.src).unwrap(),
        asked_for_posts: Default::default(),
    });
    f.engine
        .run(
            job,
            vec![source],
            Arc::new(FolderDestination::new(&f.dst)),
            &options,
            Arc::new(Progress::default()),
            Arc::new(Stop::default()),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn records_are_journalled_and_written_as_documents_once_the_media_landed() {
    let f = fixture(&["a.jpg"]).await;
    let spec = JobSpec {
        scope: Scope::everything(),
        ..spec(&f)
    };
    let with_documents = RunOptions {
        documents: Some(Arc::new(IdsDocument)),
        ..options()
    };
    // Planned by a run that can write documents, then moved by one that cannot: the job
    // does not end done with its records left unwritten.
    let (job, _) = f.engine.start("", &spec).await.unwrap();
    let planned = run_with_posts(
        &f,
        &job.id,
        RunOptions {
            plan_only: true,
            ..with_documents.clone()
        },
    )
    .await;
    assert!(
        planned.types_skipped.is_empty(),
        "{:?}",
        planned.types_skipped
    );
    assert_eq!(planned.records.get("post"), Some(&1));
    let without = run_with_posts(&f, &job.id, options()).await;
    assert_eq!(without.state, JobState::Paused);
    assert!(
        without.reason.as_deref().unwrap().contains("ferry resume"),
        "{:?}",
        without.reason
    );
    assert!(!f.dst.join("data").exists());
    // Resumed with documents: the media and the document are there, and the job is done.
    let done = run_with_posts(&f, &job.id, with_documents).await;
    assert!(done.complete(), "{:?}", done.reason);
    assert_eq!(album_files(&f), vec!["a.jpg"]);
    let ids = std::fs::read_to_string(f.dst.join("data/ids.json")).unwrap();
    assert!(ids.contains("post:1") && ids.contains("Album"), "{ids}");
}
