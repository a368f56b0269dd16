//! The Google Photos Library API calls ferry makes, one function per route, with typed request
//! and response bodies. Base `{api_url}/v1` (`https://photoslibrary.googleapis.com/v1`).
//!
//! Write calls (uploads, album creation, `batchCreate`) wait for their slot from the shared
//! [`Pacer`] and report each answer to it; reads are not paced, and are tried again in place
//! after a passing fault.


use bytes::Bytes;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use ferry_core::{Error, Pacer, Result};

use super::error;
use crate::http;
use crate::service::Session;

/// The most items one `mediaItems:batchCreate` takes.
pub const MAX_BATCH_CREATE: usize = 50;
/// `albums.list` page size (its maximum).
const ALBUM_PAGE: u32 = 50;
/// `mediaItems.list` and `mediaItems.search` page size (their maximum).
const MEDIA_PAGE: u32 = 100;
/// An upload token is a short text; anything longer is not one.
const MAX_TOKEN_BYTES: usize = 64 << 10;
/// The chunk granularity when the service does not state one (the docs' example value).
const DEFAULT_GRANULARITY: u64 = 256 << 10;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Album {
    pub id: String,
    #[serde(default)]
    pub title: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AlbumPage {
    pub albums: Vec<Album>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaItem {
    pub id: String,
    #[serde(default)]
    pub filename: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaPage {
    pub media_items: Vec<MediaItem>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMediaItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub simple_media_item: SimpleMediaItem,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimpleMediaItem {
    pub upload_token: String,
    pub file_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchCreateRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    album_id: Option<&'a str>,
    new_media_items: &'a [NewMediaItem],
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchCreateResponse {
    #[serde(default)]
    pub new_media_item_results: Vec<NewMediaItemResult>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewMediaItemResult {
    pub upload_token: String,
    pub status: Option<Status>,
    pub media_item: Option<MediaItem>,
}

/// A google.rpc `Status`; `code` absent means OK.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Status {
    pub code: Option<i64>,
    pub message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest<'a> {
    album_id: &'a str,
    page_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    page_token: Option<&'a str>,
}

/// What an upload sends besides the bytes.
pub struct FileInfo<'a> {
    pub name: &'a str,
    pub mime: Option<&'a str>,
}

/// A resumable upload session (its URL is a credential of sorts: never in a message).
pub struct UploadSession {
    url: String,
    /// Whether the session URL is on the API's own origin, so that it may carry our token.
    same_origin: bool,
    pub granularity: u64,
}

/// What `query` says about a resumable upload.
pub enum UploadState {
    /// Still open, with this many bytes received.
    Active(u64),
    /// Finalized: the upload token.
    Final(String),
}

pub struct Client {
    session: Session,
    api: String,
    pacer: Pacer,
}

/// What `X-Goog-Upload-File-Name` may not carry as is (headers are visible ASCII; non-ASCII is
/// always encoded).
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b'%');

impl Client {
    pub fn new(session: Session, pacer: Pacer) -> Client {
        let api = format!("{}/v1", session.config.url("api_url"));
        Client {
            session,
            api,
            pacer,
        }
    }

    fn request(&self, method: Method, route: &str) -> RequestBuilder {
        self.session
            .http
            .request(method, format!("{}/{route}", self.api))
    }

    /// Sends a rebuildable call.
    async fn send(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Response> {
        http::send(&self.session.auth, what, build, |f| error::map(what, f)).await
    }

    /// A read and its JSON answer, tried again in place after a passing fault (a cut answer
    /// included).
    async fn read<T: DeserializeOwned>(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T> {
        let build = &build;
        self.session
            .retry
            .run(what, || async move {
                let response = self.send(what, build).await?;
                http::json(what, response).await
            })
            .await
    }

    /// How calls are tried again in place.
    pub fn retry(&self) -> &ferry_core::RetryPolicy {
        &self.session.retry
    }

    /// Sends a rebuildable write call in its pacer slot.
    async fn send_write(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Response> {
        self.pacer.wait().await;
        let result = self.send(what, build).await;
        self.paced(result)
    }

    /// Tells the pacer how a write went; a 429 carries the pacer's delay back to the engine.
    fn paced<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => {
                self.pacer.succeeded();
                Ok(value)
            }
            Err(Error::RateLimited {
                retry_after,
                message,
            }) => Err(Error::RateLimited {
                retry_after: Some(self.pacer.throttled(retry_after)),
                message,
            }),
            Err(err) => Err(err),
        }
    }

    /// `GET /v1/albums?excludeNonAppCreatedData=true`: one page of the albums this app made.
    pub async fn list_albums(&self, page_size: u32, page_token: Option<&str>) -> Result<AlbumPage> {
        let what = "listing Google Photos albums";
        let size = page_size.clamp(1, ALBUM_PAGE).to_string();
        self.read(what, || {
            let mut query = vec![
                ("pageSize", size.as_str()),
                ("excludeNonAppCreatedData", "true"),
            ];
            if let Some(token) = page_token {
                query.push(("pageToken", token));
            }
            self.request(Method::GET, "albums").query(&query)
        })
        .await
    }

    /// Every album this app made, page after page.
    pub async fn all_albums(&self) -> Result<Vec<Album>> {
        let mut albums = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_albums(ALBUM_PAGE, token.as_deref()).await?;
            albums.extend(page.albums);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(albums),
            }
        }
    }

    /// `POST /v1/albums`.
    pub async fn create_album(&self, title: &str) -> Result<Album> {
        let what = format!("creating Google Photos album \"{title}\"");
        let body = serde_json::json!({ "album": { "title": title } });
        let response = self
            .send_write(&what, || self.request(Method::POST, "albums").json(&body))
            .await?;
        http::json(&what, response).await
    }

    /// `POST /v1/mediaItems:search {albumId}`: every item of an album this app made.
    pub async fn album_items(&self, album_id: &str, title: &str) -> Result<Vec<MediaItem>> {
        let what = format!("listing Google Photos album \"{title}\"");
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let body = SearchRequest {
                album_id,
                page_size: MEDIA_PAGE,
                page_token: token.as_deref(),
            };
            // A search changes nothing: a read.
            let page: MediaPage = self
                .read(&what, || {
                    self.request(Method::POST, "mediaItems:search").json(&body)
                })
                .await?;
            items.extend(page.media_items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// `GET /v1/mediaItems`: every item this app made, in albums or not.
    pub async fn all_items(&self) -> Result<Vec<MediaItem>> {
        let what = "listing Google Photos media items";
        let size = MEDIA_PAGE.to_string();
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page: MediaPage = self
                .read(what, || {
                    let mut query = vec![("pageSize", size.as_str())];
                    if let Some(token) = token.as_deref() {
                        query.push(("pageToken", token));
                    }
                    self.request(Method::GET, "mediaItems").query(&query)
                })
                .await?;
            items.extend(page.media_items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// `POST /v1/mediaItems:batchCreate` (at most [`MAX_BATCH_CREATE`] items).
    pub async fn batch_create(
        &self,
        what: &str,
        album_id: Option<&str>,
        items: &[NewMediaItem],
    ) -> Result<BatchCreateResponse> {
        let body = BatchCreateRequest {
            album_id,
            new_media_items: items,
        };
        let response = self
            .send_write(what, || {
                self.request(Method::POST, "mediaItems:batchCreate")
                    .json(&body)
            })
            .await?;
        http::json(what, response).await
    }

    /// `POST /v1/albums/{id}:batchAddMediaItems`: puts items this app created into another of
    /// its albums.
    pub async fn add_to_album(&self, what: &str, album_id: &str, ids: &[&str]) -> Result<()> {
        let body = serde_json::json!({ "mediaItemIds": ids });
        let path = format!("albums/{album_id}:batchAddMediaItems");
        self.send_write(what, || self.request(Method::POST, &path).json(&body))
            .await?;
        Ok(())
    }

    fn upload_headers(&self, file: &FileInfo<'_>, protocol: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("X-Goog-Upload-Protocol", HeaderValue::from_static(protocol));
        if let Some(mime) = file.mime.and_then(|m| m.parse().ok()) {
            headers.insert("X-Goog-Upload-Content-Type", mime);
        }
        let name = utf8_percent_encode(file.name, HEADER_UNSAFE).to_string();
        if let Ok(name) = name.parse() {
            headers.insert("X-Goog-Upload-File-Name", name);
        }
        headers
    }

    fn raw_request(&self, file: &FileInfo<'_>) -> RequestBuilder {
        self.request(Method::POST, "uploads")
            .headers(self.upload_headers(file, "raw"))
            .header(CONTENT_TYPE, "application/octet-stream")
    }

    /// `POST /v1/uploads` with the raw protocol: the whole file in one streamed body (of a
    /// length unknown until the source ends). The answer is the upload token.
    pub async fn upload_raw(
        &self,
        what: &str,
        file: &FileInfo<'_>,
        body: reqwest::Body,
    ) -> Result<String> {
        let request = self.raw_request(file).body(body);
        self.pacer.wait().await;
        let result =
            http::send_once(&self.session.auth, what, request, |f| error::map(what, f)).await;
        let response = self.paced(result)?;
        upload_token(what, response).await
    }

    /// The raw protocol with the whole file in memory, sent again after a passing fault: an
    /// attempt whose answer was lost leaves an upload token nobody uses, which expires.
    pub async fn upload_raw_bytes(
        &self,
        what: &str,
        file: &FileInfo<'_>,
        bytes: Bytes,
    ) -> Result<String> {
        self.session
            .retry
            .run(what, || async {
                let response = self
                    .send_write(what, || {
                        self.raw_request(file)
                            .header(CONTENT_LENGTH, bytes.len())
                            .body(bytes.clone())
                    })
                    .await?;
                upload_token(what, response).await
            })
            .await
    }

    /// Starts a resumable upload of `total` bytes.
    pub async fn start_resumable(
        &self,
        what: &str,
        file: &FileInfo<'_>,
        total: u64,
    ) -> Result<UploadSession> {
        let headers = self.upload_headers(file, "resumable");
        // Sent again after a passing fault: a session whose answer was lost holds nothing.
        let response = self
            .session
            .retry
            .run(what, || {
                self.send_write(what, || {
                    self.request(Method::POST, "uploads")
                        .headers(headers.clone())
                        .header("X-Goog-Upload-Command", "start")
                        .header("X-Goog-Upload-Raw-Size", total)
                        .header(CONTENT_LENGTH, 0)
                })
            })
            .await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let url = header("X-Goog-Upload-URL")
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| Error::retryable(format!("{what}: Google Photos gave no upload URL")))?;
        let granularity = header("X-Goog-Upload-Chunk-Granularity")
            .and_then(|g| g.trim().parse::<u64>().ok())
            .filter(|g| *g > 0)
            .unwrap_or(DEFAULT_GRANULARITY);
        let same_origin = origin(&url) == origin(&self.api);
        Ok(UploadSession {
            url,
            same_origin,
            granularity,
        })
    }

    fn session_request(&self, session: &UploadSession, command: &'static str) -> RequestBuilder {
        self.session
            .http
            .post(&session.url)
            .header("X-Goog-Upload-Command", command)
    }

    /// Sends a request to an upload session URL: with our token only when the URL is the
    /// API's own origin.
    async fn send_session(
        &self,
        what: &str,
        session: &UploadSession,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let auth = if session.same_origin {
            self.session.auth.clone()
        } else {
            crate::auth::Auth::None
        };
        http::send(&auth, what, build, |f| error::map(what, f)).await
    }

    /// Sends one chunk of a resumable upload at `offset`, once; the last one finalizes the
    /// upload and its answer is the upload token.
    pub async fn upload_chunk(
        &self,
        what: &str,
        session: &UploadSession,
        offset: u64,
        bytes: Bytes,
        last: bool,
    ) -> Result<Option<String>> {
        let command = if last { "upload, finalize" } else { "upload" };
        self.pacer.wait().await;
        let result = self
            .send_session(what, session, || {
                self.session_request(session, command)
                    .header("X-Goog-Upload-Offset", offset)
                    .header(CONTENT_LENGTH, bytes.len())
                    .body(bytes.clone())
            })
            .await;
        let response = self.paced(result)?;
        if last {
            Ok(Some(upload_token(what, response).await?))
        } else {
            Ok(None)
        }
    }

    /// Asks how far a resumable upload got (after a chunk failed or its answer was lost), once.
    pub async fn query_upload(&self, what: &str, session: &UploadSession) -> Result<UploadState> {
        let response = self
            .send_session(what, session, || {
                self.session_request(session, "query")
                    .header(CONTENT_LENGTH, 0)
            })
            .await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_ascii_lowercase())
        };
        if header("X-Goog-Upload-Status").as_deref() == Some("final") {
            return Ok(UploadState::Final(upload_token(what, response).await?));
        }
        let received = header("X-Goog-Upload-Size-Received")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok(UploadState::Active(received))
    }
}

/// The upload token: the whole answer, as plain text.
async fn upload_token(what: &str, response: Response) -> Result<String> {
    let body = http::read_limited(response, MAX_TOKEN_BYTES)
        .await
        .map_err(|e| match e {
            // Larger than any token: not a token (a proxy's page, a broken answer).
            Error::Permanent(m) => Error::Retryable(format!("{what}: {m}")),
            other => other,
        })?;
    let token = String::from_utf8_lossy(&body).trim().to_string();
    if token.is_empty() {
        return Err(Error::retryable(format!(
            "{what}: Google Photos answered without an upload token"
        )));
    }
    Ok(token)
}

/// `scheme://host:port` of a URL, to compare origins.
fn origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_header_safe() {
        let encoded = utf8_percent_encode("Été 100%\n.jpg", HEADER_UNSAFE).to_string();
        assert_eq!(encoded, "%C3%89t%C3%A9 100%25%0A.jpg");
        assert_eq!(
            utf8_percent_encode("IMG_0001 (2).jpg", HEADER_UNSAFE).to_string(),
            "IMG_0001 (2).jpg"
        );
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("https://photoslibrary.googleapis.com/v1/uploads?upload_id=x"),
            origin("https://photoslibrary.googleapis.com/v1")
        );
        assert_ne!(
            origin("https://elsewhere.example/v1/uploads"),
            origin("https://photoslibrary.googleapis.com/v1")
        );
    }
}
