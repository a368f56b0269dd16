//! An in-memory source with every kind of record, for the ferry archive tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ferry_archives::ferry::{ExportOptions, ExportSummary, export};
use ferry_core::content::Content;
use ferry_core::error::{Error, Result};
use ferry_core::model::*;
use ferry_core::traits::{Page, Source};

pub const HOSTILE: &str = "<script>alert(1)</script> & \"quotes\" 'single'";

pub struct MemSource {
    pub records: Vec<Record>,
    pub bytes: HashMap<String, Vec<u8>>,
    /// Media ids whose open fails with this error.
    pub failing: HashMap<String, Error>,
    /// Announce no length for these ids.
    pub no_length: Vec<String>,
    /// Streams of these ids fail after their first chunk.
    pub break_midway: Vec<String>,
}

#[async_trait]
impl Source for MemSource {
    fn describe(&self) -> String {
        "test source".into()
    }

    async fn list(&self, _scope: &Scope, cursor: Option<&str>) -> Result<Page> {
        let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let end = (start + 3).min(self.records.len());
        Ok(Page {
            records: self.records[start..end].to_vec(),
            skipped: Vec::new(),
            next: (end < self.records.len()).then(|| end.to_string()),
        })
    }

    async fn open(&self, item: &MediaItem) -> Result<Content> {
        if let Some(e) = self.failing.get(&item.id) {
            return Err(e.clone());
        }
        let bytes = self
            .bytes
            .get(&item.id)
            .cloned()
            .ok_or_else(|| Error::NotFound(item.id.clone()))?;
        let len = bytes.len() as u64;
        let mut chunks: Vec<Result<Bytes>> = bytes
            .chunks(7_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        if self.break_midway.contains(&item.id) {
            chunks.truncate(1);
            chunks.push(Err(Error::Retryable("connection reset".into())));
        }
        let length = (!self.no_length.contains(&item.id)).then_some(len);
        Ok(Content::new(
            Box::pin(futures::stream::iter(chunks)),
            length,
        ))
    }
}

pub fn ts(year: i32, month: u8, day: u8) -> Timestamp {
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), day).unwrap();
    Timestamp::from_utc(date.midnight().assume_utc())
}

/// Deterministic bytes that sniff as a JPEG / PNG / MP4.
pub fn media_bytes(kind: &str, seed: u64, len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = match kind {
        "jpeg" => vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0],
        "png" => b"\x89PNG\r\n\x1a\n".to_vec(),
        _ => {
            let mut v = vec![0, 0, 0, 0x20];
            v.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2avc1mp41");
            v
        }
    };
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[allow(clippy::too_many_arguments)]
fn media(
    id: &str,
    kind: MediaKind,
    name: &str,
    mime: &str,
    size: usize,
    caption: Option<&str>,
    taken: Timestamp,
    albums: &[&str],
) -> MediaItem {
    MediaItem {
        id: id.into(),
        kind,
        file_name: name.into(),
        caption: caption.map(Into::into),
        mime_type: Some(mime.into()),
        size: Some(size as u64),
        taken: Some(taken),
        uploaded: None,
        location: Some(Location {
            name: Some("Tour Eiffel".into()),
            ..Location::at(48.8584, 2.2945)
        }),
        albums: albums.iter().map(|a| a.to_string()).collect(),
        live_photo_of: None,
        revision: None,
    }
}

fn person(name: &str) -> Person {
    Person {
        id: Some(format!("u:{name}")),
        name: name.into(),
    }
}

fn att(id: &str) -> Attachment {
    Attachment {
        media_id: Some(id.into()),
        uri: None,
        title: None,
        mime_type: None,
    }
}

