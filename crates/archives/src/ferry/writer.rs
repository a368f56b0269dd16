//! Writing a ferry archive: list every source, stream the media into zip parts, then the
//! `data/` documents, the offline viewer and the manifest.
//!
//! The zip is written by one blocking thread fed through a bounded channel, so that memory
//! stays constant whatever the size of the media: at most a few chunks are in flight. Every
//! file's SHA-256 is computed on a thread of its own while the writer writes, and each part's
//! SHA-256 on another, so hashing does not slow the writing down.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use ferry_core::error::Error;
use ferry_core::model::{
    Album, CheckIn, Comment, DataType, Event, MODEL_VERSION, MediaItem, Message, Note, Post,
    Profile, Record, Scope, Story, Thread, Timestamp,
};
use ferry_core::names::{NameAllocator, NameRules};
use ferry_core::retry::RetryPolicy;
use ferry_core::traits::{Skipped, Source};
use futures::StreamExt;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use super::format::{
    self, Manifest, ManifestFile, ManifestSkipped, MediaEntry, PartInfo, ThreadEntry,
};
use super::viewer;

/// What to export and how.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Types and date range; records outside it are left out (sources are asked for the scope
    /// and the result is filtered again, so a source that ignores part of it is still right).
    pub scope: Scope,
    /// The largest a part may be, in bytes. `0` or `u64::MAX`: a single part.
    pub split_size: u64,
    pub encryption: Option<Encryption>,
    /// Parts readable by their owner only (0600), whatever the umask: for archives kept in
    /// ferry's data dir. Otherwise the umask decides, as for any file a person saves.
    pub private: bool,
}

impl ExportOptions {
    /// Everything in `scope`, one part, not encrypted.
    pub fn new(scope: Scope) -> ExportOptions {
        ExportOptions {
            scope,
            split_size: u64::MAX,
            encryption: None,
            private: false,
        }
    }
}

/// How each part is encrypted with age.
#[derive(Clone, Debug)]
pub enum Encryption {
    /// scrypt passphrase recipient.
    Passphrase(SecretString),
    /// X25519 public keys (`age1…`).
    Recipients(Vec<String>),
}

/// Where an export is, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportPhase {
    Listing,
    Media,
    Data,
    Pages,
    Finishing,
}

#[derive(Clone, Debug)]
pub struct ExportProgress {
    pub phase: ExportPhase,
    /// Records listed so far (all sources).
    pub records: u64,
    pub media_done: u64,
    pub media_total: u64,
    /// Media bytes written so far, and the total of the sizes sources announced.
    pub media_bytes_done: u64,
    pub media_bytes_total: u64,
    /// Bytes written to the parts so far (zip level, before encryption).
    pub bytes_written: u64,
    /// The part being written (1-based).
    pub part: u32,
    /// The file being written, as its path in the archive.
    pub current: Option<String>,
}

/// One part written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartSummary {
    pub number: u32,
    pub path: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 of the part file (as written: encrypted when encrypted).
    pub sha256: String,
}

/// What an export wrote.
#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub parts: Vec<PartSummary>,
    /// Records written per type ("album", "media", "post", "comment", "story", "thread",
    /// "message", "profile").
    pub counts: BTreeMap<String, u64>,
    /// Files in the archive (manifest and part-<N>.json files not counted).
    pub files: u64,
    pub media_bytes: u64,
    /// Sum of the part sizes.
    pub bytes: u64,
    /// Items left out, with the reason (failed to open, failed mid-stream, duplicate ids,
    /// what the sources themselves skipped).
    pub skipped: Vec<Skipped>,
}

const CHUNK_QUEUE: usize = 8;

/// Asking a source for a page or an item: a few tries over passing faults. Then a page that
/// cannot be listed stops the export, and an item that cannot be opened is left out of the
/// archive with the reason.
fn request_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        max_rate_limited: 3,
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
        max_wait: None,
    }
}
/// Progress is reported at least every this many bytes of a media file.
const PROGRESS_BYTES: u64 = 8 << 20;
const RULES: NameRules = NameRules {
    max_bytes: ferry_core::names::MAX_NAME_BYTES,
    case_insensitive: true,
};
/// The folder of media that is in no (exported) album.
pub(crate) const NO_ALBUM: &str = "Not in an album";

