//! Facebook "Download your information" exports in JSON (archives.md §0, §1, §3, §5), and the
//! separate Messenger download of end-to-end encrypted chats ([`e2ee`]).
//!
//! Three layouts are recognised by their marker files anywhere in the tree: "pre-2024"
//! (`posts/your_posts_1.json`, `profile_information/`, `messages/inbox/`), "2022"
//! (`your_activity_across_facebook/…`) and "2024" (`your_facebook_activity/…` with
//! `personal_information/profile_information/`). Inside the root, files are classified by
//! name rather than by full path, so the in-between layouts read the same way.
//!
//! What becomes what:
//! - posts → `Post` (life events too, dated at their `backdated_timestamp`; text from the post,
//!   the life event, note, event and text attachments, else the title prose); a post's place
//!   (point, name, address) is its location, and the location of its photos and videos that
//!   carry no place of their own; its photos are media items;
//! - `album/<N>.json` → `Album`; post photos whose `title` names an album (`Timeline Photos`)
//!   go in that album; other post photos in "Posts", uncategorized photos in "Uncategorized
//!   photos", videos in "Videos", story media in "Stories", and a thread's media in
//!   "Messages/<thread title>" (an album with path `["Messages", title]`);
//! - `check-ins.json` (an array, or one object) → one `CheckIn` per check-in, id `checkin:…`,
//!   with its message as text and the place as location, whether it is flat among the labels
//!   or nested under "Place tags";
//! - the events files and `notes.json` → `Event`s (one per name and start, whichever files
//!   name it) and `Note`s ([`agenda`]);
//! - comments → `Comment`; each Messenger thread folder → `Thread` + its `Message`s, every
//!   `message_N.json` merged and sorted by time (a file a message names by its bare name is
//!   looked for in the thread's `photos/`, `videos/`, … too); the profile → `Profile`.
//!
//! Media dates: `taken` is the EXIF `taken_timestamp` when there is one, else the upload time
//! (`creation_timestamp`), which is also `uploaded`. Photos and videos no JSON names are
//! still listed (no metadata), so nothing in the export is lost.

mod agenda;
mod e2ee;
mod gallery;
mod json;

use std::collections::BTreeMap;