/// Media sizes are ~30 KB so that a small split size makes several parts.
pub fn fixture() -> MemSource {
    let album = |id: &str, title: &str| {
        Record::Album(Album {
            id: id.into(),
            title: title.into(),
            path: Vec::new(),
            description: Some(format!("About {title}")),
            created: Some(ts(2020, 1, 1)),
            location: None,
        })
    };
    let items = vec![
        media(
            "m:p1",
            MediaKind::Photo,
            "IMG_0001.jpg",
            "image/jpeg",
            31_000,
            Some(HOSTILE),
            ts(2021, 6, 5),
            &["a:summer", "a:family"],
        ),
        media(
            "m:p2",
            MediaKind::Photo,
            "Été à Paris 🗼.png",
            "image/png",
            29_000,
            Some("Été à Paris 🗼 — «bonjour»"),
            ts(2022, 7, 1),
            &["a:family"],
        ),
        media(
            "m:v1",
            MediaKind::Video,
            "clip.mp4",
            "video/mp4",
            45_000,
            Some("a video"),
            ts(2023, 2, 3),
            &["a:summer"],
        ),
        media(
            "m:p3",
            MediaKind::Photo,
            "loose:photo?.jpg",
            "image/jpeg",
            20_000,
            None,
            ts(2019, 3, 4),
            &[],
        ),
        // Same name as p1 in the same album: "IMG_0001 (2).jpg".
        media(
            "m:p4",
            MediaKind::Photo,
            "img_0001.JPG",
            "image/jpeg",
            25_000,
            None,
            ts(2021, 6, 6),
            &["a:summer"],
        ),
        media(
            "m:broken",
            MediaKind::Photo,
            "broken.jpg",
            "image/jpeg",
            10_000,
            None,
            ts(2021, 6, 7),
            &["a:summer"],
        ),
        media(
            "m:avatar",
            MediaKind::Photo,
            "avatar.jpg",
            "image/jpeg",
            9_000,
            None,
            ts(2018, 1, 1),
            &["a:profile"],
        ),
    ];
    let mut bytes = HashMap::new();
    for (i, m) in items.iter().enumerate() {
        let kind = match m.mime_type.as_deref() {
            Some("image/png") => "png",
            Some("video/mp4") => "mp4",
            _ => "jpeg",
        };
        bytes.insert(
            m.id.clone(),
            media_bytes(kind, i as u64 + 1, m.size.unwrap() as usize),
        );
    }
    let mut records = vec![
        album("a:summer", "Summer 🌞 2021"),
        album("a:family", "Family: <b>best</b>"),
        album("a:summer2", "Summer 🌞 2021"),
        album("a:profile", "Profile pictures"),
    ];
    records.extend(items.into_iter().map(Record::Media));
    records.push(Record::Post(Post {
        id: "post:1".into(),
        author: Some(person("Ana Example")),
        created: Some(ts(2021, 6, 5)),
        updated: None,
        text: Some(HOSTILE.into()),
        attachments: vec![att("m:p1")],
        location: None,
        reactions: vec![Reaction {
            actor: person("Bob"),
            reaction: "❤️".into(),
            at: None,
        }],
    }));
    records.push(Record::Post(Post {
        id: "post:2".into(),
        author: Some(person("Ana Example")),
        created: Some(ts(2023, 2, 3)),
        updated: None,
        text: Some("Snow day ❄️ with the kids".into()),
        attachments: vec![att("m:v1")],
        location: None,
        reactions: Vec::new(),
    }));
    let comment = |id: &str, on: &str, text: &str, at: Timestamp| {
        Record::Comment(Comment {
            id: id.into(),
            on: Some(on.into()),
            author: Some(person("Bob")),
            created: Some(at),
            text: text.into(),
            attachments: Vec::new(),
            reactions: Vec::new(),
        })
    };
    records.push(comment(
        "c:1",
        "post:1",
        "Lovely 😍 <i>photo</i>",
        ts(2021, 6, 6),
    ));
    records.push(comment("c:2", "post:1", "Where is this?", ts(2021, 6, 7)));
    records.push(comment("c:3", "post:elsewhere", "Nice one", ts(2022, 1, 1)));
    records.push(Record::Story(Story {
        id: "story:1".into(),
        author: Some(person("Ana Example")),
        created: Some(ts(2023, 2, 4)),
        caption: Some("Story time 📖".into()),
        attachments: vec![att("m:v1")],
        reactions: Vec::new(),
    }));
    records.push(Record::Thread(Thread {
        id: "thread:ana-bob".into(),
        title: Some("Chat with Bob".into()),
        participants: vec![person("Ana Example"), person("Bob")],
    }));
    let message = |id: &str, who: &str, text: &str, at: Timestamp, a: Vec<Attachment>| {
        Record::Message(Message {
            id: id.into(),
            thread_id: "thread:ana-bob".into(),
            author: Some(person(who)),
            sent: Some(at),
            text: Some(text.into()),
            attachments: a,
            reactions: Vec::new(),
        })
    };
    records.push(message(
        "msg:1",
        "Bob",
        "Hi Ana 👋",
        ts(2022, 7, 1),
        Vec::new(),
    ));
    records.push(message(
        "msg:2",
        "Ana Example",
        "Look: </div><b>bold?</b>",
        ts(2022, 7, 2),
        vec![att("m:p2")],
    ));
    records.push(message(
        "msg:3",
        "Bob",
        "See you in Paris",
        ts(2023, 1, 1),
        Vec::new(),
    ));
    records.push(Record::Profile(Profile {
        id: "profile:ana".into(),
        name: Some("Ana Example".into()),
        username: Some("ana.example".into()),
        email: Some("ana@example.invalid".into()),
        bio: Some("Photos & stories 📷".into()),
        picture: Some(att("m:avatar")),
        created: Some(ts(2015, 5, 5)),
        ..Profile::default()
    }));
    let tivoli = Location {
        address: Some("Vesterbrogade 3 <b>København</b>".into()),
        ..Location::named("Tivoli")
    };
    records.push(Record::Note(Note {
        id: "note:1".into(),
        title: Some("Minder & <script>tak</script>".into()),
        text: Some("Kære alle,\ntak for i år.".into()),
        created: Some(ts(2009, 2, 19)),
        updated: Some(ts(2020, 10, 27)),
        attachments: vec![att("m:p1")],
    }));
    records.push(Record::Event(Event {
        id: "event:1".into(),
        name: "Sommerfest i Tivoli 🎉".into(),
        description: Some("Vi ses ved søen".into()),
        start: Some(ts(2023, 7, 22)),
        end: None,
        location: Some(tivoli.clone()),
        online: Some(false),
        response: Some("hosting".into()),
        created: Some(ts(2023, 7, 10)),
    }));
    records.push(Record::CheckIn(CheckIn {
        id: "checkin:1".into(),
        author: Some(person("Ana Example")),
        created: Some(ts(2023, 11, 14)),
        text: Some("Karrusel 🎠".into()),
        location: Location {
            latitude: Some(55.6737),
            longitude: Some(12.5681),
            ..tivoli
        },
        attachments: Vec::new(),
    }));
    let mut failing = HashMap::new();
    failing.insert(
        "m:broken".to_string(),
        Error::Permanent("the service says the file is gone".into()),
    );
    MemSource {
        records,
        bytes,
        failing,
        no_length: Vec::new(),
        break_midway: Vec::new(),
    }
}

pub fn all_types() -> Scope {
    Scope {
        types: DataType::ALL.into_iter().collect(),
        since: None,
        until: None,
    }
}

pub async fn run(source: MemSource, out: &Path, options: &ExportOptions) -> ExportSummary {
    let sources: Vec<Arc<dyn Source>> = vec![Arc::new(source)];
    export(&sources, out, options, &|_| {}).await.unwrap()
}

pub fn part_paths(summary: &ExportSummary) -> Vec<PathBuf> {
    summary.parts.iter().map(|p| p.path.clone()).collect()
}

/// Records keyed by (type, id), as JSON for comparison.
pub fn keyed(records: &[Record]) -> BTreeMap<(String, String), serde_json::Value> {
    records
        .iter()
        .map(|r| {
            (
                (r.type_name().to_string(), r.id().to_string()),
                serde_json::to_value(r).unwrap(),
            )
        })
        .collect()
}
