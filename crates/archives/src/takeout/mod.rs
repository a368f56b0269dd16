//! Google Takeout exports of Google Photos (archives.md §4).
//!
//! The export is `Takeout/<Google Photos, localized>/` holding year folders (`Photos from
//! 2023/`, or date folders `2013-04-12/` before late 2020) and album folders, each media file
//! next to a JSON sidecar whose name only roughly follows the media's ([`matcher`]).
//!
//! Decisions:
//! - A folder is an album iff it holds album metadata (`metadata.json` or a localized name,
//!   recognised by content, `{"albumData": …}` or bare, down to a thin `{"title": …}`).
//!   Year folders and `Archive/` are not albums; their media belong to no album.
//! - `Trash/`, `Locked Folder/` and `Failed Videos/` (localized) are not moved: each file is
//!   listed as a problem with the reason. So is media whose sidecar says `"trashed": true`.
//! - The same photo in its year folder, in each album and again in another zip part is one
//!   [`MediaItem`]: copies are matched by NFC file name and size, and confirmed by CRC (zip
//!   parts) and sidecar title. Its id is the year-folder copy's path; `albums` lists every
//!   album holding a copy.
//! - `taken`: `photoTakenTime`, else `creationTime`, else `photoLastModifiedTime` ("0" is
//!   unknown); without a sidecar, the date in the file name (`IMG_20161204_194948`), else the
//!   day of an old date folder. A `Photos from 2023` folder gives no date: a year is not a
//!   date, and 1 January would misplace the photo in every timeline.
//! - Live and motion photos: both halves are items, emitted photo then video; a video with no
//!   sidecar of its own takes the photo's, and both share albums and taken time.
//! - Print orders, shared-album comments, memory titles and the archive browser are skipped
//!   quietly; a sidecar no media file claims is a problem (often a missing zip part).
//! - Google writes proper UTF-8: no mojibake repair.

mod json;
pub mod matcher;
mod names;

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use ferry_core::model::{Album, MediaItem, MediaKind, Record, Timestamp};

use crate::catalogue::{Catalogue, Detection, Service, sniff_file};
use crate::vfs::ArchiveFs;

use json::{AlbumMeta, Kind, Sidecar};
pub use matcher::{Rule, SidecarName, live_photo_of, match_sidecar, nfc};
pub use names::is_root_name;

/// How many JSON files detection reads at most to recognise a tree by content.
const DETECT_READS: usize = 64;

