//! Instagram "Download your information" exports in JSON format (archives.md §2).
//!
//! Four layout eras are recognised by their marker files, wherever the export's root sits in
//! the tree (users unpack into extra folders):
//!
//! | era    | markers |
//! |--------|---------|
//! | `v1`   | `media.json` next to `profile.json` / `messages.json` / `comments.json` |
//! | `2021` | `content/posts_N.json`, `content/stories.json`, `account_information/personal_information.json` |
//! | `2022` | `your_instagram_activity/content/…`, `personal_information/personal_information.json` |
//! | `2025` | `your_instagram_activity/media/…`, `personal_information/personal_information/personal_information.json` |
//!
//! Reading does not depend on the era beyond that: every JSON file under the root is
//! recognised by its name and shape (posts, media lists, comments, threads, profile), so files
//! that moved between eras are still found.
//!
//! Media that is not in a named album is put in albums a person browsing the result would
//! expect: "Posts", "Stories", "Reels", "Archived posts", "IGTV", "Profile pictures",
//! "Other media" (listed nowhere else, or in `other_content.json`), and one album per
//! conversation, "Messages / <thread title>" (its `path` is `["Messages", title]`).
//!
//! Likes, follows, searches, ads and the other activity files hold no media, posts or messages
//! and are not read; each is reported as such, so that `ferry inspect` lists them.

mod content;
mod dm;
mod v1;

use std::collections::{BTreeMap, HashSet};

use ferry_core::model::{Album, Attachment, Location, MediaItem, Record, Timestamp};
use serde::Deserialize;
use serde::de::IgnoredAny;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::catalogue::{Catalogue, Detection, Service, sniff_file};
use crate::mojibake;
use crate::vfs::ArchiveFs;

/// Finds this service's marker files anywhere in the tree. When several roots qualify the
/// shallowest wins (an export that holds a copy of another export in a sub-folder).
pub fn detect(fs: &ArchiveFs) -> Option<Detection> {
    let mut best: Option<(&'static str, String)> = None;
    for (path, _) in fs.files() {
        if let Some((era, root)) = marker(fs, path) {
            let better = match &best {
                None => true,
                Some((_, r)) => root.len() < r.len(),
            };
            if better {
                best = Some((era, root));
            }
        }
    }
    best.map(|(era, root)| Detection {
        service: Service::Instagram,
        era: era.to_owned(),
        root,
    })
}

/// The era and root a marker file implies, if `path` is one.
fn marker(fs: &ArchiveFs, path: &str) -> Option<(&'static str, String)> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    if name == "stories.json" || numbered(name, "posts_").is_some() {
        // Most specific first: `your_instagram_activity/content` also ends in `content`.
        for (suffix, era) in [
            ("your_instagram_activity/media", "2025"),
            ("your_instagram_activity/content", "2022"),
            ("content", "2021"),
        ] {
            if let Some(root) = root_above(dir, suffix) {
                return Some((era, root));
            }
        }
    }
    if name == "personal_information.json" && starts_with_key(fs, path, "profile_user") {
        for (suffix, era) in [
            ("personal_information/personal_information", "2025"),
            ("personal_information", "2022"),
            ("account_information", "2021"),
        ] {
            if let Some(root) = root_above(dir, suffix) {
                return Some((era, root));
            }
        }
    }
    if name == "media.json" {
        let root = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let sibling = ["profile.json", "messages.json", "comments.json"]
            .iter()
            .any(|s| fs.contains(&format!("{root}{s}")));
        if sibling {
            return Some(("v1", root));
        }
    }
    None
}

/// The root (`""` or ending in '/') when `dir` ends with the folder path `suffix`.
fn root_above(dir: &str, suffix: &str) -> Option<String> {
    let rest = dir.strip_suffix(suffix)?;
    (rest.is_empty() || rest.ends_with('/')).then(|| rest.to_owned())
}

/// Whether a JSON file's first bytes name `key` (Facebook has files of the same name).
fn starts_with_key(fs: &ArchiveFs, path: &str, key: &str) -> bool {
    fs.head(path, 512)
        .is_ok_and(|head| String::from_utf8_lossy(&head).contains(&format!("\"{key}\"")))
}

/// `N` when `name` is `<stem>N.json`.
fn numbered(name: &str, stem: &str) -> Option<u32> {
    name.strip_prefix(stem)?.strip_suffix(".json")?.parse().ok()
}

