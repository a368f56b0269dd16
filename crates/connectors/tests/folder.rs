//! Local folders as a source (albums, content sniffing, dates and places) and as a
//! destination (staging, no overwrite, recognition after a crash, cleanup).

use std::os::unix::fs::symlink;
use std::path::Path;

use ferry_connectors::folder::{FolderDestination, FolderSource};
use ferry_core::{
    Container, Content, Destination, MediaItem, MediaKind, Page, Record, Scope, Source, Staged,
    Target,
};
use ferry_sandbox::media::{Mp4, PhotoSpec, VideoSpec, jpeg};
use ferry_testkit::source_suite::{ExpectedMedia, SourceFixture, check_source};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use time::macros::{datetime, offset};

async fn list_all(source: &FolderSource, scope: &Scope) -> Page {
    let mut all = Page::default();
    let mut cursor: Option<String> = None;
    loop {
        let page = source.list(scope, cursor.as_deref()).await.unwrap();
        all.records.extend(page.records);
        all.skipped.extend(page.skipped);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

fn media(page: &Page) -> Vec<&MediaItem> {
    page.records
        .iter()
        .filter_map(|r| {
            if let Record::Media(m) = r {
                Some(m)
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test]
async fn lists_albums_kinds_dates_and_places() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("2019/Summer")).unwrap();
    let mut spec = PhotoSpec::new(1);
    spec.taken = Some(datetime!(2019-07-14 10:00:00));
    spec.offset = Some(offset!(+02:00));
    spec.gps = Some((-33.8568, 151.2153));
    std::fs::write(root.join("2019/Summer/beach.jpg"), jpeg(&spec)).unwrap();
    // A JPEG with a misleading name is still a photo: content decides.
    std::fs::write(root.join("2019/no-extension"), jpeg(&PhotoSpec::new(2))).unwrap();
    let mut video = VideoSpec::new(3, 40_000);
    video.created = Some(datetime!(2020-01-02 03:04:05 UTC));
    std::fs::write(root.join("clip.mp4"), Mp4::new(&video).to_vec()).unwrap();
    std::fs::write(root.join("readme.txt"), "hello").unwrap();
    symlink(root.join("clip.mp4"), root.join("link.mp4")).unwrap();
    // No EXIF: the file's modification time is the taken time.
    std::fs::write(root.join("plain.jpg"), jpeg(&PhotoSpec::new(4))).unwrap();
    let mtime = filetime_of(datetime!(2015-05-05 05:05:05 UTC));
    filetime::set_file_mtime(root.join("plain.jpg"), mtime).unwrap();

    let source = FolderSource::open(root).unwrap();
    let page = list_all(&source, &Scope::media()).await;

    let albums: Vec<(String, Vec<String>)> = page
        .records
        .iter()
        .filter_map(|r| {
            if let Record::Album(a) = r {
                Some((a.id.clone(), a.path.clone()))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        albums,
        vec![
            ("2019".into(), vec!["2019".into()]),
            ("2019/Summer".into(), vec!["2019".into(), "Summer".into()])
        ]
    );

    let items = media(&page);
    let by_id = |id: &str| {
        *items
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    let beach = by_id("2019/Summer/beach.jpg");
    assert_eq!(beach.kind, MediaKind::Photo);
    assert_eq!(beach.albums, vec!["2019/Summer"]);
    let taken = beach.taken.unwrap();
    assert_eq!(taken.utc, datetime!(2019-07-14 08:00:00 UTC));
    assert_eq!(taken.offset, Some(offset!(+02:00)));
    let place = beach.location.as_ref().unwrap();
    let (latitude, longitude) = place.coordinates().unwrap();
    assert!(
        (latitude + 33.8568).abs() < 1e-6 && (longitude - 151.2153).abs() < 1e-6,
        "{place:?}"
    );

    let sniffed = by_id("2019/no-extension");
    assert_eq!(
        (sniffed.kind, sniffed.mime_type.as_deref()),
        (MediaKind::Photo, Some("image/jpeg"))
    );
    assert_eq!(sniffed.albums, vec!["2019"]);

    let clip = by_id("clip.mp4");
    assert_eq!(clip.kind, MediaKind::Video);
    assert!(clip.albums.is_empty());
    assert_eq!(clip.taken.unwrap().utc, datetime!(2020-01-02 03:04:05 UTC));

    assert_eq!(
        by_id("plain.jpg").taken.unwrap().utc,
        datetime!(2015-05-05 05:05:05 UTC)
    );

    let skipped: Vec<(&str, &str)> = page
        .skipped
        .iter()
        .map(|s| (s.id.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        skipped.contains(&("readme.txt", "not a photo or video")),
        "{skipped:?}"
    );
    assert!(
        skipped.contains(&("link.mp4", "symbolic link, not followed")),
        "{skipped:?}"
    );

    // Only videos when only videos are asked for.
    let videos = list_all(
        &source,
        &Scope {
            types: [ferry_core::DataType::Videos].into(),
            since: None,
            until: None,
        },
    )
    .await;
    assert_eq!(
        media(&videos)
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        vec!["clip.mp4"]
    );
}

fn filetime_of(t: time::OffsetDateTime) -> filetime::FileTime {
    filetime::FileTime::from_unix_time(t.unix_timestamp(), 0)
}

#[tokio::test]
async fn a_listing_resumes_from_a_cursor_in_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..700 {
        std::fs::write(
            dir.path().join(format!("{i:04}.jpg")),
            jpeg(&PhotoSpec::new(i)),
        )
        .unwrap();
    }
    let first = FolderSource::open(dir.path()).unwrap();
    let page = first.list(&Scope::media(), None).await.unwrap();
    let cursor = page.next.clone().unwrap();
    // A fresh source (as after a restart) continues from the cursor without repeats or gaps.
    let fresh = FolderSource::open(dir.path()).unwrap();
    let mut ids: Vec<String> = media(&page).iter().map(|m| m.id.clone()).collect();
    let mut next = Some(cursor);
    while let Some(c) = next {
        let page = fresh.list(&Scope::media(), Some(&c)).await.unwrap();
        ids.extend(media(&page).iter().map(|m| m.id.clone()));
        next = page.next;
    }
    let expected: Vec<String> = (0..700).map(|i| format!("{i:04}.jpg")).collect();
    assert_eq!(ids, expected);
}

fn target(container: &str, name: &str, bytes: &[u8]) -> (Target, Content) {
    let item = MediaItem {
        id: name.into(),
        kind: MediaKind::Photo,
        file_name: name.into(),
        caption: None,
        mime_type: None,
        size: Some(bytes.len() as u64),
        taken: None,
        uploaded: None,
        location: None,
        albums: vec![],
        live_photo_of: None,
        revision: None,
    };
    let t = Target {
        container: container.into(),
        name: name.into(),
        size: Some(bytes.len() as u64),
        modified: Some(datetime!(2001-02-03 04:05:06 UTC)),
        item,
    };
    let data = bytes::Bytes::copy_from_slice(bytes);
    let content = Content::new(
        futures::stream::once(async move { Ok(data) }).boxed(),
        Some(bytes.len() as u64),
    );
    (t, content)
}

async fn put(
    dest: &FolderDestination,
    container: &str,
    name: &str,
    bytes: &[u8],
) -> ferry_core::Result<ferry_core::Landed> {
    let (t, content) = target(container, name, bytes);
    let up = dest.upload(&t, content).await?;
    let staged = Staged {
        token: up.token,
        bytes: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
    };
    dest.commit(vec![(t, staged)]).await.remove(0)
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn the_destination_never_overwrites_and_recognises_its_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let dest = FolderDestination::new(dir.path().join("out"));
    dest.check().await.unwrap();
    let container = dest
        .ensure_container(&Container::Folder(vec![
            "Photo Transfer".into(),
            "A".into(),
        ]))
        .await
        .unwrap();
    assert_eq!(container, "Photo Transfer/A");
    let folder = dir.path().join("out/Photo Transfer/A");

    let landed = put(&dest, &container, "x.jpg", b"first").await.unwrap();
    assert_eq!(landed.id, "Photo Transfer/A/x.jpg");
    let meta = std::fs::metadata(folder.join("x.jpg")).unwrap();
    assert_eq!(
        filetime::FileTime::from_last_modification_time(&meta).unix_seconds(),
        981_173_106
    );
    // The same bytes again are the same file; other bytes get the next free name.
    assert_eq!(
        put(&dest, &container, "x.jpg", b"first").await.unwrap().id,
        "Photo Transfer/A/x.jpg"
    );
    assert_eq!(
        put(&dest, &container, "x.jpg", b"second").await.unwrap().id,
        "Photo Transfer/A/x (2).jpg"
    );
    assert_eq!(std::fs::read(folder.join("x.jpg")).unwrap(), b"first");
    assert_eq!(names(&folder), vec!["x (2).jpg", "x.jpg"]);

    // After a crash between commit and journal, `find` recognises the file by its content.
    let (t, _) = target(&container, "x.jpg", b"second");
    let staged = Staged {
        token: "gone".into(),
        bytes: 6,
        sha256: Sha256::digest(b"second").into(),
    };
    assert_eq!(
        dest.find(&t, &staged).await.unwrap().unwrap().id,
        "Photo Transfer/A/x (2).jpg"
    );
    let other = Staged {
        token: "gone".into(),
        bytes: 5,
        sha256: Sha256::digest(b"third").into(),
    };
    assert!(dest.find(&t, &other).await.unwrap().is_none());

    // An upload whose stream fails leaves nothing behind.
    let (t, _) = target(&container, "y.jpg", b"partial");
    let failing = Content::new(
        futures::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"par")),
            Err(ferry_core::Error::retryable("reset")),
        ])
        .boxed(),
        Some(7),
    );
    assert!(dest.upload(&t, failing).await.is_err());
    assert_eq!(names(&folder), vec!["x (2).jpg", "x.jpg"]);

    // Staging left by a killed process is swept when the job finishes.
    let (t, content) = target(&container, "z.jpg", b"staged only");
    dest.upload(&t, content).await.unwrap();
    assert!(names(&folder).iter().any(|n| n.starts_with(".ferry-")));
    dest.finish(&[]).await.unwrap();
    assert_eq!(names(&folder), vec!["x (2).jpg", "x.jpg"]);
}

#[tokio::test]
async fn journal_paths_cannot_escape_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let dest = FolderDestination::new(dir.path().join("out"));
    let (t, content) = target("../escape", "x.jpg", b"data");
    assert!(dest.upload(&t, content).await.is_err());
    assert!(!dir.path().join("escape").exists());
    let source = FolderSource::open(dir.path()).unwrap();
    let (mut t, _) = target("", "x.jpg", b"data");
    t.item.id = "../../etc/passwd".into();
    assert!(source.open(&t.item).await.is_err());
}

/// A folder of photos in albums, a few videos and a file that is neither, for the Source
/// conformance suite: more than one page of entries, so that resuming is exercised.
struct FolderFixture {
    dir: tempfile::TempDir,
    expected: Vec<ExpectedMedia>,
}

impl FolderFixture {
    fn new() -> FolderFixture {
        let dir = tempfile::tempdir().unwrap();
        let mut expected = Vec::new();
        for i in 0..300u32 {
            let id = format!("Album {}/{i:03}.jpg", i % 3);
            let bytes = jpeg(&PhotoSpec::new(i.into()));
            std::fs::create_dir_all(dir.path().join(format!("Album {}", i % 3))).unwrap();
            std::fs::write(dir.path().join(&id), &bytes).unwrap();
            expected.push(ExpectedMedia::new(id, MediaKind::Photo, &bytes));
        }
        for i in 0..3u32 {
            let id = format!("clip {i}.mp4");
            let bytes = Mp4::new(&VideoSpec::new(i.into(), 30_000)).to_vec();
            std::fs::write(dir.path().join(&id), &bytes).unwrap();
            expected.push(ExpectedMedia::new(id, MediaKind::Video, &bytes));
        }
        std::fs::write(dir.path().join("notes.txt"), "not a photo").unwrap();
        FolderFixture { dir, expected }
    }
}

#[async_trait::async_trait]
impl SourceFixture for FolderFixture {
    async fn open(&self) -> std::sync::Arc<dyn Source> {
        std::sync::Arc::new(FolderSource::open(self.dir.path()).unwrap())
    }

    fn expected(&self) -> Vec<ExpectedMedia> {
        self.expected.clone()
    }

    async fn remove(&self, id: &str) -> bool {
        std::fs::remove_file(self.dir.path().join(id)).unwrap();
        true
    }
}

#[tokio::test]
async fn the_folder_source_passes_the_source_conformance_suite() {
    check_source(&FolderFixture::new()).await;
}
