//! Facebook as a [`Source`]: albums, the photos in them, uploaded photos in no album, and
//! uploaded videos.
//!
//! The listing walks four phases, one Graph page per [`Source::list`] call, and its cursor
//! says where it is (phase, album, and the next page's link without the token), so that a
//! new process carries on. Graph cursors are invalidated when the item they point at is
//! deleted: a refused one restarts that edge from its start, and the engine drops what it
//! already has by id.
//!
//! Media links are signed and expire (about an hour), so `open` asks for a fresh one unless
//! the listing handed one out recently, and asks again once when the CDN refuses it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use tokio::time::Instant;

use ferry_core::{
    Album, Content, DataType, Error, Location, MediaItem, MediaKind, Page, Record, Result, Scope,
    Skipped, Source, Timestamp,
};

use crate::service::Session;

use super::Tuning;
use super::client::{
    AlbumNode, Client, Download, GraphRequest, Paged, PhotoNode, PlaceNode, VideoNode, largest,
    segment,
};

const ALBUM_FIELDS: &str = "id,name,description,created_time,updated_time,place,count";
const PHOTO_FIELDS: &str = "id,name,images,created_time,backdated_time,place,album,width,height";
const VIDEO_FIELDS: &str = "id,title,description,created_time,updated_time,place,length,source";

/// Marks (and versions) ferry's Facebook cursors.
const CURSOR_PREFIX: &str = "facebook/1 ";

/// Listing links kept for `open`, at most: beyond that, items get a fresh link when opened.
const MAX_REMEMBERED_LINKS: usize = 100_000;

/// Graph's time format: `2019-05-01T12:00:00+0000`.
const GRAPH_TIME: &[FormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
);

