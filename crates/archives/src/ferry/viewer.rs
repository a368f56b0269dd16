//! The offline viewer: static HTML pages that show everything in the archive in a browser,
//! with no network access and no JavaScript.
//!
//! `index.html` sits at the root of the archive and the other pages in `pages/`; every link
//! is relative, so the viewer works once all parts are extracted into one folder. Every text
//! from a source is escaped: captions are untrusted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use ferry_core::model::{Attachment, Location, MediaKind, Person, Reaction, Timestamp};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::format::MediaEntry;
use super::writer::{Contents, NO_ALBUM, Render};

/// Items per album page, posts or stories per page, messages per thread page.
const ALBUM_PAGE: usize = 300;
const POST_PAGE: usize = 100;
const MESSAGE_PAGE: usize = 500;
/// Thumbnails shown per album on the index.
const INDEX_THUMBS: usize = 6;
const THUMB: u32 = 160;

pub(crate) const INDEX: &str = "index.html";

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;\
max-width:60rem;margin:0 auto;padding:1rem;color:#222;background:#fafafa}\
a{color:#0b5cad}nav a{margin-right:1rem}\
.grid{display:flex;flex-wrap:wrap;gap:.5rem}\
.grid figure{margin:0;width:160px}.grid figcaption{font-size:.8rem;overflow-wrap:anywhere}\
img,video{object-fit:cover;background:#ddd}\
article{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.75rem;margin:.75rem 0}\
.meta{color:#666;font-size:.85rem}.text{white-space:pre-wrap;overflow-wrap:anywhere}\
.comments{border-left:3px solid #ddd;padding-left:.75rem;margin-top:.5rem}\
.message{margin:.4rem 0}.message .author{font-weight:600}";

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters that must be percent-encoded in a relative URL path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b'\'')
    .add(b';')
    .add(b'&')
    .add(b':');

/// A relative URL for an archive path, from a page `depth` folders deep.
fn href(path: &str, depth: usize) -> String {
    let mut out = "../".repeat(depth);
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, SEGMENT));
    }
    out
}

fn page_name(kind: &str, index: usize, page: usize) -> String {
    format!("pages/{kind}-{index}-{page}.html")
}

fn pages_of(len: usize, per: usize) -> usize {
    len.div_ceil(per).max(1)
}

/// Every page of the viewer, with the function that writes it.
pub(crate) fn pages(contents: &Arc<Contents>) -> Vec<(String, Render)> {
    let view = Arc::new(View::new(contents.clone()));
    let mut out: Vec<(String, Render)> = Vec::new();
    let mut add = |path: String, f: fn(&View, &mut String, usize, usize), a: usize, b: usize| {
        let view = view.clone();
        let render: Render = Box::new(move |w: &mut dyn Write| {
            let mut html = String::new();
            f(&view, &mut html, a, b);
            w.write_all(html.as_bytes())
        });
        out.push((path, render));
    };
    add(INDEX.into(), View::index, 0, 0);
    for (a, album) in view.albums.iter().enumerate() {
        for p in 1..=pages_of(album.items.len(), ALBUM_PAGE) {
            add(page_name("album", a, p), View::album, a, p);
        }
    }
    for p in 1..=pages_of(contents.posts.len(), POST_PAGE) {
        add(page_name("posts", 0, p), View::posts, 0, p);
    }
    add(page_name("comments", 0, 1), View::other_comments, 0, 1);
    for p in 1..=pages_of(contents.stories.len(), POST_PAGE) {
        add(page_name("stories", 0, p), View::stories, 0, p);
    }
    for (t, group) in contents.messages.iter().enumerate() {
        for p in 1..=pages_of(group.messages.len(), MESSAGE_PAGE) {
            add(page_name("thread", t, p), View::thread, t, p);
        }
    }
    let texts = &contents.texts;
    for (name, len, f) in [
        (
            "notes",
            texts.notes.len(),
            View::notes as fn(&View, &mut String, usize, usize),
        ),
        ("events", texts.events.len(), View::events),
        ("check-ins", texts.check_ins.len(), View::check_ins),
    ] {
        if len > 0 {
            for p in 1..=pages_of(len, POST_PAGE) {
                add(page_name(name, 0, p), f, 0, p);
            }
        }
    }
    out
}