/// Reads everything the export holds.
pub fn read(fs: &ArchiveFs, detection: &Detection) -> Catalogue {
    let mut reader = Reader::new(fs, detection);
    let root = detection.root.clone();
    let paths: Vec<String> = fs
        .files_under(&root)
        .map(|(p, _)| p.to_owned())
        .filter(|p| p.ends_with(".json"))
        .collect();
    let mut threads: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
    for path in &paths {
        let rel = &path[root.len()..];
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if let Some(n) = numbered(name, "message_")
            && dir.contains('/')
        {
            threads
                .entry(dir.to_owned())
                .or_default()
                .push((n, path.clone()));
            continue;
        }
        match (dir, name) {
            ("", "media.json") => v1::media(&mut reader, path),
            ("", "profile.json") => v1::profile(&mut reader, path),
            ("", "comments.json") => v1::comments(&mut reader, path),
            ("", "messages.json") => v1::messages(&mut reader, path),
            (_, "personal_information.json") => content::profile(&mut reader, path),
            _ if numbered(name, "posts_").is_some() => content::posts(&mut reader, path),
            _ if is_comments(dir, name) => content::comments(&mut reader, path),
            _ if is_media_folder(dir) => content::media_lists(&mut reader, path),
            _ => reader.problem(
                rel.to_owned(),
                "not read: ferry does not carry this kind of Instagram data",
            ),
        }
    }
    for (dir, mut files) in threads {
        files.sort();
        dm::thread(&mut reader, &dir, &files);
    }
    reader.unlisted_media();
    reader.finish()
}

fn is_comments(dir: &str, name: &str) -> bool {
    (dir == "comments" || dir.ends_with("/comments")) && name.contains("comments")
}

/// Folders that hold the media-list files (stories, reels, archived posts, IGTV, …).
fn is_media_folder(dir: &str) -> bool {
    matches!(
        dir,
        "content" | "your_instagram_activity/content" | "your_instagram_activity/media"
    )
}

/// An album the reader files media into by what listed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shelf {
    Posts,
    Stories,
    Reels,
    Archived,
    Igtv,
    ProfilePictures,
    Other,
}

impl Shelf {
    fn id_title(self) -> (&'static str, &'static str) {
        match self {
            Shelf::Posts => ("album:posts", "Posts"),
            Shelf::Stories => ("album:stories", "Stories"),
            Shelf::Reels => ("album:reels", "Reels"),
            Shelf::Archived => ("album:archived_posts", "Archived posts"),
            Shelf::Igtv => ("album:igtv", "IGTV"),
            Shelf::ProfilePictures => ("album:profile_pictures", "Profile pictures"),
            Shelf::Other => ("album:other", "Other media"),
        }
    }
}

/// What the JSON says about one media file.
#[derive(Clone, Debug, Default)]
pub(crate) struct MediaInfo {
    pub caption: Option<String>,
    pub taken: Option<Timestamp>,
    pub uploaded: Option<Timestamp>,
    pub location: Option<Location>,
}

/// The catalogue being built, with media deduplicated by path.
pub(crate) struct Reader<'a> {
    pub fs: &'a ArchiveFs,
    pub root: String,
    pub cat: Catalogue,
    media: BTreeMap<String, MediaItem>,
    albums: BTreeMap<String, Album>,
    /// Files referenced by the JSON that are not photos or videos (audio, documents).
    not_media: HashSet<String>,
}

impl<'a> Reader<'a> {
    fn new(fs: &'a ArchiveFs, detection: &Detection) -> Self {
        Reader {
            fs,
            root: detection.root.clone(),
            cat: Catalogue::new(detection.clone()),
            media: BTreeMap::new(),
            albums: BTreeMap::new(),
            not_media: HashSet::new(),
        }
    }

