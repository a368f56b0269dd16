//! Typed, lenient serde shapes of Facebook's JSON files (archives.md §3).
//!
//! Every field is optional and every scalar is read leniently ([`Text`], [`Raw`], [`Ts`],
//! [`Num`]): a number where a string was expected, or an object where a number was, loses that
//! one field instead of the whole file. Strings are mojibake-repaired as they are parsed
//! ([`Text`]), except `uri`s ([`Raw`]), which are looked up raw first.

use std::fmt;

use ferry_core::model::Timestamp;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use time::OffsetDateTime;

use crate::mojibake;

/// Any JSON value reduced to the scalar a field can use; arrays and objects are skipped
/// without being built.
enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Other,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(i64::try_from(v).map_or(Scalar::Other, Scalar::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        Scalar::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// A text value, mojibake-repaired; empty when absent or not a string.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Str(s) => Text(match mojibake::fix(&s) {
                std::borrow::Cow::Borrowed(_) => s,
                std::borrow::Cow::Owned(fixed) => fixed,
            }),
            _ => Text::default(),
        })
    }
}

impl Text {
    /// The trimmed text, `None` when blank.
    pub fn get(&self) -> Option<&str> {
        let t = self.0.trim();
        (!t.is_empty()).then_some(t)
    }
    pub fn owned(&self) -> Option<String> {
        self.get().map(str::to_owned)
    }
}

/// A string kept exactly as written (uris and urls).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Raw(pub String);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Scalar::deserialize(d)? {
            Scalar::Str(s) => Raw(s),
            _ => Raw::default(),
        })
    }
}

impl Raw {
    pub fn get(&self) -> Option<&str> {
        let t = self.0.trim();
        (!t.is_empty()).then_some(t)
    }
}

/// An epoch timestamp (seconds or milliseconds, depending on the field); `None` when absent,
/// zero (Meta's "unknown") or not a number.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ts(pub Option<i64>);

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Ts(match Scalar::deserialize(d)? {
            Scalar::Int(v) => Some(v),
            Scalar::Float(v) if v.is_finite() => Some(v as i64),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|v| *v != 0)))
    }
}

/// 0001-01-01T00:00:00Z: Facebook has written `-62169958800` for unknown dates.
const YEAR_ONE: i64 = -62_135_596_800;

impl Ts {
    /// The time of a value in seconds.
    pub fn secs(self) -> Option<Timestamp> {
        self.0
            .filter(|v| *v >= YEAR_ONE)
            .and_then(Timestamp::from_unix)
    }

    /// The time of a value in milliseconds.
    pub fn millis(self) -> Option<Timestamp> {
        let ms = self.0?;
        if ms.div_euclid(1000) < YEAR_ONE {
            return None;
        }
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .map(Timestamp::from_utc)
    }
}

/// A number that may be written as a string.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Num(pub Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Num(match Scalar::deserialize(d)? {
            Scalar::Int(v) => Some(v as f64),
            Scalar::Float(v) => Some(v),
            Scalar::Str(s) => s.trim().parse().ok(),
            Scalar::Other => None,
        }
        .filter(|v| v.is_finite())))
    }
}

/// A photo or video as posts, albums, uncategorized photos and videos describe it (§3.3).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MediaObj {
    pub uri: Raw,
    pub creation_timestamp: Ts,
    pub title: Text,
    pub description: Text,
    pub media_metadata: MediaMeta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MediaMeta {
    pub photo_metadata: Option<ExifMeta>,
    pub video_metadata: Option<ExifMeta>,
}

/// `photo_metadata` is `{exif_data: [..]}` since 2020 and one flat object before.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ExifMeta {
    List { exif_data: Vec<Exif> },
    Flat(Exif),
    Other(IgnoredAny),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Exif {
    pub taken_timestamp: Ts,
    pub latitude: Num,
    pub longitude: Num,
}

impl MediaObj {
    /// Every EXIF block the object carries, whatever its shape.
    pub fn exif(&self) -> impl Iterator<Item = &Exif> {
        [
            &self.media_metadata.photo_metadata,
            &self.media_metadata.video_metadata,
        ]
        .into_iter()
        .flatten()
        .flat_map(|m| match m {
            ExifMeta::List { exif_data } => exif_data.iter().collect::<Vec<_>>(),
            ExifMeta::Flat(e) => vec![e],
            ExifMeta::Other(_) => Vec::new(),
        })
    }
}