/// An album as the viewer shows it: its title and its media (indexes into `media`).
struct ViewAlbum {
    title: String,
    description: Option<String>,
    items: Vec<usize>,
}

struct View {
    c: Arc<Contents>,
    albums: Vec<ViewAlbum>,
    media_by_id: HashMap<String, usize>,
    /// Comment indexes by what they comment on.
    comments_on: HashMap<String, Vec<usize>>,
    post_ids: std::collections::HashSet<String>,
    thread_titles: HashMap<String, String>,
}

impl View {
    fn new(c: Arc<Contents>) -> View {
        let media_by_id: HashMap<String, usize> = c
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| (m.item.id.clone(), i))
            .collect();
        let album_index: HashMap<&str, usize> = c
            .albums
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i))
            .collect();
        let mut albums: Vec<ViewAlbum> = c
            .albums
            .iter()
            .map(|a| ViewAlbum {
                title: a.title.clone(),
                description: a.description.clone(),
                items: Vec::new(),
            })
            .collect();
        let mut loose = Vec::new();
        for (i, m) in c.media.iter().enumerate() {
            let mut placed = false;
            for album in &m.item.albums {
                if let Some(view) = album_index
                    .get(album.as_str())
                    .and_then(|&a| albums.get_mut(a))
                {
                    view.items.push(i);
                    placed = true;
                }
            }
            if !placed {
                loose.push(i);
            }
        }
        if !loose.is_empty() {
            albums.push(ViewAlbum {
                title: NO_ALBUM.into(),
                description: None,
                items: loose,
            });
        }
        let mut comments_on: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, comment) in c.comments.iter().enumerate() {
            if let Some(on) = &comment.on {
                comments_on.entry(on.clone()).or_default().push(i);
            }
        }
        let post_ids = c.posts.iter().map(|p| p.id.clone()).collect();
        let thread_titles = c
            .threads
            .iter()
            .map(|t| (t.thread.id.clone(), thread_title(&t.thread)))
            .collect();
        View {
            c,
            albums,
            media_by_id,
            comments_on,
            post_ids,
            thread_titles,
        }
    }

    fn profile_name(&self) -> Option<String> {
        self.c
            .profiles
            .iter()
            .find_map(|p| p.name.clone().or_else(|| p.username.clone()))
    }

    fn head(&self, out: &mut String, title: &str, depth: usize) {
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>\n\
             <nav><a href=\"{}\">Home</a><a href=\"{}\">Posts</a><a href=\"{}\">Stories</a></nav>\n\
             <h1>{}</h1>\n",
            escape(title),
            href(INDEX, depth),
            href(&page_name("posts", 0, 1), depth),
            href(&page_name("stories", 0, 1), depth),
            escape(title),
        );
    }

    fn tail(out: &mut String) {
        out.push_str("\n<footer class=\"meta\">Written by ferry.</footer></body></html>\n");
    }

    fn thumb(&self, out: &mut String, m: &MediaEntry, depth: usize) {
        let src = href(&m.path, depth);
        let alt = escape(m.item.caption.as_deref().unwrap_or(&m.item.file_name));
        match m.item.kind {
            MediaKind::Photo => {
                let _ = write!(
                    out,
                    "<a href=\"{src}\"><img src=\"{src}\" alt=\"{alt}\" width=\"{THUMB}\" \
                     height=\"{THUMB}\" loading=\"lazy\"></a>"
                );
            }
            MediaKind::Video => {
                let _ = write!(
                    out,
                    "<video src=\"{src}\" controls preload=\"none\" width=\"{THUMB}\" \
                     height=\"{THUMB}\" title=\"{alt}\"></video>"
                );
            }
        }
    }

    fn figure(&self, out: &mut String, m: &MediaEntry, depth: usize) {
        out.push_str("<figure>");
        self.thumb(out, m, depth);
        out.push_str("<figcaption>");
        if let Some(caption) = &m.item.caption {
            let _ = write!(out, "<span class=\"text\">{}</span><br>", escape(caption));
        }
        if let Some(at) = m.item.taken.as_ref().or(m.item.uploaded.as_ref()) {
            let _ = write!(out, "<span class=\"meta\">{}</span>", date(at));
        }
        out.push_str("</figcaption></figure>");
    }

    fn attachments(&self, out: &mut String, attachments: &[Attachment], depth: usize) {
        if attachments.is_empty() {
            return;
        }
        out.push_str("<div class=\"grid\">");
        for a in attachments {
            match a
                .media_id
                .as_ref()
                .and_then(|id| self.media_by_id.get(id))
                .and_then(|&i| self.c.media.get(i))
            {
                Some(m) => self.figure(out, m, depth),
                None => {
                    let label = a
                        .title
                        .as_deref()
                        .or(a.uri.as_deref())
                        .or(a.media_id.as_deref())
                        .unwrap_or("attachment");
                    let _ = write!(
                        out,
                        "<span class=\"meta\">[{} — not in this archive]</span>",
                        escape(label)
                    );
                }
            }
        }
        out.push_str("</div>");
    }

    fn pager(out: &mut String, kind: &str, index: usize, page: usize, pages: usize) {
        if pages <= 1 {
            return;
        }
        out.push_str("<p class=\"pager\">");
        for p in 1..=pages {
            if p == page {
                let _ = write!(out, "<strong>{p}</strong> ");
            } else {
                let _ = write!(
                    out,
                    "<a href=\"{}\">{p}</a> ",
                    href(&page_name(kind, index, p), 1)
                );
            }
        }
        out.push_str("</p>");
    }

    fn index(&self, out: &mut String, _: usize, _: usize) {
        let title = match self.profile_name() {
            Some(name) => format!("{name} — ferry archive"),
            None => "ferry archive".to_owned(),
        };
        self.head(out, &title, 0);
        for profile in &self.c.profiles {
            out.push_str("<section id=\"profile\"><h2>Profile</h2><article>");
            if let Some(m) = profile
                .picture
                .as_ref()
                .and_then(|p| p.media_id.as_ref())
                .and_then(|id| self.media_by_id.get(id))
                .and_then(|&i| self.c.media.get(i))
            {
                self.thumb(out, m, 0);
            }
            let mut field = |label: &str, value: &Option<String>| {
                if let Some(v) = value {
                    let _ = write!(
                        out,
                        "<p><span class=\"meta\">{label}:</span> <span class=\"text\">{}</span></p>",
                        escape(v)
                    );
                }
            };
            let private = profile
                .private
                .map(|p| if p { "yes" } else { "no" }.to_owned());
            field("Name", &profile.name);
            field("Username", &profile.username);
            field("Email", &profile.email);
            field("Phone", &profile.phone);
            field("Bio", &profile.bio);
            field("Website", &profile.website);
            field("Birthday", &profile.birthday);
            field("Gender", &profile.gender);
            field("Current city", &profile.current_city);
            field("Hometown", &profile.hometown);
            field("Private account", &private);
            out.push_str("</article></section>\n");
        }
        out.push_str("<section id=\"albums\"><h2>Albums</h2>\n");
        for (a, album) in self.albums.iter().enumerate() {
            let _ = write!(
                out,
                "<article><h3><a href=\"{}\">{}</a></h3><p class=\"meta\">{} items</p>",
                href(&page_name("album", a, 1), 0),
                escape(&album.title),
                album.items.len()
            );
            out.push_str("<div class=\"grid\">");
            for &i in album.items.iter().take(INDEX_THUMBS) {
                if let Some(m) = self.c.media.get(i) {
                    self.thumb(out, m, 0);
                }
            }
            out.push_str("</div></article>\n");
        }
        out.push_str("</section>\n");
        let _ = writeln!(
            out,
            "<section id=\"posts\"><h2>Posts and stories</h2><p><a href=\"{}\">{} posts</a> · \
             <a href=\"{}\">{} comments</a> · <a href=\"{}\">{} stories</a></p></section>",
            href(&page_name("posts", 0, 1), 0),
            self.c.posts.len(),
            href(&page_name("comments", 0, 1), 0),
            self.c.comments.len(),
            href(&page_name("stories", 0, 1), 0),
            self.c.stories.len(),
        );
        let texts = &self.c.texts;
        let more: Vec<String> = [
            ("notes", texts.notes.len()),
            ("events", texts.events.len()),
            ("check-ins", texts.check_ins.len()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| {
            format!(
                "<a href=\"{}\">{n} {name}</a>",
                href(&page_name(name, 0, 1), 0)
            )
        })
        .collect();
        if !more.is_empty() {
            let _ = writeln!(
                out,
                "<section id=\"notes\"><h2>Notes, events and check-ins</h2><p>{}</p></section>",
                more.join(" · ")
            );
        }
        out.push_str("<section id=\"messages\"><h2>Messages</h2><ul>\n");
        for (t, group) in self.c.messages.iter().enumerate() {
            let title = self
                .thread_titles
                .get(&group.thread_id)
                .cloned()
                .unwrap_or_else(|| group.thread_id.clone());
            let _ = writeln!(
                out,
                "<li><a href=\"{}\">{}</a> <span class=\"meta\">({} messages)</span></li>",
                href(&page_name("thread", t, 1), 0),
                escape(&title),
                group.messages.len()
            );
        }
        out.push_str("</ul></section>\n");
        Self::tail(out);
    }

    fn album(&self, out: &mut String, a: usize, page: usize) {
        let Some(album) = self.albums.get(a) else {
            return;
        };
        self.head(out, &album.title, 1);
        if let Some(d) = &album.description {
            let _ = write!(out, "<p class=\"text\">{}</p>", escape(d));
        }
        let pages = pages_of(album.items.len(), ALBUM_PAGE);
        Self::pager(out, "album", a, page, pages);
        out.push_str("<div class=\"grid\">\n");
        for &i in album
            .items
            .iter()
            .skip((page - 1) * ALBUM_PAGE)
            .take(ALBUM_PAGE)
        {
            if let Some(m) = self.c.media.get(i) {
                self.figure(out, m, 1);
                out.push('\n');
            }
        }
        out.push_str("</div>");
        Self::pager(out, "album", a, page, pages);
        Self::tail(out);
    }

    fn comment(&self, out: &mut String, i: usize) {
        let Some(c) = self.c.comments.get(i) else {
            return;
        };
        let _ = write!(
            out,
            "<div class=\"comment\"><span class=\"author\">{}</span> <span class=\"meta\">{}</span>\
             <div class=\"text\">{}</div>",
            escape(&person(c.author.as_ref())),
            c.created.as_ref().map(date).unwrap_or_default(),
            escape(&c.text)
        );
        self.attachments(out, &c.attachments, 1);
        reactions(out, &c.reactions);
        out.push_str("</div>");
    }

    fn posts(&self, out: &mut String, _: usize, page: usize) {
        self.head(out, "Posts", 1);
        let pages = pages_of(self.c.posts.len(), POST_PAGE);
        Self::pager(out, "posts", 0, page, pages);
        for post in self
            .c
            .posts
            .iter()
            .skip((page - 1) * POST_PAGE)
            .take(POST_PAGE)
        {
            let _ = write!(
                out,
                "<article class=\"post\"><p class=\"meta\">{} {}</p>",
                escape(&person(post.author.as_ref())),
                post.created.as_ref().map(date).unwrap_or_default()
            );
            if let Some(text) = &post.text {
                let _ = write!(out, "<div class=\"text\">{}</div>", escape(text));
            }
            place(out, post.location.as_ref());
            self.attachments(out, &post.attachments, 1);
            reactions(out, &post.reactions);
            // Comments on the post, or on one of its media.
            let mut on: Vec<usize> = self.comments_on.get(&post.id).cloned().unwrap_or_default();
            for a in &post.attachments {
                if let Some(ids) = a.media_id.as_ref().and_then(|id| self.comments_on.get(id)) {
                    on.extend(ids);
                }
            }
            if !on.is_empty() {
                out.push_str("<div class=\"comments\">");
                for i in on {
                    self.comment(out, i);
                }
                out.push_str("</div>");
            }
            out.push_str("</article>\n");
        }
        Self::pager(out, "posts", 0, page, pages);
        Self::tail(out);
    }

    fn other_comments(&self, out: &mut String, _: usize, _: usize) {
        self.head(out, "Comments", 1);
        out.push_str("<p class=\"meta\">Comments on posts of others, or on posts not in this archive. Comments on posts here are shown under the post.</p>");
        for (i, c) in self.c.comments.iter().enumerate() {
            let under_post = c.on.as_ref().is_some_and(|on| {
                self.post_ids.contains(on)
                    || self.c.posts.iter().any(|p| {
                        p.attachments
                            .iter()
                            .any(|a| a.media_id.as_deref() == Some(on.as_str()))
                    })
            });
            if under_post {
                continue;
            }
            out.push_str("<article>");
            if let Some(on) = &c.on {
                let _ = write!(out, "<p class=\"meta\">On {}</p>", escape(on));
            }
            self.comment(out, i);
            out.push_str("</article>\n");
        }
        Self::tail(out);
    }

    fn stories(&self, out: &mut String, _: usize, page: usize) {
        self.head(out, "Stories", 1);
        let pages = pages_of(self.c.stories.len(), POST_PAGE);
        Self::pager(out, "stories", 0, page, pages);
        for story in self
            .c
            .stories
            .iter()
            .skip((page - 1) * POST_PAGE)
            .take(POST_PAGE)
        {
            let _ = write!(
                out,
                "<article class=\"story\"><p class=\"meta\">{}</p>",
                story.created.as_ref().map(date).unwrap_or_default()
            );
            if let Some(text) = &story.caption {
                let _ = write!(out, "<div class=\"text\">{}</div>", escape(text));
            }
            self.attachments(out, &story.attachments, 1);
            reactions(out, &story.reactions);
            out.push_str("</article>\n");
        }
        Self::pager(out, "stories", 0, page, pages);
        Self::tail(out);
    }

    /// A page of `items`, each written by `each`, between pagers.
    fn listing<T>(
        &self,
        out: &mut String,
        (title, name): (&str, &str),
        items: &[T],
        page: usize,
        each: impl Fn(&mut String, &T),
    ) {
        self.head(out, title, 1);
        let pages = pages_of(items.len(), POST_PAGE);
        Self::pager(out, name, 0, page, pages);
        for item in items.iter().skip((page - 1) * POST_PAGE).take(POST_PAGE) {
            each(out, item);
        }
        Self::pager(out, name, 0, page, pages);
        Self::tail(out);
    }

    fn notes(&self, out: &mut String, _: usize, page: usize) {
        let notes = &self.c.texts.notes;
        self.listing(out, ("Notes", "notes"), notes, page, |out, note| {
            let _ = write!(
                out,
                "<article class=\"post\"><h2>{}</h2><p class=\"meta\">{}</p>",
                escape(note.title.as_deref().unwrap_or("")),
                note.created.as_ref().map(date).unwrap_or_default()
            );
            if let Some(text) = &note.text {
                let _ = write!(out, "<div class=\"text\">{}</div>", escape(text));
            }
            self.attachments(out, &note.attachments, 1);
            out.push_str("</article>\n");
        });
    }

    fn events(&self, out: &mut String, _: usize, page: usize) {
        let events = &self.c.texts.events;
        self.listing(out, ("Events", "events"), events, page, |out, event| {
            let when: Vec<String> = [event.start.as_ref(), event.end.as_ref()]
                .into_iter()
                .flatten()
                .map(date)
                .collect();
            let _ = write!(
                out,
                "<article class=\"post\"><h2>{}</h2><p class=\"meta\">{} {}</p>",
                escape(&event.name),
                escape(&when.join(" – ")),
                escape(event.response.as_deref().unwrap_or(""))
            );
            place(out, event.location.as_ref());
            if let Some(text) = &event.description {
                let _ = write!(out, "<div class=\"text\">{}</div>", escape(text));
            }
            out.push_str("</article>\n");
        });
    }

    fn check_ins(&self, out: &mut String, _: usize, page: usize) {
        let check_ins = &self.c.texts.check_ins;
        self.listing(
            out,
            ("Check-ins", "check-ins"),
            check_ins,
            page,
            |out, c| {
                let _ = write!(
                    out,
                    "<article class=\"post\"><p class=\"meta\">{}</p>",
                    c.created.as_ref().map(date).unwrap_or_default()
                );
                place(out, Some(&c.location));
                if let Some(text) = &c.text {
                    let _ = write!(out, "<div class=\"text\">{}</div>", escape(text));
                }
                self.attachments(out, &c.attachments, 1);
                out.push_str("</article>\n");
            },
        );
    }

    fn thread(&self, out: &mut String, t: usize, page: usize) {
        let Some(group) = self.c.messages.get(t) else {
            return;
        };
        let title = self
            .thread_titles
            .get(&group.thread_id)
            .cloned()
            .unwrap_or_else(|| group.thread_id.clone());
        self.head(out, &title, 1);
        let pages = pages_of(group.messages.len(), MESSAGE_PAGE);
        Self::pager(out, "thread", t, page, pages);
        for m in group
            .messages
            .iter()
            .skip((page - 1) * MESSAGE_PAGE)
            .take(MESSAGE_PAGE)
        {
            let _ = write!(
                out,
                "<div class=\"message\"><span class=\"author\">{}</span> <span class=\"meta\">{}</span>",
                escape(&person(m.author.as_ref())),
                m.sent.as_ref().map(date).unwrap_or_default()
            );
            if let Some(text) = &m.text {
                let _ = write!(out, "<div class=\"text\">{}</div>", escape(text));
            }
            self.attachments(out, &m.attachments, 1);
            reactions(out, &m.reactions);
            out.push_str("</div>\n");
        }
        Self::pager(out, "thread", t, page, pages);
        Self::tail(out);
    }
}

