//! The 2018–2020 layout: `media.json`, `profile.json`, `comments.json`, `messages.json` at the
//! root (archives.md §2.2). `taken_at`/`created_at` are ISO strings, with `+00:00` in later
//! exports and no offset (UTC) in early ones.

use ferry_core::model::{
    Attachment, Comment, Location, Message, Person, Post, Profile, Record, Story, Thread,
};
use serde::Deserialize;
use serde_json::Value;

use super::{Lenient, MediaInfo, Reader, Shelf, Ts, fix, fix_opt, secs, share_title};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Item {
    caption: Option<String>,
    taken_at: Option<Ts>,
    /// The place's name ("Sanford, Florida"); this era gives no coordinates.
    location: Lenient<String>,
    path: Option<String>,
}

/// `media.json`: photos and videos (posts), stories, profile pictures and direct media.
pub(crate) fn media(r: &mut Reader, path: &str) {
    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Media {
        photos: Vec<Lenient<Item>>,
        videos: Vec<Lenient<Item>>,
        stories: Vec<Lenient<Item>>,
        profile: Vec<Lenient<Item>>,
        direct: Vec<Lenient<Item>>,
    }
    let Some(file) = r.small_json::<Media>(path) else {
        return;
    };
    let rel = r.rel(path).to_owned();
    let lists = [
        ("photos", file.photos),
        ("videos", file.videos),
        ("stories", file.stories),
        ("profile", file.profile),
        ("direct", file.direct),
    ];
    for (list, items) in lists {
        let album = match list {
            "stories" => r.shelf(Shelf::Stories),
            "profile" => r.shelf(Shelf::ProfilePictures),
            "direct" => r.thread_album("direct", "Direct"),
            _ => r.shelf(Shelf::Posts),
        };
        for (i, item) in items.into_iter().enumerate() {
            let id = format!(
                "{}:{rel}#{list}/{i}",
                if list == "stories" { "story" } else { "post" }
            );
            let Some(item) = item.0 else {
                r.problem(id, "entry of an unexpected shape");
                continue;
            };
            let taken = secs(&item.taken_at);
            let caption = item.caption.filter(|c| !c.is_empty());
            let place = fix_opt(item.location.0).map(Location::named);
            let info = MediaInfo {
                caption: caption.clone(),
                taken,
                uploaded: None,
                location: place.clone(),
            };
            let attachment = match item.path.as_deref() {
                Some(p) => r.attach(p, info, &album, &id),
                None => None,
            };
            let attachments: Vec<Attachment> = attachment.into_iter().collect();
            match list {
                "photos" | "videos" => r.push(Record::Post(Post {
                    id,
                    author: None,
                    created: taken,
                    updated: None,
                    text: caption,
                    attachments,
                    location: place,
                    reactions: Vec::new(),
                })),
                "stories" => r.push(Record::Story(Story {
                    id,
                    author: None,
                    created: taken,
                    caption,
                    attachments,
                    reactions: Vec::new(),
                })),
                // Profile pictures and direct media are media only; their messages are in
                // messages.json.
                _ => {}
            }
        }
    }
}

/// `profile.json`.
pub(crate) fn profile(r: &mut Reader, path: &str) {
    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct V1Profile {
        biography: Option<String>,
        date_joined: Option<Ts>,
        email: Option<String>,
        name: Option<String>,
        username: Option<String>,
        website: Option<String>,
        profile_pic_url: Option<String>,
        phone_number: Option<String>,
        gender: Option<String>,
        private_account: Lenient<bool>,
    }
    let Some(p) = r.small_json::<V1Profile>(path) else {
        return;
    };
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let username = nonempty(p.username);
    r.push(Record::Profile(Profile {
        id: match &username {
            Some(u) => format!("profile:{u}"),
            None => "profile".to_owned(),
        },
        name: nonempty(p.name),
        username,
        email: nonempty(p.email),
        phone: nonempty(p.phone_number),
        bio: nonempty(p.biography),
        website: nonempty(p.website),
        gender: nonempty(p.gender),
        private: p.private_account.0,
        picture: nonempty(p.profile_pic_url).map(|u| Attachment {
            media_id: None,
            uri: Some(u),
            title: None,
            mime_type: None,
        }),
        created: secs(&p.date_joined),
        ..Profile::default()
    }));
}

/// `comments.json`: lists of `[time, text, owner]` tuples (`media_comments`, `live_comments`).
pub(crate) fn comments(r: &mut Reader, path: &str) {
    let Some(tree) = r.small_json::<serde_json::Map<String, Value>>(path) else {
        return;
    };
    let rel = r.rel(path).to_owned();
    for (list, items) in tree {
        let Value::Array(items) = items else { continue };
        for (i, tuple) in items.into_iter().enumerate() {
            let id = format!("comment:{rel}#{list}/{i}");
            let text = tuple
                .get(1)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty());
            let Some(text) = text else {
                r.problem(id, "comment without text");
                continue;
            };
            let created = tuple
                .get(0)
                .and_then(|t| serde_json::from_value::<Ts>(t.clone()).ok())
                .and_then(|t| t.secs());
            r.push(Record::Comment(Comment {
                id,
                on: None,
                author: None,
                created,
                text: text.to_owned(),
                attachments: Vec::new(),
                reactions: Vec::new(),
            }));
        }
    }
}

