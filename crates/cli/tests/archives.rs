//! Export archives through the `ferry` command: the parts of an Instagram, Facebook or Google
//! Takeout export given together move to a folder with their dates and albums; `ferry inspect`
//! says what an archive is and holds; an HTML export and hostile zips are refused clearly;
//! `ferry export` writes ferry's own archive, which transfers like any other export.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::*;
use ferry_sandbox::corpus::{self, Manifest};
use serde_json::Value;
use sha2::Digest;

/// Every file under `dir`, by content, but ferry's hidden bookkeeping (whose documents a
/// folder holds), which differs from transfer to transfer.
fn files_by_content(dir: &Path) -> HashMap<Vec<u8>, Vec<PathBuf>> {
    let mut out: HashMap<Vec<u8>, Vec<PathBuf>> = HashMap::new();
    for relative in files_under(dir) {
        if relative
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".ferry-"))
        {
            continue;
        }
        let path = dir.join(relative);
        out.entry(std::fs::read(&path).unwrap())
            .or_default()
            .push(path);
    }
    out
}

fn mtime(path: &Path) -> i64 {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    time::OffsetDateTime::from(modified).unix_timestamp()
}

/// Checks that every media item of the manifest landed under `dst`: once per album it is in
/// (at least once), dated with its taken time.
fn assert_landed(manifest: &Manifest, tree: &Path, dst: &Path) {
    let landed = files_by_content(dst);
    for item in &manifest.media {
        let bytes = std::fs::read(tree.join(&item.file)).unwrap();
        let Some(paths) = landed.get(&bytes) else {
            panic!(
                "{} ({}) did not land in {}",
                item.file,
                item.context,
                dst.display()
            );
        };
        assert!(
            paths.len() >= item.albums.len().max(1),
            "{} is in {} albums but landed {} times: {paths:?}",
            item.file,
            item.albums.len(),
            paths.len()
        );
        if let Some(taken) = item.taken {
            for path in paths {
                assert_eq!(mtime(path), taken, "{} dated wrong", path.display());
            }
        }
    }
}

fn zipped(tree: &Path, out: &Path, stem: &str, parts: usize) -> Vec<String> {
    corpus::zip_parts(tree, out, stem, parts)
        .unwrap()
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn instagram_parts_given_together_transfer_with_dates() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let manifest = corpus::instagram::write(&tree, corpus::instagram::Era::Y2025).unwrap();
    let parts = zipped(&tree, &dir.path().join("zips"), "instagram-ana-2025", 2);
    let dst = dir.path().join("dst");
    let out = ferry(&dir.path().join("data"))
        .arg("transfer")
        .args(&parts)
        .arg(&dst)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["state"], "done", "{report}");
    assert_eq!(report["items"]["failed"], 0, "{report}");
    assert_landed(&manifest, &tree, &dst);
}

/// ferry's `data/` documents, by path: each one's records as JSON, in order. Media entries
/// leave out where the bytes are (`path`), which is the destination's own.
fn documents(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for (path, bytes) in files {
        let Some(relative) = path.strip_prefix("data/") else {
            continue;
        };
        // Hidden files are ferry's bookkeeping (whose documents these are), not documents.
        if relative
            .rsplit('/')
            .next()
            .is_some_and(|name| name.starts_with('.'))
        {
            continue;
        }
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let Value::Object(fields) = doc else {
            panic!("{path} is not an object")
        };
        let mut records: Vec<Value> = fields
            .into_iter()
            .filter_map(|(_, v)| match v {
                Value::Array(list) => Some(list),
                _ => None,
            })
            .flatten()
            .collect();
        if relative == "media.json" {
            for record in &mut records {
                if let Value::Object(fields) = record {
                    fields.remove("path");
                }
            }
        }
        // Albums and media are sets: a transfer lists them in its own order.
        if matches!(relative, "media.json" | "albums.json") {
            records.sort_by_key(|r| r["id"].to_string());
        }
        out.insert(relative.to_owned(), records);
    }
    out
}

fn folder_documents(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    documents(files_under(dir).into_iter().map(|relative| {
        let path = relative.to_string_lossy().replace('\\', "/");
        (path, std::fs::read(dir.join(&relative)).unwrap())
    }))
}

