//! Graph API calls and CDN downloads.
//!
//! Every Graph call goes to `{graph_url}/{GRAPH_VERSION}/…` with the access token as a Bearer
//! header and, when the app's secret is configured, `appsecret_proof` (hex HMAC-SHA256 of the
//! token keyed with the app secret). The [`Throttle`] spaces calls out as the usage headers
//! approach the app's limit. Media bytes come from signed CDN links that need no credentials;
//! such links are never put into a message or a log line.
//!
//! The response types below hold signed links and paging URLs with tokens in them, so none of
//! them derives `Debug`.

use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use url::Url;

use ferry_core::{Content, Error, Result};

use crate::auth::Auth;
use crate::http::{self, Failure};
use crate::service::Session;

use super::error::{self, GraphError};
use super::throttle::Throttle;
use super::{GRAPH_VERSION, Tuning};

/// Redirects followed on a CDN download (API calls follow none).
const MAX_REDIRECTS: usize = 5;

/// Query parameters that carry credentials: dropped from any link ferry stores.
const CREDENTIAL_PARAMS: [&str; 2] = ["access_token", "appsecret_proof"];

/// `appsecret_proof`: hex(HMAC-SHA256(key = app secret, message = access token)).
pub fn appsecret_proof(app_secret: &str, access_token: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(access_token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A Graph call: a path under the Graph base URL (starting with the version) and its query,
/// never with credentials in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphRequest {
    path: String,
    query: Vec<(String, String)>,
}

impl GraphRequest {
    /// `route` under the current version ("me/albums", "{id}/photos").
    pub fn new(route: &str, query: &[(&str, &str)]) -> GraphRequest {
        GraphRequest {
            path: format!("/{GRAPH_VERSION}/{route}"),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The form kept in a listing cursor: `/v21.0/me/albums?fields=…&after=…`.
    pub fn to_link(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.query)
            .finish();
        format!("{}?{query}", self.path)
    }

    /// Reads back what [`GraphRequest::to_link`] wrote.
    pub fn from_link(link: &str) -> Option<GraphRequest> {
        let (path, query) = link.split_once('?').unwrap_or((link, ""));
        if !path.starts_with('/') || path.starts_with("//") {
            return None;
        }
        Some(GraphRequest {
            path: path.to_string(),
            query: without_credentials(url::form_urlencoded::parse(query.as_bytes())),
        })
    }

    /// A `paging.next` URL as a request to the configured Graph base: the path from the
    /// version on (or under the base URL's own path), the query without the token. Whatever
    /// host the link names, the request goes to `graph_url`, so the token goes nowhere else.
    pub fn from_next(next: &str, graph_url: &str) -> Option<GraphRequest> {
        let url = Url::parse(next).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let base_path = Url::parse(graph_url)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let full = url.path();
        let path = match full.strip_prefix(base_path.as_str()) {
            Some(rest) if !base_path.is_empty() && rest.starts_with('/') => rest.to_string(),
            _ => from_version_on(full),
        };
        Some(GraphRequest {
            path,
            query: without_credentials(url.query_pairs()),
        })
    }
}

fn without_credentials<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Vec<(String, String)> {
    pairs
        .filter(|(k, _)| !CREDENTIAL_PARAMS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `/facebook/graph/v21.0/me/albums` → `/v21.0/me/albums`; a path with no version stays.
fn from_version_on(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    match segments.iter().position(|s| is_version(s)) {
        Some(at) => format!("/{}", segments[at..].join("/")),
        None => path.to_string(),
    }
}

fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
}

/// An id as one path segment: Graph ids are digits and `_`, but an id read back from a
/// journal must never turn into another path.
pub fn segment(id: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'_').remove(b'-');
    percent_encoding::utf8_percent_encode(id, KEEP).to_string()
}

/// A failed Graph call: the error, and the Graph error object when the answer had one.
pub struct CallError {
    pub error: Error,
    pub graph: Option<GraphError>,
}

impl CallError {
    fn plain(error: Error) -> CallError {
        CallError { error, graph: None }
    }

    /// Whether Graph refused a stored paging position.
    pub fn refuses_cursor(&self) -> bool {
        self.graph.as_ref().is_some_and(GraphError::refuses_cursor)
    }
}

impl From<CallError> for Error {
    fn from(failed: CallError) -> Error {
        failed.error
    }
}

/// Why a CDN download did not start.
pub enum Download {
    /// 401/403/404/410: the signed link expired (or the file is gone); a fresh link may work.
    Refused(StatusCode),
    Failed(Error),
}

/// The Graph API for one connection.
pub struct Client {
    session: Session,
    throttle: Throttle,
    tuning: Tuning,
}

impl Client {
    pub fn new(session: Session, tuning: Tuning) -> Client {
        Client {
            throttle: Throttle::new(tuning.max_spacing, tuning.throttle_backoff),
            session,
            tuning,
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// A Graph read, tried again in place after a passing fault or a short throttle.
    pub async fn get<T: DeserializeOwned>(
        &self,
        what: &str,
        request: &GraphRequest,
    ) -> Result<T, CallError> {
        let graph = Mutex::new(None);
        let graph = &graph;
        self.session
            .retry
            .run(what, || async move {
                self.call(Method::GET, what, request)
                    .await
                    .map_err(|failed| {
                        if let Ok(mut slot) = graph.lock() {
                            *slot = failed.graph;
                        }
                        failed.error
                    })
            })
            .await
            .map_err(|error| CallError {
                error,
                graph: graph.lock().ok().and_then(|mut slot| slot.take()),
            })
    }

    /// Sends one Graph call in its turn and reads the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        what: &str,
        request: &GraphRequest,
    ) -> Result<T, CallError> {
        self.throttle.wait_turn().await;
        let token = match &self.session.auth {
            Auth::Bearer(bearer) => Some(bearer.token().await.map_err(CallError::plain)?.0),
            _ => None,
        };
        let mut query = request.query.clone();
        if let (Some(secret), Some(token)) = (&self.session.config.client_secret, &token) {
            query.push((
                "appsecret_proof".into(),
                appsecret_proof(secret.expose_secret(), token.expose_secret()),
            ));
        }
        let url = format!("{}{}", self.session.config.url("graph_url"), request.path);
        let context = error::Context {
            what,
            connection: &self.session.name,
            throttle_backoff: self.tuning.throttle_backoff,
        };
        let graph_error = Mutex::new(None);
        let sent = http::send(
            &self.session.auth,
            what,
            || {
                self.session
                    .http
                    .request(method.clone(), &url)
                    .query(&query)
            },
            |failure| {
                self.throttle.observe(&failure.headers);
                let (error, graph) = error::map(&failure, &context);
                if let Ok(mut slot) = graph_error.lock() {
                    *slot = graph;
                }
                error
            },
        )
        .await;
        let redact = |error: Error| match &token {
            Some(token) => redact(error, token.expose_secret()),
            None => error,
        };
        match sent {
            Ok(response) => {
                self.throttle.observe(response.headers());
                read_json(what, response)
                    .await
                    .map_err(|e| CallError::plain(redact(e)))
            }
            Err(error) => Err(CallError {
                error: redact(error),
                graph: graph_error.lock().ok().and_then(|mut slot| slot.take()),
            }),
        }
    }

    /// A `paging.next` URL in the form a cursor keeps (no token), or `None` when unreadable.
    pub fn stored_link(&self, next: &str) -> Option<String> {
        GraphRequest::from_next(next, self.session.config.url("graph_url")).map(|r| r.to_link())
    }

    /// Starts downloading a signed CDN link (no credentials sent), following redirects. The
    /// opening request is tried again in place after a passing fault; once the body flows,
    /// a cut is the engine's to handle.
    pub async fn download(&self, what: &str, link: &str) -> Result<Content, Download> {
        let opened = self
            .session
            .retry
            .run(what, || self.open_link(what, link))
            .await;
        match opened {
            Ok(Ok(content)) => Ok(content),
            Ok(Err(status)) => Err(Download::Refused(status)),
            Err(error) => Err(Download::Failed(error)),
        }
    }

    /// One try of [`download`](Self::download): the content, or the status with which the
    /// CDN refused the link.
    async fn open_link(&self, what: &str, link: &str) -> Result<Result<Content, StatusCode>> {
        let unreadable =
            || Error::Permanent(format!("{what}: Facebook gave an unreadable download link"));
        let mut url = Url::parse(link).map_err(|_| unreadable())?;
        for _ in 0..=MAX_REDIRECTS {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(unreadable());
            }
            let response = self
                .session
                .http
                .get(url.clone())
                .send()
                .await
                .map_err(|e| http::transport(what, e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(Ok(http::content(response)));
            }
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                match location {
                    Some(next) => {
                        url = next;
                        continue;
                    }
                    None => return Err(unreadable()),
                }
            }
            if matches!(status.as_u16(), 401 | 403 | 404 | 410) {
                return Ok(Err(status));
            }
            let failure = Failure::read(response).await;
            return Err(self.cdn_failure(what, &failure));
        }
        Err(Error::Retryable(format!(
            "{what}: too many redirects from Facebook's CDN"
        )))
    }
}

impl Client {
    /// A failed CDN answer. Its body is never quoted: an error page may echo the signed link.
    fn cdn_failure(&self, what: &str, failure: &Failure) -> Error {
        if let Some(graph) = GraphError::parse(&failure.body) {
            let context = error::Context {
                what,
                connection: &self.session.name,
                throttle_backoff: self.tuning.throttle_backoff,
            };
            return error::classify(failure.status.as_u16(), &graph, None, &context);
        }
        let status = failure.status;
        match status.as_u16() {
            429 => Error::RateLimited {
                retry_after: Some(
                    failure
                        .retry_after()
                        .unwrap_or(self.tuning.throttle_backoff),
                ),
                message: format!("{what}: Facebook's servers ask to slow down ({status})"),
            },
            408 | 500..=599 => {
                Error::Retryable(format!("{what}: Facebook's servers answered {status}"))
            }
            _ => Error::Permanent(format!("{what}: Facebook's servers answered {status}")),
        }
    }
}

/// Reads a Graph answer. A body that does not parse (cut short, say) is a passing fault; the
/// message never quotes it, since answers hold signed links and paging URLs with the token.
async fn read_json<T: DeserializeOwned>(what: &str, response: reqwest::Response) -> Result<T> {
    let body = http::read_limited(response, http::MAX_JSON_BODY).await?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::Retryable(format!(
            "{what}: unreadable answer from Facebook ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// The same error with any occurrence of `secret` blanked out: a last guard in case a service
/// message ever quotes the token.
fn redact(error: Error, secret: &str) -> Error {
    if secret.is_empty() || !error.to_string().contains(secret) {
        return error;
    }
    let clean = |text: String| text.replace(secret, "[token]");
    match error {
        Error::Retryable(m) => Error::Retryable(clean(m)),
        Error::RateLimited {
            retry_after,
            message,
        } => Error::RateLimited {
            retry_after,
            message: clean(message),
        },
        Error::AuthExpired(m) => Error::AuthExpired(clean(m)),
        Error::DestinationFull(m) => Error::DestinationFull(clean(m)),
        Error::NotFound(m) => Error::NotFound(clean(m)),
        Error::Permanent(m) => Error::Permanent(clean(m)),
    }
}

/// A page of an edge.
#[derive(Deserialize)]
pub struct Paged<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Deserialize)]
pub struct Paging {
    /// The next page's URL (with the token in it); absent on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct AlbumNode {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub created_time: Option<String>,
    pub place: Option<PlaceNode>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PhotoNode {
    pub id: String,
    /// The caption.
    pub name: Option<String>,
    /// The renditions, each a signed link.
    pub images: Vec<ImageNode>,
    pub created_time: Option<String>,
    /// When the person says it was taken (set when back-dating a post).
    pub backdated_time: Option<String>,
    pub place: Option<PlaceNode>,
    pub album: Option<IdRef>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct ImageNode {
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub source: Option<String>,
}

impl ImageNode {
    fn pixels(&self) -> u64 {
        self.width
            .unwrap_or(0)
            .saturating_mul(self.height.unwrap_or(0))
    }
}

/// The largest rendition that has a link (the original upload, as near as Graph gives it).
pub fn largest(images: &[ImageNode]) -> Option<&ImageNode> {
    images
        .iter()
        .filter(|i| i.source.as_deref().is_some_and(|s| !s.is_empty()))
        .reduce(|best, next| {
            if next.pixels() > best.pixels() {
                next
            } else {
                best
            }
        })
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct VideoNode {
    pub id: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub created_time: Option<String>,
    pub place: Option<PlaceNode>,
    /// The MP4 as a signed link.
    pub source: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PlaceNode {
    pub name: Option<String>,
    pub location: Option<PlaceLocation>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub struct PlaceLocation {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Deserialize)]
pub struct IdRef {
    #[serde(default)]
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_is_the_documented_hmac() {
        // HMAC-SHA256 test vector (RFC 4231 case 2): key "Jefe".
        assert_eq!(
            appsecret_proof("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn next_links_are_kept_without_credentials_and_rebased() {
        let sandbox = GraphRequest::from_next(
            "http://127.0.0.1:9/facebook/graph/v21.0/123/photos?fields=id%2Cimages&access_token=SECRET&limit=5&after=QUJD&appsecret_proof=abc",
            "http://127.0.0.1:9/facebook/graph",
        )
        .unwrap();
        let link = sandbox.to_link();
        assert_eq!(
            link,
            "/v21.0/123/photos?fields=id%2Cimages&limit=5&after=QUJD"
        );
        assert!(!link.contains("SECRET"));
        assert_eq!(GraphRequest::from_link(&link), Some(sandbox));

        let real = GraphRequest::from_next(
            "https://graph.facebook.com/v19.0/me/albums?access_token=T&limit=25&after=MTAx",
            "https://graph.facebook.com",
        )
        .unwrap();
        assert_eq!(real.to_link(), "/v19.0/me/albums?limit=25&after=MTAx");

        // Another host: the path from the version on, sent to the configured base.
        let elsewhere = GraphRequest::from_next(
            "https://example.com/x/v21.0/me/videos?after=Zg",
            "http://127.0.0.1:9/facebook/graph",
        )
        .unwrap();
        assert_eq!(elsewhere.to_link(), "/v21.0/me/videos?after=Zg");
        assert!(
            GraphRequest::from_next("ftp://x/v21.0/me", "https://graph.facebook.com").is_none()
        );
        assert!(GraphRequest::from_link("//evil.example/v21.0/me").is_none());
        assert!(GraphRequest::from_link("me/albums").is_none());
    }

    #[test]
    fn a_quoted_token_is_blanked_out() {
        let error = redact(
            Error::Permanent("Facebook refused: Malformed access token EAAsecret".into()),
            "EAAsecret",
        );
        assert_eq!(error.kind(), ferry_core::ErrorKind::Permanent);
        assert_eq!(
            error.to_string(),
            "Facebook refused: Malformed access token [token]"
        );
    }

    #[test]
    fn ids_stay_one_segment() {
        assert_eq!(segment("10150_42"), "10150_42");
        assert_eq!(segment("../me?x=1"), "%2E%2E%2Fme%3Fx%3D1");
    }

    #[test]
    fn the_largest_rendition_wins() {
        let image = |w, h, s: Option<&str>| ImageNode {
            width: Some(w),
            height: Some(h),
            source: s.map(str::to_string),
        };
        let images = vec![
            image(320, 240, Some("small")),
            image(2048, 1536, Some("big")),
            image(4096, 3072, None),
            image(960, 720, Some("mid")),
        ];
        assert_eq!(
            largest(&images).and_then(|i| i.source.as_deref()),
            Some("big")
        );
        assert!(largest(&[]).is_none());
    }
}
