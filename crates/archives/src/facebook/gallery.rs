//! The media items and albums of one export, built up as records reference them: a file named
//! by a post *and* an album is one item in both albums (archives.md §3.4).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferry_core::model::{Album, Attachment, Location, MediaItem, Record, Timestamp};

use crate::catalogue::{Catalogue, sniff_file};
use crate::mojibake;
use crate::vfs::ArchiveFs;

/// Where a `uri` of the export points.
#[derive(Debug, PartialEq)]
pub enum Resolved {
    /// A file of the archive (its full path in the fs).
    File(String),
    /// A web address (an expired CDN copy, mostly): kept as a link.
    Link(String),
    /// Neither: the file is not in the export.
    Missing(String),
}

/// Finds the file a `uri` names: relative to the export root, or, for bare file names and
/// `./` paths, to the folder of the JSON that names it. Raw first, then mojibake-repaired.
pub fn resolve(fs: &ArchiveFs, root: &str, base_dir: &str, uri: &str) -> Option<Resolved> {
    let uri = uri.trim();
    if uri.is_empty() {
        return None;
    }
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Some(Resolved::Link(uri.to_owned()));
    }
    let fixed = mojibake::fix(uri);
    for candidate in [uri, fixed.as_ref()] {
        let rel = candidate.trim_start_matches("./").trim_start_matches('/');
        for dir in [root, base_dir] {
            let path = format!("{dir}{rel}");
            if fs.contains(&path) {
                return Some(Resolved::File(path));
            }
        }
    }
    Some(Resolved::Missing(uri.to_owned()))
}

/// What one reference says about a media file.
#[derive(Default)]
pub struct Seen {
    /// When the photo was taken (EXIF `taken_timestamp`).
    pub taken: Option<Timestamp>,
    /// When it was uploaded, posted or sent.
    pub uploaded: Option<Timestamp>,
    pub caption: Option<String>,
    pub location: Option<Location>,
    pub album: Option<String>,
}

struct Entry {
    item: MediaItem,
    /// `taken` came from EXIF, not from the upload time.
    exact: bool,
}

#[derive(Default)]
pub struct Gallery {
    items: BTreeMap<String, Entry>,
    order: Vec<String>,
    /// Paths that are not photos or videos (files, audio), attached by uri only.
    others: BTreeSet<String>,
    albums: Vec<Album>,
    album_ids: HashMap<String, String>,
}

impl Gallery {
    /// The id of the album `key` names, creating it with `make` the first time.
    pub fn album(&mut self, key: &str, make: impl FnOnce() -> Album) -> String {
        if let Some(id) = self.album_ids.get(key) {
            return id.clone();
        }
        let album = make();
        let id = album.id.clone();
        self.album_ids.insert(key.to_owned(), id.clone());
        self.albums.push(album);
        id
    }

    /// The album of a title (`Timeline Photos`, an album file's name), shared by every
    /// reference that names it.
    pub fn titled_album(&mut self, title: &str) -> String {
        self.album(&format!("title:{title}"), || Album {
            id: format!("album:title:{title}"),
            title: title.to_owned(),
            path: Vec::new(),
            description: None,
            created: None,
            location: None,
        })
    }

    /// Records a reference to the file at `path`: the attachment that points at it. Files
    /// that are not photos or videos are attached by path only.
    pub fn add(&mut self, fs: &ArchiveFs, path: &str, seen: Seen) -> Attachment {
        if let Some(entry) = self.items.get_mut(path) {
            merge(entry, seen);
            return attachment(Some(path), path, entry.item.mime_type.clone());
        }
        if self.others.contains(path) {
            return attachment(None, path, None);
        }
        let Some((kind, mime)) = sniff_file(fs, path) else {
            self.others.insert(path.to_owned());
            return attachment(None, path, None);
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        let file_name = if name.contains('.') {
            name.to_owned()
        } else {
            format!("{name}.{}", extension(&mime))
        };
        let exact = seen.taken.is_some();
        let taken = seen.taken.or(seen.uploaded);
        let item = MediaItem {
            id: path.to_owned(),
            kind,
            file_name,
            caption: seen.caption,
            mime_type: Some(mime.clone()),
            size: fs.get(path).map(|e| e.size),
            taken,
            uploaded: seen.uploaded.filter(|u| Some(*u) != taken),
            location: seen.location,
            albums: seen.album.into_iter().collect(),
            live_photo_of: None,
        };
        self.items.insert(path.to_owned(), Entry { item, exact });
        self.order.push(path.to_owned());
        attachment(Some(path), path, Some(mime))
    }

    pub fn contains(&self, path: &str) -> bool {
        self.items.contains_key(path) || self.others.contains(path)
    }

    /// Moves the albums and items into the catalogue (albums first).
    pub fn finish(mut self, catalogue: &mut Catalogue) {
        catalogue
            .records
            .extend(self.albums.into_iter().map(Record::Album));
        for path in self.order {
            if let Some(entry) = self.items.remove(&path) {
                catalogue.media_paths.insert(path.clone(), path);
                catalogue.records.push(Record::Media(entry.item));
            }
        }
    }
}

fn merge(entry: &mut Entry, seen: Seen) {
    let item = &mut entry.item;
    if let Some(taken) = seen.taken
        && !entry.exact
    {
        entry.exact = true;
        if item.uploaded.is_none() {
            item.uploaded = item.taken.filter(|t| *t != taken);
        }
        item.taken = Some(taken);
    }
    if item.taken.is_none() {
        item.taken = seen.uploaded;
    } else if item.uploaded.is_none() && seen.uploaded != item.taken {
        item.uploaded = seen.uploaded;
    }
    if item.caption.is_none() {
        item.caption = seen.caption;
    }
    if item.location.is_none() {
        item.location = seen.location;
    }
    if let Some(album) = seen.album
        && !item.albums.contains(&album)
    {
        item.albums.push(album);
    }
}

fn attachment(media_id: Option<&str>, uri: &str, mime: Option<String>) -> Attachment {
    Attachment {
        media_id: media_id.map(str::to_owned),
        uri: Some(uri.to_owned()),
        title: None,
        mime_type: mime,
    }
}

fn extension(mime: &str) -> &str {
    match mime {
        "image/jpeg" => "jpg",
        "video/quicktime" => "mov",
        "video/3gpp" => "3gp",
        other => other.rsplit('/').next().unwrap_or("bin"),
    }
}

/// A location from coordinates, unless they are missing or the 0/0 Meta writes for "none".
pub fn location(lat: Option<f64>, lon: Option<f64>, name: Option<String>) -> Option<Location> {
    let (latitude, longitude) = (lat?, lon?);
    let valid = (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude);
    (valid && (latitude != 0.0 || longitude != 0.0)).then_some(Location {
        name,
        ..Location::at(latitude, longitude)
    })
}
