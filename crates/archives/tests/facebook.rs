//! The Facebook reader against every era of the sandbox corpus: zipped over two parts (media
//! in part 2), unpacked, and nested one folder down.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_archives::{Catalogue, Limits, ReadError, Service};
use ferry_core::model::{MediaKind, Record};
use ferry_sandbox::corpus::{self, Format, Manifest, facebook::Era};

fn write(dir: &Path, era: Era) -> Manifest {
    corpus::facebook::write(dir, era).expect("corpus written")
}

fn zipped(tmp: &Path, era: Era) -> (Manifest, Vec<PathBuf>) {
    let tree = tmp.join("tree");
    let manifest = write(&tree, era);
    let parts = corpus::zip_parts(&tree, &tmp.join("zips"), "facebook-jorg", 2).expect("zipped");
    (manifest, parts)
}

fn read(parts: &[PathBuf]) -> Catalogue {
    ferry_archives::read(parts, Limits::default())
        .expect("export read")
        .1
}

fn count<F: Fn(&Record) -> bool>(c: &Catalogue, f: F) -> u64 {
    c.records.iter().filter(|r| f(r)).count() as u64
}

fn prefixed(c: &Catalogue, prefix: &str) -> u64 {
    count(c, |r| r.id().starts_with(prefix))
}

/// Every string a record shows a person.
fn texts(c: &Catalogue) -> Vec<String> {
    let mut out = Vec::new();
    for r in &c.records {
        match r {
            Record::Album(a) => out.push(a.title.clone()),
            Record::Media(m) => out.extend(m.caption.clone()),
            Record::Post(p) => {
                out.extend(p.text.clone());
                if let Some(place) = &p.location {
                    out.extend(place.name.clone());
                    out.extend(place.address.clone());
                }
            }
            Record::Comment(c) => out.push(c.text.clone()),
            Record::Story(s) => out.extend(s.caption.clone()),
            Record::Thread(t) => out.extend(t.title.clone()),
            Record::Message(m) => out.extend(m.text.clone()),
            Record::Profile(p) => out.extend(p.name.clone()),
            Record::Note(n) => out.extend(n.title.iter().chain(&n.text).cloned()),
            Record::Event(e) => {
                out.push(e.name.clone());
                out.extend(e.description.clone());
            }
            Record::CheckIn(c) => {
                out.extend(c.text.clone());
                out.extend(c.location.name.clone());
                out.extend(c.location.address.clone());
            }
        }
    }
    out
}

fn links(c: &Catalogue) -> Vec<String> {
    let mut out = Vec::new();
    for r in &c.records {
        let attachments = match r {
            Record::Post(p) => &p.attachments,
            Record::Message(m) => &m.attachments,
            Record::Comment(c) => &c.attachments,
            Record::Story(s) => &s.attachments,
            _ => continue,
        };
        out.extend(
            attachments
                .iter()
                .filter(|a| a.media_id.is_none())
                .filter_map(|a| a.uri.clone()),
        );
    }
    out
}