/// Exports `sources` into `out` (see the module documentation of [`crate::ferry`] for the
/// layout). Items that cannot be opened are skipped and reported; an error that would pause
/// a job (expired credentials, a full disk) aborts the export and removes what was written.
pub async fn export(
    sources: &[Arc<dyn Source>],
    out: &Path,
    options: &ExportOptions,
    progress: &(dyn Fn(&ExportProgress) + Send + Sync),
) -> Result<ExportSummary, Error> {
    let names = PartNames::new(out, options.encryption.is_some(), options.private)?;
    names.refuse_existing()?;
    let sink = SinkFactory::new(options.encryption.as_ref())?;

    let mut state = ExportProgress {
        phase: ExportPhase::Listing,
        records: 0,
        media_done: 0,
        media_total: 0,
        media_bytes_done: 0,
        media_bytes_total: 0,
        bytes_written: 0,
        part: 1,
        current: None,
    };
    progress(&state);
    let listed = list_all(sources, &options.scope, &mut state, progress).await?;
    let plan = Plan::new(listed, &options.scope);

    state.phase = ExportPhase::Media;
    state.media_total = plan.media.len() as u64;
    state.media_bytes_total = plan.media.iter().filter_map(|m| m.item.size).sum();
    progress(&state);

    let split = if options.split_size == 0 {
        u64::MAX
    } else {
        options.split_size
    };
    let written = Arc::new(AtomicU64::new(0));
    let part_now = Arc::new(AtomicU64::new(1));
    let (tx, rx) = mpsc::channel::<Cmd>(CHUNK_QUEUE);
    let (reply_tx, mut replies) = mpsc::unbounded_channel::<Reply>();
    let writer = {
        let names = names.clone();
        let written = written.clone();
        let part_now = part_now.clone();
        tokio::task::spawn_blocking(move || {
            let parts = Parts::new(names, sink, split, written, part_now);
            run_writer(parts, rx, reply_tx)
        })
    };

    let outcome = drive(
        sources,
        plan,
        &tx,
        &mut replies,
        &mut state,
        &Meter {
            written: &written,
            part_now: &part_now,
            progress,
        },
    )
    .await;
    drop(tx);
    let joined = writer
        .await
        .map_err(|e| Error::permanent(format!("archive writer stopped: {e}")))?;
    let (mut summary, files_done) = match (outcome, joined) {
        (Ok(done), Ok(parts)) => (done, parts),
        // The writer's own error (a full disk) explains why the driver failed.
        (_, Err(e)) | (Err(e), Ok(_)) => {
            names.remove_partials();
            return Err(e);
        }
    };
    summary.parts = names
        .finish(files_done)
        .inspect_err(|_| names.remove_partials())?;
    summary.bytes = summary.parts.iter().map(|p| p.size).sum();
    Ok(summary)
}

