//! The generated export corpus is self-consistent: its manifest matches the files written.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use ferry_sandbox::corpus::{self, Format, Manifest, facebook, instagram, takeout};
use serde_json::Value;

fn all(dir: &Path) -> Vec<(String, Manifest)> {
    let mut out = Vec::new();
    for era in instagram::Era::ALL {
        let d = dir.join(format!("ig-{}", era.name()));
        out.push((
            format!("ig-{}", era.name()),
            instagram::write(&d, era).unwrap(),
        ));
    }
    for era in facebook::Era::ALL {
        let d = dir.join(format!("fb-{}", era.name()));
        out.push((
            format!("fb-{}", era.name()),
            facebook::write(&d, era).unwrap(),
        ));
    }
    for era in takeout::Era::ALL {
        let d = dir.join(format!("go-{}", era.name()));
        out.push((
            format!("go-{}", era.name()),
            takeout::write(&d, era).unwrap(),
        ));
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.insert(
                p.strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/"),
            );
        }
    }
}

/// The §1 repair: Latin-1 characters back to bytes, kept only when they form valid UTF-8.
fn fix_meta(s: &str) -> String {
    let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(c as u32).ok()).collect();
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| s.to_string())
}

/// Every string and key of a JSON value, repaired when `meta`.
fn strings(v: &Value, meta: bool, out: &mut Vec<String>, refs: &mut Vec<String>, key: &str) {
    let fix = |s: &str| if meta { fix_meta(s) } else { s.to_string() };
    match v {
        Value::String(s) => {
            if matches!(key, "uri" | "path") {
                refs.push(s.clone());
            }
            out.push(fix(s));
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, meta, out, refs, key)),
        Value::Object(o) => {
            for (k, x) in o {
                out.push(fix(k));
                strings(x, meta, out, refs, k);
            }
        }
        _ => {}
    }
}

fn magic(format: Format, b: &[u8]) -> bool {
    match format {
        Format::Jpeg => b.starts_with(&[0xFF, 0xD8, 0xFF]),
        Format::Mp4 => b.len() > 8 && &b[4..8] == b"ftyp",
        Format::Webp => b.starts_with(b"RIFF") && &b[8..12] == b"WEBP",
        Format::Heic => &b[4..12] == b"ftypheic",
    }
}

#[test]
fn every_era_matches_its_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, m) in all(tmp.path()) {
        let root = tmp.path().join(&name);
        let mut on_disk = BTreeSet::new();
        walk(&root, &root, &mut on_disk);
        let listed: BTreeSet<String> = m.files.iter().cloned().collect();
        assert_eq!(on_disk, listed, "{name}: files on disk vs manifest");
        assert!(!m.quirks.is_empty(), "{name}: no quirks recorded");

        if m.era == "html" {
            assert!(m.refuse.is_some());
            assert!(m.files.iter().any(|f| f.ends_with(".html")));
            assert!(
                !m.files.iter().any(|f| f.ends_with(".json")),
                "{name}: HTML export has JSON"
            );
            continue;
        }
        assert!(m.refuse.is_none(), "{name}");

        // Media: bytes where the manifest says, with the right magic; copies and sidecars exist.
        assert!(!m.media.is_empty(), "{name}");
        for it in &m.media {
            let bytes = fs::read(root.join(&it.file))
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", it.file));
            assert!(
                magic(it.format, &bytes),
                "{name}: {} is not {:?}",
                it.file,
                it.format
            );
            for c in &it.copies {
                assert_eq!(fs::read(root.join(c)).unwrap(), bytes, "{name}: copy {c}");
            }
            if let Some(s) = &it.sidecar {
                assert!(listed.contains(s), "{name}: sidecar {s} of {}", it.file);
            }
            assert!(
                it.taken.is_some_and(|t| t > 0),
                "{name}: {} has no date",
                it.file
            );
        }

        // JSON parses (except junk meant to be skipped); texts appear once repaired; every
        // file reference resolves or is a known link.
        let meta = m.source != "takeout" && m.era != "e2ee";
        let mut texts = Vec::new();
        for f in m.files.iter().filter(|f| f.ends_with(".json")) {
            let raw = fs::read(root.join(f)).unwrap();
            if m.ignored.contains(f) && serde_json::from_slice::<Value>(&raw).is_err() {
                continue;
            }
            if meta {
                assert!(raw.is_ascii(), "{name}: {f} is not ASCII-escaped");
            }
            let v: Value =
                serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{name}: {f}: {e}"));
            let mut r = Vec::new();
            strings(&v, meta, &mut texts, &mut r, "");
            let dir = Path::new(f).parent().unwrap();
            for u in r.into_iter().filter(|u| !u.is_empty()) {
                if u.starts_with("http") || u == "Failed to download media" {
                    continue;
                }
                let direct = u.trim_start_matches("./").to_string();
                let beside = dir.join(&u).to_str().unwrap().replace('\\', "/");
                // Messenger names a file by its bare name while it sits in the thread's photos/.
                let in_photos = !u.contains('/')
                    && listed.contains(&dir.join("photos").join(&u).to_string_lossy().into_owned());
                assert!(
                    listed.contains(&direct) || listed.contains(&beside) || in_photos,
                    "{name}: {f} names missing {u}"
                );
            }
        }
        for t in &m.texts {
            assert!(
                texts.iter().any(|s| s.contains(t.as_str())),
                "{name}: text {t:?} not found"
            );
        }
        for l in &m.links {
            assert!(texts.iter().any(|s| s == l), "{name}: link {l} not found");
        }
        serde_json::to_string(&m).unwrap();
    }
}