/// Checks a catalogue against what the corpus says a correct reader finds; `root` is the
/// prefix the export sits under in the file system.
fn check(c: &Catalogue, m: &Manifest, root: &str) {
    let albums: BTreeMap<&str, &str> = c
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Album(a) => Some((a.id.as_str(), a.title.as_str())),
            _ => None,
        })
        .collect();
    let media: BTreeMap<&str, _> = c
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Media(m) => Some((m.id.as_str(), m)),
            _ => None,
        })
        .collect();
    assert_eq!(
        media.len(),
        m.media.len(),
        "media items: {:?}",
        media.keys()
    );
    for want in &m.media {
        let id = format!("{root}{}", want.file);
        let got = media
            .get(id.as_str())
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(c.media_paths.get(&id), Some(&id));
        let kind = match want.format {
            Format::Mp4 => MediaKind::Video,
            _ => MediaKind::Photo,
        };
        assert_eq!(got.kind, kind, "{id}");
        assert_eq!(got.caption, want.caption, "{id}");
        assert_eq!(
            got.taken.map(|t| t.utc.unix_timestamp()),
            want.taken,
            "{id}"
        );
        assert_eq!(
            got.location.as_ref().and_then(|l| l.coordinates()),
            want.location,
            "{id}"
        );
        let titles: Vec<&str> = got
            .albums
            .iter()
            .map(|a| {
                *albums
                    .get(a.as_str())
                    .unwrap_or_else(|| panic!("album {a}"))
            })
            .collect();
        for album in &want.albums {
            assert!(
                titles.contains(&album.as_str()),
                "{id}: {album} not in {titles:?}"
            );
        }
        assert!(got.size.is_some_and(|s| s > 0));
    }
    for (kind, want) in &m.counts {
        let got = match kind.as_str() {
            "posts" => prefixed(c, "post:"),
            "check_ins" => count(c, |r| matches!(r, Record::CheckIn(_))),
            "events" => count(c, |r| matches!(r, Record::Event(_))),
            "notes" => count(c, |r| matches!(r, Record::Note(_))),
            "comments" => prefixed(c, "comment:"),
            "threads" => prefixed(c, "thread:"),
            "messages" => prefixed(c, "message:"),
            "albums" => count(
                c,
                |r| matches!(r, Record::Album(a) if !a.id.starts_with("album:title:") && a.id.contains(".json")),
            ),
            "places" => count(
                c,
                |r| matches!(r, Record::Post(p) if p.id.starts_with("post:") && p.location.is_some()),
            ),
            "life_events" => count(
                c,
                |r| matches!(r, Record::Post(p) if p.text.as_deref().is_some_and(|t| t.contains("Started at Example"))),
            ),
            other => panic!("unchecked count {other}"),
        };
        assert_eq!(got, *want, "count of {kind}");
    }
    let all = texts(c);
    for t in &m.texts {
        assert!(
            all.iter().any(|s| s.contains(t.as_str())),
            "text {t:?} not found"
        );
    }
    let all = links(c);
    for l in &m.links {
        assert!(all.contains(l), "link {l} not found in {all:?}");
    }
    for ignored in &m.ignored {
        let path = format!("{root}{ignored}");
        if ignored.ends_with("no-data.txt") {
            assert!(!c.problems.iter().any(|p| p.id == path), "{path} reported");
        } else {
            assert!(
                c.problems.iter().any(|p| p.id == path),
                "{path} not in problems"
            );
        }
    }
    // What the model has no place for is reported, naming it.
    let not_carried = |p: &ferry_core::traits::Skipped| {
        m.not_carried
            .iter()
            .any(|(file, what)| p.id == format!("{root}{file}") && p.reason.contains(what.as_str()))
    };
    for (file, what) in &m.not_carried {
        let id = format!("{root}{file}");
        assert!(
            c.problems
                .iter()
                .any(|p| p.id == id && p.reason.contains(what.as_str())),
            "{file}: {what} not reported as not carried: {:?}",
            c.problems
        );
    }
    // Nothing else the corpus wrote was left unread.
    let ignored: Vec<String> = m.ignored.iter().map(|i| format!("{root}{i}")).collect();
    for p in &c.problems {
        assert!(
            ignored.contains(&p.id)
                || p.reason.contains("Failed to download media")
                || not_carried(p),
            "unexpected problem {p:?}"
        );
    }
    check_profile(c, m);
}

/// The profile record holds every field the corpus says it must.
fn check_profile(c: &Catalogue, m: &Manifest) {
    if m.profile.is_empty() {
        return;
    }
    let profile = c
        .records
        .iter()
        .find(|r| matches!(r, Record::Profile(_)))
        .expect("a profile");
    let got = serde_json::to_value(profile).unwrap();
    for (field, want) in &m.profile {
        assert_eq!(&got[field], want, "profile {field}: {got}");
    }
}