/// One conversation; `M` is [`V1Message`] on the fast path and `Lenient<V1Message>` for a
/// file with messages of an odd shape.
#[derive(Debug, Deserialize)]
#[serde(default, bound = "M: Deserialize<'de>")]
struct V1Thread<M> {
    participants: Vec<Lenient<String>>,
    conversation: Vec<M>,
}

impl<M> Default for V1Thread<M> {
    fn default() -> Self {
        V1Thread {
            participants: Vec::new(),
            conversation: Vec::new(),
        }
    }
}

/// Reads `messages.json` strictly, and message by message leniently only when that fails.
fn read_threads(r: &mut Reader, path: &str) -> Option<Vec<Option<V1Thread<Option<V1Message>>>>> {
    let bytes = match r.fs.read_small(path) {
        Ok(b) => b,
        Err(e) => {
            r.problem(r.rel(path).to_owned(), e.to_string());
            return None;
        }
    };
    let strict = serde_json::from_slice::<Vec<V1Thread<V1Message>>>(&bytes).map(|threads| {
        threads
            .into_iter()
            .map(|t| {
                Some(V1Thread {
                    participants: t.participants,
                    conversation: t.conversation.into_iter().map(Some).collect(),
                })
            })
            .collect()
    });
    let lenient = || {
        serde_json::from_slice::<Vec<Lenient<V1Thread<Lenient<V1Message>>>>>(&bytes).map(
            |threads| {
                threads
                    .into_iter()
                    .map(|t| {
                        t.0.map(|t| V1Thread {
                            participants: t.participants,
                            conversation: t.conversation.into_iter().map(|m| m.0).collect(),
                        })
                    })
                    .collect()
            },
        )
    };
    match strict.or_else(|_| lenient()) {
        Ok(threads) => Some(threads),
        Err(e) => {
            r.problem(r.rel(path).to_owned(), format!("invalid JSON ({e})"));
            None
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct V1Message {
    sender: Option<String>,
    created_at: Option<Ts>,
    text: Option<String>,
    heart: Option<String>,
    media_url: Lenient<String>,
    media_share_url: Lenient<String>,
    /// The caption and the owner's user name of a shared post.
    media_share_caption: Lenient<String>,
    media_owner: Lenient<String>,
    voice_media: Lenient<String>,
    link: Lenient<String>,
    story_share: Lenient<String>,
    media: Lenient<String>,
}

/// `messages.json`: every conversation in one file, read typed (it can be big).
pub(crate) fn messages(r: &mut Reader, path: &str) {
    let Some(threads) = read_threads(r, path) else {
        return;
    };
    let rel = r.rel(path).to_owned();
    for (t, thread) in threads.into_iter().enumerate() {
        let thread_id = format!("thread:{rel}#{t}");
        let Some(thread) = thread else {
            r.problem(thread_id, "conversation of an unexpected shape");
            continue;
        };
        let participants: Vec<Person> = thread
            .participants
            .into_iter()
            .filter_map(|p| fix_opt(p.0))
            .map(|name| Person { id: None, name })
            .collect();
        let title = participants
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let album = r.thread_album(&format!("{rel}#{t}"), &title);
        let mut messages: Vec<(i64, Message)> = Vec::new();
        for (i, m) in thread.conversation.into_iter().enumerate() {
            let owner = format!("{thread_id}/{i}");
            let Some(m) = m else {
                r.problem(owner, "message of an unexpected shape");
                continue;
            };
            let sent = secs(&m.created_at);
            let mut attachments = Vec::new();
            let info = || MediaInfo {
                taken: sent,
                ..MediaInfo::default()
            };
            let refs = [m.media_url, m.voice_media, m.link, m.media];
            for uri in refs.into_iter().filter_map(|l| l.0) {
                attachments.extend(r.attach(&uri, info(), &album, &owner));
            }
            // A shared post: its link, titled with its caption and owner as in later eras.
            let title = share_title(fix_opt(m.media_share_caption.0), fix_opt(m.media_owner.0));
            let shared = m
                .media_share_url
                .0
                .and_then(|uri| r.attach(&uri, info(), &album, &owner));
            match (shared, title) {
                (Some(a), title) => attachments.push(Attachment {
                    title: title.or(a.title),
                    ..a
                }),
                (None, Some(title)) => attachments.push(Attachment {
                    media_id: None,
                    uri: None,
                    title: Some(title),
                    mime_type: None,
                }),
                (None, None) => {}
            }
            if let Some(story) = fix_opt(m.story_share.0) {
                attachments.push(Attachment {
                    media_id: None,
                    uri: None,
                    title: Some(story),
                    mime_type: None,
                });
            }
            let ms = sent.map_or(i64::MIN, |t| {
                (t.utc.unix_timestamp_nanos() / 1_000_000) as i64
            });
            messages.push((
                ms,
                Message {
                    id: String::new(),
                    thread_id: thread_id.clone(),
                    author: fix_opt(m.sender).map(|name| Person { id: None, name }),
                    sent,
                    text: fix_opt(m.text).or_else(|| m.heart.map(fix)),
                    attachments,
                    reactions: Vec::new(),
                },
            ));
        }
        r.push(Record::Thread(Thread {
            id: thread_id,
            title: Some(title).filter(|t| !t.is_empty()),
            participants,
        }));
        messages.sort_by_key(|(ms, _)| *ms);
        for (i, (_, mut message)) in messages.into_iter().enumerate() {
            message.id = format!("message:{rel}#{t}/{i}");
            r.push(Record::Message(message));
        }
    }
}
