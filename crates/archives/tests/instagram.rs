//! The Instagram reader against the sandbox corpus: every layout era, zipped over two parts
//! and unpacked, at the root and nested in extra folders.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ferry_archives::{Catalogue, Limits, Service};
use ferry_core::model::{MediaKind, Record};
use ferry_sandbox::corpus::instagram::{self, Era};
use ferry_sandbox::corpus::{Format, Manifest, zip_parts};
use ferry_testkit::source_suite::check_source;

mod export_fixture;
use export_fixture::ExportFixture;

fn era_name(era: Era) -> &'static str {
    match era {
        Era::V1 => "v1",
        Era::Y2021 => "2021",
        Era::Y2022 => "2022",
        Era::Y2025 => "2025",
    }
}

fn read(parts: &[PathBuf]) -> Catalogue {
    let (_, catalogue) = ferry_archives::read(parts, Limits::default()).expect("readable export");
    catalogue
}

fn count(cat: &Catalogue, type_name: &str) -> u64 {
    cat.records
        .iter()
        .filter(|r| r.type_name() == type_name)
        .count() as u64
}

/// Checks a catalogue against what the corpus says a correct reader finds.
fn check(cat: &Catalogue, m: &Manifest, era: Era, root: &str) {
    let label = format!("{} at {root:?}", m.era);
    assert_eq!(cat.detection.service, Service::Instagram, "{label}");
    assert_eq!(cat.detection.era, era_name(era), "{label}");
    assert_eq!(cat.detection.root, root, "{label}");
    // Only the files the corpus says a reader must skip, and what the model has no place for,
    // may be reported.
    let not_carried = |p: &ferry_core::traits::Skipped| {
        m.not_carried
            .iter()
            .any(|(f, what)| p.id.ends_with(f.as_str()) && p.reason.contains(what.as_str()))
    };
    for problem in &cat.problems {
        let expected = m
            .ignored
            .iter()
            .any(|f| problem.id.contains(f.as_str()) || problem.reason.contains(f.as_str()))
            || not_carried(problem);
        assert!(expected, "{label}: unexpected problem {problem:?}");
    }
    for (file, what) in &m.not_carried {
        assert!(
            cat.problems
                .iter()
                .any(|p| p.id.ends_with(file.as_str()) && p.reason.contains(what.as_str())),
            "{label}: {file}: {what} not reported as not carried"
        );
    }
    if !m.profile.is_empty() {
        let profile = cat
            .records
            .iter()
            .find(|r| matches!(r, Record::Profile(_)))
            .expect("a profile");
        let got = serde_json::to_value(profile).unwrap();
        for (field, want) in &m.profile {
            assert_eq!(&got[field], want, "{label}: profile {field}: {got}");
        }
    }
    for file in &m.ignored {
        let reported = cat
            .problems
            .iter()
            .any(|p| p.id.contains(file.as_str()) || p.reason.contains(file.as_str()));
        assert!(reported, "{label}: {file} skipped silently");
    }

    let media: Vec<_> = cat
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Media(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(media.len(), m.media.len(), "{label}: media count");
    for want in &m.media {
        let id = format!("{root}{}", want.file);
        let Some(got) = media.iter().find(|g| g.id == id) else {
            panic!("{label}: {id} not found");
        };
        let (kind, mime) = match want.format {
            Format::Jpeg => (MediaKind::Photo, "image/jpeg"),
            Format::Webp => (MediaKind::Photo, "image/webp"),
            // `infer` names HEIC content by its family, HEIF.
            Format::Heic => (MediaKind::Photo, "image/heif"),
            Format::Mp4 => (MediaKind::Video, "video/mp4"),
        };
        assert_eq!(got.kind, kind, "{label}: {id}");
        assert_eq!(got.mime_type.as_deref(), Some(mime), "{label}: {id}");
        assert_eq!(
            got.taken.map(|t| t.utc.unix_timestamp()),
            want.taken,
            "{label}: {id} taken"
        );
        assert_eq!(got.caption, want.caption, "{label}: {id} caption");
        assert_eq!(
            got.location.as_ref().and_then(|l| l.coordinates()),
            want.location,
            "{label}: {id} location"
        );
        assert_eq!(cat.media_paths.get(&id), Some(&id), "{label}: {id} path");
        assert!(got.file_name.contains('.'), "{label}: {}", got.file_name);
        assert!(!got.albums.is_empty(), "{label}: {id} in no album");
        let album = match want.context.as_str() {
            "profile" => "album:profile_pictures",
            "post" => "album:posts",
            "story" => "album:stories",
            "reel" => "album:reels",
            "archived" => "album:archived_posts",
            "igtv" => "album:igtv",
            _ => "album:messages/",
        };
        assert!(
            got.albums[0].starts_with(album),
            "{label}: {id} {:?}",
            got.albums
        );
    }

    let albums: BTreeSet<&str> = cat
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Album(a) => Some(a.id.as_str()),
            _ => None,
        })
        .collect();
    for item in &media {
        for album in &item.albums {
            assert!(albums.contains(album.as_str()), "{label}: album {album}");
        }
    }
    let profile_pictures = media
        .iter()
        .filter(|i| i.albums.iter().any(|a| a == "album:profile_pictures"))
        .count() as u64;
    assert_eq!(profile_pictures, m.count("profile_pictures"), "{label}");
    let posts = ["posts", "reels", "archived_posts", "igtv"]
        .iter()
        .map(|k| m.count(k))
        .sum::<u64>();
    assert_eq!(count(cat, "post"), posts, "{label}: posts");
    for (kind, type_name) in [
        ("stories", "story"),
        ("threads", "thread"),
        ("messages", "message"),
        ("comments", "comment"),
    ] {
        assert_eq!(count(cat, type_name), m.count(kind), "{label}: {kind}");
    }
    assert_eq!(count(cat, "profile"), 1, "{label}: profile");

    let ids: BTreeSet<&str> = cat.records.iter().map(Record::id).collect();
    assert_eq!(ids.len(), cat.records.len(), "{label}: ids are unique");

    let all = serde_json::to_string(&cat.records).unwrap();
    for text in &m.texts {
        if text == "Fødselsdato" {
            // A localized label, not a value: the reader shows it understood it.
            let birthday = cat.records.iter().find_map(|r| match r {
                Record::Profile(p) => p.birthday.clone(),
                _ => None,
            });
            assert_eq!(birthday.as_deref(), Some("1990-04-02"), "{label}");
            continue;
        }
        assert!(
            all.contains(text.as_str()),
            "{label}: text {text:?} missing"
        );
    }
    let uris: Vec<&str> = cat
        .records
        .iter()
        .flat_map(|r| match r {
            Record::Post(p) => p.attachments.iter().collect::<Vec<_>>(),
            Record::Message(m) => m.attachments.iter().collect(),
            Record::Story(s) => s.attachments.iter().collect(),
            _ => Vec::new(),
        })
        .filter_map(|a| a.uri.as_deref())
        .collect();
    for link in &m.links {
        assert!(uris.contains(&link.as_str()), "{label}: link {link}");
    }
    // Every attachment that names a media item names one that exists.
    for record in &cat.records {
        if let Record::Post(p) = record {
            for a in &p.attachments {
                if let Some(id) = &a.media_id {
                    assert!(cat.media_paths.contains_key(id), "{label}: {id}");
                }
            }
        }
    }
}

