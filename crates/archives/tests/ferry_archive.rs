//! ferry's own archive: export from an in-memory source, read it back, compare.

mod ferry_common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferry_archives::ferry::{Encryption, ExportOptions, ExportPhase, Manifest, export, verify};
use ferry_archives::{Limits, Service};
use ferry_common::*;
use ferry_core::error::{Error, ErrorKind};
use ferry_core::model::{DataType, MODEL_VERSION, Record};
use ferry_core::traits::Source;
use sha2::{Digest, Sha256};

/// The scrypt of passphrase encryption takes hundreds of MB for a moment: the memory test
/// must not run beside it.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn expected_records(source: &MemSource) -> Vec<Record> {
    source
        .records
        .iter()
        .filter(|r| r.id() != "m:broken")
        .cloned()
        .collect()
}

fn read_back(paths: &[PathBuf]) -> (Arc<ferry_archives::ArchiveFs>, ferry_archives::Catalogue) {
    ferry_archives::read(paths, Limits::default()).unwrap()
}

fn bytes_of(fs: &ferry_archives::ArchiveFs, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    fs.reader(path).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// The records and media bytes read back are exactly what the source listed.
fn assert_round_trip(source: &MemSource, paths: &[PathBuf]) {
    let (fs, catalogue) = read_back(paths);
    assert_eq!(catalogue.detection.service, Service::Ferry);
    assert_eq!(catalogue.detection.era, format!("model-{MODEL_VERSION}"));
    assert!(
        catalogue.problems.is_empty(),
        "problems: {:?}",
        catalogue.problems
    );
    assert_eq!(
        keyed(&catalogue.records),
        keyed(&expected_records(source)),
        "records differ after the round trip"
    );
    for record in &catalogue.records {
        if let Record::Media(m) = record {
            let path = &catalogue.media_paths[&m.id];
            assert_eq!(
                &bytes_of(&fs, path),
                &source.bytes[&m.id],
                "bytes of {}",
                m.id
            );
        }
    }
    let report = verify(&fs, &catalogue.detection);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.ok > 10);
}

#[tokio::test]
async fn export_round_trips_exactly_and_reports_the_failed_item() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export.zip");
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(fixture())];
    let summary = export(
        &sources,
        &out,
        &ExportOptions::new(all_types()),
        &move |p| seen.lock().unwrap().push(p.clone()),
    )
    .await
    .unwrap();

    // One part: just the name asked for, no partial files left.
    assert_eq!(summary.parts.len(), 1);
    assert_eq!(summary.parts[0].path, out);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["export.zip".to_string()]);
    let on_disk = std::fs::read(&out).unwrap();
    assert_eq!(summary.parts[0].size, on_disk.len() as u64);
    assert_eq!(
        summary.parts[0].sha256,
        hex::encode(Sha256::digest(&on_disk))
    );

    // The failed item is skipped with its reason; everything else is counted.
    assert_eq!(summary.skipped.len(), 1, "{:?}", summary.skipped);
    assert_eq!(summary.skipped[0].id, "m:broken");
    assert!(summary.skipped[0].reason.contains("gone"));
    let counts: BTreeMap<&str, u64> = summary
        .counts
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("album", 4),
            ("check_in", 1),
            ("comment", 3),
            ("event", 1),
            ("media", 6),
            ("message", 3),
            ("note", 1),
            ("post", 2),
            ("profile", 1),
            ("story", 1),
            ("thread", 1),
        ])
    );
    assert_eq!(
        summary.media_bytes,
        31_000 + 29_000 + 45_000 + 20_000 + 25_000 + 9_000
    );
    let events = events.lock().unwrap();
    assert!(events.iter().any(|e| e.phase == ExportPhase::Media));
    assert!(events.last().unwrap().media_done == 7);

    let source = fixture();
    assert_round_trip(&source, std::slice::from_ref(&out));

    // Layout: one copy of the item in two albums, in its first album's folder; names made
    // safe and unique per folder; media stored, JSON deflated.
    let (fs, _) = read_back(std::slice::from_ref(&out));
    let files: Vec<&str> = fs.files().map(|(p, _)| p).collect();
    for expected in [
        "part-1.json",
        "manifest.json",
        "index.html",
        "data/albums.json",
        "data/media.json",
        "data/posts.json",
        "data/comments.json",
        "data/stories.json",
        "data/threads.json",
        "data/profile.json",
        "data/messages/thread_ana-bob.json",
        "media/Summer 🌞 2021/IMG_0001.jpg",
        "media/Summer 🌞 2021/img_0001 (2).JPG",
        "media/Summer 🌞 2021/clip.mp4",
        "media/Family_ _b_best__b_/Été à Paris 🗼.png",
        "media/Not in an album/loose_photo_.jpg",
    ] {
        assert!(files.contains(&expected), "{expected} not in {files:#?}");
    }
    assert_eq!(
        files
            .iter()
            .filter(|f| f.ends_with(".jpg") || f.ends_with(".JPG"))
            .count(),
        4,
        "{files:#?}"
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let stored = zip
        .by_name("media/Summer 🌞 2021/clip.mp4")
        .unwrap()
        .compression();
    assert_eq!(stored, zip::CompressionMethod::Stored);
    let deflated = zip.by_name("data/media.json").unwrap().compression();
    assert_eq!(deflated, zip::CompressionMethod::Deflated);

    // The manifest lists every file with its size, hash and part, and the skipped item.
    let manifest: Manifest = fs.read_json("manifest.json").unwrap();
    assert_eq!(manifest.format, "ferry-archive");
    assert_eq!(manifest.sources, vec!["test source".to_string()]);
    assert_eq!(manifest.skipped.len(), 1);
    for file in &manifest.files {
        assert_eq!(file.part, 1);
        let bytes = bytes_of(&fs, &file.path);
        assert_eq!(bytes.len() as u64, file.size, "{}", file.path);
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            file.sha256,
            "{}",
            file.path
        );
    }
    assert_eq!(manifest.files.len() as u64, summary.files);
    assert_eq!(
        manifest.files.len() + 2,
        files.len(),
        "every file but manifest.json and part-1.json is listed"
    );
    // Data files are Versioned documents of the model.
    let media: serde_json::Value = fs.read_json("data/media.json").unwrap();
    assert_eq!(media["model_version"], MODEL_VERSION);
    assert_eq!(
        media["media"][0]["path"],
        "media/Summer 🌞 2021/IMG_0001.jpg"
    );
    assert_eq!(
        media["media"][0]["albums"],
        serde_json::json!(["a:summer", "a:family"])
    );
}