/// Lists every source completely, filtered to the scope.
async fn list_all(
    sources: &[Arc<dyn Source>],
    scope: &Scope,
    state: &mut ExportProgress,
    progress: &(dyn Fn(&ExportProgress) + Send + Sync),
) -> Result<Listed, Error> {
    let mut listed = Listed::default();
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    for (index, source) in sources.iter().enumerate() {
        listed.sources.push(source.describe());
        let mut cursor: Option<String> = None;
        loop {
            let page = request_policy()
                .run(&format!("listing {}", source.describe()), || {
                    source.list(scope, cursor.as_deref())
                })
                .await?;
            listed.skipped.extend(page.skipped);
            for record in page.records {
                state.records += 1;
                // Ids must be unique in the archive; with several sources a clash is reported
                // rather than renamed, so that every record round-trips unchanged.
                if !seen.insert((record.type_name(), record.id().to_owned())) {
                    listed.skipped.push(Skipped {
                        id: record.id().to_owned(),
                        reason: format!(
                            "another {} with this id was already exported (from {})",
                            record.type_name(),
                            source.describe()
                        ),
                    });
                    continue;
                }
                listed.push(index, record, scope);
            }
            progress(state);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(listed)
}

#[derive(Default)]
struct Listed {
    sources: Vec<String>,
    albums: Vec<Album>,
    /// With the index of the source that opens it.
    media: Vec<(usize, MediaItem)>,
    posts: Vec<Post>,
    comments: Vec<Comment>,
    stories: Vec<Story>,
    threads: Vec<Thread>,
    messages: Vec<Message>,
    profiles: Vec<Profile>,
    texts: Texts,
    skipped: Vec<Skipped>,
}

/// The record types of model version 3, carried as they are.
#[derive(Default)]
pub(crate) struct Texts {
    pub notes: Vec<Note>,
    pub events: Vec<Event>,
    pub check_ins: Vec<CheckIn>,
}

impl Listed {
    fn push(&mut self, source: usize, record: Record, scope: &Scope) {
        if !scope.admits(&record) {
            return;
        }
        match record {
            Record::Album(a) => self.albums.push(a),
            Record::Media(m) => self.media.push((source, m)),
            Record::Post(p) => self.posts.push(p),
            Record::Comment(c) => self.comments.push(c),
            Record::Story(s) => self.stories.push(s),
            Record::Thread(t) => self.threads.push(t),
            Record::Message(m) => self.messages.push(m),
            Record::Profile(p) => self.profiles.push(p),
            Record::Note(n) => self.texts.notes.push(n),
            Record::Event(e) => self.texts.events.push(e),
            Record::CheckIn(c) => self.texts.check_ins.push(c),
        }
    }
}

/// A media item and where its bytes go.
struct PlannedMedia {
    source: usize,
    item: MediaItem,
    path: String,
}

/// Everything to write, with archive paths decided.
struct Plan {
    sources: Vec<String>,
    albums: Vec<Album>,
    media: Vec<PlannedMedia>,
    posts: Vec<Post>,
    comments: Vec<Comment>,
    stories: Vec<Story>,
    threads: Vec<Thread>,
    messages: Vec<Message>,
    profiles: Vec<Profile>,
    texts: Texts,
    skipped: Vec<Skipped>,
}

/// Hands out unique safe names per folder of the archive.
#[derive(Default)]
struct Folders {
    allocators: HashMap<String, NameAllocator>,
    /// (parent, wanted name) → the folder made for it, so nested albums share parents.
    made: HashMap<(String, String), String>,
}

impl Folders {
    fn allocate(&mut self, parent: &str, wanted: &str) -> String {
        let name = self
            .allocators
            .entry(parent.to_owned())
            .or_insert_with(|| NameAllocator::new(RULES))
            .allocate(wanted);
        format!("{parent}/{name}")
    }

    /// A new folder for an album: intermediate folders are shared, the last one is the
    /// album's own.
    fn album(&mut self, components: &[String]) -> String {
        let mut parent = "media".to_owned();
        let Some((last, outer)) = components.split_last() else {
            return self.allocate(&parent, "_");
        };
        for component in outer {
            let key = (parent.clone(), component.clone());
            parent = match self.made.get(&key) {
                Some(folder) => folder.clone(),
                None => {
                    let folder = self.allocate(&parent, component);
                    self.made.insert(key, folder.clone());
                    folder
                }
            };
        }
        let folder = self.allocate(&parent, last);
        self.made
            .entry((parent, last.clone()))
            .or_insert_with(|| folder.clone());
        folder
    }
}

impl Plan {
    fn new(listed: Listed, scope: &Scope) -> Plan {
        let media_albums: HashSet<&str> = listed
            .media
            .iter()
            .flat_map(|(_, m)| m.albums.iter().map(String::as_str))
            .collect();
        // Every album is kept when nothing is filtered out (an empty album is data too);
        // with a date range or without one of the media types, only albums with media left.
        let everything = scope.since.is_none()
            && scope.until.is_none()
            && scope.wants(DataType::Photos)
            && scope.wants(DataType::Videos);
        let albums: Vec<Album> = listed
            .albums
            .into_iter()
            .filter(|a| everything || media_albums.contains(a.id.as_str()))
            .collect();
        let mut folders = Folders::default();
        let mut album_folders = HashMap::new();
        for album in &albums {
            let folder = folders.album(&album.folder_path());
            album_folders.insert(album.id.clone(), folder);
        }
        let mut no_album: Option<String> = None;
        let mut media = Vec::with_capacity(listed.media.len());
        for (source, item) in listed.media {
            // One copy, in the folder of the first exported album; data/media.json lists
            // all its albums.
            let folder = match item.albums.iter().find_map(|a| album_folders.get(a)) {
                Some(folder) => folder.clone(),
                None => no_album
                    .get_or_insert_with(|| folders.allocate("media", NO_ALBUM))
                    .clone(),
            };
            let path = folders.allocate(&folder, &item.file_name);
            media.push(PlannedMedia { source, item, path });
        }
        Plan {
            sources: listed.sources,
            albums,
            media,
            posts: listed.posts,
            comments: listed.comments,
            stories: listed.stories,
            threads: listed.threads,
            messages: listed.messages,
            profiles: listed.profiles,
            texts: listed.texts,
            skipped: listed.skipped,
        }
    }
}

/// What the archive holds once the media are written: the documents the viewer and the
/// `data/` files are made from.
pub(crate) struct Contents {
    pub albums: Vec<Album>,
    pub media: Vec<MediaEntry>,
    pub posts: Vec<Post>,
    pub comments: Vec<Comment>,
    pub stories: Vec<Story>,
    pub threads: Vec<ThreadEntry>,
    /// Messages by thread id, in the order listed; each with its `data/messages/` file.
    pub messages: Vec<MessageGroup>,
    pub profiles: Vec<Profile>,
    pub texts: Texts,
}

pub(crate) struct MessageGroup {
    pub thread_id: String,
    pub path: String,
    pub messages: Vec<Message>,
}

impl Contents {
    /// The contents of a destination that holds `records` beside `media` placed already
    /// (a folder a transfer wrote): every record and album kept, none filtered.
    pub(crate) fn of_records(records: Vec<Record>, media: Vec<MediaEntry>) -> Contents {
        let everything = Scope::everything();
        let mut listed = Listed::default();
        for record in records {
            listed.push(0, record, &everything);
        }
        Contents::new(Plan::new(listed, &everything), media)
    }

    fn new(plan: Plan, media: Vec<MediaEntry>) -> Contents {
        let mut folders = Folders::default();
        let mut by_thread: Vec<MessageGroup> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        // Threads first, so that their files are named in thread order.
        for thread in &plan.threads {
            if !index.contains_key(&thread.id) {
                index.insert(thread.id.clone(), by_thread.len());
                by_thread.push(MessageGroup {
                    thread_id: thread.id.clone(),
                    path: String::new(),
                    messages: Vec::new(),
                });
            }
        }
        for message in plan.messages {
            let at = *index.entry(message.thread_id.clone()).or_insert_with(|| {
                by_thread.push(MessageGroup {
                    thread_id: message.thread_id.clone(),
                    path: String::new(),
                    messages: Vec::new(),
                });
                by_thread.len() - 1
            });
            if let Some(group) = by_thread.get_mut(at) {
                group.messages.push(message);
            }
        }
        for group in &mut by_thread {
            group.path = format!(
                "{}.json",
                folders.allocate("data/messages", &group.thread_id)
            );
        }
        let threads = plan
            .threads
            .into_iter()
            .map(|thread| {
                let group = index.get(&thread.id).and_then(|&i| by_thread.get(i));
                ThreadEntry {
                    messages: group.map(|g| g.path.clone()).unwrap_or_default(),
                    message_count: group.map_or(0, |g| g.messages.len() as u64),
                    thread,
                }
            })
            .collect();
        Contents {
            albums: plan.albums,
            media,
            posts: plan.posts,
            comments: plan.comments,
            stories: plan.stories,
            threads,
            messages: by_thread,
            profiles: plan.profiles,
            texts: plan.texts,
        }
    }

    fn counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        let mut put = |k: &str, n: usize| {
            counts.insert(k.to_owned(), n as u64);
        };
        put("album", self.albums.len());
        put("media", self.media.len());
        put("post", self.posts.len());
        put("comment", self.comments.len());
        put("story", self.stories.len());
        put("thread", self.threads.len());
        put(
            "message",
            self.messages.iter().map(|g| g.messages.len()).sum(),
        );
        put("profile", self.profiles.len());
        put("note", self.texts.notes.len());
        put("event", self.texts.events.len());
        put("check_in", self.texts.check_ins.len());
        counts
    }
}

/// A file whose bytes are produced by writing into a sink; called twice (once to measure).
pub(crate) type Render = Box<dyn Fn(&mut dyn Write) -> io::Result<()> + Send>;

enum Cmd {
    Begin {
        path: String,
        size: Option<u64>,
        modified: Option<Timestamp>,
    },
    Chunk(Bytes),
    /// The end of the media file begun last; `Err` when the stream failed part way.
    End(Result<(), String>),
    Generated {
        path: String,
        render: Render,
    },
}

enum Reply {
    File(ManifestFile),
    Abandoned(ManifestFile, String),
}

/// Tells the caller how far the export is: the writer thread's byte and part counters, and
/// the file being written.
struct Meter<'a> {
    written: &'a AtomicU64,
    part_now: &'a AtomicU64,
    progress: &'a (dyn Fn(&ExportProgress) + Send + Sync),
}