fn check_era(era: Era, service: Service) {
    let tmp = tempfile::tempdir().unwrap();
    let (manifest, parts) = zipped(tmp.path(), era);
    assert_eq!(parts.len(), 2);
    let c = read(&parts);
    assert_eq!(c.detection.service, service);
    assert_eq!(c.detection.era, manifest.era);
    assert_eq!(c.detection.root, "");
    check(&c, &manifest, "");

    // The unpacked folder reads the same.
    let c = read(&[tmp.path().join("tree")]);
    check(&c, &manifest, "");

    // Unpacked into an extra folder.
    let nested = tmp.path().join("nested");
    let m2 = write(&nested.join("facebook-jorg-2024"), era);
    let c = read(&[nested]);
    assert_eq!(c.detection.root, "facebook-jorg-2024/");
    check(&c, &m2, "facebook-jorg-2024/");
}

#[test]
fn pre_2024() {
    check_era(Era::Pre2024, Service::Facebook);
}

#[test]
fn y2022() {
    check_era(Era::Y2022, Service::Facebook);
}

#[test]
fn y2024() {
    check_era(Era::Y2024, Service::Facebook);
}

#[test]
fn e2ee() {
    check_era(Era::E2ee, Service::FacebookE2ee);
}

#[test]
fn post_photo_is_one_item_in_both_albums() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, parts) = zipped(tmp.path(), Era::Y2024);
    let c = read(&parts);
    let photo = "your_facebook_activity/posts/media/TimelinePhotos_awR5xY/2266_n_1661.jpg";
    let items: Vec<_> = c
        .records
        .iter()
        .filter(|r| matches!(r, Record::Media(m) if m.id == photo))
        .collect();
    assert_eq!(items.len(), 1);
    let Some(Record::Media(m)) = items.first() else {
        unreachable!()
    };
    assert_eq!(m.albums.len(), 2);
    assert_eq!(
        m.uploaded.map(|t| t.utc.unix_timestamp()),
        Some(1_305_050_046)
    );
    // The post points at the same item and carries the place.
    let post = c.records.iter().find_map(|r| match r {
        Record::Post(p)
            if p.attachments
                .iter()
                .any(|a| a.media_id.as_deref() == Some(photo)) =>
        {
            Some(p)
        }
        _ => None,
    });
    let post = post.expect("post with the photo");
    assert_eq!(
        post.location.as_ref().and_then(|l| l.name.as_deref()),
        Some("Café X")
    );
    assert!(
        post.attachments
            .iter()
            .any(|a| a.uri.as_deref() == Some("https://example.org/cafe-x"))
    );
}

#[test]
fn messages_are_merged_and_sorted() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, parts) = zipped(tmp.path(), Era::Pre2024);
    let c = read(&parts);
    let sent: Vec<i64> = c
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Message(m) => m.sent.map(|t| t.utc.unix_timestamp()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [1_600_000_000, 1_600_000_100, 1_600_000_500, 1_600_000_600]
    );
}

#[test]
fn html_export_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (manifest, parts) = zipped(tmp.path(), Era::Html);
    assert!(manifest.refuse.is_some());
    match ferry_archives::read(&parts, Limits::default()) {
        Err(ReadError::Html(message)) => {
            assert!(
                message.contains("Facebook") && message.contains("JSON"),
                "{message}"
            )
        }
        other => panic!("not refused as HTML: {:?}", other.map(|(_, c)| c.detection)),
    }
}