#[tokio::test]
async fn split_parts_stay_under_the_size_and_read_back_together() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("split.zip");
    let split = 60_000;
    let options = ExportOptions {
        split_size: split,
        ..ExportOptions::new(all_types())
    };
    let summary = run(fixture(), &out, &options).await;
    assert!(summary.parts.len() >= 3, "{} parts", summary.parts.len());
    for (i, part) in summary.parts.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(part.number, n);
        assert_eq!(part.path, dir.path().join(format!("split-{n}.zip")));
        let size = std::fs::metadata(&part.path).unwrap().len();
        assert_eq!(size, part.size);
        assert!(size <= split, "part {n} is {size} bytes");
        // Each part says which it is.
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&part.path).unwrap()).unwrap();
        let mut info = String::new();
        zip.by_name(&format!("part-{n}.json"))
            .unwrap()
            .read_to_string(&mut info)
            .unwrap();
        let info: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["part"], n);
        assert_eq!(info["format"], "ferry-archive");
    }
    assert!(!out.exists(), "a split export has no unnumbered part");
    // The manifest is in the last part.
    let last = summary.parts.last().unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&last.path).unwrap()).unwrap();
    assert!(zip.by_name("manifest.json").is_ok());

    assert_round_trip(&fixture(), &part_paths(&summary));

    // Without the last part the reader says the manifest is missing.
    let some: Vec<PathBuf> = part_paths(&summary)[..2].to_vec();
    let (_, catalogue) = read_back(&some);
    assert!(
        catalogue
            .problems
            .iter()
            .any(|p| p.id == "manifest.json" && p.reason.contains("last part")),
        "{:?}",
        catalogue.problems
    );
}

#[tokio::test]
async fn a_file_bigger_than_the_split_size_gets_a_part_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.zip");
    let mut source = fixture();
    // And a media item of unknown length starts a new part too.
    source.no_length.push("m:p2".into());
    let options = ExportOptions {
        split_size: 30_000,
        ..ExportOptions::new(all_types())
    };
    let summary = run(source, &out, &options).await;
    for part in &summary.parts {
        let zip = zip::ZipArchive::new(std::fs::File::open(&part.path).unwrap()).unwrap();
        let size = part.size;
        assert!(
            size <= 30_000 || zip.len() == 2,
            "part {} is {size} bytes with {} entries",
            part.number,
            zip.len()
        );
    }
    assert_round_trip(&fixture(), &part_paths(&summary));
}