fn zip_documents(zip: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        files.push((name, bytes));
    }
    documents(files)
}

/// An export moved to a folder holds every record as `ferry export`'s archive does: the same
/// `data/*.json` documents, record for record, beside the media where the transfer put them,
/// with the offline viewer. A second run replaces them, and a file of the person's own at
/// one of their names is never overwritten.
#[test]
fn a_folder_holds_the_records_of_an_export_as_the_archive_does() {
    use corpus::{facebook, instagram};
    /// One export of the corpus, by service and layout era.
    #[derive(Debug)]
    enum Export {
        Instagram(instagram::Era),
        Facebook(facebook::Era),
    }
    let eras = [
        Export::Instagram(instagram::Era::V1),
        Export::Instagram(instagram::Era::Y2021),
        Export::Instagram(instagram::Era::Y2022),
        Export::Instagram(instagram::Era::Y2025),
        Export::Facebook(facebook::Era::Pre2024),
        Export::Facebook(facebook::Era::Y2022),
        Export::Facebook(facebook::Era::Y2024),
        Export::Facebook(facebook::Era::E2ee),
    ];
    for export in eras {
        let era = format!("{export:?}");
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        match export {
            Export::Instagram(era) => drop(instagram::write(&tree, era).unwrap()),
            Export::Facebook(era) => drop(facebook::write(&tree, era).unwrap()),
        }
        let dst = dir.path().join("mine");
        let data = dir.path().join("data");
        // `ferry <command> TREE <to> --json`, which must succeed.
        let run = |command: &str, to: &Path| {
            let out = ferry(&data)
                .args([
                    command,
                    tree.to_str().unwrap(),
                    to.to_str().unwrap(),
                    "--json",
                ])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{era}: {}", stderr(&out));
            json(&out)
        };
        let report = run("transfer", &dst);
        assert_eq!(
            report["types_skipped"],
            serde_json::json!([]),
            "{era}: {report}"
        );
        let listed: u64 = report["records"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();

        let zip = dir.path().join("export.zip");
        run("export", &zip);

        let in_folder = folder_documents(&dst);
        let in_archive = zip_documents(&zip);
        assert_eq!(
            in_folder.keys().collect::<Vec<_>>(),
            in_archive.keys().collect::<Vec<_>>(),
            "{era}: the documents"
        );
        for (path, records) in &in_archive {
            assert_eq!(&in_folder[path], records, "{era}: {path}");
        }
        let texts: usize = in_archive
            .iter()
            .filter(|(p, _)| !matches!(p.as_str(), "media.json" | "albums.json"))
            .map(|(_, r)| r.len())
            .sum();
        assert!(texts > 0, "{era}: no records beside the media");
        // Every listed record is in a document.
        assert_eq!(listed as usize, texts, "{era}: {}", report["records"]);
        // Media entries name files that are there, with those bytes.
        let media: Value =
            serde_json::from_slice(&std::fs::read(dst.join("data/media.json")).unwrap()).unwrap();
        for entry in media["media"].as_array().unwrap() {
            let path = dst.join(entry["path"].as_str().unwrap());
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{era}: {}: {e}", path.display()));
            assert_eq!(
                hex::encode(sha2::Sha256::digest(&bytes)),
                entry["sha256"],
                "{era}"
            );
        }
        assert!(dst.join("index.html").is_file(), "{era}: no viewer");

        // Again: the documents are written anew, not beside the old ones.
        let before = files_under(&dst).len();
        run("transfer", &dst);
        assert_eq!(
            files_under(&dst).len(),
            before,
            "{era}: a re-run added files"
        );
        assert_eq!(folder_documents(&dst), in_folder, "{era}");
    }

    // A file of the person's own where ferry would write a document stops the job, intact.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    corpus::instagram::write(&tree, corpus::instagram::Era::Y2025).unwrap();
    let dst = dir.path().join("mine");
    std::fs::create_dir_all(dst.join("data")).unwrap();
    std::fs::write(dst.join("data/posts.json"), b"my own notes").unwrap();
    let out = ferry(&dir.path().join("data"))
        .args([
            "transfer",
            tree.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["state"], "paused", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("not written by ferry"),
        "{report}"
    );
    assert_eq!(
        std::fs::read(dst.join("data/posts.json")).unwrap(),
        b"my own notes"
    );

    // Another transfer into a folder that holds one transfer's records stops, and the
    // records there stay those of the first.
    let first = dir.path().join("first");
    let fb = dir.path().join("fb");
    corpus::facebook::write(&fb, corpus::facebook::Era::Y2024).unwrap();
    let transfer = |from: &Path| {
        ferry(&dir.path().join("data"))
            .args([
                "transfer",
                from.to_str().unwrap(),
                first.to_str().unwrap(),
                "--json",
            ])
            .output()
            .unwrap()
    };
    assert_eq!(transfer(&tree).status.code(), Some(0));
    let before = folder_documents(&first);
    let out = transfer(&fb);
    let report = json(&out);
    assert_eq!(report["state"], "paused", "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("another transfer"),
        "{report}"
    );
    assert_eq!(folder_documents(&first), before);
}

#[test]
fn an_unpacked_takeout_folder_places_a_copy_in_each_album() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("Takeout-unpacked");
    let manifest = corpus::takeout::write(&tree, corpus::takeout::Era::Json).unwrap();
    assert!(
        manifest.media.iter().any(|m| m.albums.len() >= 2),
        "the corpus should have an item in two albums"
    );
    let dst = dir.path().join("dst");
    let out = ferry(&dir.path().join("data"))
        .args(["transfer", tree.to_str().unwrap(), dst.to_str().unwrap()])
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_landed(&manifest, &tree, &dst);

    // A live photo's video lands next to its still, not among the videos.
    let landed = files_by_content(&dst);
    let folder_of = |file: &str| {
        let bytes = std::fs::read(tree.join(file)).unwrap();
        landed[&bytes][0].parent().unwrap().to_path_buf()
    };
    let mut pairs = 0;
    for item in manifest
        .media
        .iter()
        .filter(|m| m.format == corpus::Format::Mp4)
    {
        if let Some(still) = &item.live_partner {
            assert_eq!(folder_of(&item.file), folder_of(still), "{}", item.file);
            pairs += 1;
        }
    }
    assert!(pairs > 0, "the corpus has live photos");
}

#[test]
fn inspect_says_what_an_export_is_and_holds() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let manifest = corpus::facebook::write(&tree, corpus::facebook::Era::Y2024).unwrap();
    let parts = zipped(&tree, &dir.path().join("zips"), "facebook-ana", 2);
    let out = ferry(&dir.path().join("data"))
        .arg("inspect")
        .args(&parts)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["service"], "facebook", "{report}");
    assert_eq!(report["era"], "2024", "{report}");
    let media = report["types"]["photos"]["count"].as_u64().unwrap_or(0)
        + report["types"]["videos"]["count"].as_u64().unwrap_or(0);
    assert_eq!(media, manifest.media.len() as u64, "{report}");
    assert!(report["types"]["messages"]["count"].as_u64().unwrap_or(0) > 0);

    let text = ferry(&dir.path().join("data"))
        .arg("inspect")
        .args(&parts)
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let shown = stdout(&text);
    assert!(shown.starts_with("Facebook export, 2024 layout"), "{shown}");
    assert!(shown.contains("photos"), "{shown}");
}

