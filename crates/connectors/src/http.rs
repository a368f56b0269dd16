//! What every service client shares: one reqwest client, sending with credentials (refreshing
//! an expired access token once and sending again), mapping HTTP failures onto the error
//! taxonomy, and reading bodies with a size limit.
//!
//! A client turns each failure into the right kind, with `retry_after` when the service gives
//! one. A call that can be sent again as it is (a read, a chunk still held in memory) is tried
//! again where it failed, through [`retrying`], so that a passing fault costs the item nothing;
//! what runs out of tries, or cannot be sent again (a streamed body), goes to the engine.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use ferry_core::{Content, Error, Result};

use crate::auth::Auth;

/// The most of an error or JSON body a client reads: enough for any API answer, bounded
/// against a hostile or broken server.
pub const MAX_JSON_BODY: usize = 16 << 20;

/// Builds the HTTP client every connector uses: rustls, HTTP/2 when offered, keep-alive,
/// connect and read timeouts (never a total timeout: a 300 MiB upload takes what it takes),
/// and no redirects followed automatically for API calls.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(32)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the TLS backend is compiled in")
}

/// An HTTP answer that was not a success, as the service sent it.
#[derive(Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body (at most [`MAX_JSON_BODY`] bytes), lossily decoded.
    pub body: String,
}

impl Failure {
    pub async fn read(response: Response) -> Failure {
        let status = response.status();
        let headers = response.headers().clone();
        let body = match read_limited(response, MAX_JSON_BODY).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => String::new(),
        };
        Failure {
            status,
            headers,
            body,
        }
    }

    /// `Retry-After` in seconds (the HTTP-date form is rare on APIs and read as absent).
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The body shortened for a message.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }

    /// The generic mapping by status code, for what a service's own mapping does not know.
    pub fn by_status(&self, what: &str) -> Error {
        let detail = self.snippet();
        let status = self.status;
        match status.as_u16() {
            401 => Error::AuthExpired(format!("{what}: the service refused the credentials")),
            404 | 410 => Error::NotFound(format!("{what}: not found ({status})")),
            413 | 507 => Error::DestinationFull(format!("{what}: no space left ({status})")),
            408 | 500..=599 => Error::Retryable(format!("{what}: {status} {detail}")),
            429 => Error::RateLimited {
                retry_after: self.retry_after(),
                message: format!("{what}: rate limited ({status})"),
            },
            _ => Error::Permanent(format!("{what}: {status} {detail}")),
        }
    }
}

pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .or_else(|| value.parse::<f64>().ok().map(Duration::from_secs_f64))
}

/// Shortens a body for a one-line message.
pub fn snippet(body: &str) -> String {
    let line: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    line.trim().to_string()
}

/// Maps a transport failure (connect, reset, timeout, a body cut short): always worth
/// another try. The URL is left out: signed CDN URLs and some APIs carry tokens in it.
pub fn transport(what: &str, err: reqwest::Error) -> Error {
    let err = err.without_url();
    // reqwest's Display hides the cause ("error sending request"); the sources say which.
    let mut message = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    Error::Retryable(format!("{what}: {message}"))
}

/// An answer: success, or a failure whose status the caller said it handles (a folder that
/// is there already, a file that is gone).
pub enum Answer {
    Done(Response),
    Refused(Failure),
}

/// Sends a request that can be rebuilt, with credentials; when the service answers 401 the
/// access token is refreshed once and the request sent again. Any other non-success answer is
/// handed to `map`, the service's own error mapping.
pub async fn send(
    auth: &Auth,
    what: &str,
    build: impl Fn() -> RequestBuilder,
    map: impl Fn(Failure) -> Error,
) -> Result<Response> {
    match call(auth, what, build, &[], &map).await? {
        Answer::Done(response) => Ok(response),
        Answer::Refused(failure) => Err(map(failure)),
    }
}

/// [`send`], except that the statuses in `handled` come back as [`Answer::Refused`].
pub async fn call(
    auth: &Auth,
    what: &str,
    build: impl Fn() -> RequestBuilder,
    handled: &[StatusCode],
    map: impl Fn(Failure) -> Error,
) -> Result<Answer> {
    let mut refreshed = false;
    loop {
        let (request, used) = auth.apply(build()).await?;
        let response = request.send().await.map_err(|e| transport(what, e))?;
        if response.status().is_success() {
            return Ok(Answer::Done(response));
        }
        let failure = Failure::read(response).await;
        if failure.status == StatusCode::UNAUTHORIZED && !refreshed && auth.can_refresh() {
            auth.refresh(&used).await?;
            refreshed = true;
            continue;
        }
        return refused(auth, what, failure, handled, map);
    }
}

/// Sends a request that cannot be rebuilt (a streaming upload). On 401 the token is refreshed
/// for next time and the failure is retryable: the engine opens the source again.
pub async fn send_once(
    auth: &Auth,
    what: &str,
    request: RequestBuilder,
    map: impl Fn(Failure) -> Error,
) -> Result<Response> {
    match call_once(auth, what, request, &[], &map).await? {
        Answer::Done(response) => Ok(response),
        Answer::Refused(failure) => Err(map(failure)),
    }
}