#[tokio::test]
async fn an_archive_extracted_into_a_folder_reads_back_from_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.zip");
    let options = ExportOptions {
        split_size: 60_000,
        ..ExportOptions::new(all_types())
    };
    let summary = run(fixture(), &out, &options).await;
    let unpacked = tempfile::tempdir().unwrap();
    let inner = unpacked.path().join("my export");
    for part in part_paths(&summary) {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(part).unwrap()).unwrap();
        zip.extract(&inner).unwrap();
    }
    let (fs, catalogue) = read_back(&[unpacked.path().to_path_buf()]);
    assert_eq!(catalogue.detection.root, "my export/");
    assert!(catalogue.problems.is_empty(), "{:?}", catalogue.problems);
    assert_eq!(
        keyed(&catalogue.records),
        keyed(&expected_records(&fixture()))
    );
    let path = &catalogue.media_paths["m:p2"];
    assert_eq!(
        path,
        "my export/media/Family_ _b_best__b_/Été à Paris 🗼.png"
    );
    assert_eq!(bytes_of(&fs, path), fixture().bytes["m:p2"]);
    assert!(verify(&fs, &catalogue.detection).problems.is_empty());
}

/// The archive is a source: re-exporting an export gives the same records and bytes.
#[tokio::test]
async fn an_export_re_exported_through_the_archive_source_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.zip");
    let options = ExportOptions {
        split_size: 60_000,
        ..ExportOptions::new(all_types())
    };
    let summary = run(fixture(), &first, &options).await;
    let source = ferry_archives::source::ArchiveSource::open(part_paths(&summary))
        .await
        .unwrap();
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(source)];
    let second = dir.path().join("second.zip");
    let again = export(&sources, &second, &ExportOptions::new(all_types()), &|_| {})
        .await
        .unwrap();
    assert!(again.skipped.is_empty(), "{:?}", again.skipped);
    assert_eq!(again.counts, summary.counts);
    assert_round_trip(&fixture(), std::slice::from_ref(&second));
    // Same layout and same bytes: every file but the manifest (its time and sources differ).
    let (fs1, _) = read_back(&part_paths(&summary));
    let (fs2, _) = read_back(&[second]);
    let m1: Manifest = fs1.read_json("manifest.json").unwrap();
    let m2: Manifest = fs2.read_json("manifest.json").unwrap();
    let strip = |m: &Manifest| {
        m.files
            .iter()
            .map(|f| (f.path.clone(), f.size, f.sha256.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&m1), strip(&m2));
}

#[tokio::test]
async fn types_and_dates_filter_what_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("filtered.zip");
    let mut scope = all_types();
    scope.types = [DataType::Photos, DataType::Posts, DataType::Messages].into();
    scope.since = Some(ts(2021, 1, 1));
    scope.until = Some(ts(2023, 1, 1));
    let summary = run(fixture(), &out, &ExportOptions::new(scope)).await;
    let (_, catalogue) = read_back(&[out]);
    let ids: Vec<&str> = catalogue.records.iter().map(|r| r.id()).collect();
    // Photos of 2021–2022 only (no video, no 2019 photo, no 2018 avatar), albums that still
    // have media, posts and messages in range, the thread; no comments, stories, profile.
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            "a:family",
            "a:summer",
            "m:p1",
            "m:p2",
            "m:p4",
            "msg:1",
            "msg:2",
            "post:1",
            "thread:ana-bob"
        ],
        "{ids:?}"
    );
    assert_eq!(summary.counts["comment"], 0);
    assert!(summary.skipped.iter().any(|s| s.id == "m:broken"));
}

#[tokio::test]
async fn an_error_that_pauses_a_job_aborts_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("aborted.zip");
    let mut source = fixture();
    source
        .failing
        .insert("m:v1".into(), Error::AuthExpired("token revoked".into()));
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(source)];
    let err = export(&sources, &out, &ExportOptions::new(all_types()), &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_stream_failing_midway_is_skipped_and_its_bytes_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("midway.zip");
    let mut source = fixture();
    source.break_midway.push("m:v1".into());
    let summary = run(source, &out, &ExportOptions::new(all_types())).await;
    let skipped: Vec<&str> = summary.skipped.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(skipped, vec!["m:v1", "m:broken"]);
    assert!(summary.skipped[0].reason.contains("connection reset"));
    let (fs, catalogue) = read_back(&[out]);
    assert!(catalogue.problems.is_empty(), "{:?}", catalogue.problems);
    assert!(!catalogue.records.iter().any(|r| r.id() == "m:v1"));
    let manifest: Manifest = fs.read_json("manifest.json").unwrap();
    assert_eq!(manifest.abandoned.len(), 1);
    assert_eq!(manifest.abandoned[0].path, "media/Summer 🌞 2021/clip.mp4");
    assert!(!manifest.files.iter().any(|f| f.path.ends_with("clip.mp4")));
    assert!(verify(&fs, &catalogue.detection).problems.is_empty());
}

#[tokio::test]
async fn refuses_to_overwrite_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exists.zip");
    std::fs::write(&out, b"precious").unwrap();
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(fixture())];
    let err = export(&sources, &out, &ExportOptions::new(all_types()), &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}