#[test]
fn every_era_zipped_in_two_parts_and_unpacked() {
    for era in Era::ALL {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        let manifest = instagram::write(&tree, era).unwrap();
        let parts = zip_parts(&tree, &dir.path().join("zips"), "instagram-me", 2).unwrap();
        assert_eq!(parts.len(), 2);
        check(&read(&parts), &manifest, era, "");
        check(&read(&[tree]), &manifest, era, "");
    }
}

#[test]
fn messages_are_merged_across_parts_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    instagram::write(dir.path(), Era::Y2025).unwrap();
    let cat = read(&[dir.path().to_path_buf()]);
    let messages: Vec<_> = cat
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Message(m) if m.thread_id == "thread:inbox/alice_17841400000000001" => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(messages.len(), 4);
    let times: Vec<_> = messages.iter().map(|m| m.sent.unwrap().utc).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let newest = messages.last().unwrap();
    assert_eq!(newest.text.as_deref(), Some("hey 👏"));
    assert_eq!(newest.reactions[0].reaction, "❤");
    assert_eq!(newest.reactions[0].actor.name, "Me Myself");
    assert!(
        messages
            .iter()
            .all(|m| m.thread_id == "thread:inbox/alice_17841400000000001")
    );
    let with_photo = messages
        .iter()
        .find(|m| !m.attachments.is_empty() && m.attachments[0].media_id.is_some());
    assert!(with_photo.is_some());
}