use ferry_core::model::{
    Album, Attachment, CheckIn, Comment, Location, Person, Post, Profile, Reaction, Record, Story,
    Thread,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::catalogue::{Catalogue, Detection, NOT_CARRIED, Service};
use crate::mojibake;
use crate::vfs::ArchiveFs;
use gallery::{Gallery, Resolved, Seen, location, resolve};
use json::{MediaObj, Text, Ts};

const ERAS: [&str; 3] = ["pre-2024", "2022", "2024"];

/// Finds a Facebook export (or a Messenger E2EE download) anywhere in the tree.
pub fn detect(fs: &ArchiveFs) -> Option<Detection> {
    main_export(fs).or_else(|| e2ee::detect(fs))
}

/// The outermost root any marker file names; at equal depth, the newest layout wins (the 2022
/// layout keeps the pre-2024 `profile_information/` next to `your_activity_across_facebook/`).
fn main_export(fs: &ArchiveFs) -> Option<Detection> {
    let mut best: Option<(&str, usize)> = None;
    for (path, _) in fs.files() {
        let Some((root, era)) = marker(path) else {
            continue;
        };
        let better =
            best.is_none_or(|(r, e)| root.len() < r.len() || root.len() == r.len() && era > e);
        if better && !is_instagram(fs, root) {
            best = Some((root, era));
        }
    }
    best.map(|(root, era)| Detection {
        service: Service::Facebook,
        era: ERAS.get(era).copied().unwrap_or("pre-2024").to_owned(),
        root: root.to_owned(),
    })
}

/// The root and era (index into [`ERAS`]) a marker file gives. Only JSON files count, so an
/// HTML export is left to [`crate::detect`]'s refusal.
fn marker(path: &str) -> Option<(&str, usize)> {
    if !path.ends_with(".json") {
        return None;
    }
    for (folder, era) in [
        ("your_facebook_activity/", 2),
        ("your_activity_across_facebook/", 1),
    ] {
        if let Some(at) = folder_at(path, folder) {
            return Some((&path[..at], era));
        }
    }
    if let Some(root) =
        path.strip_suffix("personal_information/profile_information/profile_information.json")
    {
        return at_boundary(root).then_some((root, 2));
    }
    if let Some(root) = path.strip_suffix("profile_information/profile_information.json") {
        return at_boundary(root).then_some((root, 0));
    }
    if let Some(root) = path.strip_suffix("comments_and_reactions/comments.json") {
        return at_boundary(root).then_some((root, 0));
    }
    let mut parts = path.rsplit('/');
    let (name, parent) = (parts.next()?, parts.next()?);
    let grand = parts.next();
    let root_len = path.len() - name.len() - parent.len() - 1;
    if parent == "posts" && is_numbered(name, "your_posts_") {
        return Some((&path[..root_len], 0));
    }
    if parent == "album" && is_numbered(name, "") {
        let grand = grand?;
        if grand == "photos_and_videos" || grand == "posts" {
            return Some((&path[..root_len - grand.len() - 1], 0));
        }
    }
    None
}

fn at_boundary(prefix: &str) -> bool {
    prefix.is_empty() || prefix.ends_with('/')
}

/// Where the folder `folder` (with its '/') starts as a whole path component.
fn folder_at(path: &str, folder: &str) -> Option<usize> {
    if path.starts_with(folder) {
        return Some(0);
    }
    path.find(&format!("/{folder}")).map(|i| i + 1)
}

/// `<prefix><digits>.json`.
fn is_numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|n| n.strip_suffix(".json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Instagram exports share `messages/inbox/`; these files are theirs alone.
fn is_instagram(fs: &ArchiveFs, root: &str) -> bool {
    fs.contains(&format!("{root}media.json"))
        || fs.contains(&format!(
            "{root}personal_information/personal_information.json"
        ))
        || fs
            .files_under(&format!("{root}your_instagram_activity/"))
            .next()
            .is_some()
        || fs
            .files_under(&format!("{root}personal_information/personal_information/"))
            .next()
            .is_some()
}

/// Reads everything the export holds.
pub fn read(fs: &ArchiveFs, detection: &Detection) -> Catalogue {
    if detection.service == Service::FacebookE2ee {
        return e2ee::read(fs, detection);
    }
    let mut reader = Reader {
        fs,
        root: &detection.root,
        cat: Catalogue::new(detection.clone()),
        gallery: Gallery::default(),
        owner: None,
        events: agenda::Events::default(),
    };
    reader.read_all();
    let Reader {
        mut cat,
        gallery,
        events,
        ..
    } = reader;
    cat.records.extend(events.into_records());
    gallery.finish(&mut cat);
    cat
}

/// What a file of the export is, by its name and folder.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Profile,
    Album,
    Posts,
    Uncategorized,
    Videos,
    Stories,
    Comments,
    CheckIns,
    Events,
    Notes,
    Thread,
    UnknownJson,
    Other,
}

fn kind_of(rel: &str) -> Option<Kind> {
    let mut parts = rel.rsplit('/');
    let name = parts.next().unwrap_or(rel);
    let parent = parts.next().unwrap_or("");
    if name == "no-data.txt" {
        return None;
    }
    if !name.ends_with(".json") {
        return Some(Kind::Other);
    }
    Some(match name {
        "profile_information.json" => Kind::Profile,
        "your_uncategorized_photos.json" => Kind::Uncategorized,
        "your_videos.json" => Kind::Videos,
        "archived_stories.json" => Kind::Stories,
        "check-ins.json" => Kind::CheckIns,
        "your_events.json" | "your_event_responses.json" | "event_invitations.json"
            if parent == "events" =>
        {
            Kind::Events
        }
        "notes.json" if parent == "other_activity" || parent == "notes" => Kind::Notes,
        "comments.json" if parent == "comments_and_reactions" || parent == "comments" => {
            Kind::Comments
        }
        _ if name.starts_with("your_posts") => Kind::Posts,
        _ if parent == "album" && is_numbered(name, "") => Kind::Album,
        _ if is_numbered(name, "message_") && rel.split('/').any(|c| c == "messages") => {
            Kind::Thread
        }
        _ => Kind::UnknownJson,
    })
}

/// Where a media file referenced by a record goes.
enum Into<'a> {
    /// This album.
    Album(String),
    /// The album its `title` names, else a synthetic album (key, title).
    TitleOr(&'a str, &'a str),
    /// A synthetic album (key, title).
    Synthetic(&'a str, &'a str),
}