/// One entry of `your_posts_N.json` (§3.2).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Post {
    pub timestamp: Ts,
    pub title: Text,
    /// One-key objects: `post`, `update_timestamp`, `backdated_timestamp`.
    pub data: Vec<PostData>,
    pub attachments: Vec<AttachmentGroup>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PostData {
    pub post: Text,
    pub update_timestamp: Ts,
    pub backdated_timestamp: Ts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AttachmentGroup {
    pub data: Vec<AttachmentItem>,
}

/// A tagged union by key; unknown tags (`for_sale_item`, …) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AttachmentItem {
    pub media: Option<MediaObj>,
    pub external_context: Option<ExternalContext>,
    pub place: Option<Place>,
    pub event: Option<Event>,
    pub note: Option<Note>,
    pub life_event: Option<LifeEvent>,
    pub text: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExternalContext {
    pub url: Raw,
    pub name: Text,
    pub source: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Place {
    pub name: Text,
    pub coordinate: Option<Coordinate>,
    pub address: Text,
    pub url: Raw,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Coordinate {
    pub latitude: Num,
    pub longitude: Num,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    pub name: Text,
    pub start_timestamp: Ts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Note {
    pub title: Text,
    pub text: Text,
    pub media: Vec<MediaObj>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LifeEvent {
    pub title: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Tag {
    pub name: Text,
}

/// `album/<N>.json` (§3.4).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AlbumFile {
    pub name: Text,
    pub description: Text,
    pub last_modified_timestamp: Ts,
    pub photos: Vec<MediaObj>,
    pub cover_photo: Option<MediaObj>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UncategorizedFile {
    pub other_photos_v2: Vec<MediaObj>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VideosFile {
    pub videos_v2: Vec<MediaObj>,
}

/// `stories/archived_stories.json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StoriesFile {
    pub archived_stories_v2: Vec<Post>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommentsFile {
    pub comments_v2: Vec<CommentEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommentEntry {
    pub timestamp: Ts,
    pub title: Text,
    pub data: Vec<CommentData>,
    pub attachments: Vec<AttachmentGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommentData {
    pub comment: Option<CommentBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommentBody {
    pub timestamp: Ts,
    pub comment: Text,
    pub author: Text,
}

/// One `message_N.json` of a Messenger thread (§2.5, §3.6).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ThreadFile {
    pub participants: Vec<Participant>,
    pub messages: Vec<Message>,
    pub title: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Participant {
    pub name: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Message {
    pub sender_name: Text,
    pub timestamp_ms: Ts,
    pub content: Text,
    pub photos: Vec<MessageMedia>,
    pub videos: Vec<MessageMedia>,
    pub gifs: Vec<MessageMedia>,
    pub audio_files: Vec<MessageMedia>,
    pub files: Vec<MessageMedia>,
    pub sticker: Option<MessageMedia>,
    pub share: Option<Share>,
    pub reactions: Vec<Reaction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MessageMedia {
    pub uri: Raw,
    pub creation_timestamp: Ts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Share {
    pub link: Raw,
    pub share_text: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Reaction {
    pub reaction: Text,
    pub actor: Text,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_lenient_and_repaired() {
        let p: PostData =
            serde_json::from_str(r#"{"post": "K\u00c3\u00b8benhavn", "update_timestamp": "12"}"#)
                .unwrap();
        assert_eq!(p.post.get(), Some("København"));
        assert_eq!(p.update_timestamp, Ts(Some(12)));
        let m: MediaObj =
            serde_json::from_str(r#"{"uri": {"x": 1}, "creation_timestamp": [1], "title": 5}"#)
                .unwrap();
        assert_eq!(m.uri.get(), None);
        assert_eq!(m.creation_timestamp.secs(), None);
        assert_eq!(Ts(Some(-62_169_958_800)).secs(), None);
    }

    #[test]
    fn both_photo_metadata_shapes() {
        let flat: MediaObj = serde_json::from_str(
            r#"{"media_metadata": {"photo_metadata": {"taken_timestamp": 7}}}"#,
        )
        .unwrap();
        let list: MediaObj = serde_json::from_str(
            r#"{"media_metadata": {"photo_metadata": {"exif_data": [{"taken_timestamp": 8}]}}}"#,
        )
        .unwrap();
        let odd: MediaObj =
            serde_json::from_str(r#"{"media_metadata": {"photo_metadata": "?"}}"#).unwrap();
        assert_eq!(
            flat.exif().next().map(|e| e.taken_timestamp),
            Some(Ts(Some(7)))
        );
        assert_eq!(
            list.exif().next().map(|e| e.taken_timestamp),
            Some(Ts(Some(8)))
        );
        assert!(odd.exif().next().is_none());
    }
}