#[test]
fn nested_root_is_found() {
    for era in Era::ALL {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path().join("tree");
        let root = "Downloads/instagram-me-2025-01-01/";
        let manifest = instagram::write(&outer.join(root), era).unwrap();
        let parts = zip_parts(&outer, &dir.path().join("zips"), "instagram-me", 2).unwrap();
        check(&read(&parts), &manifest, era, root);
        check(&read(&[outer]), &manifest, era, root);
    }
}

#[test]
fn not_instagram_is_not_detected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("content")).unwrap();
    std::fs::write(dir.path().join("content/readme.json"), "{}").unwrap();
    std::fs::write(dir.path().join("media.json"), "{}").unwrap();
    let fs =
        ferry_archives::ArchiveFs::open(&[dir.path().to_path_buf()], Limits::default()).unwrap();
    assert_eq!(ferry_archives::instagram::detect(&fs), None);
}

#[test]
fn other_services_are_not_instagram() {
    use ferry_sandbox::corpus::{facebook, takeout};
    let dir = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for era in facebook::Era::ALL {
        let d = dir.path().join(format!("fb-{era:?}"));
        facebook::write(&d, era).unwrap();
        trees.push(d);
    }
    for era in takeout::Era::ALL {
        let d = dir.path().join(format!("takeout-{era:?}"));
        takeout::write(&d, era).unwrap();
        trees.push(d);
    }
    for tree in trees {
        let fs = ferry_archives::ArchiveFs::open(std::slice::from_ref(&tree), Limits::default())
            .unwrap();
        assert_eq!(ferry_archives::instagram::detect(&fs), None, "{tree:?}");
    }
}

#[test]
fn bare_array_lists_are_read_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, bytes: &[u8]| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    let jpeg = ferry_sandbox::corpus::media_bytes(Format::Jpeg, 7);
    write("media/stories/202001/a.jpg", &jpeg);
    write(
        "media/reels/202001/b",
        &ferry_sandbox::corpus::media_bytes(Format::Mp4, 8),
    );
    write(
        "content/stories.json",
        br#"[{"uri": "media/stories/202001/a.jpg", "creation_timestamp": 1580000000}]"#,
    );
    write(
        "content/reels.json",
        br#"[{"media": [{"uri": "media/reels/202001/b", "creation_timestamp": 1580000001, "title": "r"}]}]"#,
    );
    let cat = read(&[root.to_path_buf()]);
    assert_eq!(cat.detection.era, "2021");
    assert!(cat.problems.is_empty(), "{:?}", cat.problems);
    assert_eq!(count(&cat, "story"), 1);
    assert_eq!(count(&cat, "post"), 1);
    let video = cat.records.iter().find_map(|r| match r {
        Record::Media(m) if m.kind == MediaKind::Video => Some(m),
        _ => None,
    });
    let video = video.expect("the extension-less reel");
    assert_eq!(video.file_name, "b.mp4");
    assert_eq!(video.albums, ["album:reels"]);
}

