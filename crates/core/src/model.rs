//! The portable data model: one form for what every source holds, versioned and documented in
//! docs/model.md. The ferry archive stores exactly this JSON form.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The version of the JSON form. Bump it on any change a reader must know about (docs/model.md
/// lists what each version changed).
pub const MODEL_VERSION: u32 = 3;

/// A point in time: the instant in UTC and, when the source knows it, the offset of the
/// place where it happened (a photo taken at 14:00 in Paris is 12:00Z with +02:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    #[serde(with = "time::serde::rfc3339")]
    pub utc: OffsetDateTime,
    #[serde(default, with = "offset_text", skip_serializing_if = "Option::is_none")]
    pub offset: Option<UtcOffset>,
}

impl Timestamp {
    pub fn from_utc(instant: OffsetDateTime) -> Timestamp {
        Timestamp {
            utc: instant.to_offset(UtcOffset::UTC),
            offset: None,
        }
    }

    /// An instant known with its original offset.
    pub fn with_offset(instant: OffsetDateTime) -> Timestamp {
        Timestamp {
            utc: instant.to_offset(UtcOffset::UTC),
            offset: Some(instant.offset()),
        }
    }

    /// A wall-clock time. With no offset known it is read as UTC (the convention of EXIF
    /// readers and of Google Photos) and the offset stays unknown.
    pub fn from_local(local: PrimitiveDateTime, offset: Option<UtcOffset>) -> Timestamp {
        match offset {
            Some(offset) => Timestamp::with_offset(local.assume_offset(offset)),
            None => Timestamp::from_utc(local.assume_utc()),
        }
    }

    pub fn from_unix(seconds: i64) -> Option<Timestamp> {
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .map(Timestamp::from_utc)
    }

    /// The time as it read where it happened (UTC when the offset is unknown).
    pub fn local(&self) -> OffsetDateTime {
        self.utc.to_offset(self.offset.unwrap_or(UtcOffset::UTC))
    }
}

mod offset_text {
    use super::*;
    use time::format_description::FormatItem;
    use time::macros::format_description;

    const FORMAT: &[FormatItem<'static>] =
        format_description!("[offset_hour sign:mandatory]:[offset_minute]");

    pub fn serialize<S: Serializer>(offset: &Option<UtcOffset>, s: S) -> Result<S::Ok, S::Error> {
        match offset {
            Some(o) => s.serialize_str(&o.format(FORMAT).map_err(serde::ser::Error::custom)?),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UtcOffset>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| UtcOffset::parse(&t, FORMAT).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Where something happened: a point on the map, a named place, or both. A place known only
/// by its name or address ("Sanford, Florida") has no coordinates; latitude and longitude are
/// given both or neither.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude: Option<f64>,
    /// A place name when the source gives one ("Eiffel Tower").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The place's address when the source gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Location {
    /// A point on the map.
    pub fn at(latitude: f64, longitude: f64) -> Location {
        Location {
            latitude: Some(latitude),
            longitude: Some(longitude),
            ..Location::default()
        }
    }

    /// A place known by its name only.
    pub fn named(name: impl Into<String>) -> Location {
        Location {
            name: Some(name.into()),
            ..Location::default()
        }
    }

    /// Latitude and longitude, when the location has both.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        self.latitude.zip(self.longitude)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Video,
}

impl MediaKind {
    /// A photo for an `image/…` MIME type, a video for `video/…`, else `None`.
    pub fn of_mime(mime: &str) -> Option<MediaKind> {
        if mime.starts_with("image/") {
            Some(MediaKind::Photo)
        } else if mime.starts_with("video/") {
            Some(MediaKind::Video)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Video => "video",
        }
    }

    pub fn data_type(self) -> DataType {
        match self {
            MediaKind::Photo => DataType::Photos,
            MediaKind::Video => DataType::Videos,
        }
    }
}

/// A photo or a video.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaItem {
    /// The source's own id for the item (a path for folders, an object id for services).
    pub id: String,
    pub kind: MediaKind,
    /// The file name the source gives, or one made from its id and type.
    pub file_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Ids of the albums the item belongs to, in the source's order; empty when in none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub albums: Vec<String>,
    /// For the motion half of a live or motion photo (a video): the id of its still photo.
    /// Destinations that keep photos and videos apart keep this video next to its photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_photo_of: Option<String>,
    /// The source's mark of this version of the item's bytes (a file's size and modification
    /// time, a service's content hash or revision): equal marks mean unchanged bytes, so a
    /// re-run settles what an earlier job moved without reading it again. Absent when the
    /// source has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// A named group of media.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Album {
    pub id: String,
    pub title: String,
    /// Where the album sits in a hierarchy, outermost first, when the source has one (nested
    /// folders); file-like destinations recreate it. Empty means a top-level album.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl Album {
    /// The folder names that hold the album on a file-like destination.
    pub fn folder_path(&self) -> Vec<String> {
        if self.path.is_empty() {
            vec![self.title.clone()]
        } else {
            self.path.clone()
        }
    }
}

/// Someone who wrote, sent or reacted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
}

/// Media or a link attached to a text record. `media_id` names a [`MediaItem`] of the same
/// source when the attachment is one; `uri` is where the source said it was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub actor: Person,
    /// The reaction as the source names it: "like", "love", or an emoji.
    pub reaction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: String,
    /// The post or media item commented on, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Story {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

/// A conversation; its messages are separate records that name it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Person>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    /// As the source words it ("Female", "MALE", a custom text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// Where the person lives now, as the source names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hometown: Option<String>,
    /// Whether the account is private (only approved followers see it), when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
}