/// [`send_once`], except that the statuses in `handled` come back as [`Answer::Refused`].
pub async fn call_once(
    auth: &Auth,
    what: &str,
    request: RequestBuilder,
    handled: &[StatusCode],
    map: impl Fn(Failure) -> Error,
) -> Result<Answer> {
    let (request, used) = auth.apply(request).await?;
    let response = request.send().await.map_err(|e| transport(what, e))?;
    if response.status().is_success() {
        return Ok(Answer::Done(response));
    }
    let failure = Failure::read(response).await;
    if failure.status == StatusCode::UNAUTHORIZED && auth.can_refresh() {
        auth.refresh(&used).await?;
        return Err(Error::Retryable(format!(
            "{what}: the access token had expired; refreshed, sending again"
        )));
    }
    refused(auth, what, failure, handled, map)
}

/// A failure that was not refreshed away: expired credentials, a handled status, or the
/// service's own error.
fn refused(
    auth: &Auth,
    what: &str,
    failure: Failure,
    handled: &[StatusCode],
    map: impl Fn(Failure) -> Error,
) -> Result<Answer> {
    if failure.status == StatusCode::UNAUTHORIZED {
        return Err(auth.expired(what));
    }
    if handled.contains(&failure.status) {
        return Ok(Answer::Refused(failure));
    }
    Err(map(failure))
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_limited(response: Response, limit: usize) -> Result<Bytes> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Error::permanent(format!(
            "the answer is larger than {limit} bytes"
        )));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| transport("reading the answer", e))?;
        if body.len() + chunk.len() > limit {
            return Err(Error::permanent(format!(
                "the answer is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// Reads a JSON answer; an unreadable one is a passing fault (a truncated body), not a bug.
pub async fn json<T: DeserializeOwned>(what: &str, response: Response) -> Result<T> {
    let body = read_limited(response, MAX_JSON_BODY).await?;
    serde_json::from_slice(&body).map_err(|e| {
        Error::Retryable(format!(
            "{what}: unreadable answer ({e}): {}",
            snippet(&String::from_utf8_lossy(&body))
        ))
    })
}

/// A response body as an item's content, streamed; its length from `Content-Length`.
pub fn content(response: Response) -> Content {
    let length = response.content_length();
    let stream = response
        .bytes_stream()
        .map(|chunk| chunk.map_err(|e| transport("downloading", e)))
        .boxed();
    Content::new(stream, length)
}

/// An item's content as a streaming request body (no buffering of the whole file).
///
/// With a known length the source is read on to its end as soon as that many bytes went
/// out: the client stops polling a body at its `Content-Length`, and a `HashingStream`
/// around the source only finishes its digest (and notices a source longer than announced)
/// when it sees the end. A body of length 0 is never polled at all: drain such a source
/// before sending.
pub fn body(content: Content) -> reqwest::Body {
    let Some(length) = content.length else {
        return reqwest::Body::wrap_stream(content.stream);
    };
    let stream = futures::stream::unfold(Some((content.stream, 0u64)), move |state| async move {
        let (mut stream, mut sent) = state?;
        match stream.next().await? {
            Err(err) => Some((Err(err), None)),
            Ok(chunk) => {
                sent += chunk.len() as u64;
                if sent < length {
                    return Some((Ok(chunk), Some((stream, sent))));
                }
                loop {
                    match stream.next().await {
                        None => return Some((Ok(chunk), None)),
                        Some(Ok(more)) if more.is_empty() => continue,
                        Some(Ok(_)) => {
                            let err = Error::Retryable(format!(
                                "the source sent more than the {length} bytes it announced"
                            ));
                            return Some((Err(err), None));
                        }
                        Some(Err(err)) => return Some((Err(err), None)),
                    }
                }
            }
        }
    });
    reqwest::Body::wrap_stream(stream)
}

/// What an upload's body saw while it streamed: bytes, MD5 (when asked: it costs a core at a
/// few hundred MB/s), and the source's own failure (so that a source error is reported as
/// itself, not as the request it broke).
#[derive(Default)]
pub struct Tally {
    pub bytes: u64,
    pub md5: Option<md5::Md5>,
    pub failure: Option<Error>,
}

impl Tally {
    /// Bytes, MD5 (hex, when asked for) and the source's failure, once the request has
    /// finished.
    pub fn take(tally: &std::sync::Mutex<Tally>) -> Result<(u64, Option<String>, Option<Error>)> {
        use md5::Digest as _;
        let mut t = tally
            .lock()
            .map_err(|_| Error::permanent("upload bookkeeping poisoned"))?;
        let md5 = t.md5.take().map(|m| hex::encode(m.finalize()));
        Ok((t.bytes, md5, t.failure.take()))
    }
}

/// An item's content as a streaming upload body that counts and MD5-hashes what it sends. An
/// empty source is read to its end here: the client never polls a body of length 0, and the
/// engine's hashing stream must see the end of every source.
pub async fn tallied_body(
    content: Content,
    with_md5: bool,
) -> (reqwest::Body, std::sync::Arc<std::sync::Mutex<Tally>>) {
    use md5::Digest as _;
    let tally = std::sync::Arc::new(std::sync::Mutex::new(Tally {
        md5: with_md5.then(md5::Md5::new),
        ..Tally::default()
    }));
    let seen = tally.clone();
    let length = content.length;
    let stream = content.stream.map(move |chunk| {
        if let Ok(mut t) = seen.lock() {
            match &chunk {
                Ok(bytes) => {
                    if let Some(md5) = &mut t.md5 {
                        md5.update(bytes);
                    }
                    t.bytes += bytes.len() as u64;
                }
                Err(err) => t.failure = Some(err.clone()),
            }
        }
        chunk
    });
    let body = if length == Some(0) {
        let _ = stream.collect::<Vec<_>>().await;
        reqwest::Body::from(Vec::<u8>::new())
    } else {
        body(Content::new(stream.boxed(), length))
    };
    (body, tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