struct Reader<'a> {
    fs: &'a ArchiveFs,
    root: &'a str,
    cat: Catalogue,
    gallery: Gallery,
    /// The account holder's name (from the profile), the author of posts.
    owner: Option<String>,
    events: agenda::Events,
}

impl Reader<'_> {
    fn read_all(&mut self) {
        let fs = self.fs;
        let root = self.root;
        let mut files: Vec<(Kind, &str)> = Vec::new();
        let mut threads: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (path, _) in fs.files() {
            let Some(rel) = path.strip_prefix(root) else {
                self.cat
                    .problem(path, "outside the Facebook export's folder");
                continue;
            };
            match kind_of(rel) {
                None => {}
                Some(Kind::Thread) => {
                    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                    threads.entry(dir).or_default().push(path);
                }
                Some(kind) => files.push((kind, path)),
            }
        }
        // Albums before posts, so a post photo titled like an album joins it.
        files.sort_by_key(|(kind, _)| *kind);
        let mut others = Vec::new();
        for (kind, path) in files {
            match kind {
                Kind::Profile => self.profile(path),
                Kind::Album => self.album(path),
                Kind::Posts => self.posts(path),
                Kind::Uncategorized => {
                    if let Some(f) = self.load::<json::UncategorizedFile>(path) {
                        self.media_list(
                            path,
                            &f.other_photos_v2,
                            ("uncategorized", "Uncategorized photos"),
                        );
                    }
                }
                Kind::Videos => {
                    if let Some(f) = self.load::<json::VideosFile>(path) {
                        self.media_list(path, &f.videos_v2, ("videos", "Videos"));
                    }
                }
                Kind::Stories => self.stories(path),
                Kind::Comments => self.comments(path),
                Kind::CheckIns => self.check_ins(path),
                Kind::Events => self.events(path),
                Kind::Notes => self.notes(path),
                Kind::UnknownJson => self.cat.problem(
                    path,
                    "not read: ferry does not carry this kind of Facebook data",
                ),
                Kind::Thread | Kind::Other => others.push(path),
            }
        }
        for (dir, files) in threads {
            self.thread(dir, files);
        }
        // Photos and videos no JSON names are still the user's: list them without metadata.
        for path in others {
            if self.gallery.contains(path) {
                continue;
            }
            let attachment = self.gallery.add(fs, path, Seen::default());
            if attachment.media_id.is_none() {
                self.cat.problem(
                    path,
                    "not a photo or video, and no record of the export names it",
                );
            }
        }
    }

    /// Reads and parses one JSON file; a failure becomes a problem.
    fn load<T: DeserializeOwned>(&mut self, path: &str) -> Option<T> {
        let bytes = match self.fs.read_small(path) {
            Ok(b) => b,
            Err(e) => {
                self.cat.problem(path, format!("could not read: {e}"));
                return None;
            }
        };
        let text = bytes.trim_ascii();
        if text.is_empty() {
            self.cat.problem(path, "empty file");
            return None;
        }
        if text.starts_with(b"[object Object]") {
            self.cat.problem(
                path,
                "Facebook wrote `[object Object]` in this file instead of the data",
            );
            return None;
        }
        match serde_json::from_slice(text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.cat.problem(path, format!("invalid JSON ({e})"));
                None
            }
        }
    }

    /// The attachment for one media object, adding its file to the gallery.
    /// `caption` and `place` are the post's, for media that carry none of their own.
    fn media(
        &mut self,
        base: &str,
        m: &MediaObj,
        (caption, place): (Option<&str>, Option<&Location>),
        into: Into,
    ) -> Option<Attachment> {
        let uri = m.uri.get()?;
        let dir = base.rsplit_once('/').map_or("", |(d, _)| d);
        let base_dir = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        match resolve(self.fs, self.root, &base_dir, uri)? {
            Resolved::Link(url) => Some(Attachment {
                media_id: None,
                uri: Some(url),
                title: m.title.owned(),
                mime_type: None,
            }),
            Resolved::Missing(uri) => {
                self.cat
                    .problem(format!("{base}: {uri}"), "media file not in the export");
                Some(Attachment {
                    media_id: None,
                    uri: Some(uri),
                    title: m.title.owned(),
                    mime_type: None,
                })
            }
            Resolved::File(path) => {
                let taken = m.exif().find_map(|e| e.taken_timestamp.secs());
                // The camera's point beats the place the post names.
                let place = m
                    .exif()
                    .find_map(|e| location(e.latitude.0, e.longitude.0, None))
                    .or_else(|| place.cloned());
                let album = match into {
                    Into::Album(id) => id,
                    Into::TitleOr(key, title) => match m.title.get() {
                        Some(t) => self.gallery.titled_album(t),
                        None => self.synthetic_album(key, title),
                    },
                    Into::Synthetic(key, title) => self.synthetic_album(key, title),
                };
                let seen = Seen {
                    taken,
                    uploaded: m.creation_timestamp.secs(),
                    caption: m.description.owned().or_else(|| caption.map(str::to_owned)),
                    location: place,
                    album: Some(album),
                };
                Some(self.gallery.add(self.fs, &path, seen))
            }
        }
    }

    fn synthetic_album(&mut self, key: &str, title: &str) -> String {
        self.gallery.album(key, || Album {
            id: format!("album:{key}"),
            title: title.to_owned(),
            path: Vec::new(),
            description: None,
            created: None,
            location: None,
        })
    }

    fn media_list(&mut self, path: &str, list: &[MediaObj], (key, title): (&str, &str)) {
        for m in list {
            self.media(path, m, (None, None), Into::Synthetic(key, title));
        }
    }

    fn album(&mut self, path: &str) {
        let Some(file) = self.load::<json::AlbumFile>(path) else {
            return;
        };
        let rel = &path[self.root.len()..];
        let title = file.name.owned().unwrap_or_else(|| {
            let stem = rel
                .rsplit('/')
                .next()
                .unwrap_or(rel)
                .trim_end_matches(".json");
            format!("Album {stem}")
        });
        let id = self.gallery.album(&format!("title:{title}"), || Album {
            id: format!("album:{rel}"),
            title: title.clone(),
            path: Vec::new(),
            description: file.description.owned(),
            created: None,
            location: None,
        });
        for m in file.photos.iter().chain(file.cover_photo.as_ref()) {
            self.media(path, m, (None, None), Into::Album(id.clone()));
        }
    }

    fn posts(&mut self, path: &str) {
        let fs = self.fs;
        let bytes = fs.head(path, 4096).unwrap_or_default();
        let posts: Vec<json::Post> = match bytes.trim_ascii_start().first() {
            // Some files wrap the list in an object (`{"status_updates_v2": [..]}`).
            Some(b'{') => match self.load::<BTreeMap<String, Listed>>(path) {
                Some(map) => map
                    .into_values()
                    .flat_map(|l| match l {
                        Listed::Posts(p) => p,
                        Listed::Other(_) => Vec::new(),
                    })
                    .collect(),
                None => return,
            },
            _ => match self.load(path) {
                Some(p) => p,
                None => return,
            },
        };
        let tagged = posts
            .iter()
            .filter(|p| p.tags.iter().any(|t| t.name.get().is_some()))
            .count();
        let rel = &path[self.root.len()..];
        for (i, p) in posts.into_iter().enumerate() {
            let post = self.post(path, &format!("post:{rel}#{i}"), &p, ("posts", "Posts"));
            self.cat.records.push(Record::Post(post));
        }
        if tagged > 0 {
            self.cat.problem(
                path,
                format!("{NOT_CARRIED}: the people tagged in {tagged} of its posts"),
            );
        }
    }

    /// A post, story or comment body: its text, dates, place and attachments.
    fn post(&mut self, path: &str, id: &str, p: &json::Post, album: (&str, &str)) -> Post {
        let text = p.data.iter().find_map(|d| d.post.get()).map(str::to_owned);
        let updated = p.data.iter().find_map(|d| d.update_timestamp.secs());
        let backdated = p.data.iter().find_map(|d| d.backdated_timestamp.secs());
        let created = backdated.or(p.timestamp.secs());
        let (mut extras, attachments, location) =
            self.attachments(path, &p.attachments, text.as_deref(), album);
        let mut body: Vec<String> = text.into_iter().collect();
        body.append(&mut extras);
        let text = if body.is_empty() {
            p.title.owned()
        } else {
            Some(body.join("\n\n"))
        };
        Post {
            id: id.to_owned(),
            author: self.owner.clone().map(|name| Person { id: None, name }),
            created,
            updated: updated.filter(|u| Some(*u) != created),
            text,
            attachments,
            location,
            reactions: Vec::new(),
        }
    }

    /// The attachment groups of a post: extra text, attachments and the place. The place is
    /// also the place of the post's photos and videos that have none of their own, so that a
    /// transfer of media alone keeps it.
    fn attachments(
        &mut self,
        path: &str,
        groups: &[json::AttachmentGroup],
        caption: Option<&str>,
        (key, title): (&str, &str),
    ) -> (Vec<String>, Vec<Attachment>, Option<Location>) {
        let items = || groups.iter().flat_map(|g| &g.data);
        let place = items().find_map(|item| item.place.as_ref().and_then(place));
        let (mut extras, mut attachments) = (Vec::new(), Vec::new());
        let context = (caption, place.as_ref());
        for item in items() {
            if let Some(m) = &item.media {
                attachments.extend(self.media(path, m, context, Into::TitleOr(key, title)));
            }
            if let Some(link) = &item.external_context {
                match link.url.get() {
                    Some(url) => attachments.push(Attachment {
                        media_id: None,
                        uri: Some(url.to_owned()),
                        title: link.name.owned(),
                        mime_type: None,
                    }),
                    None => extras.extend(link.name.owned()),
                }
            }
            if let Some(e) = &item.event {
                extras.extend(e.name.owned());
            }
            if let Some(l) = &item.life_event {
                extras.extend(l.title.owned());
            }
            if let Some(n) = &item.note {
                extras.extend(n.title.owned());
                extras.extend(n.text.owned());
                for m in &n.media {
                    attachments.extend(self.media(path, m, context, Into::TitleOr(key, title)));
                }
            }
            extras.extend(item.text.owned());
        }
        (extras, attachments, place)
    }

    fn stories(&mut self, path: &str) {
        let Some(file) = self.load::<json::StoriesFile>(path) else {
            return;
        };
        let rel = &path[self.root.len()..];
        for (i, s) in file.archived_stories_v2.iter().enumerate() {
            let post = self.post(path, &format!("story:{rel}#{i}"), s, ("stories", "Stories"));
            self.cat.records.push(Record::Story(Story {
                id: post.id,
                author: post.author,
                created: post.created,
                caption: post.text,
                attachments: post.attachments,
                reactions: Vec::new(),
            }));
        }
    }

    fn comments(&mut self, path: &str) {
        let Some(file) = self.load::<json::CommentsFile>(path) else {
            return;
        };
        let rel = &path[self.root.len()..];
        for (i, c) in file.comments_v2.iter().enumerate() {
            let body = c.data.iter().find_map(|d| d.comment.as_ref());
            let text = body.and_then(|b| b.comment.owned());
            let (extras, attachments, _) = self.attachments(
                path,
                &c.attachments,
                text.as_deref(),
                ("comments", "Comments"),
            );
            let text: Vec<String> = text.into_iter().chain(extras).collect();
            if text.is_empty() && attachments.is_empty() {
                self.cat.problem(
                    format!("comment:{rel}#{i}"),
                    "comment without text or attachment",
                );
                continue;
            }
            self.cat.records.push(Record::Comment(Comment {
                id: format!("comment:{rel}#{i}"),
                on: None,
                author: body
                    .and_then(|b| b.author.owned())
                    .or_else(|| self.owner.clone())
                    .map(|name| Person { id: None, name }),
                created: body.and_then(|b| b.timestamp.secs()).or(c.timestamp.secs()),
                text: text.join("\n\n"),
                attachments,
                reactions: Vec::new(),
            }));
        }
    }

    /// One Messenger thread: every `message_N.json` of its folder, merged and sorted by time.
    fn thread(&mut self, dir: &str, mut files: Vec<&str>) {
        // message_1 holds the newest messages, newest first: read backwards for a stable sort.
        files.sort_by_key(|f| std::cmp::Reverse(file_number(f)));
        let mut title = None;
        let mut participants: Vec<String> = Vec::new();
        let mut messages: Vec<json::Message> = Vec::new();
        for file in files {
            let Some(mut t) = self.load::<json::ThreadFile>(file) else {
                continue;
            };
            title = title.or(t.title.owned());
            for p in &t.participants {
                if let Some(name) = p.name.get()
                    && !participants.iter().any(|n| n == name)
                {
                    participants.push(name.to_owned());
                }
            }
            t.messages.reverse();
            messages.append(&mut t.messages);
        }
        messages.sort_by_key(|m| m.timestamp_ms.0.unwrap_or(i64::MIN));
        let rel = &dir[self.root.len().min(dir.len())..];
        let folder = dir.rsplit('/').next().unwrap_or(dir);
        let title = title.unwrap_or_else(|| folder.to_owned());
        let thread_id = format!("thread:{rel}");
        self.cat.records.push(Record::Thread(Thread {
            id: thread_id.clone(),
            title: Some(title.clone()),
            participants: participants
                .into_iter()
                .map(|name| Person { id: None, name })
                .collect(),
        }));
        let album_key = format!("messages:{rel}");
        let base_dir = format!("{dir}/");
        for (i, m) in messages.into_iter().enumerate() {
            let sent = m.timestamp_ms.millis();
            let mut attachments = Vec::new();
            let files = m
                .photos
                .iter()
                .chain(&m.videos)
                .chain(&m.gifs)
                .chain(&m.audio_files)
                .chain(&m.files)
                .chain(m.sticker.as_ref());
            for f in files {
                let Some(uri) = f.uri.get() else { continue };
                match resolve_in_thread(self.fs, self.root, &base_dir, uri) {
                    Some(Resolved::File(path)) => {
                        let album = self.gallery.album(&album_key, || Album {
                            id: format!("album:{album_key}"),
                            title: title.clone(),
                            path: vec!["Messages".to_owned(), title.clone()],
                            description: None,
                            created: None,
                            location: None,
                        });
                        let seen = Seen {
                            taken: None,
                            uploaded: f.creation_timestamp.secs().or(sent),
                            caption: None,
                            location: None,
                            album: Some(album),
                        };
                        attachments.push(self.gallery.add(self.fs, &path, seen));
                    }
                    Some(Resolved::Link(url)) => attachments.push(link(url, None)),
                    Some(Resolved::Missing(uri)) => {
                        self.cat
                            .problem(format!("{dir}: {uri}"), "media file not in the export");
                        attachments.push(link(uri, None));
                    }
                    None => {}
                }
            }
            if let Some(share) = &m.share
                && let Some(url) = share.link.get()
            {
                attachments.push(link(url.to_owned(), share.share_text.owned()));
            }
            self.cat
                .records
                .push(Record::Message(ferry_core::model::Message {
                    id: format!("message:{rel}#{i}"),
                    thread_id: thread_id.clone(),
                    author: m.sender_name.owned().map(|name| Person { id: None, name }),
                    sent,
                    text: m.content.owned(),
                    attachments,
                    reactions: crate::catalogue::exact(
                        m.reactions
                            .iter()
                            .filter_map(|r| reaction(&r.actor, &r.reaction)),
                    ),
                }));
        }
    }

    fn profile(&mut self, path: &str) {
        let Some(value) = self.load::<Value>(path) else {
            return;
        };
        let value = mojibake::fix_json(value);
        let Some(p) = value.get("profile_v2") else {
            self.cat
                .problem(path, "no `profile_v2` in the profile file");
            return;
        };
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let name = text(p.pointer("/name/full_name"));
        let birthday = p.get("birthday").and_then(|b| {
            let part = |k| b.get(k).and_then(Value::as_i64).filter(|n| *n > 0);
            match (part("year"), part("month"), part("day")) {
                (Some(y), Some(m), Some(d)) => Some(format!("{y:04}-{m:02}-{d:02}")),
                (None, Some(m), Some(d)) => Some(format!("--{m:02}-{d:02}")),
                (Some(y), _, _) => Some(format!("{y:04}")),
                _ => None,
            }
        });
        let named = |key: &str| text(p.get(key).and_then(|v| v.get("name")));
        let phone = p
            .get("phone_numbers")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find_map(|n| text(n.get("phone_number"))));
        self.owner = name.clone();
        self.cat.records.push(Record::Profile(Profile {
            id: "profile".to_owned(),
            name,
            username: text(p.get("username")),
            email: text(p.pointer("/emails/emails/0")),
            phone,
            birthday,
            gender: text(p.pointer("/gender/gender_option")),
            current_city: named("current_city"),
            hometown: named("hometown"),
            created: Ts(p.get("registration_timestamp").and_then(Value::as_i64)).secs(),
            ..Profile::default()
        }));
        // What the profile holds that the model has no field for, so that `inspect` says so.
        let read = [
            "name",
            "emails",
            "birthday",
            "username",
            "phone_numbers",
            "gender",
            "current_city",
            "hometown",
            "registration_timestamp",
        ];
        let unread: Vec<&str> = p
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| !read.contains(&k.as_str()) && has_data(v))
            .map(|(k, _)| k.as_str())
            .collect();
        if !unread.is_empty() {
            self.cat
                .problem(path, format!("{NOT_CARRIED}: {}", unread.join(", ")));
        }
    }

    /// `check-ins.json`: an array, or one object when there is a single check-in; each entry
    /// is `{timestamp, label_values: [{label, value | timestamp_value | dict | vec}]}` with
    /// localized labels. The place is either flat among the labels or nested under a "Place
    /// tags" label as a `dict` (or a `vec` of them) of its name, address and coordinates.
    fn check_ins(&mut self, path: &str) {
        let Some(value) = self.load::<Value>(path) else {
            return;
        };
        let entries = match mojibake::fix_json(value) {
            Value::Array(list) => list,
            Value::Object(map) => match map.values().find_map(Value::as_array) {
                Some(list) if !map.contains_key("label_values") => list.clone(),
                _ => vec![Value::Object(map)],
            },
            _ => Vec::new(),
        };
        let rel = &path[self.root.len()..];
        for (i, entry) in entries.iter().enumerate() {
            let id = format!("checkin:{rel}#{i}");
            let mut labelled = Vec::new();
            if let Some(list) = entry.get("label_values").and_then(Value::as_array) {
                label_values(list, false, &mut labelled);
            }
            let (mut coordinates, mut name, mut address) = (None, None, None);
            // Texts no label names: the place's first is its name; those outside the place
            // are the check-in's message, or, when nothing else names the place, its name.
            let (mut in_place, mut others) = (None, Vec::new());
            for (label, value, nested) in labelled {
                let value = value.trim();
                if value.is_empty() || value.contains("://") {
                    continue;
                }
                if let Some(c) = parse_coordinates(value) {
                    coordinates = coordinates.or(Some(c));
                } else if is_label(label, ADDRESS) {
                    address = address.or_else(|| Some(value.to_owned()));
                } else if is_label(label, PLACE_NAME) {
                    name = name.or_else(|| Some(value.to_owned()));
                } else if nested {
                    in_place = in_place.or_else(|| Some(value.to_owned()));
                } else {
                    others.push(value.to_owned());
                }
            }
            let name = name
                .or(in_place)
                .or_else(|| (!others.is_empty()).then(|| others.remove(0)));
            let message = (!others.is_empty()).then(|| others.join("\n\n"));
            let created = Ts(entry.get("timestamp").and_then(Value::as_i64)).secs();
            if name.is_none() && address.is_none() && coordinates.is_none() {
                self.cat.problem(id, "check-in without a place");
                continue;
            }
            let point = coordinates.and_then(|(lat, lon)| location(Some(lat), Some(lon), None));
            let location = Location {
                name: name.clone(),
                address: address.clone(),
                ..point.unwrap_or_default()
            };
            self.cat.records.push(Record::CheckIn(CheckIn {
                id,
                author: self.owner.clone().map(|name| Person { id: None, name }),
                created,
                text: message,
                location,
                attachments: Vec::new(),
            }));
        }
    }
}