/// Finds the Google Photos folder: by its localized name under `Takeout/` (or anywhere,
/// confirmed by content), else by a sidecar or album file anywhere.
pub fn detect(fs: &ArchiveFs) -> Option<Detection> {
    let root = root_by_name(fs).or_else(|| root_by_content(fs))?;
    let supplemental = fs
        .files_under(&root)
        .any(|(path, _)| is_supplemental(file_name(path)));
    Some(Detection {
        service: Service::GoogleTakeout,
        era: if supplemental {
            "supplemental-metadata"
        } else {
            "json"
        }
        .into(),
        root,
    })
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `X.jpg.supplemental-metadata.json` and its cuts down to `X.jpg.sup.json` (shorter cuts
/// are too ambiguous to tell the era by).
fn is_supplemental(name: &str) -> bool {
    SidecarName::parse(name).is_some_and(|s| {
        s.stripped.is_some()
            && s.raw
                .rsplit_once('.')
                .is_some_and(|(_, seg)| seg.len() >= 3)
    })
}

fn root_by_name(fs: &ArchiveFs) -> Option<String> {
    // (not under `Takeout/`, depth, root): roots under `Takeout/` and shallower ones first.
    let mut candidates: Vec<(bool, usize, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (path, _) in fs.files() {
        let segments: Vec<&str> = path.split('/').collect();
        let folders = segments.len().saturating_sub(1);
        for (i, segment) in segments.iter().take(folders).enumerate() {
            if !names::is_root_name(segment) {
                continue;
            }
            let root = format!("{}/", segments.get(..=i).unwrap_or_default().join("/"));
            if seen.insert(root.clone()) {
                let under_takeout = i > 0 && segments.get(i - 1) == Some(&"Takeout");
                candidates.push((!under_takeout, i, root));
            }
        }
    }
    candidates.sort();
    candidates
        .into_iter()
        .find(|(not_takeout, _, root)| !not_takeout || has_google_json(fs, root))
        .map(|(_, _, root)| root)
}

fn has_google_json(fs: &ArchiveFs, root: &str) -> bool {
    fs.files_under(root)
        .filter(|(path, _)| is_json(path))
        .take(DETECT_READS)
        .any(|(path, _)| {
            matches!(
                read_kind(fs, path),
                Ok(Kind::Sidecar(_)) | Ok(Kind::Album(_))
            )
        })
}

/// The folder above the folder of the first sidecar found: the Google Photos folder,
/// whatever its name (or the tree's root when the sidecar sits one level down). Only a
/// sidecar will do here: a bare `{"title": …}` could be any service's JSON.
fn root_by_content(fs: &ArchiveFs) -> Option<String> {
    let found = fs
        .files()
        .filter(|(path, _)| is_json(path) && SidecarName::parse(file_name(path)).is_some())
        .take(DETECT_READS)
        .find(|(path, _)| matches!(read_kind(fs, path), Ok(Kind::Sidecar(_))))?
        .0;
    let folder = found.rsplit_once('/').map_or("", |(f, _)| f);
    Some(match folder.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/"),
        None => String::new(),
    })
}

fn is_json(path: &str) -> bool {
    path.len() > 5
        && path
            .get(path.len() - 5..)
            .is_some_and(|e| e.eq_ignore_ascii_case(".json"))
}

fn read_kind(fs: &ArchiveFs, path: &str) -> Result<Kind, String> {
    let value: serde_json::Value = fs.read_json(path)?;
    json::classify(value, file_name(path))
}

/// One media file of a folder.
struct File {
    path: String,
    name: String,
    size: u64,
    crc: Option<u32>,
    kind: MediaKind,
    mime: String,
}

#[derive(Default)]
struct Folder {
    sidecar_names: Vec<SidecarName>,
    sidecars: Vec<(String, Rc<Sidecar>)>,
    album: Option<(String, AlbumMeta)>,
    media: Vec<File>,
}

/// A media file with what was learned about it.
struct Found {
    file: File,
    folder: String,
    sidecar: Option<Rc<Sidecar>>,
    /// How the sidecar was found; `None` without one.
    rule: Option<Rule>,
    album: Option<String>,
    partner: Option<String>,
}

/// One media item: a file and its copies.
struct Item {
    found: Found,
    albums: Vec<String>,
    partners: Vec<String>,
}

/// Reads everything the export holds.
pub fn read(fs: &ArchiveFs, detection: &Detection) -> Catalogue {
    let mut cat = Catalogue::new(detection.clone());
    let root = detection.root.as_str();
    other_products(fs, root, &mut cat);

    let mut folders: BTreeMap<String, Folder> = BTreeMap::new();
    for (path, entry) in fs.files_under(root) {
        let rel = path.get(root.len()..).unwrap_or(path);
        let (folder, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let lower = name.to_lowercase();
        if lower.ends_with(".html") || lower.ends_with(".htm") {
            continue; // the archive browser
        }
        let top = rel.split_once('/').map(|(top, _)| top);
        if let Some(reason) = top.and_then(names::special_folder) {
            if !is_json(name) {
                cat.problem(path, reason);
            }
            continue;
        }
        let here = folders.entry(folder.to_owned()).or_default();
        if is_json(name) {
            match read_kind(fs, path) {
                Ok(Kind::Sidecar(sidecar)) => match SidecarName::parse(name) {
                    Some(parsed) => {
                        here.sidecar_names.push(parsed);
                        here.sidecars.push((path.to_owned(), Rc::from(sidecar)));
                    }
                    None => cat.problem(path, "photo metadata with a name ferry cannot read"),
                },
                Ok(Kind::Album(meta)) => {
                    if here.album.is_none() {
                        here.album = Some((path.to_owned(), meta));
                    } else {
                        tracing::debug!(path, "second album metadata file in a folder, ignored");
                    }
                }
                Ok(Kind::Other) => tracing::debug!(path, "not photo or album metadata, ignored"),
                Err(reason) => cat.problem(path, reason),
            }
            continue;
        }
        match sniff_file(fs, path) {
            Some((kind, mime)) => here.media.push(File {
                path: path.to_owned(),
                name: name.to_owned(),
                size: entry.size,
                crc: entry.crc32,
                kind,
                mime,
            }),
            None => cat.problem(path, "not a photo or video, or unreadable"),
        }
    }

    let mut found = Vec::new();
    for (folder_path, folder) in folders {
        let album = folder.album.as_ref().map(|(_, meta)| {
            let id = format!("album:{folder_path}");
            let fallback = folder_path.rsplit('/').next().unwrap_or(&folder_path);
            cat.records.push(Record::Album(Album {
                id: id.clone(),
                title: meta.title().unwrap_or_else(|| fallback.to_owned()),
                path: Vec::new(),
                description: meta.description(),
                created: meta.created(),
                location: meta.location(),
            }));
            id
        });
        match_folder(folder, &folder_path, album, &mut found, &mut cat);
    }
    emit(collapse(found), &mut cat);
    cat
}

/// Pairs a folder's media with its sidecars and live partners.
fn match_folder(
    folder: Folder,
    folder_path: &str,
    album: Option<String>,
    out: &mut Vec<Found>,
    cat: &mut Catalogue,
) {
    let names: Vec<String> = folder.media.iter().map(|m| m.name.clone()).collect();
    let mut rules: Vec<Option<(usize, Rule)>> = names
        .iter()
        .map(|name| match_sidecar(name, &folder.sidecar_names))
        .collect();
    let claimed =
        |rules: &[Option<(usize, Rule)>], s: usize| rules.iter().flatten().any(|(i, _)| *i == s);
    for i in 0..names.len() {
        if rules.get(i).is_some_and(Option::is_none)
            && let Some(hit) =
                matcher::unindexed_duplicate(&names[i], &folder.sidecar_names, &names)
            && !claimed(&rules, hit.0)
            && let Some(slot) = rules.get_mut(i)
        {
            *slot = Some(hit);
        }
    }

    // Live and motion photos: each video with the photo of the same stem.
    let photos: Vec<usize> = (0..names.len())
        .filter(|&i| {
            folder
                .media
                .get(i)
                .is_some_and(|m| m.kind == MediaKind::Photo)
        })
        .collect();
    let photo_names: Vec<String> = photos.iter().map(|&i| names[i].clone()).collect();
    let mut partner: Vec<Option<usize>> = vec![None; names.len()];
    for (i, file) in folder.media.iter().enumerate() {
        if file.kind != MediaKind::Video {
            continue;
        }
        if let Some(p) = live_photo_of(&file.name, &photo_names).and_then(|p| photos.get(p)) {
            let p = *p;
            if partner[p].is_none() {
                partner[p] = Some(i);
                partner[i] = Some(p);
                if rules[i].is_none() {
                    rules[i] = rules[p].map(|(s, _)| (s, Rule::LivePhoto));
                }
            }
        }
    }

    for (s, (path, sidecar)) in folder.sidecars.iter().enumerate() {
        if !claimed(&rules, s) {
            let title = sidecar.title.as_deref().unwrap_or("?");
            cat.problem(
                path.clone(),
                format!(
                    "metadata of {title:?} but no media file of that name in {folder_path:?} \
                     (is a zip part missing?)"
                ),
            );
        }
    }

    let paths: Vec<String> = folder.media.iter().map(|m| m.path.clone()).collect();
    for (i, file) in folder.media.into_iter().enumerate() {
        let rule = rules[i];
        let sidecar = rule.and_then(|(s, _)| folder.sidecars.get(s).map(|(_, sc)| Rc::clone(sc)));
        if sidecar.as_ref().is_some_and(|s| s.trashed == Some(true)) {
            cat.problem(
                file.path,
                "in Google Photos' trash; deleted photos are not moved",
            );
            continue;
        }
        out.push(Found {
            file,
            folder: folder_path.to_owned(),
            sidecar,
            rule: rule.map(|(_, r)| r),
            album: album.clone(),
            partner: partner[i].and_then(|p| paths.get(p).cloned()),
        });
    }
}

/// Whether two files with the same name and size are copies of one photo.
fn same_photo(a: &Found, b: &Found) -> bool {
    if let (Some(x), Some(y)) = (a.file.crc, b.file.crc)
        && x != y
    {
        return false;
    }
    let title = |f: &Found| f.sidecar.as_ref().and_then(|s| s.title.as_deref()).map(nfc);
    match (title(a), title(b)) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// Folds copies (album folders, other parts) into one item; year-folder copies come first
/// and give the item its id.
fn collapse(mut found: Vec<Found>) -> Vec<Item> {
    found.sort_by(|a, b| (a.album.is_some(), &a.file.path).cmp(&(b.album.is_some(), &b.file.path)));
    let mut items: Vec<Item> = Vec::new();
    let mut by_key: HashMap<(String, u64), Vec<usize>> = HashMap::new();
    for f in found {
        let key = (nfc(&f.file.name), f.file.size);
        let candidates = by_key.entry(key).or_default();
        let same = candidates
            .iter()
            .copied()
            .find(|&c| items.get(c).is_some_and(|item| same_photo(&item.found, &f)));
        match same.and_then(|c| items.get_mut(c)) {
            Some(item) => {
                if let Some(album) = f.album
                    && !item.albums.contains(&album)
                {
                    item.albums.push(album);
                }
                if item.found.sidecar.is_none() && f.sidecar.is_some() {
                    item.found.sidecar = f.sidecar;
                    item.found.rule = f.rule;
                }
                item.partners.extend(f.partner);
            }
            None => {
                candidates.push(items.len());
                items.push(Item {
                    albums: f.album.iter().cloned().collect(),
                    partners: f.partner.iter().cloned().collect(),
                    found: f,
                });
            }
        }
    }
    items
}

/// The best date of a file with no help from its live partner.
fn own_taken(found: &Found) -> Option<Timestamp> {
    if let Some(taken) = found.sidecar.as_ref().and_then(|s| s.taken()) {
        return Some(taken);
    }
    names::date_from_name(&found.file.name).or_else(|| {
        let folder = found.folder.rsplit('/').next().unwrap_or(&found.folder);
        names::date_folder(folder)
    })
}

fn emit(items: Vec<Item>, cat: &mut Catalogue) {
    let index: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.found.file.path.clone(), i))
        .collect();
    // Each item's live partner, as an item index.
    let partner: Vec<Option<usize>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.partners
                .iter()
                .filter_map(|p| index.get(p).copied())
                .find(|&p| p != i)
        })
        .collect();
    let mut media: Vec<MediaItem> = items.iter().map(media_item).collect();
    // The video half shares the photo's albums, and its date unless it has its own sidecar.
    for (v, item) in items.iter().enumerate() {
        let Some(p) = partner[v] else { continue };
        if item.found.file.kind != MediaKind::Video {
            continue;
        }
        let own = matches!(item.found.rule, Some(r) if r != Rule::LivePhoto);
        let photo = media
            .get(p)
            .map(|m| (m.taken, m.albums.clone(), m.id.clone()));
        if let (Some((taken, albums, photo_id)), Some(video)) = (photo, media.get_mut(v)) {
            if !own && taken.is_some() {
                video.taken = taken;
            }
            video.live_photo_of = Some(photo_id);
            for album in albums {
                if !video.albums.contains(&album) {
                    video.albums.push(album);
                }
            }
            let video_albums = video.albums.clone();
            if let Some(photo) = media.get_mut(p) {
                for album in video_albums {
                    if !photo.albums.contains(&album) {
                        photo.albums.push(album);
                    }
                }
            }
        }
    }
    // Photo first, then its video, wherever the names sort.
    let mut done = vec![false; media.len()];
    let mut order = Vec::with_capacity(media.len());
    for i in 0..media.len() {
        let pair = match partner[i] {
            Some(p) if items[i].found.file.kind == MediaKind::Video => [Some(p), Some(i)],
            Some(p) => [Some(i), Some(p)],
            None => [Some(i), None],
        };
        for j in pair.into_iter().flatten() {
            if !done[j] {
                done[j] = true;
                order.push(j);
            }
        }
    }
    let mut slots: Vec<Option<MediaItem>> = media.into_iter().map(Some).collect();
    for j in order {
        if let Some(item) = slots.get_mut(j).and_then(Option::take) {
            cat.media_paths.insert(item.id.clone(), item.id.clone());
            cat.records.push(Record::Media(item));
        }
    }
}

