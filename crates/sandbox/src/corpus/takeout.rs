//! Google Takeout (Google Photos) trees (archives.md §4), with the sidecar naming rules of §4.3.

use std::io;
use std::path::Path;

use serde_json::{Value, json};

use super::{Format, Manifest, MediaItem, Tree};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// Up to mid-2024: `<name>.json` sidecars, English root, `{"albumData": …}` album metadata,
    /// `-edited` copies.
    Json,
    /// Late 2024+: `<name>.supplemental-metadata.json` sidecars; German locale (`Google Fotos/`,
    /// `Metadaten.json`, `-bearbeitet`).
    Supplemental,
}

impl Era {
    pub const ALL: [Era; 2] = [Era::Json, Era::Supplemental];
    pub fn name(self) -> &'static str {
        match self {
            Era::Json => "json-sidecars",
            Era::Supplemental => "supplemental-metadata",
        }
    }
}

/// The file name Google gives a media file whose original name is `title`: the part before the
/// extension is cut to 47 UTF-16 code units.
pub fn archive_name(title: &str) -> String {
    match title.rsplit_once('.') {
        Some((stem, ext)) => format!("{}.{ext}", utf16_cut(stem, 47)),
        _ => title.to_string(),
    }
}

/// The longest prefix of `s` of at most `units` UTF-16 code units: Google counts names in
/// UTF-16 (an emoji counts twice) and never splits a character.
fn utf16_cut(s: &str, units: usize) -> &str {
    let mut used = 0;
    for (at, c) in s.char_indices() {
        used += c.len_utf16();
        if used > units {
            return &s[..at];
        }
    }
    s
}

/// The sidecar name for a media file uploaded as `title`: the first 46 UTF-16 code units of
/// `title` (+ `.supplemental-metadata` in the new naming), then `(N)` for duplicates, then `.json`.
pub fn sidecar_name(title: &str, supplemental: bool, dup: Option<u32>) -> String {
    let full = if supplemental {
        format!("{title}.supplemental-metadata")
    } else {
        title.to_string()
    };
    let mut s = utf16_cut(&full, 46).to_string();
    if let Some(n) = dup {
        s.push_str(&format!("({n})"));
    }
    s.push_str(".json");
    s
}

fn ts(t: i64) -> Value {
    json!({"timestamp": t.to_string(), "formatted": format!("{t} (localized text, never parse)")})
}

fn sidecar(title: &str, taken: i64, created: i64, geo: Option<(f64, f64)>, origin: Value) -> Value {
    let mut v = json!({"title": title, "description": "", "imageViews": "3",
        "creationTime": ts(created), "photoTakenTime": ts(taken),
        "url": format!("https://photos.google.com/photo/AF1Qip{}", title.len()),
        "googlePhotosOrigin": origin});
    if let Some((lat, lon)) = geo {
        let g = json!({"latitude": lat, "longitude": lon, "altitude": 12.5, "latitudeSpan": 0.0, "longitudeSpan": 0.0});
        v["geoData"] = g.clone();
        v["geoDataExif"] = g;
    }
    v
}

fn mobile() -> Value {
    json!({"mobileUpload": {"deviceFolder": {"localFolderName": ""}, "deviceType": "ANDROID_PHONE"}})
}

struct Media<'a> {
    title: &'a str,
    /// Overrides `archive_name(title)` (duplicates, edited copies, live-photo halves).
    file: Option<&'a str>,
    folder: &'a str,
    format: Format,
    taken: i64,
    created: i64,
    geo: Option<(f64, f64)>,
    /// None: this file has no sidecar of its own.
    sidecar: Option<Option<u32>>,
    origin: Value,
}