/// Labels of a check-in's place fields, in the languages seen so far; others are recognised
/// by shape.
const PLACE_NAME: &[&str] = &[
    "Name",
    "Place name",
    "Place",
    "Navn",
    "Nom",
    "Nombre",
    "Name des Orts",
];
const ADDRESS: &[&str] = &["Address", "Adresse", "Dirección", "Indirizzo", "Adres"];

fn is_label(label: &str, labels: &[&str]) -> bool {
    labels.iter().any(|l| l.eq_ignore_ascii_case(label.trim()))
}

/// Every `(label, value, nested)` of a `label_values` list, with the entries of `dict`s and
/// `vec`s of dicts in it (`nested`: inside one).
fn label_values<'v>(list: &'v [Value], nested: bool, out: &mut Vec<(&'v str, &'v str, bool)>) {
    for lv in list {
        let label = lv.get("label").and_then(Value::as_str).unwrap_or("");
        if let Some(value) = lv.get("value").and_then(Value::as_str) {
            out.push((label, value, nested));
        }
        for key in ["dict", "vec"] {
            if let Some(inner) = lv.get(key).and_then(Value::as_array) {
                label_values(inner, true, out);
            }
        }
    }
}

/// A post's place: its point when it has one, with its name and address.
fn place(p: &json::Place) -> Option<Location> {
    let coordinate = p.coordinate.as_ref();
    let point = location(
        coordinate.and_then(|c| c.latitude.0),
        coordinate.and_then(|c| c.longitude.0),
        None,
    );
    let (name, address) = (p.name.owned(), p.address.owned());
    if point.is_none() && name.is_none() && address.is_none() {
        return None;
    }
    Some(Location {
        name,
        address,
        ..point.unwrap_or_default()
    })
}