/// A post shared in a 2020-era message keeps its caption and its owner, in the attachment's
/// title as later eras' shares do.
#[test]
fn v1_shared_posts_keep_caption_and_owner() {
    let dir = tempfile::tempdir().unwrap();
    instagram::write(dir.path(), Era::V1).unwrap();
    let cat = read(&[dir.path().to_path_buf()]);
    let shared = cat
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Message(m) => Some(&m.attachments),
            _ => None,
        })
        .flatten()
        .find(|a| {
            a.uri.as_deref() == Some("https://scontent.cdninstagram.com/v/shared_example.jpg")
        })
        .expect("the shared post's attachment");
    assert_eq!(shared.title.as_deref(), Some("Se lige her 😍 (@bob)"));
}

#[test]
fn v1_odd_messages_become_problems() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("media.json"),
        r#"{"photos": [{"path": 5}], "videos": 3}"#,
    )
    .unwrap();
    std::fs::write(
        root.join("messages.json"),
        r#"[{"participants": ["a", "b"], "conversation": [
            {"sender": "a", "created_at": "2019-05-01T12:00:01", "text": "one"}, 7,
            {"sender": "b", "created_at": 1556712000, "text": "two"}]}, "x"]"#,
    )
    .unwrap();
    let cat = read(&[root.to_path_buf()]);
    assert_eq!(cat.detection.era, "v1");
    let texts: Vec<_> = cat
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Message(m) => m.text.as_deref(),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["two", "one"]);
    let reasons: Vec<_> = cat
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.id, p.reason))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("thread:messages.json#0/1")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("thread:messages.json#1")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("media.json")),
        "{reasons:?}"
    );
}

#[test]
fn hostile_json_becomes_problems() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "your_instagram_activity/media/posts_1.json",
        r#"[{"media": [{"uri": "media/posts/missing.jpg", "creation_timestamp": "soon"}]}, {"media": 3}, {"title": null}]"#,
    );
    write("your_instagram_activity/media/posts_2.json", "[{");
    write(
        "your_instagram_activity/media/stories.json",
        r#"{"ig_stories": [{"uri": "https://cdn.example/x.jpg", "creation_timestamp": -62169958800}]}"#,
    );
    write(
        "your_instagram_activity/messages/inbox/bob_1/message_1.json",
        r#"{"participants": 5, "messages": [{"timestamp_ms": "x", "photos": [{"uri": "nope/a.jpg"}], "videos": [{"uri": "gone/v.mp4", "backup_uri": "https://cdn.example/v.mp4"}], "audio_files": [{"uri": "your_instagram_activity/messages/inbox/bob_1/audio/a.txt"}]}, 7]}"#,
    );
    write(
        "your_instagram_activity/messages/inbox/bob_1/audio/a.txt",
        "not media",
    );
    write("media/posts/orphan.mp4.json", "{}");
    let cat = read(&[root.to_path_buf()]);
    let reasons: Vec<String> = cat
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.id, p.reason))
        .collect();
    let has = |s: &str| reasons.iter().any(|r| r.contains(s));
    assert!(has("media/posts/missing.jpg"), "{reasons:#?}");
    assert!(has("posts_2.json"), "{reasons:#?}");
    assert!(has("nope/a.jpg"), "{reasons:#?}");
    assert!(has("not a photo or video"), "{reasons:#?}");
    assert!(has("unexpected shape"), "{reasons:#?}");
    assert!(has("gone/v.mp4"), "{reasons:#?}");
    let cdn = cat.records.iter().any(|r| match r {
        Record::Message(m) => m
            .attachments
            .iter()
            .any(|a| a.uri.as_deref() == Some("https://cdn.example/v.mp4")),
        _ => false,
    });
    assert!(cdn, "the CDN copy is kept as a link");
    let story = cat.records.iter().find_map(|r| match r {
        Record::Story(s) => Some(s),
        _ => None,
    });
    let story = story.expect("the story is kept");
    assert_eq!(story.created, None);
    assert_eq!(
        story.attachments[0].uri.as_deref(),
        Some("https://cdn.example/x.jpg")
    );
}