impl Meter<'_> {
    fn report(&self, state: &mut ExportProgress, current: Option<&str>) {
        state.bytes_written = self.written.load(Ordering::Relaxed);
        state.part = u32::try_from(self.part_now.load(Ordering::Relaxed)).unwrap_or(u32::MAX);
        state.current = current.map(str::to_owned);
        (self.progress)(state);
    }
}

async fn drive(
    sources: &[Arc<dyn Source>],
    plan: Plan,
    tx: &mpsc::Sender<Cmd>,
    replies: &mut mpsc::UnboundedReceiver<Reply>,
    state: &mut ExportProgress,
    meter: &Meter<'_>,
) -> Result<ExportSummary, Error> {
    let closed = || Error::permanent("archive writer stopped");
    let mut skipped = plan.skipped.clone();
    let mut files: Vec<ManifestFile> = Vec::new();
    let mut abandoned: Vec<ManifestFile> = Vec::new();
    let mut media_entries = Vec::with_capacity(plan.media.len());
    let mut media_bytes = 0;

    for planned in &plan.media {
        meter.report(state, Some(&planned.path));
        let Some(source) = sources.get(planned.source) else {
            continue;
        };
        let content = match request_policy()
            .run(&format!("opening {}", planned.item.id), || {
                source.open(&planned.item)
            })
            .await
        {
            Ok(content) => content,
            Err(e) if e.kind().pauses_job() => return Err(e),
            Err(e) => {
                skipped.push(Skipped {
                    id: planned.item.id.clone(),
                    reason: format!("could not be opened: {e}"),
                });
                state.media_done += 1;
                continue;
            }
        };
        let declared = content.length;
        let limit = declared.or(planned.item.size);
        tx.send(Cmd::Begin {
            path: planned.path.clone(),
            size: limit,
            modified: planned.item.taken.or(planned.item.uploaded),
        })
        .await
        .map_err(|_| closed())?;
        let mut stream = content.stream;
        let mut count: u64 = 0;
        let mut reported: u64 = 0;
        let mut failure: Option<String> = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => {
                    count += chunk.len() as u64;
                    if limit.is_some_and(|l| count > l) {
                        failure = Some(format!(
                            "the source sent more than the {} bytes it announced",
                            limit.unwrap_or(0)
                        ));
                        break;
                    }
                    state.media_bytes_done += chunk.len() as u64;
                    tx.send(Cmd::Chunk(chunk)).await.map_err(|_| closed())?;
                    // A long video should not freeze the progress display.
                    if count - reported >= PROGRESS_BYTES {
                        reported = count;
                        meter.report(state, Some(&planned.path));
                    }
                }
                Err(e) if e.kind().pauses_job() => return Err(e),
                Err(e) => {
                    failure = Some(format!("failed while reading: {e}"));
                    break;
                }
            }
        }
        if failure.is_none()
            && let Some(declared) = declared
            && count != declared
        {
            failure = Some(format!(
                "the source ended after {count} of the {declared} bytes it announced"
            ));
        }
        tx.send(Cmd::End(failure.map_or(Ok(()), Err)))
            .await
            .map_err(|_| closed())?;
        match replies.recv().await.ok_or_else(closed)? {
            Reply::File(file) => {
                media_bytes += file.size;
                media_entries.push(MediaEntry {
                    item: planned.item.clone(),
                    path: file.path.clone(),
                    sha256: file.sha256.clone(),
                });
                files.push(file);
            }
            Reply::Abandoned(file, reason) => {
                skipped.push(Skipped {
                    id: planned.item.id.clone(),
                    reason,
                });
                abandoned.push(file);
            }
        }
        state.media_done += 1;
    }

    state.phase = ExportPhase::Data;
    meter.report(state, None);
    let sources = plan.sources.clone();
    let contents = Arc::new(Contents::new(
        Plan {
            media: Vec::new(),
            ..plan
        },
        media_entries,
    ));
    let mut generated = data_files(&contents);
    let data_count = generated.len();
    generated.extend(viewer::pages(&contents));
    for (n, (path, render)) in generated.into_iter().enumerate() {
        if n == data_count {
            state.phase = ExportPhase::Pages;
        }
        meter.report(state, Some(&path));
        tx.send(Cmd::Generated { path, render })
            .await
            .map_err(|_| closed())?;
        match replies.recv().await.ok_or_else(closed)? {
            Reply::File(file) => files.push(file),
            Reply::Abandoned(_, reason) => return Err(Error::permanent(reason)),
        }
    }

    state.phase = ExportPhase::Finishing;
    meter.report(state, Some(format::MANIFEST));
    let counts = contents.counts();
    let manifest = Manifest {
        format: format::FORMAT_NAME.into(),
        format_version: format::FORMAT_VERSION,
        model_version: MODEL_VERSION,
        created: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        generator: format!("ferry {}", env!("CARGO_PKG_VERSION")),
        sources,
        counts: counts.clone(),
        files: files.clone(),
        skipped: skipped
            .iter()
            .map(|s| ManifestSkipped {
                id: s.id.clone(),
                reason: s.reason.clone(),
            })
            .collect(),
        abandoned,
    };
    let manifest = Arc::new(manifest);
    let render: Render = {
        let manifest = manifest.clone();
        Box::new(move |w| {
            serde_json::to_writer_pretty(&mut *w, &*manifest).map_err(io::Error::other)
        })
    };
    tx.send(Cmd::Generated {
        path: format::MANIFEST.into(),
        render,
    })
    .await
    .map_err(|_| closed())?;
    replies.recv().await.ok_or_else(closed)?;
    meter.report(state, None);
    Ok(ExportSummary {
        parts: Vec::new(),
        counts,
        files: files.len() as u64,
        media_bytes,
        bytes: 0,
        skipped,
    })
}