#[test]
fn an_html_export_is_refused_with_how_to_get_json() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("facebook-html");
    corpus::facebook::write(&tree, corpus::facebook::Era::Html).unwrap();
    let parts = zipped(&tree, &dir.path().join("zips"), "facebook-html", 1);
    for source in [tree.to_string_lossy().into_owned(), parts[0].clone()] {
        let out = ferry(&dir.path().join("data"))
            .args(["transfer", &source])
            .arg(dir.path().join("dst"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("HTML") && err.contains("JSON"), "{err}");
    }
    assert!(!dir.path().join("dst").exists());
}

#[test]
fn a_zip_slip_entry_is_reported_and_nothing_lands_outside() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    corpus::instagram::write(&tree, corpus::instagram::Era::Y2022).unwrap();
    let parts = zipped(&tree, &dir.path().join("zips"), "instagram-evil", 1);
    // Append hostile entries to a copy of the export.
    let evil = dir.path().join("evil.zip");
    {
        let file = std::fs::File::open(&parts[0]).unwrap();
        let mut source = zip::ZipArchive::new(file).unwrap();
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&evil).unwrap());
        for i in 0..source.len() {
            writer.raw_copy_file(source.by_index(i).unwrap()).unwrap();
        }
        let options = zip::write::SimpleFileOptions::default();
        for name in [
            "../escaped.jpg",
            "/tmp/ferry-absolute.jpg",
            "media/..\\..\\x.jpg",
        ] {
            writer.start_file(name, options).unwrap();
            writer.write_all(b"\xFF\xD8\xFFhostile").unwrap();
        }
        writer.finish().unwrap();
    }
    let out = ferry(&dir.path().join("data"))
        .args(["inspect", evil.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let problems = report["problems"].to_string();
    assert!(problems.contains("escaped.jpg"), "{problems}");
    assert!(problems.contains("ferry-absolute.jpg"), "{problems}");

    let dst = dir.path().join("deep/dst");
    std::fs::create_dir_all(dir.path().join("deep")).unwrap();
    let out = ferry(&dir.path().join("data"))
        .args(["transfer", evil.to_str().unwrap(), dst.to_str().unwrap()])
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!dir.path().join("deep/escaped.jpg").exists());
    assert!(!dir.path().join("escaped.jpg").exists());
    assert!(!Path::new("/tmp/ferry-absolute.jpg").exists());
    let landed = files_by_content(&dst);
    assert!(
        !landed.contains_key(b"\xFF\xD8\xFFhostile".as_slice()),
        "a refused entry was transferred"
    );
}