    /// The path relative to the export root, for record ids that do not change when the
    /// export is unpacked into another folder.
    pub fn rel<'p>(&self, path: &'p str) -> &'p str {
        path.strip_prefix(self.root.as_str()).unwrap_or(path)
    }

    pub fn problem(&mut self, id: impl Into<String>, reason: impl Into<String>) {
        self.cat.problem(id, reason);
    }

    pub fn push(&mut self, record: Record) {
        self.cat.records.push(record);
    }

    /// Reads a small Meta JSON file as a tree with every string and key repaired, then as `T`.
    pub fn small_json<T: serde::de::DeserializeOwned>(&mut self, path: &str) -> Option<T> {
        let parsed = self.fs.read_json::<serde_json::Value>(path).and_then(|v| {
            serde_json::from_value(mojibake::fix_json(v))
                .map_err(|e| format!("unexpected JSON shape ({e})"))
        });
        match parsed {
            Ok(v) => Some(v),
            Err(reason) => {
                self.problem(self.rel(path).to_owned(), reason);
                None
            }
        }
    }

    fn album_id(&mut self, id: &str, title: &str, path: Vec<String>) -> String {
        if !self.albums.contains_key(id) {
            self.albums.insert(
                id.to_owned(),
                Album {
                    id: id.to_owned(),
                    title: title.to_owned(),
                    path,
                    description: None,
                    created: None,
                    location: None,
                },
            );
        }
        id.to_owned()
    }

    pub fn shelf(&mut self, shelf: Shelf) -> String {
        let (id, title) = shelf.id_title();
        self.album_id(id, title, Vec::new())
    }

    /// The album of one conversation's media.
    pub fn thread_album(&mut self, key: &str, title: &str) -> String {
        self.album_id(
            &format!("album:messages/{key}"),
            &format!("Messages / {title}"),
            vec!["Messages".to_owned(), title.to_owned()],
        )
    }

    /// Where a `uri`/`path` of the JSON is in the file system: raw first, then repaired, then
    /// moved between `messages/…` and `your_instagram_activity/messages/…` (2022 exports
    /// name one while holding the other).
    fn locate(&self, uri: &str) -> Option<String> {
        let uri = uri.trim_start_matches('/');
        let fixed = mojibake::fix(uri);
        let mut candidates = vec![format!("{}{uri}", self.root)];
        if fixed != uri {
            candidates.push(format!("{}{fixed}", self.root));
        }
        if !self.root.is_empty() {
            candidates.push(uri.to_owned());
        }
        match uri.strip_prefix("your_instagram_activity/") {
            Some(rest) => candidates.push(format!("{}{rest}", self.root)),
            None => candidates.push(format!("{}your_instagram_activity/{uri}", self.root)),
        }
        candidates.into_iter().find(|c| self.fs.contains(c))
    }

    /// The attachment for a `uri` of the JSON: a media item (created on first sight, merged
    /// into on later ones), or a link when the uri is a URL or names no photo or video in the
    /// export. `owner` names the record, for problems.
    pub fn attach(
        &mut self,
        uri: &str,
        info: MediaInfo,
        album: &str,
        owner: &str,
    ) -> Option<Attachment> {
        let uri = uri.trim();
        if uri.is_empty() {
            return None;
        }
        let link = |uri: &str| Attachment {
            media_id: None,
            uri: Some(mojibake::fix(uri).into_owned()),
            title: None,
            mime_type: None,
        };
        if is_url(uri) {
            return Some(link(uri));
        }
        let Some(path) = self.locate(uri) else {
            self.problem(
                owner.to_owned(),
                format!("{uri}: the file is not in the export; kept as a link"),
            );
            return Some(link(uri));
        };
        if let Some(item) = self.media.get_mut(&path) {
            merge(item, info, album);
            return Some(Attachment {
                media_id: Some(item.id.clone()),
                uri: None,
                title: None,
                mime_type: item.mime_type.clone(),
            });
        }
        if self.not_media.contains(&path) {
            return Some(link(&path));
        }
        let Some(item) = self.new_item(&path, info, album) else {
            self.problem(
                self.rel(&path).to_owned(),
                format!("not a photo or video (attached to {owner}); kept as a link only"),
            );
            self.not_media.insert(path.clone());
            return Some(link(&path));
        };
        let attachment = Attachment {
            media_id: Some(item.id.clone()),
            uri: None,
            title: None,
            mime_type: item.mime_type.clone(),
        };
        self.cat.media_paths.insert(item.id.clone(), path.clone());
        self.media.insert(path, item);
        Some(attachment)
    }

    /// A media item for the file at `path`, or `None` when it is not a photo or video.
    fn new_item(&self, path: &str, info: MediaInfo, album: &str) -> Option<MediaItem> {
        let (kind, mime) = sniff_file(self.fs, path)?;
        let name = path.rsplit('/').next().unwrap_or(path);
        let file_name = if name.contains('.') {
            name.to_owned()
        } else {
            format!("{name}.{}", extension(&mime))
        };
        let mut item = MediaItem {
            id: path.to_owned(),
            kind,
            file_name,
            caption: None,
            mime_type: Some(mime),
            size: self.fs.get(path).map(|e| e.size),
            taken: None,
            uploaded: None,
            location: None,
            albums: Vec::new(),
            live_photo_of: None,
        };
        merge(&mut item, info, album);
        Some(item)
    }

    /// Photos and videos no JSON file lists (an export cut short, a file Meta forgot to
    /// list): kept, in "Other media".
    fn unlisted_media(&mut self) {
        let unlisted: Vec<String> = self
            .fs
            .files_under(&self.root)
            .map(|(p, _)| p)
            .filter(|p| {
                ![".json", ".html", ".txt"].iter().any(|e| p.ends_with(e))
                    && !self.media.contains_key(*p)
                    && !self.not_media.contains(*p)
            })
            .map(str::to_owned)
            .collect();
        for path in unlisted {
            if sniff_file(self.fs, &path).is_none() {
                continue;
            }
            let album = self.shelf(Shelf::Other);
            let rel = self.rel(&path).to_owned();
            self.attach(&rel, MediaInfo::default(), &album, &rel);
        }
    }

    fn finish(mut self) -> Catalogue {
        let albums = std::mem::take(&mut self.albums);
        let media = std::mem::take(&mut self.media);
        let records = &mut self.cat.records;
        let album_count = albums.len();
        records.extend(media.into_values().map(Record::Media));
        records.extend(albums.into_values().map(Record::Album));
        // Albums first, in place: a copy of 200,000 messages would double the peak memory.
        records.rotate_right(album_count);
        self.cat
    }
}