/// The `data/` documents, each written record by record.
pub(crate) fn data_files(contents: &Arc<Contents>) -> Vec<(String, Render)> {
    fn doc<T: serde::Serialize + Send + Sync + 'static>(
        contents: &Arc<Contents>,
        key: &'static str,
        pick: fn(&Contents) -> &[T],
    ) -> Render {
        let contents = contents.clone();
        Box::new(move |w| write_doc(w, key, pick(&contents), None))
    }
    let mut out: Vec<(String, Render)> = vec![
        (
            format::ALBUMS.into(),
            doc(contents, "albums", |c| &c.albums),
        ),
        (format::MEDIA.into(), doc(contents, "media", |c| &c.media)),
        (format::POSTS.into(), doc(contents, "posts", |c| &c.posts)),
        (
            format::COMMENTS.into(),
            doc(contents, "comments", |c| &c.comments),
        ),
        (
            format::STORIES.into(),
            doc(contents, "stories", |c| &c.stories),
        ),
        (
            format::THREADS.into(),
            doc(contents, "threads", |c| &c.threads),
        ),
        (
            format::PROFILE.into(),
            doc(contents, "profiles", |c| &c.profiles),
        ),
    ];
    // Model version 3's types: a file only when there is something in it, so that an
    // archive without them reads as before.
    let texts = &contents.texts;
    if !texts.notes.is_empty() {
        out.push((
            format::NOTES.into(),
            doc(contents, "notes", |c| &c.texts.notes),
        ));
    }
    if !texts.events.is_empty() {
        out.push((
            format::EVENTS.into(),
            doc(contents, "events", |c| &c.texts.events),
        ));
    }
    if !texts.check_ins.is_empty() {
        out.push((
            format::CHECK_INS.into(),
            doc(contents, "check_ins", |c| &c.texts.check_ins),
        ));
    }
    for (index, group) in contents.messages.iter().enumerate() {
        let contents = contents.clone();
        out.push((
            group.path.clone(),
            Box::new(move |w| match contents.messages.get(index) {
                Some(g) => write_doc(w, "messages", &g.messages, Some(&g.thread_id)),
                None => Ok(()),
            }),
        ));
    }
    out
}

/// Writes `{"model_version":N,["thread_id":…,]"<key>":[…]}` one record at a time: the same
/// JSON as serialising a `Versioned` of the document, without building it as one string.
fn write_doc<T: serde::Serialize>(
    w: &mut dyn Write,
    key: &str,
    records: &[T],
    thread_id: Option<&str>,
) -> io::Result<()> {
    let string = |w: &mut dyn Write, text: &str| {
        serde_json::to_writer(&mut *w, text).map_err(io::Error::other)
    };
    write!(w, "{{\"model_version\":{MODEL_VERSION},")?;
    if let Some(id) = thread_id {
        w.write_all(b"\"thread_id\":")?;
        string(w, id)?;
        w.write_all(b",")?;
    }
    string(w, key)?;
    w.write_all(b":[\n")?;
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            w.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *w, record).map_err(io::Error::other)?;
    }
    w.write_all(b"\n]}\n")
}