#[test]
fn inspect_and_transfer_leave_out_every_copy_of_a_name_given_twice() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    corpus::instagram::write(&tree, corpus::instagram::Era::Y2022).unwrap();
    let parts = zipped(&tree, &dir.path().join("zips"), "instagram-twice", 1);
    let photo = "media/posts/201912/79_n_17851234567890123.jpg";
    let attacker = b"\xFF\xD8\xFF\xE0 the attacker's photo";
    // The zip crate never writes a name twice: the second copy is written under a stand-in
    // of the same length, which is then patched into the real name in the bytes.
    let stand_in = photo.replace("79_n_", "XX_n_");
    let evil = dir.path().join("evil.zip");
    {
        use std::io::Write;
        let file = std::fs::File::open(&parts[0]).unwrap();
        let mut source = zip::ZipArchive::new(file).unwrap();
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&evil).unwrap());
        for i in 0..source.len() {
            writer.raw_copy_file(source.by_index(i).unwrap()).unwrap();
        }
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        writer.start_file(stand_in.as_str(), stored).unwrap();
        writer.write_all(attacker).unwrap();
        writer.finish().unwrap();
    }
    let mut bytes = std::fs::read(&evil).unwrap();
    let mut patched = 0;
    while let Some(at) = bytes
        .windows(stand_in.len())
        .position(|w| w == stand_in.as_bytes())
    {
        bytes[at..at + stand_in.len()].copy_from_slice(photo.as_bytes());
        patched += 1;
    }
    assert_eq!(patched, 2, "the local and the central header");
    std::fs::write(&evil, bytes).unwrap();

    let data = dir.path().join("data");
    let out = ferry(&data)
        .args(["inspect", evil.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let id = format!("evil.zip:{photo}");
    let copies: Vec<&serde_json::Value> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["entry"] == id.as_str())
        .collect();
    assert_eq!(copies.len(), 2, "{report}");
    for copy in copies {
        assert!(
            copy["reason"]
                .as_str()
                .unwrap()
                .contains("every copy is left out"),
            "{copy}"
        );
    }
    // The text form names it first, before anything that was merely not read.
    let out = ferry(&data)
        .args(["inspect", evil.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let listed = text
        .lines()
        .skip_while(|l| !l.starts_with("Could not read"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        listed.contains(&id) && listed.contains("more than once"),
        "{text}"
    );

    let dst = dir.path().join("dst");
    let out = ferry(&data)
        .args(["transfer", evil.to_str().unwrap(), dst.to_str().unwrap()])
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let landed = files_by_content(&dst);
    assert!(
        !landed.contains_key(attacker.as_slice()),
        "the decoy landed"
    );
    let genuine = std::fs::read(tree.join(photo)).unwrap();
    assert!(!landed.contains_key(&genuine), "a copy in doubt landed");
}

#[test]
fn write_exif_dates_the_jpegs_meta_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let manifest = corpus::facebook::write(&tree, corpus::facebook::Era::Y2024).unwrap();
    let dst = dir.path().join("dst");
    let out = ferry(&dir.path().join("data"))
        .args(["transfer", tree.to_str().unwrap(), dst.to_str().unwrap()])
        .args(["--write-exif", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let landed = files_by_content(&dst);
    let mut rewritten = 0;
    for item in manifest
        .media
        .iter()
        .filter(|m| m.format == corpus::Format::Jpeg && m.taken.is_some())
    {
        let original = std::fs::read(tree.join(&item.file)).unwrap();
        if !ferry_archives::exif::lacks_exif(&original) {
            continue;
        }
        // The landed file is the original with an EXIF segment inserted: find it by its tail.
        let tail = &original[original.len() - 64..];
        let found = landed
            .iter()
            .find(|(bytes, _)| bytes.ends_with(tail) && bytes.len() > original.len())
            .unwrap_or_else(|| panic!("{} did not land with EXIF", item.file));
        assert!(!ferry_archives::exif::lacks_exif(found.0));
        rewritten += 1;
    }
    assert!(rewritten > 0, "the corpus has JPEGs without EXIF");
}

#[test]
fn an_export_of_an_export_round_trips_to_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    corpus::instagram::write(&tree, corpus::instagram::Era::Y2022).unwrap();
    let parts = zipped(&tree, &dir.path().join("zips"), "instagram-ana", 2);
    let data = dir.path().join("data");

    // The export straight to a folder…
    let direct = dir.path().join("direct");
    let out = ferry(&data)
        .arg("transfer")
        .args(&parts)
        .arg(&direct)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // …and through ferry's archive, split in parts, land the same files with the same dates.
    let archive = dir.path().join("ana.zip");
    let out = ferry(&data)
        .arg("export")
        .args(&parts)
        .arg(&archive)
        .args(["--split-size", "8KiB", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = json(&out);
    let written: Vec<String> = summary["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    assert!(written.len() >= 3, "expected several parts: {summary}");
    assert!(written[0].ends_with("ana-1.zip"), "{summary}");
    assert!(
        summary["counts"]["message"].as_u64().unwrap() > 0,
        "{summary}"
    );

    let via_archive = dir.path().join("via-archive");
    let out = ferry(&data)
        .arg("transfer")
        .args(&written)
        .arg(&via_archive)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (a, b) = (files_by_content(&direct), files_by_content(&via_archive));
    assert_eq!(a.len(), b.len(), "different files landed");
    for (bytes, paths) in &a {
        let other = b
            .get(bytes)
            .expect("a file landed only in the direct transfer");
        let names = |ps: &Vec<PathBuf>| {
            let mut v: Vec<_> = ps
                .iter()
                .map(|p| (p.file_name().unwrap().to_owned(), mtime(p)))
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(paths), names(other));
    }
}

#[test]
fn an_encrypted_export_decrypts_with_age_to_a_readable_archive() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    corpus::facebook::write(&tree, corpus::facebook::Era::Pre2024).unwrap();
    let archive = dir.path().join("fb.zip");
    let out = ferry(&dir.path().join("data"))
        .args(["export", tree.to_str().unwrap(), archive.to_str().unwrap()])
        .args(["--encrypt", "--json"])
        .env("FERRY_EXPORT_PASSPHRASE", "correct horse battery staple")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sealed = dir.path().join("fb.zip.age");
    assert!(sealed.is_file() && !archive.exists());
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(
        !bytes.windows(4).any(|w| w == b"PK\x03\x04"),
        "not encrypted"
    );

    let identity =
        age::scrypt::Identity::new(secrecy::SecretString::from("correct horse battery staple"));
    let decryptor = age::Decryptor::new(&bytes[..]).unwrap();
    let mut plain = Vec::new();
    decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    std::fs::write(&archive, plain).unwrap();
    let out = ferry(&dir.path().join("data"))
        .args(["inspect", archive.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let decrypted = json(&out);
    assert_eq!(decrypted["service"], "ferry");

    // ferry reads the encrypted part itself, given the passphrase…
    let out = ferry(&dir.path().join("data"))
        .args(["inspect", sealed.to_str().unwrap(), "--json"])
        .env("FERRY_EXPORT_PASSPHRASE", "correct horse battery staple")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["types"], decrypted["types"]);
    let dst = dir.path().join("dst");
    let out = ferry(&dir.path().join("data"))
        .args([
            "transfer",
            sealed.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--json",
        ])
        .env("FERRY_EXPORT_PASSPHRASE", "correct horse battery staple")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["items"]["failed"], 0);
    // …and says what it needs without it, or with a wrong one.
    for passphrase in [None, Some("wrong")] {
        let mut cmd = ferry(&dir.path().join("data"));
        cmd.args(["inspect", sealed.to_str().unwrap()])
            .env_remove("FERRY_EXPORT_PASSPHRASE")
            .env_remove("FERRY_AGE_IDENTITY");
        if let Some(p) = passphrase {
            cmd.env("FERRY_EXPORT_PASSPHRASE", p);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("fb.zip.age"), "{err}");
        assert!(!err.contains("correct horse"), "{err}");
    }

    // Without a passphrase there is no encrypted export, and nothing is written.
    let out = ferry(&dir.path().join("data"))
        .args(["export", tree.to_str().unwrap()])
        .arg(dir.path().join("other.zip"))
        .arg("--encrypt")
        .env_remove("FERRY_EXPORT_PASSPHRASE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("passphrase"), "{}", stderr(&out));
    assert!(!dir.path().join("other.zip.age").exists());
}

/// A transfer from an export archive killed with SIGKILL mid-move and run again: every file
/// lands exactly once, byte-identical, and no temporary file is left.
#[test]
fn a_killed_archive_transfer_resumes_without_loss_or_duplicates() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let (src, dst, data) = (
        dir.path().join("src"),
        dir.path().join("dst"),
        dir.path().join("data"),
    );
    library(&src, 400, 48 * 1024);
    let archive = dir.path().join("library.zip");
    let out = ferry(&data)
        .args(["export", src.to_str().unwrap(), archive.to_str().unwrap()])
        .args(["--split-size", "4MiB", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let parts: Vec<String> = json(&out)["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_string())
        .collect();
    assert!(parts.len() >= 4);

    let landed = |dst: &Path| files_under(dst).iter().filter(|p| !is_temporary(p)).count();
    let mut interrupted = 0;
    for at in [60, 200, 330] {
        let mut child = ferry(&data)
            .arg("transfer")
            .args(&parts)
            .arg(&dst)
            .args(["--concurrency", "4"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while landed(&dst) < at
            && child.try_wait().unwrap().is_none()
            && started.elapsed() < Duration::from_secs(120)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        if !finished && landed(&dst) < 400 {
            interrupted += 1;
        }
    }
    assert!(interrupted >= 2, "the kills did not interrupt the move");

    let out = ferry(&data)
        .arg("transfer")
        .args(&parts)
        .arg(&dst)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["state"], "done", "{report}");
    let files = files_under(&dst);
    assert!(
        files.iter().all(|p| !is_temporary(p)),
        "temporary files left: {files:?}"
    );
    let by_content = files_by_content(&dst);
    let originals = files_by_content(&src);
    assert_eq!(files.len(), 400, "expected each file once");
    for (bytes, paths) in &originals {
        let there = by_content.get(bytes).expect("a file was lost");
        assert_eq!(there.len(), paths.len(), "a file landed twice: {there:?}");
    }
}