/// Writes an unpacked Google Takeout (Photos only) of `era` into `dir`.
pub fn write(dir: &Path, era: Era) -> io::Result<Manifest> {
    let new = era == Era::Supplemental;
    let mut t = Tree::new(dir, "takeout", era.name());
    let root = if new {
        "Takeout/Google Fotos"
    } else {
        "Takeout/Google Photos"
    };
    let edited = if new { "-bearbeitet" } else { "-edited" };
    let y23 = "Photos from 2023";
    let seed = if new { 1000 } else { 900 };
    let long = "PXL_20230809_203449253.LONG_EXPOSURE-02.ORIGINAL.jpg";
    let dot_cut = "panorama-gamle-torv-sammensat-af-tolv-billede.jpg";
    let edited_name = format!("IMG_1000{edited}.jpg");
    let nfd_name = "S\u{301}lub Ani.jpg";
    let emoji_title = format!("{}ab.jpg", "😀".repeat(21));
    let m = |title, file, folder, format, taken, created, geo, sidecar, origin| Media {
        title,
        file,
        folder,
        format,
        taken,
        created,
        geo,
        sidecar,
        origin,
    };
    let items = vec![
        m(
            "PXL_20231006_063000139.jpg",
            None,
            y23,
            Format::Jpeg,
            1_696_573_800,
            1_697_872_351,
            Some((48.8583736, 2.291901)),
            Some(None),
            mobile(),
        ),
        m(
            long,
            None,
            y23,
            Format::Jpeg,
            1_691_613_289,
            1_691_620_000,
            None,
            Some(None),
            mobile(),
        ),
        m(
            "IMG_3479.JPG",
            None,
            y23,
            Format::Jpeg,
            1_680_000_000,
            1_680_000_500,
            Some((0.0, 0.0)),
            Some(None),
            mobile(),
        ),
        m(
            "IMG_3479.JPG",
            Some("IMG_3479(1).JPG"),
            y23,
            Format::Jpeg,
            1_680_100_000,
            1_680_100_500,
            None,
            Some(Some(1)),
            json!({"fromPartnerSharing": {}}),
        ),
        m(
            "IMG_1000.jpg",
            None,
            y23,
            Format::Jpeg,
            1_685_000_000,
            1_685_000_100,
            None,
            Some(None),
            mobile(),
        ),
        m(
            "IMG_1000.jpg",
            Some(edited_name.as_str()),
            y23,
            Format::Jpeg,
            1_685_000_000,
            0,
            None,
            None,
            Value::Null,
        ),
        m(
            "IMG_1234.HEIC",
            None,
            y23,
            Format::Heic,
            1_688_000_000,
            1_688_000_100,
            None,
            Some(None),
            mobile(),
        ),
        m(
            "IMG_1234.HEIC",
            Some("IMG_1234.MOV"),
            y23,
            Format::Mp4,
            1_688_000_000,
            0,
            None,
            None,
            Value::Null,
        ),
        m(
            dot_cut,
            None,
            y23,
            Format::Jpeg,
            1_690_000_000,
            1_690_000_100,
            None,
            Some(None),
            json!({"webUpload": {"computerUpload": {}}}),
        ),
        m(
            "Screenshot_20230501-101010.jpg",
            None,
            y23,
            Format::Jpeg,
            0,
            1_682_935_810,
            None,
            Some(None),
            mobile(),
        ),
        m(
            "MVIMG_20191230_232926.jpg",
            None,
            "Photos from 2019",
            Format::Jpeg,
            1_577_748_566,
            1_577_750_000,
            None,
            Some(None),
            mobile(),
        ),
        m(
            "MVIMG_20191230_232926.jpg",
            Some("MVIMG_20191230_232926"),
            "Photos from 2019",
            Format::Mp4,
            1_577_748_566,
            0,
            None,
            None,
            Value::Null,
        ),
        m(
            "PXL_20220101_101010101.MP.jpg",
            None,
            "Photos from 2022",
            Format::Jpeg,
            1_641_031_810,
            1_641_032_000,
            None,
            Some(None),
            mobile(),
        ),
        m(
            "PXL_20220101_101010101.MP.jpg",
            Some("PXL_20220101_101010101.MP"),
            "Photos from 2022",
            Format::Mp4,
            1_641_031_810,
            0,
            None,
            None,
            Value::Null,
        ),
        m(
            "20030616",
            None,
            "Photos from 2003",
            Format::Jpeg,
            1_055_750_400,
            1_500_000_000,
            None,
            Some(None),
            json!({"webUpload": {"computerUpload": {}}}),
        ),
        // Unpacked on macOS: the media name in NFD, the sidecar (written on Linux) in NFC.
        m(
            "Ślub Ani.jpg",
            Some(nfd_name),
            y23,
            Format::Jpeg,
            1_684_000_000,
            1_684_000_100,
            None,
            Some(None),
            mobile(),
        ),
        // 21 emoji are 42 UTF-16 code units: the sidecar name is cut inside the extension.
        m(
            emoji_title.as_str(),
            None,
            y23,
            Format::Jpeg,
            1_684_500_000,
            1_684_500_100,
            None,
            Some(None),
            mobile(),
        ),
    ];
    for (i, it) in items.iter().enumerate() {
        let name = it
            .file
            .map(str::to_string)
            .unwrap_or_else(|| archive_name(it.title));
        let path = format!("{root}/{}/{name}", it.folder);
        t.media(&path, it.format, seed + i as u64)?;
        // Files without their own sidecar use the one of the file they derive from.
        let (own, dup) = match it.sidecar {
            Some(dup) => (true, dup),
            None => (false, None),
        };
        let side = format!("{root}/{}/{}", it.folder, sidecar_name(it.title, new, dup));
        if own {
            t.json(
                &side,
                &sidecar(it.title, it.taken, it.created, it.geo, it.origin.clone()),
            )?;
            t.count("sidecars", 1);
        }
        let mut item = MediaItem::new(path, it.format, "library");
        item.taken = Some(if it.taken != 0 { it.taken } else { it.created });
        item.location = it.geo.filter(|&(a, b)| a != 0.0 || b != 0.0);
        item.sidecar = Some(side);
        t.count(
            if it.format == Format::Mp4 {
                "videos"
            } else {
                "photos"
            },
            1,
        );
        t.item(item);
    }
    // Live/motion pairs: (photo index, video index).
    for (p, v) in [(6, 7), (10, 11), (12, 13)] {
        let (pf, vf) = (t.m.media[p].file.clone(), t.m.media[v].file.clone());
        t.m.media[p].live_partner = Some(vf);
        t.m.media[v].live_partner = Some(pf);
        t.count("live_photos", 1);
    }

    // Albums: copies of year-folder files, each with its own sidecar (own creationTime).
    let albums = [
        ("Tur til Gdańsk", vec![0usize, 2]),
        ("Bedste fra 2023", vec![0usize]),
    ];
    let meta_name = if new {
        "Metadaten.json"
    } else {
        "metadata.json"
    };
    for (k, (title, members)) in albums.iter().enumerate() {
        let folder = format!("{root}/{title}");
        let meta = if k == 1 {
            json!({"title": title})
        } else {
            let inner = json!({"title": title, "description": "Sommer 2023", "access": "protected",
                "date": ts(1_502_439_626), "location": "",
                "geoData": {"latitude": 0.0, "longitude": 0.0, "altitude": 0.0, "latitudeSpan": 0.0, "longitudeSpan": 0.0},
                "enrichments": [{"narrativeEnrichment": {"text": "Første dag"}},
                    {"locationEnrichment": {"location": [{"name": "Gdańsk", "description": "", "latitudeE7": 543_520_000, "longitudeE7": 186_466_000}]}}]});
            if new {
                inner
            } else {
                json!({"albumData": inner})
            }
        };
        t.json(&format!("{folder}/{meta_name}"), &meta)?;
        for &i in members {
            let it = &items[i];
            let name = it
                .file
                .map(str::to_string)
                .unwrap_or_else(|| archive_name(it.title));
            let copy = format!("{folder}/{name}");
            t.media(&copy, it.format, seed + i as u64)?;
            let dup = it.sidecar.flatten();
            let side = sidecar(
                it.title,
                it.taken,
                it.created + 3600 * (k as i64 + 1),
                it.geo,
                it.origin.clone(),
            );
            t.json(
                &format!("{folder}/{}", sidecar_name(it.title, new, dup)),
                &side,
            )?;
            t.count("sidecars", 1);
            t.m.media[i].copies.push(copy);
            t.m.media[i].albums.push(title.to_string());
        }
        t.count("albums", 1);
        t.text(title);
    }
    // Junk a reader must skip.
    let print = format!("{root}/Bedste fra 2023/print-order.json");
    t.json(&print, &json!({"externalOrderId": "0123456789", "type": "PURCHASED", "category": "SHIPPED_PRINTS", "creationTime": ts(1_700_000_000)}))?;
    let browser = "Takeout/archive_browser.html";
    t.file(
        browser,
        b"<!DOCTYPE html><html><body>Archive browser</body></html>",
    )?;
    t.m.ignored.push(print);
    t.m.ignored.push(browser.to_string());
    t.count("media", items.len() as u64);

    for q in [
        if new {
            "sidecar-supplemental-metadata"
        } else {
            "sidecar-json"
        },
        if new {
            "localized-root"
        } else {
            "album-albumData-wrapped"
        },
        if new {
            "album-metadata-localized"
        } else {
            "album-metadata-json"
        },
        if new { "edited-localized" } else { "edited" },
        "truncated-long-name",
        "sidecar-46-cut",
        "sidecar-dot-dot-json",
        "dup-N-twins",
        "live-heic-mov",
        "mvimg-extensionless",
        "mp-jpg-mp",
        "photoTakenTime-0",
        "geo-0-0",
        "partner-sharing-empty",
        "extensionless-original",
        "same-photo-several-albums",
        "print-order-ignored",
        "archive-browser-html",
        "album-thin-metadata",
        "nfd-media-name",
        "sidecar-cut-utf16-emoji",
    ] {
        t.quirk(q);
    }
    Ok(t.finish())
}