fn decrypt_to(
    path: &std::path::Path,
    identity: &dyn age::Identity,
    out_dir: &std::path::Path,
) -> PathBuf {
    let decryptor = age::Decryptor::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut reader = decryptor.decrypt(std::iter::once(identity)).unwrap();
    let mut plain = Vec::new();
    reader.read_to_end(&mut plain).unwrap();
    let name = path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".age")
        .to_string();
    let target = out_dir.join(name);
    std::fs::File::create(&target)
        .unwrap()
        .write_all(&plain)
        .unwrap();
    target
}

#[tokio::test]
async fn encrypted_parts_decrypt_to_the_archive() {
    let _heavy = HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let plain_dir = tempfile::tempdir().unwrap();

    // To a public key, split.
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let out = dir.path().join("secret.zip");
    let options = ExportOptions {
        split_size: 80_000,
        encryption: Some(Encryption::Recipients(vec![public])),
        ..ExportOptions::new(all_types())
    };
    let summary = run(fixture(), &out, &options).await;
    assert!(summary.parts.len() >= 2);
    let mut plain = Vec::new();
    for part in &summary.parts {
        let name = part
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(name, format!("secret-{}.zip.age", part.number));
        let size = std::fs::metadata(&part.path).unwrap().len();
        assert!(size <= 80_000, "encrypted part {} is {size}", part.number);
        let bytes = std::fs::read(&part.path).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1"));
        assert_eq!(part.sha256, hex::encode(Sha256::digest(&bytes)));
        plain.push(decrypt_to(&part.path, &identity, plain_dir.path()));
    }
    assert_round_trip(&fixture(), &plain);

    // With a passphrase, one part.
    let out = dir.path().join("pass.zip");
    let pass = secrecy::SecretString::from("correct horse battery staple".to_string());
    let options = ExportOptions {
        encryption: Some(Encryption::Passphrase(pass.clone())),
        ..ExportOptions::new(all_types())
    };
    let summary = run(fixture(), &out, &options).await;
    assert_eq!(summary.parts.len(), 1);
    assert_eq!(summary.parts[0].path, dir.path().join("pass.zip.age"));
    let identity = age::scrypt::Identity::new(pass);
    let decrypted = decrypt_to(&summary.parts[0].path, &identity, plain_dir.path());
    assert_round_trip(&fixture(), &[decrypted]);

    // A bad key is refused before anything is written.
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(fixture())];
    let options = ExportOptions {
        encryption: Some(Encryption::Recipients(vec!["age1notakey".into()])),
        ..ExportOptions::new(all_types())
    };
    let err = export(&sources, &dir.path().join("bad.zip"), &options, &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("age public key"), "{err}");
}

/// Export of a few hundred MB of generated media does not hold it in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_on_large_exports() {
    let _heavy = HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("large.zip");
    let mut source = fixture();
    source.records.retain(|r| !matches!(r, Record::Media(_)));
    let chunk = ferry_common::media_bytes("jpeg", 9, 1 << 20);
    let count = 40; // 40 × 8 MiB = 320 MiB
    for i in 0..count {
        let id = format!("m:large{i}");
        source
            .records
            .push(Record::Media(ferry_core::model::MediaItem {
                id: id.clone(),
                kind: ferry_core::model::MediaKind::Photo,
                file_name: format!("large{i}.jpg"),
                caption: None,
                mime_type: Some("image/jpeg".into()),
                size: Some(8 << 20),
                taken: None,
                uploaded: None,
                location: None,
                albums: vec!["a:summer".into()],
                live_photo_of: None,
                revision: None,
            }));
    }
    let source = LargeSource {
        inner: source,
        chunk: bytes::Bytes::from(chunk),
    };
    let before = rss_kib();
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(source)];
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = peak.clone();
    let summary = export(
        &sources,
        &out,
        &ExportOptions::new(all_types()),
        &move |_| {
            seen.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
        },
    )
    .await
    .unwrap();
    assert_eq!(summary.counts["media"], count);
    let grown = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    assert!(
        grown < 100 * 1024,
        "RSS grew by {grown} KiB for 320 MiB of media"
    );
}

struct LargeSource {
    inner: MemSource,
    chunk: bytes::Bytes,
}

#[async_trait::async_trait]
impl Source for LargeSource {
    fn describe(&self) -> String {
        "large".into()
    }
    async fn list(
        &self,
        scope: &ferry_core::model::Scope,
        cursor: Option<&str>,
    ) -> ferry_core::error::Result<ferry_core::traits::Page> {
        self.inner.list(scope, cursor).await
    }
    async fn open(
        &self,
        item: &ferry_core::model::MediaItem,
    ) -> ferry_core::error::Result<ferry_core::content::Content> {
        let chunk = self.chunk.clone();
        let stream = futures::stream::iter((0..8).map(move |_| Ok(chunk.clone())));
        Ok(ferry_core::content::Content::new(
            Box::pin(stream),
            item.size,
        ))
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