fn media_item(item: &Item) -> MediaItem {
    let f = &item.found;
    let sidecar = f.sidecar.as_deref();
    let taken = own_taken(f);
    let uploaded = sidecar
        .and_then(Sidecar::uploaded)
        .filter(|u| Some(*u) != taken);
    MediaItem {
        id: f.file.path.clone(),
        kind: f.file.kind,
        file_name: with_extension(&f.file.name, &f.file.mime),
        caption: sidecar.and_then(Sidecar::caption),
        mime_type: Some(f.file.mime.clone()),
        size: Some(f.file.size),
        taken,
        uploaded,
        location: sidecar.and_then(Sidecar::location),
        albums: item.albums.clone(),
        live_photo_of: None,
        revision: None,
    }
}

/// Extensions a name may already end in; anything else (`MVIMG_…`, `PXL_….MP`, `20030616`)
/// gets the one of its content.
const KNOWN_EXTS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "bmp", "tif", "tiff", "dng", "avif",
    "mp4", "m4v", "mov", "webm", "3gp", "mkv", "avi", "wmv", "mpg", "mpeg", "mts", "m2ts",
];

fn with_extension(name: &str, mime: &str) -> String {
    let (_, ext) = matcher::split_ext(name);
    if ext.is_some_and(|e| KNOWN_EXTS.iter().any(|k| e.eq_ignore_ascii_case(k))) {
        return name.to_owned();
    }
    let ext = match mime {
        "image/jpeg" => "jpg",
        "video/quicktime" => "mov",
        "video/3gpp" => "3gp",
        "video/x-matroska" => "mkv",
        "video/x-msvideo" => "avi",
        "image/heif" => "heic",
        other => other.rsplit('/').next().unwrap_or("bin"),
    };
    format!("{name}.{ext}")
}

/// Other Google products in the same Takeout: one problem per product folder.
fn other_products(fs: &ArchiveFs, root: &str, cat: &mut Catalogue) {
    if root.is_empty() {
        return;
    }
    let parent = root
        .trim_end_matches('/')
        .rsplit_once('/')
        .map_or(String::new(), |(p, _)| format!("{p}/"));
    let mut outside: BTreeMap<String, usize> = BTreeMap::new();
    for (path, _) in fs.files() {
        if path.starts_with(root) {
            continue;
        }
        let rel = path.strip_prefix(parent.as_str()).unwrap_or(path);
        let group = match rel.split_once('/') {
            Some((top, _)) => format!(
                "{}{top}/",
                if path.starts_with(parent.as_str()) {
                    parent.as_str()
                } else {
                    ""
                }
            ),
            None if rel.to_lowercase().ends_with(".html") => continue, // the archive browser
            None => path.to_owned(),
        };
        *outside.entry(group).or_default() += 1;
    }
    for (group, n) in outside {
        cat.problem(
            group,
            format!("{n} file(s) outside Google Photos; ferry reads only the Google Photos part of a Takeout"),
        );
    }
}
