//! The Google Takeout reader against every era of the sandbox corpus, split over 3 zip parts
//! with the media in parts 2–3, and against hand-made trees for the quirks the corpus lacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_archives::{Catalogue, Limits, Service};
use ferry_core::model::{MediaItem, MediaKind, Record};
use ferry_sandbox::corpus::{Format, media_bytes, takeout, zip_parts};

fn kind_of(format: Format) -> MediaKind {
    match format {
        Format::Mp4 => MediaKind::Video,
        Format::Jpeg | Format::Webp | Format::Heic => MediaKind::Photo,
    }
}

fn media(cat: &Catalogue) -> Vec<&MediaItem> {
    cat.records
        .iter()
        .filter_map(|r| match r {
            Record::Media(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn album_titles(cat: &Catalogue) -> BTreeMap<String, String> {
    cat.records
        .iter()
        .filter_map(|r| match r {
            Record::Album(a) => Some((a.id.clone(), a.title.clone())),
            _ => None,
        })
        .collect()
}

fn read(parts: &[PathBuf]) -> Catalogue {
    let (_, cat) = ferry_archives::read(parts, Limits::default()).expect("a readable export");
    cat
}

#[test]
fn every_corpus_era_over_three_parts() {
    for era in takeout::Era::ALL {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = dir.path().join("tree");
        let manifest = takeout::write(&tree, era).expect("corpus");
        let parts = zip_parts(
            &tree,
            &dir.path().join("zips"),
            "takeout-20240516T230250Z",
            3,
        )
        .expect("zip parts");
        let cat = read(&parts);
        let name = era.name();

        assert_eq!(cat.detection.service, Service::GoogleTakeout, "{name}");
        let (era_tag, root) = match era {
            takeout::Era::Json => ("json", "Takeout/Google Photos/"),
            takeout::Era::Supplemental => ("supplemental-metadata", "Takeout/Google Fotos/"),
        };
        assert_eq!(cat.detection.era, era_tag, "{name}");
        assert_eq!(cat.detection.root, root, "{name}");
        assert!(cat.problems.is_empty(), "{name}: {:#?}", cat.problems);

        let albums = album_titles(&cat);
        assert_eq!(albums.len() as u64, manifest.count("albums"), "{name}");
        for title in &manifest.texts {
            assert!(albums.values().any(|t| t == title), "{name}: album {title}");
        }
        let found = media(&cat);
        assert_eq!(found.len(), manifest.media.len(), "{name}: every item once");
        assert_eq!(found.len() as u64, manifest.count("media"), "{name}");
        let count = |k: MediaKind| found.iter().filter(|m| m.kind == k).count() as u64;
        assert_eq!(count(MediaKind::Photo), manifest.count("photos"), "{name}");
        assert_eq!(count(MediaKind::Video), manifest.count("videos"), "{name}");
        let position = |file: &str| found.iter().position(|m| m.id == file);

        for expected in &manifest.media {
            let file = expected.file.as_str();
            let at = position(file).unwrap_or_else(|| panic!("{name}: {file} not found"));
            let item = found[at];
            assert_eq!(cat.media_paths.get(file).map(String::as_str), Some(file));
            assert_eq!(item.kind, kind_of(expected.format), "{name}: {file}");
            assert_eq!(
                item.taken.map(|t| t.utc.unix_timestamp()),
                expected.taken,
                "{name}: {file} taken"
            );
            assert_eq!(item.caption, expected.caption, "{name}: {file}");
            let location = item.location.as_ref().and_then(|l| l.coordinates());
            assert_eq!(location, expected.location, "{name}: {file} location");
            let mut got: Vec<&str> = item
                .albums
                .iter()
                .map(|id| albums.get(id).map_or("?", String::as_str))
                .collect();
            got.sort();
            let mut want: Vec<&str> = expected.albums.iter().map(String::as_str).collect();
            want.sort();
            assert_eq!(got, want, "{name}: {file} albums");
            for copy in &expected.copies {
                assert_eq!(position(copy), None, "{name}: copy {copy} is not an item");
            }
            if let Some(partner) = &expected.live_partner {
                let other = position(partner).expect("live partner is an item");
                assert_eq!(at.abs_diff(other), 1, "{name}: {file} next to {partner}");
                let photo_first = if item.kind == MediaKind::Photo {
                    at < other
                } else {
                    other < at
                };
                assert!(photo_first, "{name}: the photo comes first");
                assert_eq!(item.taken, found[other].taken, "{name}: {file}");
                assert_eq!(item.albums, found[other].albums, "{name}: {file}");
            }
            assert!(
                item.file_name.contains('.'),
                "{name}: {} gets an extension",
                item.file_name
            );
        }
        for ignored in &manifest.ignored {
            assert_eq!(position(ignored), None, "{name}: {ignored}");
        }
    }
}

/// Writes files (path → bytes) under a folder.
fn tree(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

fn sidecar(title: &str, taken: i64) -> Vec<u8> {
    serde_json::json!({"title": title, "description": "",
        "photoTakenTime": {"timestamp": taken.to_string(), "formatted": "…"},
        "creationTime": {"timestamp": (taken + 60).to_string(), "formatted": "…"}})
    .to_string()
    .into_bytes()
}

fn jpeg(seed: u64) -> Vec<u8> {
    media_bytes(Format::Jpeg, seed)
}

#[test]
fn nfd_names_emoji_cuts_and_special_folders() {
    use unicode_normalization::UnicodeNormalization;
    let dir = tempfile::tempdir().expect("tempdir");
    let nfd: String = "Zdjęcia Google".nfd().collect();
    let root = format!("export/Takeout/{nfd}");
    let emoji = format!("{}ab.jpg", "😀".repeat(21));
    let emoji_sidecar = format!("{}ab.j.json", "😀".repeat(21));
    let wedding: String = "Ślub Ani.jpg".nfd().collect();
    let y = format!("{root}/Photos from 2021");
    let files = vec![
        (format!("{y}/{wedding}"), jpeg(1)),
        (
            format!("{y}/Ślub Ani.jpg.json"),
            sidecar("Ślub Ani.jpg", 1_620_000_000),
        ),
        (format!("{y}/{emoji}"), jpeg(2)),
        (
            format!("{y}/{emoji_sidecar}"),
            sidecar(&emoji, 1_620_000_100),
        ),
        // No sidecar: the date in the name.
        (format!("{y}/IMG_20210601_120000.jpg"), jpeg(3)),
        // A sidecar whose media is missing.
        (
            format!("{y}/lost.jpg.json"),
            sidecar("lost.jpg", 1_620_000_200),
        ),
        (format!("{root}/Kosz/deleted.jpg"), jpeg(4)),
        (format!("{root}/Archive/archived.jpg"), jpeg(5)),
        (
            format!("{root}/Archive/archived.jpg.json"),
            sidecar("archived.jpg", 1_620_000_300),
        ),
        (format!("{root}/2013-04-12/scan.jpg"), jpeg(6)),
        ("export/Takeout/Drive/notes.txt".to_owned(), b"x".to_vec()),
        (
            "export/Takeout/archive_browser.html".to_owned(),
            b"<html></html>".to_vec(),
        ),
    ];
    tree(dir.path(), &files);
    let cat = read(&[dir.path().to_path_buf()]);
    assert_eq!(cat.detection.service, Service::GoogleTakeout);
    assert_eq!(cat.detection.root, format!("export/Takeout/{nfd}/"));
    assert_eq!(cat.detection.era, "json");
    let found = media(&cat);
    let taken = |suffix: &str| {
        found
            .iter()
            .find(|m| m.id.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not found"))
            .taken
            .map(|t| t.utc.unix_timestamp())
    };
    assert_eq!(taken(&wedding), Some(1_620_000_000));
    assert_eq!(taken(&emoji), Some(1_620_000_100));
    assert_eq!(taken("IMG_20210601_120000.jpg"), Some(1_622_548_800));
    assert_eq!(taken("archived.jpg"), Some(1_620_000_300));
    assert_eq!(taken("scan.jpg"), Some(1_365_724_800));
    assert_eq!(found.len(), 5);
    assert!(
        album_titles(&cat).is_empty(),
        "year, date and archive folders are no albums"
    );
    let problem = |suffix: &str| cat.problems.iter().any(|p| p.id.ends_with(suffix));
    assert!(problem("Kosz/deleted.jpg"));
    assert!(problem("lost.jpg.json"));
    assert!(problem("Takeout/Drive/"));
    assert_eq!(cat.problems.len(), 3, "{:#?}", cat.problems);
}

#[test]
fn the_photos_folder_itself_and_a_file_given_in_two_parts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unpacked = dir.path().join("unpacked");
    let files = vec![
        ("Photos from 2020/a.jpg".to_owned(), jpeg(7)),
        (
            "Photos from 2020/a.jpg.supplemental-metadata.json".to_owned(),
            sidecar("a.jpg", 1_600_000_000),
        ),
        ("Urlaub/a.jpg".to_owned(), jpeg(7)),
        (
            "Urlaub/a.jpg.supplemental-metadata.json".to_owned(),
            sidecar("a.jpg", 1_600_000_000),
        ),
        (
            "Urlaub/Metadaten.json".to_owned(),
            br#"{"title": "Urlaub"}"#.to_vec(),
        ),
        (
            "Urlaub/print-order.json".to_owned(),
            br#"{"externalOrderId": "1"}"#.to_vec(),
        ),
    ];
    tree(&unpacked, &files);
    // The same tree again as a zip part: every file twice, still one item.
    let parts = zip_parts(&unpacked, &dir.path().join("zips"), "takeout", 1).expect("zip");
    let mut given = vec![unpacked.clone()];
    given.extend(parts);
    let cat = read(&given);
    assert_eq!(cat.detection.root, "");
    assert_eq!(cat.detection.era, "supplemental-metadata");
    let found = media(&cat);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].id, "Photos from 2020/a.jpg");
    let albums = album_titles(&cat);
    let titles: Vec<&str> = found[0]
        .albums
        .iter()
        .filter_map(|a| albums.get(a).map(String::as_str))
        .collect();
    assert_eq!(titles, ["Urlaub"]);
    assert!(cat.problems.is_empty(), "{:#?}", cat.problems);
}

#[test]
fn other_services_are_not_takeouts() {
    use ferry_sandbox::corpus::{facebook, instagram};
    let dir = tempfile::tempdir().expect("tempdir");
    for era in instagram::Era::ALL {
        let tree = dir.path().join(format!("ig-{}", era.name()));
        instagram::write(&tree, era).expect("corpus");
        let fs = ferry_archives::ArchiveFs::open(&[tree], Limits::default()).expect("fs");
        assert_eq!(ferry_archives::takeout::detect(&fs), None, "{}", era.name());
    }
    for era in facebook::Era::ALL {
        let tree = dir.path().join(format!("fb-{}", era.name()));
        facebook::write(&tree, era).expect("corpus");
        let fs = ferry_archives::ArchiveFs::open(&[tree], Limits::default()).expect("fs");
        assert_eq!(ferry_archives::takeout::detect(&fs), None, "{}", era.name());
    }
}

mod export_fixture;

#[tokio::test]
async fn the_archive_source_passes_the_source_conformance_suite_on_takeout_exports() {
    for era in ferry_sandbox::corpus::takeout::Era::ALL {
        ferry_testkit::source_suite::check_source(&export_fixture::ExportFixture::new(
            "takeout-export",
            |tree| ferry_sandbox::corpus::takeout::write(tree, era),
        ))
        .await;
    }
}