/// Adds what one more listing says about a media item, keeping what earlier ones said.
fn merge(item: &mut MediaItem, info: MediaInfo, album: &str) {
    if item.caption.is_none() {
        item.caption = info.caption.filter(|c| !c.is_empty());
    }
    if item.taken.is_none() {
        item.taken = info.taken;
    }
    if item.uploaded.is_none() && info.uploaded != item.taken {
        item.uploaded = info.uploaded;
    }
    if item.location.is_none() {
        item.location = info.location;
    }
    if !album.is_empty() && !item.albums.iter().any(|a| a == album) {
        item.albums.push(album.to_owned());
    }
}

/// The title of a shared post's attachment: its text and its owner's user name.
pub(crate) fn share_title(text: Option<String>, owner: Option<String>) -> Option<String> {
    match (text, owner) {
        (Some(t), Some(o)) => Some(format!("{t} (@{o})")),
        (Some(t), None) => Some(t),
        (None, Some(o)) => Some(format!("@{o}")),
        (None, None) => None,
    }
}

fn is_url(uri: &str) -> bool {
    let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The extension for a file Meta wrote without one.
fn extension(mime: &str) -> &str {
    match mime {
        "image/jpeg" => "jpg",
        "video/quicktime" => "mov",
        "video/x-matroska" => "mkv",
        other => other.rsplit('/').next().unwrap_or("bin"),
    }
}

/// Repairs Meta's mojibake in an owned string without copying when there is nothing to do.
pub(crate) fn fix(s: String) -> String {
    match mojibake::fix(&s) {
        std::borrow::Cow::Borrowed(_) => s,
        std::borrow::Cow::Owned(fixed) => fixed,
    }
}

/// [`fix`] for an optional string, dropping empty ones.
pub(crate) fn fix_opt(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty()).map(fix)
}

/// A field that is read when it has the expected shape and ignored otherwise, so that one
/// odd value does not cost a whole file.
#[derive(Debug)]
pub(crate) struct Lenient<T>(pub Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, bound = "T: Deserialize<'de>")]
        enum Either<T> {
            Good(T),
            Bad(IgnoredAny),
        }
        Ok(match Either::<T>::deserialize(d)? {
            Either::Good(v) => Lenient(Some(v)),
            Either::Bad(_) => Lenient(None),
        })
    }
}

