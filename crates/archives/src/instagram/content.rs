//! Posts, stories, the other media lists, comments and the profile of the 2021+ layouts
//! (archives.md §2.3, §2.4).

use ferry_core::model::{Attachment, Comment, Location, Post, Profile, Record, Story, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Lenient, MediaInfo, Reader, Shelf, Ts, fix_opt, parse_time, secs};
use crate::catalogue::NOT_CARRIED;

/// One entry of a media list: a media object (`uri`, …) or a post holding several
/// (`media: [...]`). Posts, stories, reels, archived posts, IGTV and profile pictures all use
/// this shape.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct IgEntry {
    pub uri: Option<String>,
    pub creation_timestamp: Option<Ts>,
    pub title: Option<String>,
    pub media_metadata: Lenient<MediaMetadata>,
    pub media: Lenient<Vec<IgEntry>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MediaMetadata {
    photo_metadata: Lenient<ExifHolder>,
    video_metadata: Lenient<ExifHolder>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ExifHolder {
    exif_data: Lenient<Vec<Lenient<Exif>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Exif {
    latitude: Lenient<f64>,
    longitude: Lenient<f64>,
    date_time_original: Lenient<String>,
}

impl IgEntry {
    /// Where and when the camera says the media was taken. 0/0 is Meta's "no location".
    fn exif(&self) -> (Option<Location>, Option<Timestamp>) {
        let mut location = None;
        let mut taken = None;
        let Some(meta) = &self.media_metadata.0 else {
            return (None, None);
        };
        let holders = [&meta.photo_metadata.0, &meta.video_metadata.0];
        let exifs = holders
            .into_iter()
            .flatten()
            .filter_map(|h| h.exif_data.0.as_ref())
            .flatten()
            .filter_map(|e| e.0.as_ref());
        for exif in exifs {
            if location.is_none()
                && let (Some(lat), Some(lon)) = (exif.latitude.0, exif.longitude.0)
                && (lat != 0.0 || lon != 0.0)
                && lat.is_finite()
                && lon.is_finite()
            {
                location = Some(Location::at(lat, lon));
            }
            if taken.is_none() {
                taken = exif.date_time_original.0.as_deref().and_then(parse_time);
            }
        }
        (location, taken)
    }

    /// The media objects of an entry: its `media` list, or the entry itself.
    fn parts(&self) -> Vec<&IgEntry> {
        match &self.media.0 {
            Some(list) if !list.is_empty() => list.iter().collect(),
            _ => vec![self],
        }
    }
}

/// What a media list's entries become.
#[derive(Clone, Copy)]
enum Kind {
    Post(Shelf),
    Story,
    MediaOnly(Shelf),
}

/// `posts_N.json`: a top-level array of posts.
pub(crate) fn posts(r: &mut Reader, path: &str) {
    let Some(bytes) = read(r, path) else { return };
    let entries = match first_byte(&bytes) {
        Some(b'[') => serde_json::from_slice::<Vec<IgEntry>>(&bytes),
        // A wrapper object around the array (seen in other files of the same family).
        _ => serde_json::from_slice::<Map<String, Value>>(&bytes).map(|m| {
            m.into_iter()
                .find_map(|(_, v)| v.is_array().then_some(v))
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default()
        }),
    };
    match entries {
        Ok(entries) => entries_of(r, path, "post", &entries, Kind::Post(Shelf::Posts)),
        Err(e) => r.problem(r.rel(path).to_owned(), format!("invalid JSON ({e})")),
    }
}

/// Stories, reels, archived posts, IGTV, other media and profile pictures: an object with
/// one `ig_*` list.
pub(crate) fn media_lists(r: &mut Reader, path: &str) {
    #[derive(Default, Deserialize)]
    #[serde(default)]
    struct Lists {
        ig_stories: Vec<IgEntry>,
        ig_reels_media: Vec<IgEntry>,
        ig_archived_post_media: Vec<IgEntry>,
        ig_igtv_media: Vec<IgEntry>,
        ig_other_media: Vec<IgEntry>,
        ig_profile_picture: Vec<IgEntry>,
    }
    let Some(bytes) = read(r, path) else { return };
    if first_byte(&bytes) == Some(b'[') {
        // A bare array: the list its name says, if it names one.
        let name = path.rsplit('/').next().unwrap_or(path);
        let Some((prefix, kind)) = list_kind(name) else {
            return;
        };
        match serde_json::from_slice::<Vec<IgEntry>>(&bytes) {
            Ok(entries) => entries_of(r, path, prefix, &entries, kind),
            Err(e) => r.problem(r.rel(path).to_owned(), format!("invalid JSON ({e})")),
        }
        return;
    }
    let lists: Lists = match serde_json::from_slice(&bytes) {
        Ok(l) => l,
        Err(e) => {
            r.problem(r.rel(path).to_owned(), format!("invalid JSON ({e})"));
            return;
        }
    };
    entries_of(r, path, "story", &lists.ig_stories, Kind::Story);
    entries_of(
        r,
        path,
        "reel",
        &lists.ig_reels_media,
        Kind::Post(Shelf::Reels),
    );
    let archived = Kind::Post(Shelf::Archived);
    entries_of(r, path, "archived", &lists.ig_archived_post_media, archived);
    entries_of(
        r,
        path,
        "igtv",
        &lists.ig_igtv_media,
        Kind::Post(Shelf::Igtv),
    );
    let other = Kind::MediaOnly(Shelf::Other);
    entries_of(r, path, "other", &lists.ig_other_media, other);
    let pictures = Kind::MediaOnly(Shelf::ProfilePictures);
    entries_of(
        r,
        path,
        "profile_picture",
        &lists.ig_profile_picture,
        pictures,
    );
}

/// The list a media-list file holds, by its name.
fn list_kind(name: &str) -> Option<(&'static str, Kind)> {
    Some(match name {
        _ if name.starts_with("stories") => ("story", Kind::Story),
        _ if name.starts_with("reels") => ("reel", Kind::Post(Shelf::Reels)),
        _ if name.starts_with("archived_posts") => ("archived", Kind::Post(Shelf::Archived)),
        _ if name.starts_with("igtv") => ("igtv", Kind::Post(Shelf::Igtv)),
        _ if name.starts_with("other_content") => ("other", Kind::MediaOnly(Shelf::Other)),
        _ if name.starts_with("profile_photos") => {
            ("profile_picture", Kind::MediaOnly(Shelf::ProfilePictures))
        }
        _ => return None,
    })
}

fn read(r: &mut Reader, path: &str) -> Option<Vec<u8>> {
    match r.fs.read_small(path) {
        Ok(b) => Some(b),
        Err(e) => {
            r.problem(r.rel(path).to_owned(), e.to_string());
            None
        }
    }
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

fn entries_of(r: &mut Reader, path: &str, prefix: &str, entries: &[IgEntry], kind: Kind) {
    let rel = r.rel(path).to_owned();
    for (i, entry) in entries.iter().enumerate() {
        let id = format!("{prefix}:{rel}#{i}");
        entry_record(r, &id, entry, kind);
    }
}

/// One post, story or list entry, with its media.
fn entry_record(r: &mut Reader, id: &str, entry: &IgEntry, kind: Kind) {
    let parts = entry.parts();
    let first = parts.first().copied();
    // Multi-media posts carry caption and time at the top; single-media ones on media[0].
    let caption =
        fix_opt(entry.title.clone()).or_else(|| first.and_then(|m| fix_opt(m.title.clone())));
    let created =
        secs(&entry.creation_timestamp).or_else(|| first.and_then(|m| secs(&m.creation_timestamp)));
    let shelf = match kind {
        Kind::Post(s) | Kind::MediaOnly(s) => s,
        Kind::Story => Shelf::Stories,
    };
    let album = r.shelf(shelf);
    let mut attachments: Vec<Attachment> = Vec::new();
    let mut location = None;
    for media in &parts {
        let Some(uri) = media.uri.as_deref() else {
            continue;
        };
        let (loc, exif_taken) = media.exif();
        let uploaded = secs(&media.creation_timestamp);
        let info = MediaInfo {
            caption: fix_opt(media.title.clone()).or_else(|| caption.clone()),
            taken: exif_taken.or(created).or(uploaded),
            uploaded: uploaded.or(created),
            location: loc.clone(),
        };
        if location.is_none() {
            location = loc;
        }
        if let Some(a) = r.attach(uri, info, &album, id) {
            attachments.push(a);
        }
    }
    if attachments.is_empty() && caption.is_none() {
        r.problem(id.to_owned(), "entry has neither media nor text");
        return;
    }
    match kind {
        Kind::Post(_) => r.push(Record::Post(Post {
            id: id.to_owned(),
            author: None,
            created,
            updated: None,
            text: caption,
            attachments,
            location,
            reactions: Vec::new(),
        })),
        Kind::Story => r.push(Record::Story(Story {
            id: id.to_owned(),
            author: None,
            created,
            caption,
            attachments,
            reactions: Vec::new(),
        })),
        Kind::MediaOnly(_) => {}
    }
}

/// Labels of `string_map_data` keys, by field, in the languages seen so far. Keys that match
/// none are recognised by their shape instead.
const COMMENT: &[&str] = &[
    "Comment",
    "Kommentar",
    "Commentaire",
    "Comentario",
    "Commento",
];
const OWNER: &[&str] = &[
    "Media Owner",
    "Medieejer",
    "Medieägare",
    "Propriétaire du média",
    "Medieninhaber",
];
const USERNAME: &[&str] = &[
    "Username",
    "Brugernavn",
    "Användarnamn",
    "Nom d’utilisateur",
    "Nom d'utilisateur",
    "Benutzername",
    "Nombre de usuario",
];
const NAME: &[&str] = &["Name", "Navn", "Namn", "Nom", "Nombre", "Nome", "Naam"];
const EMAIL: &[&str] = &[
    "Email",
    "E-mail",
    "Email address",
    "Adresse e-mail",
    "E-Mail",
];
const BIO: &[&str] = &["Bio", "Biografi", "Biographie", "Biografía", "Biografie"];
const WEBSITE: &[&str] = &["Website", "Websted", "Webbplats", "Site Web", "Webseite"];
const BIRTHDAY: &[&str] = &[
    "Date of birth",
    "Fødselsdato",
    "Födelsedatum",
    "Date de naissance",
    "Geburtsdatum",
];
const PHONE: &[&str] = &[
    "Phone Number",
    "Phone",
    "Telefonnummer",
    "Numéro de téléphone",
    "Número de teléfono",
];
const GENDER: &[&str] = &["Gender", "Køn", "Kön", "Genre", "Geschlecht", "Género"];
const PRIVATE: &[&str] = &[
    "Private Account",
    "Privat konto",
    "Compte privé",
    "Privates Konto",
    "Cuenta privada",
];

/// The entries of a `string_map_data` object: label → (value, timestamp).
fn map_entries(map: &Map<String, Value>) -> Vec<(&str, Option<&str>, Option<Timestamp>)> {
    map.iter()
        .map(|(k, v)| {
            let value = v
                .get("value")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let at = v
                .get("timestamp")
                .and_then(|t| serde_json::from_value::<Ts>(t.clone()).ok())
                .and_then(|t| t.secs());
            (k.as_str(), value, at)
        })
        .collect()
}

fn labelled<'v>(
    entries: &[(&str, Option<&'v str>, Option<Timestamp>)],
    labels: &[&str],
) -> Option<&'v str> {
    entries
        .iter()
        .find(|(k, v, _)| v.is_some() && labels.iter().any(|l| l.eq_ignore_ascii_case(k)))
        .and_then(|e| e.1)
}

/// The records of a `string_*_data` file: a bare array, an object wrapping one, or a lone
/// record.
fn records_of(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Object(map) => {
            if map.values().any(Value::is_array)
                && !map.contains_key("string_map_data")
                && !map.contains_key("string_list_data")
            {
                map.into_iter()
                    .find_map(|(_, v)| match v {
                        Value::Array(items) => Some(items),
                        _ => None,
                    })
                    .unwrap_or_default()
            } else {
                vec![Value::Object(map)]
            }
        }
        _ => Vec::new(),
    }
}

/// `post_comments_N.json`, `reels_comments.json`, older `comments.json` wrappers.
pub(crate) fn comments(r: &mut Reader, path: &str) {
    let Some(tree) = r.small_json::<Value>(path) else {
        return;
    };
    let rel = r.rel(path).to_owned();
    let mut owners = 0;
    for (i, item) in records_of(tree).into_iter().enumerate() {
        let id = format!("comment:{rel}#{i}");
        let (text, created) =
            if let Some(map) = item.get("string_map_data").and_then(Value::as_object) {
                let entries = map_entries(map);
                if labelled(&entries, OWNER).is_some() {
                    owners += 1;
                }
                let text = labelled(&entries, COMMENT).or_else(|| {
                    // By shape: the value that is not the owner's user name.
                    let values: Vec<&str> = entries
                        .iter()
                        .filter(|(k, _, _)| !OWNER.iter().any(|l| l.eq_ignore_ascii_case(k)))
                        .filter_map(|e| e.1)
                        .collect();
                    values
                        .iter()
                        .copied()
                        .find(|v| !looks_like_username(v))
                        .or_else(|| values.first().copied())
                });
                let at = entries.iter().find_map(|e| e.2);
                (text.map(str::to_owned), at)
            } else if let Some(first) = item
                .get("string_list_data")
                .and_then(Value::as_array)
                .and_then(|l| l.first())
            {
                let text = first
                    .get("value")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let at = first
                    .get("timestamp")
                    .and_then(|t| serde_json::from_value::<Ts>(t.clone()).ok())
                    .and_then(|t| t.secs());
                (text, at)
            } else {
                (None, None)
            };
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            r.problem(id, "comment without text");
            continue;
        };
        r.push(Record::Comment(Comment {
            id,
            on: None,
            author: None,
            created,
            text,
            attachments: Vec::new(),
            reactions: Vec::new(),
        }));
    }
    if owners > 0 {
        r.problem(
            rel,
            format!(
                "{NOT_CARRIED}: the owner of the post commented on, in {owners} of its comments"
            ),
        );
    }
}

fn looks_like_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 30
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
}