/// A note: a titled text the person wrote (Facebook notes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// An event in a calendar: one the person created, was invited to or answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Held online rather than at a place, when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    /// The person's part in it, as the source words it: "hosting", "going", "interested",
    /// "declined", "invited".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// When the event was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
}

/// Being somewhere, said on a service: a place, when, and what the person wrote with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckIn {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub location: Location,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// Any record a source lists, tagged by `type` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Album(Album),
    Media(MediaItem),
    Post(Post),
    Comment(Comment),
    Story(Story),
    Thread(Thread),
    Message(Message),
    Profile(Profile),
    Note(Note),
    Event(Event),
    CheckIn(CheckIn),
}

impl Record {
    pub fn id(&self) -> &str {
        match self {
            Record::Album(r) => &r.id,
            Record::Media(r) => &r.id,
            Record::Post(r) => &r.id,
            Record::Comment(r) => &r.id,
            Record::Story(r) => &r.id,
            Record::Thread(r) => &r.id,
            Record::Message(r) => &r.id,
            Record::Profile(r) => &r.id,
            Record::Note(r) => &r.id,
            Record::Event(r) => &r.id,
            Record::CheckIn(r) => &r.id,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Record::Album(_) => "album",
            Record::Media(_) => "media",
            Record::Post(_) => "post",
            Record::Comment(_) => "comment",
            Record::Story(_) => "story",
            Record::Thread(_) => "thread",
            Record::Message(_) => "message",
            Record::Profile(_) => "profile",
            Record::Note(_) => "note",
            Record::Event(_) => "event",
            Record::CheckIn(_) => "check_in",
        }
    }

    /// The date `--since` and `--until` judge the record by: media by when taken, else
    /// uploaded; an event by its start; threads and profiles are not dated.
    pub fn date(&self) -> Option<&Timestamp> {
        match self {
            Record::Album(a) => a.created.as_ref(),
            Record::Media(m) => m.taken.as_ref().or(m.uploaded.as_ref()),
            Record::Post(p) => p.created.as_ref(),
            Record::Comment(c) => c.created.as_ref(),
            Record::Story(s) => s.created.as_ref(),
            Record::Message(m) => m.sent.as_ref(),
            Record::Note(n) => n.created.as_ref(),
            Record::Event(e) => e.start.as_ref().or(e.created.as_ref()),
            Record::CheckIn(c) => c.created.as_ref(),
            Record::Thread(_) | Record::Profile(_) => None,
        }
    }