/// Where a listing is. `next` is the link of the edge's next page (`None`: its first page).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum Cursor {
    /// A page of the person's albums.
    Albums {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// The photos of `album`; then those of the albums in `queue` (the rest of the albums
    /// page), then the albums page at `albums_next`.
    AlbumPhotos {
        album: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        queue: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        albums_next: Option<String>,
    },
    /// Uploaded photos, listing those in none of the albums.
    Uploaded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Uploaded videos.
    Videos {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
}

impl Cursor {
    fn encode(&self) -> String {
        // A cursor is plain data; serialising it cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{CURSOR_PREFIX}{json}")
    }

    fn decode(text: &str) -> Result<Cursor> {
        text.strip_prefix(CURSOR_PREFIX)
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or_else(|| {
                Error::permanent(
                    "the saved Facebook listing position is unreadable (written by another \
                     version of ferry?); start the transfer again",
                )
            })
    }

    /// This position, or the next one the scope wants; `None` when nothing is left.
    fn within(self, scope: &Scope) -> Option<Cursor> {
        match self {
            Cursor::Videos { .. } if !scope.wants(DataType::Videos) => None,
            Cursor::Videos { .. } => Some(self),
            _ if !scope.wants(DataType::Photos) => Cursor::Videos { next: None }.within(scope),
            photos => Some(photos),
        }
    }

    /// The next album of the queue, else the next albums page, else uploaded photos.
    fn after_album(queue: Vec<String>, albums_next: Option<String>) -> Cursor {
        let mut queue = queue.into_iter();
        match (queue.next(), albums_next) {
            (Some(album), albums_next) => Cursor::AlbumPhotos {
                album,
                next: None,
                queue: queue.collect(),
                albums_next,
            },
            (None, Some(next)) => Cursor::Albums { next: Some(next) },
            (None, None) => Cursor::Uploaded { next: None },
        }
    }
}

/// A media link from the listing and when it was handed out.
struct RememberedLink {
    link: String,
    at: Instant,
}

pub struct FacebookSource {
    client: Client,
    /// The ids of the person's albums, read once per process: an uploaded photo in one of
    /// them was listed with its album.
    album_ids: tokio::sync::Mutex<Option<Arc<HashSet<String>>>>,
    /// Links from the listing, by item id, used once by `open` while fresh.
    links: Mutex<HashMap<String, RememberedLink>>,
}

impl FacebookSource {
    pub fn new(session: Session) -> FacebookSource {
        FacebookSource::with_tuning(session, Tuning::default())
    }

    pub fn with_tuning(session: Session, tuning: Tuning) -> FacebookSource {
        FacebookSource {
            client: Client::new(session, tuning),
            album_ids: tokio::sync::Mutex::new(None),
            links: Mutex::new(HashMap::new()),
        }
    }

    /// The pause currently put between Graph calls (it grows as usage nears the limit).
    pub fn current_spacing(&self) -> std::time::Duration {
        self.client.throttle().current_spacing()
    }

    fn limit(&self) -> String {
        self.client.tuning().page_limit.clamp(1, 100).to_string()
    }

    /// One page of an edge: from `saved` (a stored link) when given, else from `first`. A
    /// refused stored link restarts the edge. Returns the items and the next page's link.
    async fn fetch<T: DeserializeOwned>(
        &self,
        what: &str,
        first: &GraphRequest,
        saved: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>)> {
        let request = saved.and_then(GraphRequest::from_link);
        let paged: Paged<T> = match request {
            None => self.client.get(what, first).await?,
            Some(request) => match self.client.get(what, &request).await {
                Ok(paged) => paged,
                Err(failed) if failed.refuses_cursor() => {
                    tracing::info!(
                        "{what}: Facebook no longer accepts the saved position; listing again from the start"
                    );
                    self.client.get(what, first).await?
                }
                Err(failed) => return Err(failed.into()),
            },
        };
        let next = match paged.paging.and_then(|p| p.next) {
            None => None,
            Some(url) => Some(self.client.stored_link(&url).ok_or_else(|| {
                Error::permanent(format!(
                    "{what}: Facebook's link to the next page is unreadable"
                ))
            })?),
        };
        // A next page that is this page again would never end.
        let next = next.filter(|n| saved != Some(n.as_str()));
        Ok((paged.data, next))
    }

    async fn list_albums(&self, next: Option<String>, page: &mut Page) -> Result<Cursor> {
        let limit = self.limit();
        let first = GraphRequest::new("me/albums", &[("fields", ALBUM_FIELDS), ("limit", &limit)]);
        let (albums, albums_next) = self
            .fetch::<AlbumNode>("Facebook albums", &first, next.as_deref())
            .await?;
        let mut queue = Vec::new();
        for album in albums {
            if album.id.is_empty() {
                continue;
            }
            queue.push(album.id.clone());
            page.records.push(Record::Album(album_record(album)));
        }
        Ok(Cursor::after_album(queue, albums_next))
    }

    async fn list_album_photos(
        &self,
        scope: &Scope,
        album: String,
        next: Option<String>,
        queue: Vec<String>,
        albums_next: Option<String>,
        page: &mut Page,
    ) -> Result<Cursor> {
        let what = format!("Facebook album {album}");
        let limit = self.limit();
        let first = GraphRequest::new(
            &format!("{}/photos", segment(&album)),
            &[("fields", PHOTO_FIELDS), ("limit", &limit)],
        );
        let (photos, photos_next) = match self
            .fetch::<PhotoNode>(&what, &first, next.as_deref())
            .await
        {
            Ok(found) => found,
            Err(Error::NotFound(why)) => {
                // Deleted since its albums page was read: nothing of it to list.
                tracing::info!("{why}");
                (Vec::new(), None)
            }
            Err(error) => return Err(error),
        };
        for photo in photos {
            self.photo_record(scope, photo, Some(&album), page);
        }
        Ok(match photos_next {
            Some(next) => Cursor::AlbumPhotos {
                album,
                next: Some(next),
                queue,
                albums_next,
            },
            None => Cursor::after_album(queue, albums_next),
        })
    }

    async fn list_uploaded(
        &self,
        scope: &Scope,
        next: Option<String>,
        page: &mut Page,
    ) -> Result<Cursor> {
        let albums = self.album_ids().await?;
        let limit = self.limit();
        let first = GraphRequest::new(
            "me/photos",
            &[
                ("type", "uploaded"),
                ("fields", PHOTO_FIELDS),
                ("limit", &limit),
            ],
        );
        let (photos, next) = self
            .fetch::<PhotoNode>("Facebook uploaded photos", &first, next.as_deref())
            .await?;
        for photo in photos {
            let album = photo.album.as_ref().map(|a| a.id.as_str()).unwrap_or("");
            if albums.contains(album) {
                continue; // listed with its album
            }
            self.photo_record(scope, photo, None, page);
        }
        Ok(match next {
            Some(next) => Cursor::Uploaded { next: Some(next) },
            None => Cursor::Videos { next: None },
        })
    }

    async fn list_videos(
        &self,
        scope: &Scope,
        next: Option<String>,
        page: &mut Page,
    ) -> Result<Option<Cursor>> {
        let limit = self.limit();
        let first = GraphRequest::new(
            "me/videos",
            &[
                ("type", "uploaded"),
                ("fields", VIDEO_FIELDS),
                ("limit", &limit),
            ],
        );
        let (videos, next) = self
            .fetch::<VideoNode>("Facebook videos", &first, next.as_deref())
            .await?;
        for video in videos {
            self.video_record(scope, video, page);
        }
        Ok(next.map(|next| Cursor::Videos { next: Some(next) }))
    }

    /// Every album id of the person (read once per process).
    async fn album_ids(&self) -> Result<Arc<HashSet<String>>> {
        let mut known = self.album_ids.lock().await;
        if let Some(ids) = known.as_ref() {
            return Ok(ids.clone());
        }
        let limit = self.limit();
        let first = GraphRequest::new("me/albums", &[("fields", "id"), ("limit", &limit)]);
        let mut ids = HashSet::new();
        let mut saved: Option<String> = None;
        loop {
            let (albums, next) = self
                .fetch::<AlbumNode>("Facebook albums", &first, saved.as_deref())
                .await?;
            ids.extend(albums.into_iter().map(|a| a.id).filter(|id| !id.is_empty()));
            match next {
                Some(next) => saved = Some(next),
                None => break,
            }
        }
        let ids = Arc::new(ids);
        *known = Some(ids.clone());
        Ok(ids)
    }

    fn photo_record(&self, scope: &Scope, photo: PhotoNode, album: Option<&str>, page: &mut Page) {
        if photo.id.is_empty() {
            return;
        }
        let uploaded = photo.created_time.as_deref().and_then(graph_time);
        let taken = photo
            .backdated_time
            .as_deref()
            .and_then(graph_time)
            .or(uploaded);
        if !scope.in_range(taken.as_ref()) {
            return;
        }
        let Some(link) = largest(&photo.images).and_then(|i| i.source.clone()) else {
            page.skipped.push(Skipped {
                id: photo.id,
                reason: "Facebook lists no image for this photo".into(),
            });
            return;
        };
        self.remember(&photo.id, link);
        page.records.push(Record::Media(MediaItem {
            file_name: format!("{}.jpg", photo.id),
            kind: MediaKind::Photo,
            caption: non_empty(photo.name),
            mime_type: Some("image/jpeg".into()),
            size: None,
            taken,
            uploaded,
            location: photo.place.and_then(location),
            albums: album.map(|a| vec![a.to_string()]).unwrap_or_default(),
            id: photo.id,
            live_photo_of: None,
            revision: None,
        }));
    }

    fn video_record(&self, scope: &Scope, video: VideoNode, page: &mut Page) {
        if video.id.is_empty() {
            return;
        }
        let created = video.created_time.as_deref().and_then(graph_time);
        if !scope.in_range(created.as_ref()) {
            return;
        }
        let Some(link) = video.source.filter(|s| !s.is_empty()) else {
            page.skipped.push(Skipped {
                id: video.id,
                reason: "Facebook gives no download link for this video (still processing, \
                         or not the person's own upload)"
                    .into(),
            });
            return;
        };
        self.remember(&video.id, link);
        // The title names the file (the engine makes names safe and unique per folder), the
        // description is the caption; a video with a title only keeps it as its caption too.
        let title = non_empty(video.title);
        let file_name = match &title {
            Some(title) => video_file_name(title),
            None => format!("{}.mp4", video.id),
        };
        page.records.push(Record::Media(MediaItem {
            file_name,
            kind: MediaKind::Video,
            caption: non_empty(video.description).or(title),
            mime_type: Some("video/mp4".into()),
            size: None,
            taken: created,
            uploaded: created,
            location: video.place.and_then(location),
            albums: Vec::new(),
            id: video.id,
            live_photo_of: None,
            revision: None,
        }));
    }

    fn remember(&self, id: &str, link: String) {
        if self.client.tuning().link_reuse.is_zero() {
            return;
        }
        if let Ok(mut links) = self.links.lock()
            && links.len() < MAX_REMEMBERED_LINKS
        {
            links.insert(
                id.to_string(),
                RememberedLink {
                    link,
                    at: Instant::now(),
                },
            );
        }
    }

    /// The listing's link for an item, once, while it is fresh enough to try.
    fn take_link(&self, id: &str) -> Option<String> {
        let remembered = self.links.lock().ok()?.remove(id)?;
        (remembered.at.elapsed() < self.client.tuning().link_reuse).then_some(remembered.link)
    }

    /// A fresh link for an item: the largest rendition of a photo, the source of a video.
    async fn fresh_link(&self, item: &MediaItem, what: &str) -> Result<String> {
        let route = segment(&item.id);
        match item.kind {
            MediaKind::Photo => {
                let photo: PhotoNode = self
                    .client
                    .get(what, &GraphRequest::new(&route, &[("fields", "images")]))
                    .await?;
                largest(&photo.images)
                    .and_then(|i| i.source.clone())
                    .ok_or_else(|| {
                        Error::Permanent(format!("{what}: Facebook lists no image for this photo"))
                    })
            }
            MediaKind::Video => {
                let video: VideoNode = self
                    .client
                    .get(what, &GraphRequest::new(&route, &[("fields", "source")]))
                    .await?;
                video.source.filter(|s| !s.is_empty()).ok_or_else(|| {
                    Error::Permanent(format!(
                        "{what}: Facebook gives no download link for this video"
                    ))
                })
            }
        }
    }
}

#[async_trait]
impl Source for FacebookSource {
    fn describe(&self) -> String {
        format!("Facebook {}:", self.client.session().name)
    }

    async fn list(&self, scope: &Scope, cursor: Option<&str>) -> Result<Page> {
        let position = match cursor {
            None => Cursor::Albums { next: None },
            Some(text) => Cursor::decode(text)?,
        };
        let mut page = Page::default();
        let Some(position) = position.within(scope) else {
            return Ok(page);
        };
        let next = match position {
            Cursor::Albums { next } => Some(self.list_albums(next, &mut page).await?),
            Cursor::AlbumPhotos {
                album,
                next,
                queue,
                albums_next,
            } => Some(
                self.list_album_photos(scope, album, next, queue, albums_next, &mut page)
                    .await?,
            ),
            Cursor::Uploaded { next } => Some(self.list_uploaded(scope, next, &mut page).await?),
            Cursor::Videos { next } => self.list_videos(scope, next, &mut page).await?,
        };
        page.next = next.and_then(|c| c.within(scope)).map(|c| c.encode());
        Ok(page)
    }

    async fn open(&self, item: &MediaItem) -> Result<Content> {
        let what = format!("Facebook {} {}", item.kind.as_str(), item.id);
        let mut link = self.take_link(&item.id);
        let mut fresh_links = 0;
        loop {
            let url = match link.take() {
                Some(url) => url,
                None => {
                    fresh_links += 1;
                    self.fresh_link(item, &what).await?
                }
            };
            match self.client.download(&what, &url).await {
                Ok(content) => return Ok(content),
                Err(Download::Refused(status)) if fresh_links < 2 => {
                    tracing::debug!(
                        "{what}: the CDN refused the link ({status}); asking for a fresh one"
                    );
                }
                Err(Download::Refused(status)) => {
                    return Err(match status.as_u16() {
                        404 | 410 => Error::NotFound(format!(
                            "{what}: no longer on Facebook's servers ({status})"
                        )),
                        _ => Error::Retryable(format!(
                            "{what}: Facebook's servers refused two fresh download links ({status})"
                        )),
                    });
                }
                Err(Download::Failed(error)) => return Err(error),
            }
        }
    }
}

fn album_record(album: AlbumNode) -> Album {
    Album {
        title: non_empty(album.name).unwrap_or_else(|| format!("Album {}", album.id)),
        path: Vec::new(),
        description: non_empty(album.description),
        created: album.created_time.as_deref().and_then(graph_time),
        location: album.place.and_then(location),
        id: album.id,
    }
}

/// A Graph time. Graph writes every time in UTC (`+0000`), which says nothing of where the
/// photo was taken, so a zero offset is kept as "offset unknown".
fn graph_time(text: &str) -> Option<Timestamp> {
    let instant = OffsetDateTime::parse(text, GRAPH_TIME)
        .or_else(|_| OffsetDateTime::parse(text, &Rfc3339))
        .ok()?;
    Some(if instant.offset().is_utc() {
        Timestamp::from_utc(instant)
    } else {
        Timestamp::with_offset(instant)
    })
}

fn location(place: PlaceNode) -> Option<Location> {
    let coordinates = place.location?;
    Some(Location {
        name: non_empty(place.name),
        ..Location::at(coordinates.latitude?, coordinates.longitude?)
    })
}

/// A video's file name from its title: `<title>.mp4`, unless the title already ends so.
fn video_file_name(title: &str) -> String {
    let has_extension = title
        .get(title.len().saturating_sub(4)..)
        .is_some_and(|end| end.eq_ignore_ascii_case(".mp4"));
    if has_extension {
        title.to_string()
    } else {
        format!("{title}.mp4")
    }
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn graph_times_parse_in_both_forms() {
        let t = graph_time("2019-05-01T12:00:00+0000").unwrap();
        assert_eq!(t.utc, datetime!(2019-05-01 12:00:00 UTC));
        assert_eq!(t.offset, None);
        let t = graph_time("2019-05-01T14:00:00+0200").unwrap();
        assert_eq!(t.utc, datetime!(2019-05-01 12:00:00 UTC));
        assert_eq!(t.offset.map(|o| o.whole_hours()), Some(2));
        assert!(graph_time("2019-05-01T12:00:00Z").is_some());
        assert!(graph_time("yesterday").is_none());
    }

    #[test]
    fn video_titles_name_their_files() {
        assert_eq!(video_file_name("Vidéo 1 🎬"), "Vidéo 1 🎬.mp4");
        assert_eq!(video_file_name("clip.MP4"), "clip.MP4");
        assert_eq!(video_file_name("🎬"), "🎬.mp4");
    }

    #[test]
    fn cursors_round_trip_and_follow_the_scope() {
        let cursor = Cursor::AlbumPhotos {
            album: "1".into(),
            next: Some("/v21.0/1/photos?after=QQ".into()),
            queue: vec!["2".into(), "3".into()],
            albums_next: None,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("42").is_err());

        let videos_only = Scope {
            types: [DataType::Videos].into(),
            since: None,
            until: None,
        };
        assert_eq!(
            cursor.clone().within(&videos_only),
            Some(Cursor::Videos { next: None })
        );
        let photos_only = Scope {
            types: [DataType::Photos].into(),
            since: None,
            until: None,
        };
        assert_eq!(Cursor::Videos { next: None }.within(&photos_only), None);
        assert_eq!(cursor.clone().within(&photos_only), Some(cursor));
    }

    #[test]
    fn albums_are_walked_in_order() {
        assert_eq!(
            Cursor::after_album(vec!["2".into(), "3".into()], Some("/n".into())),
            Cursor::AlbumPhotos {
                album: "2".into(),
                next: None,
                queue: vec!["3".into()],
                albums_next: Some("/n".into())
            }
        );
        assert_eq!(
            Cursor::after_album(vec![], Some("/n".into())),
            Cursor::Albums {
                next: Some("/n".into())
            }
        );
        assert_eq!(
            Cursor::after_album(vec![], None),
            Cursor::Uploaded { next: None }
        );
    }
}