/// The writer thread: applies commands to the parts until the channel closes.
fn run_writer(
    mut parts: Parts,
    mut rx: mpsc::Receiver<Cmd>,
    replies: mpsc::UnboundedSender<Reply>,
) -> Result<Vec<(u32, u64, String)>, Error> {
    let mut current: Option<MediaFile> = None;
    while let Some(cmd) = rx.blocking_recv() {
        match cmd {
            Cmd::Begin {
                path,
                size,
                modified,
            } => {
                parts.begin(&path, size, true, modified)?;
                current = Some(MediaFile {
                    path,
                    bytes: 0,
                    hash: HashPipe::new().map_err(|e| Error::io("hashing thread", &e))?,
                });
            }
            Cmd::Chunk(chunk) => {
                if let Some(file) = current.as_mut() {
                    parts.write(&chunk)?;
                    file.bytes += chunk.len() as u64;
                    file.hash.send(chunk);
                }
            }
            Cmd::End(result) => {
                let Some(file) = current.take() else { continue };
                let part = parts.number;
                let (bytes, sha) = file.hash.finish().map_err(|e| Error::io(&file.path, &e))?;
                let entry = ManifestFile {
                    path: file.path,
                    size: bytes,
                    sha256: hex::encode(sha),
                    part,
                };
                let reply = match result {
                    Ok(()) => Reply::File(entry),
                    Err(reason) => Reply::Abandoned(
                        ManifestFile {
                            sha256: String::new(),
                            ..entry
                        },
                        reason,
                    ),
                };
                let _ = replies.send(reply);
            }
            Cmd::Generated { path, render } => {
                let mut measure = Counter::default();
                render(&mut measure).map_err(|e| Error::io(&path, &e))?;
                parts.begin(&path, Some(measure.0), false, None)?;
                let mut tee = BufWriter::with_capacity(
                    64 * 1024,
                    Tee {
                        parts: &mut parts,
                        hasher: Sha256::new(),
                        bytes: 0,
                    },
                );
                render(&mut tee).map_err(|e| Error::io(&path, &e))?;
                let tee = tee.into_inner().map_err(|e| Error::io(&path, e.error()))?;
                let (bytes, sha) = (tee.bytes, tee.hasher.finalize());
                let _ = replies.send(Reply::File(ManifestFile {
                    path,
                    size: bytes,
                    sha256: hex::encode(sha),
                    part: parts.number,
                }));
            }
        }
    }
    parts.close()
}

struct MediaFile {
    path: String,
    bytes: u64,
    hash: HashPipe,
}

/// Counts what is written and drops it.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes into the current zip entry and hashes on the way (generated files are small
/// enough to hash inline).
struct Tee<'a> {
    parts: &'a mut Parts,
    hasher: Sha256,
    bytes: u64,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.parts.write_io(buf)?;
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SHA-256 on a thread of its own, fed chunks through a bounded channel.
struct HashPipe {
    tx: Option<SyncSender<Bytes>>,
    handle: Option<JoinHandle<(u64, [u8; 32])>>,
}