/// The ~2022–2023 layout keeps `profile_information/` at the root and moves activity under
/// `your_activity_across_facebook/` (the corpus has no tree of its own for it).
#[test]
fn activity_across_facebook_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let manifest = write(&tree, Era::Pre2024);
    let moved = tree.join("your_activity_across_facebook");
    std::fs::create_dir_all(&moved).unwrap();
    std::fs::rename(
        tree.join("comments_and_reactions"),
        moved.join("comments_and_reactions"),
    )
    .unwrap();
    let c = read(&[tree]);
    assert_eq!(c.detection.era, "2022");
    assert_eq!(prefixed(&c, "comment:"), manifest.count("comments"));
    assert_eq!(prefixed(&c, "post:"), manifest.count("posts"));
    // Only what the model has no place for is reported.
    for p in &c.problems {
        assert!(
            manifest.not_carried.iter().any(|(file, _)| &p.id == file),
            "{p:?}"
        );
    }
    for (file, what) in &manifest.not_carried {
        assert!(
            c.problems
                .iter()
                .any(|p| &p.id == file && p.reason.contains(what.as_str())),
            "{file}: {what}: {:?}",
            c.problems
        );
    }
}

/// 200,000 messages over four `message_N.json` files read in one pass per file.
#[test]
fn large_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("profile_information")).unwrap();
    std::fs::write(
        root.join("profile_information/profile_information.json"),
        r#"{"profile_v2": {"name": {"full_name": "Me"}}}"#,
    )
    .unwrap();
    let dir = root.join("messages/inbox/big_1");
    std::fs::create_dir_all(&dir).unwrap();
    for file in 0..4i64 {
        let mut text = String::from(
            r#"{"participants": [{"name": "A"}, {"name": "Me"}], "title": "A", "messages": ["#,
        );
        for i in 0..50_000i64 {
            if i > 0 {
                text.push(',');
            }
            let ts = 1_600_000_000_000 + (3 - file) * 50_000_000 + (49_999 - i) * 1000;
            text.push_str(&format!(
                r#"{{"sender_name": "A", "timestamp_ms": {ts}, "content": "message {file}/{i} \u00c3\u00b8", "is_geoblocked_for_viewer": false}}"#
            ));
        }
        text.push_str("]}");
        std::fs::write(dir.join(format!("message_{}.json", file + 1)), text).unwrap();
    }
    let started = std::time::Instant::now();
    let c = read(&[root.to_path_buf()]);
    let took = started.elapsed();
    assert_eq!(prefixed(&c, "message:"), 200_000);
    let sent: Vec<i64> = c
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Message(m) => m.sent.map(|t| t.utc.unix_timestamp()),
            _ => None,
        })
        .collect();
    assert!(sent.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        c.records
            .iter()
            .any(|r| matches!(r, Record::Message(m) if m.text.as_deref() == Some("message 0/0 ø")))
    );
    // Generous for unoptimised test builds on a shared machine.
    assert!(took.as_secs() < 60, "took {took:?}");
}

/// Instagram and Takeout exports (Instagram also has `messages/inbox/`) are not Facebook's.
#[test]
fn other_services_are_not_claimed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for era in corpus::instagram::Era::ALL {
        let dir = tmp.path().join(format!("ig-{}", era.name()));
        corpus::instagram::write(&dir, era).unwrap();
        trees.push(dir);
    }
    for era in corpus::takeout::Era::ALL {
        let dir = tmp.path().join(format!("takeout-{era:?}"));
        corpus::takeout::write(&dir, era).unwrap();
        trees.push(dir);
    }
    for dir in trees {
        let fs =
            ferry_archives::ArchiveFs::open(std::slice::from_ref(&dir), Limits::default()).unwrap();
        assert_eq!(ferry_archives::facebook::detect(&fs), None, "{dir:?}");
    }
}

mod export_fixture;

#[tokio::test]
async fn the_archive_source_passes_the_source_conformance_suite_on_facebook_exports() {
    use ferry_sandbox::corpus::facebook::Era;
    // An HTML export is refused, not listed.
    for era in Era::ALL.into_iter().filter(|era| !matches!(era, Era::Html)) {
        ferry_testkit::source_suite::check_source(&export_fixture::ExportFixture::new(
            "facebook-export",
            |tree| ferry_sandbox::corpus::facebook::write(tree, era),
        ))
        .await;
    }
}