/// A time as Meta writes it: integer seconds or milliseconds, or an ISO-8601 string. Any
/// other value reads as unknown. (A hand-written visitor: an untagged enum would buffer every
/// one of the hundreds of thousands of message times.)
#[derive(Debug)]
pub(crate) enum Ts {
    Int(i64),
    Float(f64),
    Text(String),
    Other,
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Ts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a time")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Ts, E> {
                Ok(Ts::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Ts, E> {
                Ok(i64::try_from(v).map_or(Ts::Other, Ts::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Ts, E> {
                Ok(Ts::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Ts, E> {
                Ok(Ts::Text(v.to_owned()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Ts, E> {
                Ok(Ts::Other)
            }
            fn visit_unit<E>(self) -> Result<Ts, E> {
                Ok(Ts::Other)
            }
            fn visit_none<E>(self) -> Result<Ts, E> {
                Ok(Ts::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ts, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Ts::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ts, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Ts::Other)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Ts {
    /// Read as seconds (numbers) or text.
    pub fn secs(&self) -> Option<Timestamp> {
        match self {
            Ts::Int(s) => from_secs(*s),
            Ts::Float(s) => from_secs(*s as i64),
            Ts::Text(t) => parse_time(t),
            Ts::Other => None,
        }
    }

    /// Read as milliseconds (numbers) or text.
    pub fn millis(&self) -> Option<Timestamp> {
        match self {
            Ts::Int(ms) => from_millis(*ms),
            Ts::Float(ms) => from_millis(*ms as i64),
            Ts::Text(t) => parse_time(t),
            Ts::Other => None,
        }
    }
}

pub(crate) fn secs(ts: &Option<Ts>) -> Option<Timestamp> {
    ts.as_ref().and_then(Ts::secs)
}

/// Epoch seconds; 0 means unknown, and anything before year 1 is garbage.
pub(crate) fn from_secs(s: i64) -> Option<Timestamp> {
    if s == 0 {
        return None;
    }
    Timestamp::from_unix(s).filter(plausible)
}

pub(crate) fn from_millis(ms: i64) -> Option<Timestamp> {
    if ms == 0 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(Timestamp::from_utc)
        .filter(plausible)
}

fn plausible(t: &Timestamp) -> bool {
    t.utc.year() >= 1
}

/// ISO-8601 with or without an offset (none means UTC), EXIF `YYYY:MM:DD HH:MM:SS`, or
/// epoch seconds as text.
pub(crate) fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(n) = text.parse::<i64>() {
        return from_secs(n);
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
    {
        return Some(Timestamp::with_offset(t)).filter(plausible);
    }
    let mut bytes = text.as_bytes().to_vec();
    if bytes.len() >= 10 && bytes.get(4) == Some(&b':') && bytes.get(7) == Some(&b':') {
        bytes[4] = b'-';
        bytes[7] = b'-';
    }
    if bytes.get(10) == Some(&b' ') {
        bytes[10] = b'T';
    }
    let normal = String::from_utf8(bytes).ok()?;
    let local = PrimitiveDateTime::parse(
        &normal,
        format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        ),
    )
    .ok()?;
    Some(Timestamp::from_local(local, None)).filter(plausible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        let at = |t: Option<Timestamp>| t.map(|t| t.utc.unix_timestamp());
        assert_eq!(at(parse_time("2018-12-24T18:30:00")), Some(1_545_676_200));
        assert_eq!(
            at(parse_time("2020-02-15T04:08:11+00:00")),
            Some(1_581_739_691)
        );
        assert_eq!(
            at(parse_time("2020-02-15T06:08:11+02:00")),
            Some(1_581_739_691)
        );
        assert_eq!(at(parse_time("2019:06:27 14:55:13")), Some(1_561_647_313));
        assert_eq!(at(parse_time("1561647313")), Some(1_561_647_313));
        assert_eq!(
            at(parse_time("2019-05-01T12:00:03.123456+00:00")),
            Some(1_556_712_003)
        );
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("garbage"), None);
        assert_eq!(from_secs(0), None);
        assert_eq!(from_secs(-62_169_958_800), None);
        assert_eq!(at(from_secs(-86_400)), Some(-86_400));
        assert_eq!(at(from_millis(1_740_313_151_090)), Some(1_740_313_151));
        assert_eq!(from_millis(i64::MAX), None);
    }

    #[test]
    fn roots_sit_on_folder_boundaries() {
        assert_eq!(root_above("x/content", "content"), Some("x/".into()));
        assert_eq!(root_above("content", "content"), Some(String::new()));
        assert_eq!(root_above("xcontent", "content"), None);
        assert_eq!(numbered("posts_12.json", "posts_"), Some(12));
        assert_eq!(numbered("posts_.json", "posts_"), None);
    }
}