impl HashPipe {
    fn new() -> io::Result<HashPipe> {
        let (tx, rx) = sync_channel::<Bytes>(16);
        let handle = std::thread::Builder::new()
            .name("ferry-sha256".into())
            .spawn(move || {
                let mut hasher = Sha256::new();
                let mut bytes = 0u64;
                while let Ok(chunk) = rx.recv() {
                    hasher.update(&chunk);
                    bytes += chunk.len() as u64;
                }
                (bytes, hasher.finalize().into())
            })?;
        Ok(HashPipe {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    fn send(&mut self, chunk: Bytes) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(chunk);
        }
    }

    fn finish(mut self) -> io::Result<(u64, [u8; 32])> {
        self.tx = None;
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .ok_or_else(|| io::Error::other("the hashing thread stopped"))
    }
}

/// The output file of one part: counts and hashes what reaches the disk.
struct PartFile {
    file: File,
    bytes: u64,
    hash: HashPipe,
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.bytes += n as u64;
        self.hash.send(Bytes::copy_from_slice(&buf[..n]));
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A part file, plain or wrapped in age.
enum Sink {
    Plain(PartFile),
    Age(age::stream::StreamWriter<PartFile>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Age(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Age(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> io::Result<PartFile> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Age(w) => w.finish(),
        }
    }
}

/// Makes the sink of each part (each part is its own age file, decryptable on its own).
enum SinkFactory {
    Plain,
    Passphrase(SecretString),
    Recipients(Vec<age::x25519::Recipient>),
}

impl SinkFactory {
    fn new(encryption: Option<&Encryption>) -> Result<SinkFactory, Error> {
        Ok(match encryption {
            None => SinkFactory::Plain,
            Some(Encryption::Passphrase(p)) => SinkFactory::Passphrase(p.clone()),
            Some(Encryption::Recipients(keys)) => {
                if keys.is_empty() {
                    return Err(Error::permanent("no age recipient given"));
                }
                let parsed = keys
                    .iter()
                    .map(|k| {
                        k.trim().parse::<age::x25519::Recipient>().map_err(|e| {
                            Error::permanent(format!("not an age public key ({k}): {e}"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                SinkFactory::Recipients(parsed)
            }
        })
    }

    fn encrypted(&self) -> bool {
        !matches!(self, SinkFactory::Plain)
    }

    fn open(&self, file: PartFile) -> io::Result<Sink> {
        let encryptor = match self {
            SinkFactory::Plain => return Ok(Sink::Plain(file)),
            SinkFactory::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
            SinkFactory::Recipients(keys) => {
                age::Encryptor::with_recipients(keys.iter().map(|k| k as &dyn age::Recipient))
                    .map_err(io::Error::other)?
            }
        };
        Ok(Sink::Age(encryptor.wrap_output(file)?))
    }
}

/// The file names of the parts.
#[derive(Clone, Debug)]
struct PartNames {
    out: PathBuf,
    dir: PathBuf,
    stem: String,
    suffix: &'static str,
    /// Parts are created 0600.
    private: bool,
}

impl PartNames {
    fn new(out: &Path, encrypted: bool, private: bool) -> Result<PartNames, Error> {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::permanent(format!("{}: not a file name", out.display())))?;
        let stem = match name.len().checked_sub(4) {
            Some(at) if name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(".zip") => {
                name[..at].to_owned()
            }
            _ => name.clone(),
        };
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(PartNames {
            out: out.to_path_buf(),
            dir,
            stem,
            suffix: if encrypted { ".zip.age" } else { ".zip" },
            private,
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{}-{n}{}", self.stem, self.suffix))
    }

    fn single(&self) -> PathBuf {
        if self.suffix == ".zip" {
            self.out.clone()
        } else {
            let mut name = self.out.clone().into_os_string();
            name.push(".age");
            PathBuf::from(name)
        }
    }

    fn partial(&self, n: u32) -> PathBuf {
        let mut name = self.numbered(n).into_os_string();
        name.push(".partial");
        PathBuf::from(name)
    }

    fn refuse_existing(&self) -> Result<(), Error> {
        for path in [self.single(), self.numbered(1)] {
            if path.exists() {
                return Err(Error::permanent(format!(
                    "{} already exists; ferry does not overwrite an export",
                    path.display()
                )));
            }
        }
        Ok(())
    }

    fn remove_partials(&self) {
        for n in 1.. {
            if std::fs::remove_file(self.partial(n)).is_err() {
                break;
            }
        }
    }

    /// Renames the finished `.partial` files to their final names.
    fn finish(&self, parts: Vec<(u32, u64, String)>) -> Result<Vec<PartSummary>, Error> {
        let single = parts.len() == 1;
        let mut out = Vec::with_capacity(parts.len());
        for (number, size, sha256) in parts {
            let target = if single {
                self.single()
            } else {
                self.numbered(number)
            };
            if target.exists() {
                return Err(Error::permanent(format!(
                    "{} already exists; ferry does not overwrite an export",
                    target.display()
                )));
            }
            let from = self.partial(number);
            std::fs::rename(&from, &target).map_err(|e| Error::io(from.display(), &e))?;
            out.push(PartSummary {
                number,
                path: target,
                size,
                sha256,
            });
        }
        Ok(out)
    }
}

type PartZip = ZipWriter<StreamWriter<Measured<BufWriter<Sink>>>>;

/// Counts zip-level bytes of the open part (for the split decision) and of the export.
struct Measured<W> {
    inner: W,
    part: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}

impl<W: Write> Write for Measured<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.part.fetch_add(n as u64, Ordering::Relaxed);
        self.total.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct OpenPart {
    zip: PartZip,
    /// Zip-level bytes of the part written so far.
    bytes: Arc<AtomicU64>,
    /// Bytes the central directory will take, so far.
    central: u64,
    /// Entries other than part-<N>.json.
    entries: u64,
}

/// The parts of an export, opened and closed as entries need room.
struct Parts {
    names: PartNames,
    sink: SinkFactory,
    split: u64,
    written: Arc<AtomicU64>,
    part_now: Arc<AtomicU64>,
    number: u32,
    open: Option<OpenPart>,
    done: Vec<(u32, u64, String)>,
}

/// Bytes a zip entry adds besides its data: the local header (with a zip64 extra and an
/// extended timestamp), the data descriptor and the central directory record. Generous.
fn entry_overhead(name: &str) -> (u64, u64) {
    let n = name.len() as u64;
    (30 + n + 64 + 24, 46 + n + 64)
}
/// The end of central directory records (zip64 and classic).
const END_RECORDS: u64 = 22 + 56 + 20 + 64;

impl Parts {
    fn new(
        names: PartNames,
        sink: SinkFactory,
        split: u64,
        written: Arc<AtomicU64>,
        part_now: Arc<AtomicU64>,
    ) -> Parts {
        Parts {
            names,
            sink,
            split,
            written,
            part_now,
            number: 0,
            open: None,
            done: Vec::new(),
        }
    }

    /// What the part will weigh on disk for `zip_bytes` of zip: age adds a header and 16
    /// bytes per 64 KiB chunk.
    fn on_disk(&self, zip_bytes: u64) -> u64 {
        if self.sink.encrypted() {
            zip_bytes
                .saturating_add(zip_bytes / 65_536 * 16)
                .saturating_add(16 + 1024)
        } else {
            zip_bytes
        }
    }

    /// Starts an entry, in a new part when the current one has no room for `size` bytes
    /// (unknown size: a new part unless the current one is empty).
    fn begin(
        &mut self,
        path: &str,
        size: Option<u64>,
        stored: bool,
        modified: Option<Timestamp>,
    ) -> Result<(), Error> {
        let (local, central) = entry_overhead(path);
        // Deflate never grows data by more than a few bytes per block; bound it loosely.
        let data = size.map(|s| if stored { s } else { s + s / 1024 + 64 });
        let fits = match (&self.open, data) {
            (None, _) => false,
            (Some(open), _) if open.entries == 0 => true,
            (Some(_), None) => false,
            (Some(open), Some(data)) => {
                let after = open
                    .bytes
                    .load(Ordering::Relaxed)
                    .saturating_add(open.central)
                    .saturating_add(local + data + central + END_RECORDS);
                self.on_disk(after) <= self.split
            }
        };
        if !fits {
            self.roll()?;
        }
        let time = modified
            .and_then(|t| {
                let local = t.local();
                zip::DateTime::try_from(time::PrimitiveDateTime::new(local.date(), local.time()))
                    .ok()
            })
            .unwrap_or_else(zip::DateTime::default_for_write);
        let large = size.is_none_or(|s| s >= u64::from(u32::MAX) - 65_536);
        let options = SimpleFileOptions::default()
            .compression_method(if stored {
                CompressionMethod::Stored
            } else {
                CompressionMethod::Deflated
            })
            .last_modified_time(time)
            .large_file(large)
            .unix_permissions(0o644);
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| Error::permanent("no part open"))?;
        open.zip
            .start_file(path, options)
            .map_err(|e| zip_error(path, e))?;
        open.central += central;
        open.entries += 1;
        Ok(())
    }

    fn write(&mut self, buf: &[u8]) -> Result<(), Error> {
        self.write_io(buf)
            .map_err(|e| Error::io(self.names.partial(self.number).display(), &e))
    }

    fn write_io(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.open.as_mut() {
            Some(open) => open.zip.write_all(buf),
            None => Err(io::Error::other("no part open")),
        }
    }

    /// Closes the open part (if any) and opens the next, starting with its part-<N>.json.
    fn roll(&mut self) -> Result<(), Error> {
        self.close_open()?;
        self.number += 1;
        self.part_now
            .store(u64::from(self.number), Ordering::Relaxed);
        let path = self.names.partial(self.number);
        let file = if self.names.private {
            ferry_core::private::create_new(&path)
        } else {
            File::create_new(&path)
        }
        .map_err(|e| Error::io(path.display(), &e))?;
        let sink = self
            .sink
            .open(PartFile {
                file,
                bytes: 0,
                hash: HashPipe::new().map_err(|e| Error::io(path.display(), &e))?,
            })
            .map_err(|e| Error::io(path.display(), &e))?;
        let bytes = Arc::new(AtomicU64::new(0));
        let measured = Measured {
            inner: BufWriter::with_capacity(1 << 20, sink),
            part: bytes.clone(),
            total: self.written.clone(),
        };
        let mut zip = ZipWriter::new_stream(measured);
        let info = serde_json::to_vec(&PartInfo {
            format: format::FORMAT_NAME.into(),
            format_version: format::FORMAT_VERSION,
            part: self.number,
        })
        .map_err(|e| Error::permanent(e.to_string()))?;
        let info_name = format::part_info_name(self.number);
        zip.start_file(
            &info_name,
            SimpleFileOptions::default()
                .compression_method(CompressionMethod::Stored)
                .unix_permissions(0o644),
        )
        .map_err(|e| zip_error(&info_name, e))?;
        zip.write_all(&info)
            .map_err(|e| Error::io(path.display(), &e))?;
        let (_, central) = entry_overhead(&info_name);
        self.open = Some(OpenPart {
            zip,
            bytes,
            central,
            entries: 0,
        });
        Ok(())
    }

    fn close_open(&mut self) -> Result<(), Error> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let path = self.names.partial(self.number);
        let io_err = |e: io::Error| Error::io(path.display(), &e);
        let measured = open
            .zip
            .finish()
            .map_err(|e| zip_error(&path.display().to_string(), e))?
            .into_inner();
        let sink = measured
            .inner
            .into_inner()
            .map_err(|e| io_err(io::Error::new(e.error().kind(), e.error().to_string())))?;
        let mut file = sink.finish().map_err(io_err)?;
        file.flush().map_err(io_err)?;
        file.file.sync_all().map_err(io_err)?;
        let (_, sha) = std::mem::replace(&mut file.hash, HashPipe::empty())
            .finish()
            .map_err(io_err)?;
        self.done.push((self.number, file.bytes, hex::encode(sha)));
        Ok(())
    }

    fn close(mut self) -> Result<Vec<(u32, u64, String)>, Error> {
        if self.open.is_none() && self.done.is_empty() {
            self.roll()?;
        }
        self.close_open()?;
        Ok(self.done)
    }
}

impl HashPipe {
    fn empty() -> HashPipe {
        HashPipe {
            tx: None,
            handle: None,
        }
    }
}

fn zip_error(what: &str, e: zip::result::ZipError) -> Error {
    match e {
        zip::result::ZipError::Io(e) => Error::io(what, &e),
        other => Error::permanent(format!("{what}: {other}")),
    }
}

/// Lets tests and the CLI name a part the way the writer does.
pub fn part_file_name(stem: &str, number: u32, encrypted: bool) -> String {
    format!(
        "{stem}-{number}{}",
        if encrypted { ".zip.age" } else { ".zip" }
    )
}