/// Generates an export with 200,000 messages (20 threads × 10 files × 1000 messages) and
/// times reading it. Run with
/// `cargo test -p ferry-archives --release --test instagram -- --ignored --nocapture`.
#[test]
#[ignore]
fn two_hundred_thousand_messages() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_big_export(root, 20, 10, 1000);
    let before = peak_rss().unwrap_or_else(|| "unknown".into());
    let start = std::time::Instant::now();
    let cat = read(&[root.to_path_buf()]);
    let elapsed = start.elapsed();
    let messages = count(&cat, "message");
    assert_eq!(messages, 200_000);
    assert_eq!(count(&cat, "thread"), 20);
    assert!(
        cat.problems.is_empty(),
        "{:?}",
        &cat.problems[..cat.problems.len().min(5)]
    );
    println!(
        "read {messages} messages in {elapsed:?}; peak RSS {before} before reading, {} after \
         (whole process); a record is {} bytes",
        peak_rss().unwrap_or_else(|| "unknown".into()),
        std::mem::size_of::<Record>()
    );
}

fn write_big_export(root: &Path, threads: usize, files: usize, per_file: usize) {
    use std::io::Write;
    let pi = root.join("personal_information/personal_information");
    std::fs::create_dir_all(&pi).unwrap();
    std::fs::write(
        pi.join("personal_information.json"),
        r#"{"profile_user": [{"string_map_data": {"Username": {"value": "me"}}}]}"#,
    )
    .unwrap();
    let jpeg = ferry_sandbox::corpus::media_bytes(Format::Jpeg, 1);
    for t in 0..threads {
        let dir = format!("your_instagram_activity/messages/inbox/friend{t}_178414000000{t:05}");
        std::fs::create_dir_all(root.join(&dir).join("photos")).unwrap();
        for f in 0..files {
            let photo = format!("{dir}/photos/{f}.jpg");
            std::fs::write(root.join(&photo), &jpeg).unwrap();
            let mut out = std::io::BufWriter::new(
                std::fs::File::create(root.join(&dir).join(format!("message_{}.json", f + 1)))
                    .unwrap(),
            );
            write!(
                out,
                r#"{{"participants": [{{"name": "Friend {t}"}}, {{"name": "Me"}}], "messages": ["#
            )
            .unwrap();
            for i in 0..per_file {
                let n = (files - f) * per_file - i;
                let ms = 1_600_000_000_000_i64 + (n as i64) * 60_000 + t as i64;
                if i > 0 {
                    write!(out, ",").unwrap();
                }
                let sender = if i % 2 == 0 {
                    "Me".to_owned()
                } else {
                    format!("Friend {t}")
                };
                write!(
                    out,
                    r#"{{"sender_name": "{sender}", "timestamp_ms": {ms}, "content": "message {n} K\u00c3\u00b8benhavn \u00f0\u009f\u0098\u0082", "is_geoblocked_for_viewer": false"#
                )
                .unwrap();
                if i % 10 == 0 {
                    write!(
                        out,
                        r#", "reactions": [{{"reaction": "\u00e2\u009d\u00a4", "actor": "Me"}}]"#
                    )
                    .unwrap();
                }
                if i == 0 {
                    write!(
                        out,
                        r#", "photos": [{{"uri": "{photo}", "creation_timestamp": {}}}]"#,
                        ms / 1000
                    )
                    .unwrap();
                }
                write!(out, "}}").unwrap();
            }
            write!(out, r#"], "title": "Friend {t}", "is_still_participant": true, "thread_path": "inbox/friend{t}", "magic_words": []}}"#).unwrap();
        }
    }
}

fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
}

#[tokio::test]
async fn the_archive_source_passes_the_source_conformance_suite() {
    for era in Era::ALL {
        check_source(&ExportFixture::new("instagram-me", |tree| {
            instagram::write(tree, era)
        }))
        .await;
    }
}