fn thread_title(thread: &ferry_core::model::Thread) -> String {
    if let Some(title) = thread.title.as_ref().filter(|t| !t.trim().is_empty()) {
        return title.clone();
    }
    let names: Vec<&str> = thread
        .participants
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    if names.is_empty() {
        thread.id.clone()
    } else {
        names.join(", ")
    }
}

fn person(p: Option<&Person>) -> String {
    p.map(|p| p.name.clone()).unwrap_or_default()
}

/// A place's name and address, when it has either.
fn place(out: &mut String, location: Option<&Location>) {
    let Some(l) = location else { return };
    let words: Vec<&str> = [l.name.as_deref(), l.address.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !words.is_empty() {
        let _ = write!(out, "<p class=\"meta\">{}</p>", escape(&words.join(", ")));
    }
}

fn date(t: &Timestamp) -> String {
    let l = t.local();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        l.year(),
        u8::from(l.month()),
        l.day(),
        l.hour(),
        l.minute()
    )
}

fn reactions(out: &mut String, reactions: &[Reaction]) {
    if reactions.is_empty() {
        return;
    }
    let list: Vec<String> = reactions
        .iter()
        .map(|r| format!("{} {}", r.reaction, r.actor.name))
        .collect();
    let _ = write!(out, "<p class=\"meta\">{}</p>", escape(&list.join(" · ")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_encodes() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(
            href("media/A #1/50% off?.jpg", 1),
            "../media/A%20%231/50%25%20off%3F.jpg"
        );
        assert_eq!(href("media/Été/x.jpg", 0), "media/%C3%89t%C3%A9/x.jpg");
    }
}