#[test]
fn generation_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (ma, mb) = (all(a.path()), all(b.path()));
    assert_eq!(ma, mb);
    for (name, m) in &ma {
        for f in &m.files {
            let (x, y) = (a.path().join(name).join(f), b.path().join(name).join(f));
            assert_eq!(fs::read(x).unwrap(), fs::read(y).unwrap(), "{name}/{f}");
        }
    }
}

#[test]
fn takeout_names_follow_the_truncation_rules() {
    use takeout::{archive_name, sidecar_name};
    assert_eq!(
        sidecar_name("MVIMG_20191230_232926.jpg", true, None),
        "MVIMG_20191230_232926.jpg.supplemental-metadat.json"
    );
    assert_eq!(
        sidecar_name("IMG_3479.JPG", false, Some(1)),
        "IMG_3479.JPG(1).json"
    );
    assert_eq!(
        sidecar_name("Scan35.jpg", true, Some(1)),
        "Scan35.jpg.supplemental-metadata(1).json"
    );
    let long = "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGINAL.jpg";
    assert_eq!(
        archive_name(long),
        "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGINA.jpg"
    );
    assert_eq!(
        sidecar_name(long, false, None),
        "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGIN.json"
    );
    let tmp = tempfile::tempdir().unwrap();
    for era in takeout::Era::ALL {
        let m = takeout::write(tmp.path(), era).unwrap();
        assert!(m.files.iter().any(|f| f.ends_with("..json")), "{era:?}");
        assert!(
            m.files.iter().any(|f| f.ends_with("/IMG_3479(1).JPG")),
            "{era:?}"
        );
        assert_eq!(m.count("live_photos"), 3);
        let pxl = &m.media[0];
        assert_eq!(pxl.albums.len(), 2);
        assert_eq!(pxl.copies.len(), 2);
        // 0/0 is no location; photoTakenTime "0" falls back to creationTime.
        assert!(
            m.media
                .iter()
                .any(|i| i.file.ends_with("/IMG_3479.JPG") && i.location.is_none())
        );
        assert!(
            m.media
                .iter()
                .any(|i| i.file.contains("Screenshot") && i.taken == Some(1_682_935_810))
        );
    }
}

#[test]
fn zip_parts_put_media_after_part_one() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("fb");
    let m = facebook::write(&src, facebook::Era::Y2024).unwrap();
    let parts = corpus::zip_parts(
        &src,
        &tmp.path().join("zips"),
        "facebook-jorg.muller-20250101-AbCd",
        3,
    )
    .unwrap();
    assert_eq!(parts.len(), 3);
    let mut seen = BTreeSet::new();
    for (i, p) in parts.iter().enumerate() {
        let mut z = zip::ZipArchive::new(fs::File::open(p).unwrap()).unwrap();
        assert!(!z.is_empty(), "part {i} is empty");
        for k in 0..z.len() {
            let name = z.by_index(k).unwrap().name().unwrap().to_string();
            let is_media = m.media.iter().any(|it| it.file == name);
            assert_eq!(i > 0, is_media, "{name} in part {}", i + 1);
            assert!(seen.insert(name));
        }
    }
    assert_eq!(seen, m.files.iter().cloned().collect());
}
