//! Events and notes of a Facebook export.
//!
//! - Events are in `events/` (pre-2022), `your_activity_across_facebook/events/` (2022) and
//!   `your_facebook_activity/events/` (2024): `your_events.json` (`your_events_v2`: the
//!   events the person created), `your_event_responses.json` (`event_responses_v2`: an
//!   object of `events_joined`, `events_declined` and `events_interested`, any of them
//!   absent) and `event_invitations.json` (`events_invited_v2`). 2018 exports use the same
//!   keys without `_v2`. An entry is `{name, start_timestamp, end_timestamp, place: {name,
//!   coordinate: {latitude, longitude}, address}, description, create_timestamp}`; often only
//!   the first three, and an `end_timestamp` of 0 means no end time.
//! - Notes are in `other_activity/notes.json` (`notes_v2`, 2018 `notes`): `{title, text,
//!   created_timestamp, updated_timestamp, tags: [{name}], media: [..]}`. Note the spelling:
//!   events have `create_timestamp`, notes `created_timestamp`.
//!
//! The same event is often in several files (created, then joined): it is one record, keyed
//! by its name and start, with the person's strongest part in it.

use std::collections::HashMap;

use ferry_core::model::{Event, Note, Record};
use serde::Deserialize;

use super::json::{MediaObj, Place, Text, Ts};
use super::{Into, Reader, place};
use crate::catalogue::NOT_CARRIED;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventsFile {
    #[serde(alias = "your_events")]
    your_events_v2: Vec<EventEntry>,
    #[serde(alias = "events_invited")]
    events_invited_v2: Vec<EventEntry>,
    #[serde(alias = "event_responses")]
    event_responses_v2: Responses,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Responses {
    events_joined: Vec<EventEntry>,
    events_interested: Vec<EventEntry>,
    events_declined: Vec<EventEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventEntry {
    name: Text,
    start_timestamp: Ts,
    end_timestamp: Ts,
    place: Option<Place>,
    description: Text,
    create_timestamp: Ts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NotesFile {
    #[serde(alias = "notes")]
    notes_v2: Vec<NoteEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NoteEntry {
    title: Text,
    text: Text,
    created_timestamp: Ts,
    updated_timestamp: Ts,
    tags: Vec<Tag>,
    media: Vec<MediaObj>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tag {
    name: Text,
}

/// The person's part in an event, strongest first: one event met in several files keeps
/// the strongest.
const RESPONSES: [&str; 5] = ["hosting", "going", "interested", "declined", "invited"];

fn strength(response: Option<&str>) -> usize {
    response
        .and_then(|r| RESPONSES.iter().position(|known| *known == r))
        .unwrap_or(RESPONSES.len())
}

/// The events read so far, one per name and start.
#[derive(Default)]
pub(super) struct Events {
    list: Vec<Event>,
    index: HashMap<(String, Option<i64>), usize>,
}

impl Events {
    fn add(&mut self, event: Event) {
        let key = (
            event.name.clone(),
            event.start.map(|s| s.utc.unix_timestamp()),
        );
        let Some(&at) = self.index.get(&key) else {
            self.index.insert(key, self.list.len());
            self.list.push(event);
            return;
        };
        let Some(known) = self.list.get_mut(at) else {
            return;
        };
        if strength(event.response.as_deref()) < strength(known.response.as_deref()) {
            known.response = event.response;
        }
        known.end = known.end.or(event.end);
        known.location = known.location.take().or(event.location);
        known.description = known.description.take().or(event.description);
        known.created = known.created.or(event.created);
    }

    /// The events, in the order first met.
    pub(super) fn into_records(self) -> impl Iterator<Item = Record> {
        self.list.into_iter().map(Record::Event)
    }
}

impl Reader<'_> {
    /// One of the three events files.
    pub(super) fn events(&mut self, path: &str) {
        let Some(file) = self.load::<EventsFile>(path) else {
            return;
        };
        let rel = path[self.root.len()..].to_owned();
        let responses = file.event_responses_v2;
        let buckets = [
            ("hosting", file.your_events_v2),
            ("going", responses.events_joined),
            ("interested", responses.events_interested),
            ("declined", responses.events_declined),
            ("invited", file.events_invited_v2),
        ];
        for (response, entries) in buckets {
            for (i, entry) in entries.into_iter().enumerate() {
                let id = format!("event:{rel}#{response}{i}");
                let Some(name) = entry.name.owned() else {
                    self.cat.problem(id, "event without a name");
                    continue;
                };
                self.events.add(Event {
                    id,
                    name,
                    description: entry.description.owned(),
                    start: entry.start_timestamp.secs(),
                    end: entry.end_timestamp.secs(),
                    location: entry.place.as_ref().and_then(place),
                    online: None,
                    response: Some(response.to_owned()),
                    created: entry.create_timestamp.secs(),
                });
            }
        }
    }

    /// `notes.json`: each note with its title, text, dates and photos.
    pub(super) fn notes(&mut self, path: &str) {
        let Some(file) = self.load::<NotesFile>(path) else {
            return;
        };
        let rel = path[self.root.len()..].to_owned();
        let mut tagged = 0;
        for (i, entry) in file.notes_v2.into_iter().enumerate() {
            // An empty note is kept too: it is dated, and it is the person's.
            let id = format!("note:{rel}#{i}");
            tagged += usize::from(entry.tags.iter().any(|t| t.name.get().is_some()));
            let mut attachments = Vec::new();
            let caption = entry.title.owned();
            for m in &entry.media {
                attachments.extend(self.media(
                    path,
                    m,
                    (caption.as_deref(), None),
                    Into::Synthetic("notes", "Notes"),
                ));
            }
            let created = entry.created_timestamp.secs();
            self.cat.records.push(Record::Note(Note {
                id,
                title: caption,
                text: entry.text.owned(),
                created,
                updated: entry
                    .updated_timestamp
                    .secs()
                    .filter(|u| Some(*u) != created),
                attachments,
            }));
        }
        if tagged > 0 {
            self.cat.problem(
                path,
                format!("{NOT_CARRIED}: the people tagged in {tagged} of its notes"),
            );
        }
    }
}