/// `personal_information.json`: `profile_user[0]` with localized `string_map_data` labels.
pub(crate) fn profile(r: &mut Reader, path: &str) {
    let Some(tree) = r.small_json::<Value>(path) else {
        return;
    };
    let user = match tree.get("profile_user") {
        Some(Value::Array(users)) => users.first().cloned(),
        Some(other @ Value::Object(_)) => Some(other.clone()),
        _ => None,
    };
    let Some(user) = user else {
        r.problem(r.rel(path).to_owned(), "no profile_user record");
        return;
    };
    let empty = Map::new();
    let map = user
        .get("string_map_data")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let entries = map_entries(map);
    let by_shape = |test: fn(&str) -> bool| entries.iter().filter_map(|e| e.1).find(|v| test(v));
    let username = labelled(&entries, USERNAME);
    let birthday = labelled(&entries, BIRTHDAY)
        .or_else(|| by_shape(is_date))
        .filter(|d| *d != "1919-01-01");
    let email = labelled(&entries, EMAIL).or_else(|| by_shape(is_email));
    let website = labelled(&entries, WEBSITE).or_else(|| by_shape(is_link));
    let name = labelled(&entries, NAME);
    let bio = labelled(&entries, BIO);
    let phone = labelled(&entries, PHONE);
    let gender = labelled(&entries, GENDER);
    let private = labelled(&entries, PRIVATE);
    // Booleans are the strings "True" and "False".
    let private_flag = private.and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    });
    // Labels whose value none of the fields took: `inspect` lists them.
    let taken = [
        username, birthday, email, website, name, bio, phone, gender, private,
    ];
    let unread: Vec<&str> = entries
        .iter()
        .filter(|(_, v, _)| v.is_some_and(|v| !taken.contains(&Some(v))))
        .map(|(k, _, _)| *k)
        .collect();
    let id = match username {
        Some(u) => format!("profile:{u}"),
        None => "profile".to_owned(),
    };
    let owned = |v: Option<&str>| v.map(str::to_owned);
    let mut picture = None;
    if let Some(media) = user.get("media_map_data").and_then(Value::as_object) {
        let album = r.shelf(Shelf::ProfilePictures);
        for entry in media.values() {
            let Ok(entry) = serde_json::from_value::<IgEntry>(entry.clone()) else {
                continue;
            };
            let Some(uri) = entry.uri.as_deref() else {
                continue;
            };
            let at = secs(&entry.creation_timestamp);
            let info = MediaInfo {
                caption: entry.title.clone().filter(|t| !t.is_empty()),
                taken: at,
                uploaded: at,
                location: None,
            };
            let attachment = r.attach(uri, info, &album, &id);
            picture = picture.or(attachment);
        }
    }
    if !unread.is_empty() {
        r.problem(
            r.rel(path).to_owned(),
            format!("{NOT_CARRIED}: {}", unread.join(", ")),
        );
    }
    r.push(Record::Profile(Profile {
        id,
        name: owned(name),
        username: owned(username),
        email: owned(email),
        phone: owned(phone),
        bio: owned(bio),
        website: owned(website),
        birthday: owned(birthday),
        gender: owned(gender),
        private: private_flag,
        picture,
        ..Profile::default()
    }));
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn is_email(s: &str) -> bool {
    s.contains('@') && s.contains('.') && !s.contains(' ')
}

fn is_link(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}