/// Whether a JSON value holds anything (not null, blank, zero, or empty).
fn has_data(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.trim().is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::Array(a) => a.iter().any(has_data),
        Value::Object(o) => o.values().any(has_data),
    }
}

/// Like [`resolve`], and a bare file name is also looked for in the thread's media folders:
/// threads of 2017 (in `e2ee_cutover/`) name a photo by its file name alone, while the file
/// sits in the thread's `photos/`.
fn resolve_in_thread(fs: &ArchiveFs, root: &str, base_dir: &str, uri: &str) -> Option<Resolved> {
    let found = resolve(fs, root, base_dir, uri)?;
    let bare = !uri.trim().trim_start_matches("./").contains('/');
    if !bare || !matches!(found, Resolved::Missing(_)) {
        return Some(found);
    }
    for folder in ["photos", "videos", "gifs", "audio", "files"] {
        let dir = format!("{base_dir}{folder}/");
        if let Some(Resolved::File(path)) = resolve(fs, &dir, &dir, uri) {
            return Some(Resolved::File(path));
        }
    }
    Some(found)
}

/// A posts file's wrapper object holds the list under some key next to other values.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Listed {
    Posts(Vec<json::Post>),
    Other(serde::de::IgnoredAny),
}

fn file_number(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.strip_prefix("message_"))
        .and_then(|n| n.strip_suffix(".json"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn link(uri: String, title: Option<String>) -> Attachment {
    Attachment {
        media_id: None,
        uri: Some(uri),
        title,
        mime_type: None,
    }
}

fn reaction(actor: &Text, reaction: &Text) -> Option<Reaction> {
    Some(Reaction {
        actor: Person {
            id: None,
            name: actor.owned()?,
        },
        reaction: reaction.owned()?,
        at: None,
    })
}

/// `"(38.57 , -121.48)"` → (38.57, -121.48).
fn parse_coordinates(s: &str) -> Option<(f64, f64)> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (lat, lon) = inner.split_once(',')?;
    Some((lat.trim().parse().ok()?, lon.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_give_root_and_era() {
        assert_eq!(marker("x/posts/your_posts_1.json"), Some(("x/", 0)));
        assert_eq!(marker("posts/album/3.json"), Some(("", 0)));
        assert_eq!(
            marker("a/your_facebook_activity/posts/album/0.json"),
            Some(("a/", 2))
        );
        assert_eq!(
            marker("personal_information/profile_information/profile_information.json"),
            Some(("", 2))
        );
        assert_eq!(
            marker("your_activity_across_facebook/messages/inbox/a_1/message_1.json"),
            Some(("", 1))
        );
        assert_eq!(marker("your_facebook_activity/posts/album/0.html"), None);
        assert_eq!(
            marker("myprofile_information/profile_information.json"),
            None
        );
        assert_eq!(marker("messages/inbox/a_1/message_1.json"), None);
    }

    #[test]
    fn coordinates() {
        assert_eq!(
            parse_coordinates("(38.57 , -121.48)"),
            Some((38.57, -121.48))
        );
        assert_eq!(parse_coordinates("Tivoli"), None);
    }
}
