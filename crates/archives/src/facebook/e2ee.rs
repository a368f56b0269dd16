//! Messenger's separate download of end-to-end encrypted chats (archives.md §3.8): one
//! camelCase `<Name>_<n>.json` per thread at the root, media under `media/`. Its text is proper
//! UTF-8, so no mojibake repair is applied. Thread media go in the album
//! "Messages/<thread name>", as in the main export.

use ferry_core::model::{Album, Attachment, Message, Person, Reaction, Record, Thread};
use serde::Deserialize;

use super::gallery::{Gallery, Resolved, Seen, resolve};
use super::json::{Raw, Ts};
use crate::catalogue::{Catalogue, Detection, Service};
use crate::vfs::ArchiveFs;

/// Enough of a thread file's start to see its `threadName` or camelCase messages.
const HEAD: usize = 8192;
/// Thread-looking files to open before giving up (detection must stay cheap).
const MAX_PROBES: usize = 32;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ThreadFile {
    participants: Vec<Raw>,
    thread_name: Raw,
    messages: Vec<E2eeMessage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct E2eeMessage {
    sender_name: Raw,
    /// Milliseconds.
    timestamp: Ts,
    text: Raw,
    media: Vec<MediaRef>,
    reactions: Vec<E2eeReaction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MediaRef {
    uri: Raw,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct E2eeReaction {
    actor: Raw,
    reaction: Raw,
}

/// `<Name>_<n>.json`, not a main-export `message_N.json`.
fn is_thread_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".json") else {
        return false;
    };
    let Some((person, n)) = stem.rsplit_once('_') else {
        return false;
    };
    !person.is_empty()
        && person != "message"
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
}

fn is_thread(fs: &ArchiveFs, path: &str) -> bool {
    let Ok(head) = fs.head(path, HEAD) else {
        return false;
    };
    let head = String::from_utf8_lossy(&head);
    head.contains("\"threadName\"") || head.contains("\"senderName\"")
}

pub fn detect(fs: &ArchiveFs) -> Option<Detection> {
    let mut probes = 0;
    let mut best: Option<&str> = None;
    for (path, _) in fs.files() {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        if !is_thread_name(name) || dir.split('/').any(|c| c == "messages") {
            continue;
        }
        let root = &path[..path.len() - name.len()];
        if best.is_some_and(|b| b.len() <= root.len()) {
            continue;
        }
        if probes >= MAX_PROBES {
            break;
        }
        probes += 1;
        if is_thread(fs, path) {
            best = Some(root);
        }
    }
    best.map(|root| Detection {
        service: Service::FacebookE2ee,
        era: "e2ee".to_owned(),
        root: root.to_owned(),
    })
}

pub fn read(fs: &ArchiveFs, detection: &Detection) -> Catalogue {
    let root = detection.root.as_str();
    let mut cat = Catalogue::new(detection.clone());
    let mut gallery = Gallery::default();
    let mut rest = Vec::new();
    for (path, _) in fs.files() {
        let Some(rel) = path.strip_prefix(root) else {
            cat.problem(path, "outside the Messenger download's folder");
            continue;
        };
        if !rel.contains('/') && is_thread_name(rel) {
            thread(fs, root, path, &mut cat, &mut gallery);
        } else {
            rest.push(path);
        }
    }
    for path in rest {
        if gallery.contains(path) {
            continue;
        }
        if gallery.add(fs, path, Seen::default()).media_id.is_none() {
            cat.problem(path, "not a chat, photo or video of the Messenger download");
        }
    }
    gallery.finish(&mut cat);
    cat
}

fn thread(fs: &ArchiveFs, root: &str, path: &str, cat: &mut Catalogue, gallery: &mut Gallery) {
    let mut file: ThreadFile = match fs.read_json(path) {
        Ok(f) => f,
        Err(e) => {
            cat.problem(path, e);
            return;
        }
    };
    if file.thread_name.get().is_none() && file.messages.is_empty() {
        cat.problem(path, "not a Messenger chat (no `threadName` or `messages`)");
        return;
    }
    let rel = &path[root.len()..];
    let stem = rel.trim_end_matches(".json");
    // "Alice Hansen_40" is the thread name; the number only keeps file names apart.
    let name = file.thread_name.get().unwrap_or(stem);
    let title = name.rsplit_once('_').map_or(name, |(t, _)| t).to_owned();
    let thread_id = format!("thread:{rel}");
    cat.records.push(Record::Thread(Thread {
        id: thread_id.clone(),
        title: Some(title.clone()),
        participants: file
            .participants
            .iter()
            .filter_map(|p| p.get())
            .map(|name| Person {
                id: None,
                name: name.to_owned(),
            })
            .collect(),
    }));
    file.messages
        .sort_by_key(|m| m.timestamp.0.unwrap_or(i64::MIN));
    for (i, m) in file.messages.iter().enumerate() {
        let sent = m.timestamp.millis();
        let mut attachments = Vec::new();
        for media in &m.media {
            let Some(uri) = media.uri.get() else { continue };
            match resolve(fs, root, root, uri) {
                Some(Resolved::File(p)) => {
                    let album = gallery.album(&format!("messages:{rel}"), || Album {
                        id: format!("album:messages:{rel}"),
                        title: title.clone(),
                        path: vec!["Messages".to_owned(), title.clone()],
                        description: None,
                        created: None,
                        location: None,
                    });
                    let seen = Seen {
                        uploaded: sent,
                        album: Some(album),
                        ..Seen::default()
                    };
                    attachments.push(gallery.add(fs, &p, seen));
                }
                Some(Resolved::Link(url)) => attachments.push(Attachment {
                    media_id: None,
                    uri: Some(url),
                    title: None,
                    mime_type: None,
                }),
                // Meta writes "Failed to download media" where it lost the file.
                Some(Resolved::Missing(uri)) => cat.problem(
                    format!("message:{rel}#{i}"),
                    format!("media not in the download ({uri})"),
                ),
                None => {}
            }
        }
        cat.records.push(Record::Message(Message {
            id: format!("message:{rel}#{i}"),
            thread_id: thread_id.clone(),
            author: m.sender_name.get().map(|name| Person {
                id: None,
                name: name.to_owned(),
            }),
            sent,
            text: m.text.get().map(str::to_owned),
            attachments,
            reactions: crate::catalogue::exact(m.reactions.iter().filter_map(|r| {
                Some(Reaction {
                    actor: Person {
                        id: None,
                        name: r.actor.get()?.to_owned(),
                    },
                    reaction: r.reaction.get()?.to_owned(),
                    at: None,
                })
            })),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_file_names() {
        assert!(is_thread_name("Alice Hansen_40.json"));
        assert!(!is_thread_name("message_1.json"));
        assert!(!is_thread_name("profile.json"));
        assert!(!is_thread_name("_4.json"));
    }
}