    /// The type a person chooses this record by (an album goes with the media it holds).
    pub fn data_type(&self) -> Option<DataType> {
        Some(match self {
            Record::Album(_) => return None,
            Record::Media(m) => m.kind.data_type(),
            Record::Post(_) => DataType::Posts,
            Record::Comment(_) => DataType::Comments,
            Record::Story(_) => DataType::Stories,
            Record::Thread(_) | Record::Message(_) => DataType::Messages,
            Record::Profile(_) => DataType::Profile,
            Record::Note(_) => DataType::Notes,
            Record::Event(_) => DataType::Events,
            Record::CheckIn(_) => DataType::CheckIns,
        })
    }
}

/// A JSON document of the model: a record (or list) with the version it was written in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub model_version: u32,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Versioned<T> {
    pub fn new(body: T) -> Self {
        Versioned {
            model_version: MODEL_VERSION,
            body,
        }
    }
}

/// The kinds of data a person can choose to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Photos,
    Videos,
    Posts,
    Comments,
    Stories,
    Messages,
    Profile,
    Notes,
    Events,
    #[serde(rename = "check-ins")]
    CheckIns,
}

impl DataType {
    pub const ALL: [DataType; 10] = [
        DataType::Photos,
        DataType::Videos,
        DataType::Posts,
        DataType::Comments,
        DataType::Stories,
        DataType::Messages,
        DataType::Profile,
        DataType::Notes,
        DataType::Events,
        DataType::CheckIns,
    ];

    /// Photos and videos: the types that are files of their own.
    pub const MEDIA: [DataType; 2] = [DataType::Photos, DataType::Videos];

