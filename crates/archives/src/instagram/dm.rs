//! Direct messages: `<inbox|message_requests>/<thread>/message_N.json` (archives.md §2.5).
//!
//! The thread files are the biggest of an export (a long-lived account has hundreds of
//! thousands of messages), so they are read into typed structs, one file at a time, and each
//! string is repaired on its own instead of going through a JSON tree.

use ferry_core::model::{Attachment, Message, Person, Reaction, Record, Thread, Timestamp};
use serde::Deserialize;

use super::{Lenient, MediaInfo, Reader, Ts, fix, fix_opt, share_title};

/// A thread file; `M` is [`Msg`] on the fast path and `Lenient<Msg>` when a file has
/// messages of an odd shape (which costs a buffered copy of every message).
#[derive(Debug, Deserialize)]
#[serde(default, bound = "M: Deserialize<'de>")]
struct ThreadFile<M> {
    participants: Lenient<Vec<Lenient<Participant>>>,
    messages: Vec<M>,
    title: Option<String>,
}

impl<M> Default for ThreadFile<M> {
    fn default() -> Self {
        ThreadFile {
            participants: Lenient::default(),
            messages: Vec::new(),
            title: None,
        }
    }
}

/// Reads a thread file, message by message leniently only when the strict read fails.
fn read_thread(r: &mut Reader, path: &str) -> Option<ThreadFile<Option<Msg>>> {
    let bytes = match r.fs.read_small(path) {
        Ok(b) => b,
        Err(e) => {
            r.problem(r.rel(path).to_owned(), e.to_string());
            return None;
        }
    };
    let strict = serde_json::from_slice::<ThreadFile<Msg>>(&bytes).map(|f| ThreadFile {
        participants: f.participants,
        messages: f.messages.into_iter().map(Some).collect(),
        title: f.title,
    });
    let lenient = || {
        serde_json::from_slice::<ThreadFile<Lenient<Msg>>>(&bytes).map(|f| ThreadFile {
            participants: f.participants,
            messages: f.messages.into_iter().map(|m| m.0).collect(),
            title: f.title,
        })
    };
    match strict.or_else(|_| lenient()) {
        Ok(file) => Some(file),
        Err(e) => {
            r.problem(r.rel(path).to_owned(), format!("invalid JSON ({e})"));
            None
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Participant {
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Msg {
    sender_name: Option<String>,
    timestamp_ms: Option<Ts>,
    content: Option<String>,
    photos: Lenient<Vec<FileRef>>,
    videos: Lenient<Vec<FileRef>>,
    audio_files: Lenient<Vec<FileRef>>,
    gifs: Lenient<Vec<FileRef>>,
    files: Lenient<Vec<FileRef>>,
    sticker: Lenient<FileRef>,
    share: Lenient<Share>,
    reactions: Lenient<Vec<React>>,
    is_unsent: Lenient<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileRef {
    uri: Option<String>,
    creation_timestamp: Option<Ts>,
    /// An expiring CDN copy, kept as a link when the file itself is missing.
    backup_uri: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Share {
    link: Option<String>,
    share_text: Option<String>,
    original_content_owner: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct React {
    reaction: Option<String>,
    actor: Option<String>,
    timestamp: Option<Ts>,
}

/// Reads every part of one thread (`files` sorted by N), merges them and sorts the messages
/// by time. `dir` is the thread folder relative to the root.
pub(crate) fn thread(r: &mut Reader, dir: &str, files: &[(u32, String)]) {
    // "inbox/<user>_<id>" whatever the era's prefix, so ids survive a layout change.
    let key = {
        let mut parts = dir.rsplitn(3, '/');
        let thread = parts.next().unwrap_or(dir);
        match parts.next() {
            Some(folder) => format!("{folder}/{thread}"),
            None => thread.to_owned(),
        }
    };
    let thread_id = format!("thread:{key}");
    let mut title: Option<String> = None;
    let mut participants: Vec<Person> = Vec::new();
    let mut album: Option<String> = None;
    // (time in ms, message); a stable sort keeps the file order for equal times.
    let mut messages: Vec<(i64, Message)> = Vec::new();
    for (_, path) in files {
        let Some(file) = read_thread(r, path) else {
            continue;
        };
        if title.is_none() {
            title = fix_opt(file.title);
        }
        if participants.is_empty() {
            participants = file
                .participants
                .0
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| fix_opt(p.0?.name))
                .map(|name| Person { id: None, name })
                .collect();
        }
        let shown = title.clone().unwrap_or_else(|| key.clone());
        let album = album
            .get_or_insert_with(|| r.thread_album(&key, &shown))
            .clone();
        let rel = r.rel(path).to_owned();
        for (i, msg) in file.messages.into_iter().enumerate() {
            let Some(msg) = msg else {
                r.problem(format!("{rel}#{i}"), "message of an unexpected shape");
                continue;
            };
            let owner = format!("{thread_id} ({rel}#{i})");
            let message = message(r, msg, &thread_id, &album, &owner);
            let ms = message.sent.map_or(i64::MIN, |t| {
                (t.utc.unix_timestamp_nanos() / 1_000_000) as i64
            });
            messages.push((ms, message));
        }
    }
    if album.is_none() {
        // No part could be read: the problems say why.
        return;
    }
    r.push(Record::Thread(Thread {
        id: thread_id.clone(),
        title,
        participants,
    }));
    messages.sort_by_key(|(ms, _)| *ms);
    for (i, (_, mut message)) in messages.into_iter().enumerate() {
        message.id = format!("message:{key}#{i}");
        r.push(Record::Message(message));
    }
}

fn message(r: &mut Reader, msg: Msg, thread_id: &str, album: &str, owner: &str) -> Message {
    let sent = msg.timestamp_ms.as_ref().and_then(Ts::millis);
    let mut attachments = Vec::new();
    let lists = [msg.photos, msg.videos, msg.gifs, msg.audio_files, msg.files];
    let files = lists
        .into_iter()
        .flat_map(|l| l.0.unwrap_or_default())
        .chain(msg.sticker.0);
    for file in files {
        if let Some(a) = file_attachment(r, file, sent, album, owner) {
            attachments.push(a);
        }
    }
    if let Some(share) = msg.share.0 {
        let title = share_title(
            fix_opt(share.share_text),
            fix_opt(share.original_content_owner),
        );
        let link = share.link.filter(|l| !l.trim().is_empty()).map(fix);
        if link.is_some() || title.is_some() {
            attachments.push(Attachment {
                media_id: None,
                uri: link,
                title,
                mime_type: None,
            });
        }
    }
    let reactions = crate::catalogue::exact(
        msg.reactions
            .0
            .unwrap_or_default()
            .into_iter()
            .filter_map(|x| {
                Some(Reaction {
                    actor: Person {
                        id: None,
                        name: fix_opt(x.actor).unwrap_or_default(),
                    },
                    reaction: fix_opt(x.reaction)?,
                    at: x.timestamp.as_ref().and_then(Ts::secs),
                })
            }),
    );
    // An unsent message keeps its place in the conversation, with Meta's notice as its text
    // or, when there is none, a word saying what happened.
    let unsent = msg.is_unsent.0.unwrap_or(false);
    let text = fix_opt(msg.content).or_else(|| unsent.then(|| "(unsent)".to_owned()));
    Message {
        id: String::new(),
        thread_id: thread_id.to_owned(),
        author: fix_opt(msg.sender_name).map(|name| Person { id: None, name }),
        sent,
        text,
        attachments,
        reactions,
    }
}

fn file_attachment(
    r: &mut Reader,
    file: FileRef,
    sent: Option<Timestamp>,
    album: &str,
    owner: &str,
) -> Option<Attachment> {
    let at = file.creation_timestamp.as_ref().and_then(Ts::secs);
    let info = MediaInfo {
        caption: None,
        taken: at.or(sent),
        uploaded: None,
        location: None,
    };
    let backup = file.backup_uri.as_deref().filter(|u| super::is_url(u));
    match file.uri.as_deref().filter(|u| !u.trim().is_empty()) {
        // The file did not make it into the export, but Meta's CDN copy may still be there.
        Some(uri) if backup.is_some() && !super::is_url(uri) && r.locate(uri).is_none() => {
            r.problem(
                owner.to_owned(),
                format!("{uri}: the file is not in the export; kept as a link to its CDN copy"),
            );
            backup.map(|u| Attachment {
                media_id: None,
                uri: Some(u.to_owned()),
                title: None,
                mime_type: None,
            })
        }
        Some(uri) => r.attach(uri, info, album, owner),
        None => file
            .backup_uri
            .filter(|u| !u.trim().is_empty())
            .map(|u| Attachment {
                media_id: None,
                uri: Some(u),
                title: None,
                mime_type: None,
            }),
    }
}