    pub fn is_media(self) -> bool {
        DataType::MEDIA.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Photos => "photos",
            DataType::Videos => "videos",
            DataType::Posts => "posts",
            DataType::Comments => "comments",
            DataType::Stories => "stories",
            DataType::Messages => "messages",
            DataType::Profile => "profile",
            DataType::Notes => "notes",
            DataType::Events => "events",
            DataType::CheckIns => "check-ins",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // "check-in", "check_ins" and "checkins" name the same type.
        let wanted = s.trim().to_ascii_lowercase().replace(['-', '_'], "");
        DataType::ALL
            .into_iter()
            .find(|t| {
                let name = t.as_str().replace('-', "");
                name == wanted || name.trim_end_matches('s') == wanted
            })
            .ok_or_else(|| {
                let names: Vec<_> = DataType::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown data type '{s}' (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// What a source is asked to list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    pub types: BTreeSet<DataType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

impl Scope {
    pub fn media() -> Scope {
        Scope {
            types: [DataType::Photos, DataType::Videos].into(),
            since: None,
            until: None,
        }
    }

    /// Every type, at any date.
    pub fn everything() -> Scope {
        Scope {
            types: DataType::ALL.into(),
            since: None,
            until: None,
        }
    }

    /// The same dates, for the types of `types` this scope wants.
    pub fn only(&self, types: &BTreeSet<DataType>) -> Scope {
        Scope {
            types: self.types.intersection(types).copied().collect(),
            ..self.clone()
        }
    }

    pub fn wants(&self, t: DataType) -> bool {
        self.types.contains(&t)
    }

    /// Whether a record dated `at` falls in the scope's date range (undated records do).
    pub fn in_range(&self, at: Option<&Timestamp>) -> bool {
        let Some(at) = at else { return true };
        self.since.is_none_or(|s| at.utc >= s.utc) && self.until.is_none_or(|u| at.utc < u.utc)
    }

    /// Whether `record` is asked for: its type is wanted (an album goes with photos or
    /// videos) and its date is in range (threads, profiles and albums are not dated; media
    /// by when taken, else uploaded).
    pub fn admits(&self, record: &Record) -> bool {
        match record.data_type() {
            None => self.wants(DataType::Photos) || self.wants(DataType::Videos),
            Some(t) => self.wants(t) && self.in_range(record.date()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    #[test]
    fn a_scope_admits_records_by_type_and_date() {
        let mut scope = Scope::media();
        scope.since = Timestamp::from_unix(1_000);
        let photo = |taken: i64| MediaItem {
            id: "p".into(),
            kind: MediaKind::Photo,
            file_name: "p.jpg".into(),
            caption: None,
            mime_type: None,
            size: None,
            taken: Timestamp::from_unix(taken),
            uploaded: None,
            location: None,
            albums: Vec::new(),
            live_photo_of: None,
            revision: None,
        };
        assert!(scope.admits(&Record::Media(photo(2_000))));
        assert!(!scope.admits(&Record::Media(photo(10))), "before the range");
        let album = Album {
            id: "a".into(),
            title: "A".into(),
            path: Vec::new(),
            description: None,
            created: None,
            location: None,
        };
        assert!(
            scope.admits(&Record::Album(album.clone())),
            "albums go with media"
        );
        scope.types = [DataType::Posts].into();
        assert!(!scope.admits(&Record::Album(album)));
        assert!(!scope.admits(&Record::Media(photo(2_000))));
    }

    #[test]
    fn media_round_trips_with_version_and_offset() {
        let item = MediaItem {
            id: "a/b.jpg".into(),
            kind: MediaKind::Photo,
            file_name: "b.jpg".into(),
            caption: Some("Été à Paris 🗼".into()),
            mime_type: Some("image/jpeg".into()),
            size: Some(12),
            taken: Some(Timestamp::from_local(
                datetime!(2021-06-05 14:03:09),
                Some(offset!(+02:00)),
            )),
            uploaded: None,
            location: Some(Location::at(48.8584, 2.2945)),
            albums: vec!["a".into()],
            live_photo_of: None,
            revision: None,
        };
        let doc = Versioned::new(Record::Media(item.clone()));
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["model_version"], MODEL_VERSION);
        assert_eq!(json["type"], "media");
        assert_eq!(json["taken"]["utc"], "2021-06-05T12:03:09Z");
        assert_eq!(json["taken"]["offset"], "+02:00");
        let back: Versioned<Record> = serde_json::from_value(json).unwrap();
        assert_eq!(back.body, Record::Media(item));
    }

    #[test]
    fn version_1_documents_read_and_places_need_no_coordinates() {
        // Version 1 always had coordinates; version 2 reads its documents unchanged.
        let v1 = serde_json::json!({"model_version": 1, "type": "post", "id": "p",
            "location": {"latitude": 55.67, "longitude": 12.56, "name": "Tivoli"}});
        let back: Versioned<Record> = serde_json::from_value(v1).unwrap();
        let Record::Post(post) = back.body else {
            panic!("not a post")
        };
        let place = post.location.unwrap();
        assert_eq!(place.coordinates(), Some((55.67, 12.56)));
        assert_eq!(place.name.as_deref(), Some("Tivoli"));

        let named = Location {
            address: Some("Vesterbrogade 3".into()),
            ..Location::named("Tivoli")
        };
        let json = serde_json::to_value(&named).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "Tivoli", "address": "Vesterbrogade 3"})
        );
        assert_eq!(serde_json::from_value::<Location>(json).unwrap(), named);
        assert_eq!(named.coordinates(), None);

        let profile = Profile {
            id: "profile".into(),
            phone: Some("+45 12 34 56 78".into()),
            private: Some(false),
            current_city: Some("København".into()),
            ..Profile::default()
        };
        let json = serde_json::to_value(Versioned::new(Record::Profile(profile.clone()))).unwrap();
        assert_eq!(json["private"], false);
        assert!(json.get("hometown").is_none());
        let back: Versioned<Record> = serde_json::from_value(json).unwrap();
        assert_eq!(back.body, Record::Profile(profile));
    }

    #[test]
    fn data_types_parse_singular_and_plural() {
        assert_eq!("photo".parse::<DataType>().unwrap(), DataType::Photos);
        assert_eq!("Videos".parse::<DataType>().unwrap(), DataType::Videos);
        assert!("films".parse::<DataType>().is_err());
        for name in ["check-ins", "check-in", "check_ins", "checkins", "Check-In"] {
            assert_eq!(
                name.parse::<DataType>().unwrap(),
                DataType::CheckIns,
                "{name}"
            );
        }
        assert_eq!("note".parse::<DataType>().unwrap(), DataType::Notes);
        assert_eq!("events".parse::<DataType>().unwrap(), DataType::Events);
        // The JSON name is the one people type.
        assert_eq!(
            serde_json::to_value(DataType::CheckIns).unwrap(),
            serde_json::json!("check-ins")
        );
        for t in DataType::ALL {
            assert_eq!(t.as_str().parse::<DataType>().unwrap(), t);
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
    }
}
