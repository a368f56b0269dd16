//! WebDAV (RFC 4918), the calls a destination needs: PROPFIND (depth 0 and 1), MKCOL, PUT,
//! MOVE without overwriting, DELETE and GET, each on a path of segments under the server URL.
//! Every segment is percent-encoded on its own, so names with spaces, `#`, `?`, `%` or
//! emoji reach the server as they are.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use quick_xml::Reader;
use quick_xml::events::Event;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use ferry_core::{Error, Result};

use super::error;
use crate::auth::Auth;
use crate::http::{self, Answer, Failure};
use crate::service::Session;

/// Everything but the unreserved characters of RFC 3986 is encoded in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The properties ferry reads; a server answers 404 inside the multistatus for those it
/// does not have (`oc:checksums` is ownCloud's and Nextcloud's).
const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><d:resourcetype/><d:getcontentlength/><d:quota-available-bytes/><oc:checksums/></d:prop></d:propfind>"#;

/// One resource of a PROPFIND answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// The href's path, percent-decoded, without a trailing slash.
    pub path: String,
    pub collection: bool,
    pub length: Option<u64>,
    /// A SHA-256 the server keeps for the file (`oc:checksums` `SHA256:<hex>`), lower case.
    pub sha256: Option<String>,
    /// RFC 4331 `quota-available-bytes` (negative on Nextcloud: unknown or unlimited).
    pub quota_available: Option<i64>,
}

impl Entry {
    /// The last segment of its path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Mkcol {
    Created,
    /// 405: something has that name already (a folder, or a file: the caller looks).
    Exists,
    /// 409: a folder above is missing.
    ParentMissing,
}

pub enum Put {
    Stored,
    /// 409 (RFC 4918) or 404 (rclone, others): the folder is missing.
    FolderMissing,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Moved {
    Done,
    /// 412 Precondition Failed: the target name is taken (`Overwrite: F`).
    Taken,
    /// Refused otherwise (404, 409, or 403 which rclone answers for a missing source): the
    /// caller looks at what is there.
    Refused(StatusCode),
}

/// How many levels a PROPFIND looks at.
#[derive(Clone, Copy)]
pub enum Depth {
    Zero,
    One,
}

pub struct Client {
    http: reqwest::Client,
    auth: Auth,
    /// The server URL as configured, without a trailing slash.
    base: String,
}

impl Client {
    /// A client for the connection's server URL (`Settings.url`), required.
    pub fn new(session: &Session) -> Result<Client> {
        let configured = session.settings.url.as_deref().unwrap_or("").trim();
        if configured.is_empty() {
            return Err(Error::permanent(format!(
                "WebDAV connection {} has no server URL; connect it again with the server's address",
                session.name
            )));
        }
        let parsed = url::Url::parse(configured).map_err(|e| {
            Error::permanent(format!(
                "WebDAV connection {}: the server URL is not valid ({e})",
                session.name
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::permanent(format!(
                "WebDAV connection {}: the server URL must start with https:// or http://",
                session.name
            )));
        }
        Ok(Client {
            http: session.http.clone(),
            auth: session.auth.clone(),
            base: configured.trim_end_matches('/').to_string(),
        })
    }

    /// The URL of a path under the server URL; collections end in `/` (servers redirect
    /// otherwise, and redirects are not followed).
    pub fn url<S: AsRef<str>>(&self, segments: &[S], collection: bool) -> String {
        let mut url = self.base.clone();
        for segment in segments {
            url.push('/');
            url.extend(utf8_percent_encode(segment.as_ref(), SEGMENT));
        }
        if collection || segments.is_empty() {
            url.push('/');
        }
        url
    }

    /// The server's host (with its port when one is given), for naming the account.
    pub fn host(&self) -> String {
        match url::Url::parse(&self.base) {
            Ok(url) => match (url.host_str(), url.port()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_string(),
                _ => String::new(),
            },
            Err(_) => String::new(),
        }
    }

    /// Sends a request that can be rebuilt; the statuses in `handled` come back as
    /// [`Answer::Refused`], other failures as errors.
    async fn call(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
        handled: &[StatusCode],
    ) -> Result<Answer> {
        let map = |failure| error::map(what, &failure);
        http::call(&self.auth, what, build, handled, map).await
    }

    /// The resource at `segments` (depth 0) or it and its children (depth 1); `None` when
    /// nothing is there.
    pub async fn propfind<S: AsRef<str>>(
        &self,
        segments: &[S],
        collection: bool,
        depth: Depth,
    ) -> Result<Option<Vec<Entry>>> {
        let what = format!("looking up {}", shown(segments));
        let url = self.url(segments, collection);
        let method = Method::from_bytes(b"PROPFIND").expect("a valid method name");
        let depth = match depth {
            Depth::Zero => "0",
            Depth::One => "1",
        };
        let build = || {
            self.http
                .request(method.clone(), &url)
                .header("Depth", depth)
                .header(CONTENT_TYPE, "application/xml; charset=utf-8")
                .body(PROPFIND_BODY)
        };
        match self.call(&what, build, &[StatusCode::NOT_FOUND]).await? {
            Answer::Refused(_) => Ok(None),
            Answer::Done(response) => {
                let body = http::read_limited(response, http::MAX_JSON_BODY).await?;
                let text = String::from_utf8_lossy(&body);
                parse_multistatus(&text)
                    .map(Some)
                    .map_err(|e| Error::Retryable(format!("{what}: unreadable answer ({e})")))
            }
        }
    }

    pub async fn mkcol<S: AsRef<str>>(&self, segments: &[S]) -> Result<Mkcol> {
        let what = format!("creating folder {}", shown(segments));
        let url = self.url(segments, true);
        let method = Method::from_bytes(b"MKCOL").expect("a valid method name");
        let build = || self.http.request(method.clone(), &url);
        let handled = [StatusCode::METHOD_NOT_ALLOWED, StatusCode::CONFLICT];
        Ok(match self.call(&what, build, &handled).await? {
            Answer::Done(_) => Mkcol::Created,
            Answer::Refused(f) if f.status == StatusCode::CONFLICT => Mkcol::ParentMissing,
            Answer::Refused(_) => Mkcol::Exists,
        })
    }

    /// Streams a file to `segments`, replacing what is there (only ever ferry's own staging
    /// file). `mtime` goes as `X-OC-Mtime`, which ownCloud and Nextcloud apply (and keep
    /// through a MOVE); other servers ignore it.
    pub async fn put<S: AsRef<str>>(
        &self,
        segments: &[S],
        body: reqwest::Body,
        length: Option<u64>,
        content_type: &str,
        mtime: Option<i64>,
    ) -> Result<Put> {
        let what = format!("uploading {}", shown(segments));
        let mut request = self
            .http
            .put(self.url(segments, false))
            .header(CONTENT_TYPE, content_type)
            .body(body);
        if let Some(length) = length {
            request = request.header(CONTENT_LENGTH, length);
        }
        if let Some(mtime) = mtime {
            request = request.header("X-OC-Mtime", mtime);
        }
        let (request, used) = self.auth.apply(request).await?;
        let response = request
            .send()
            .await
            .map_err(|e| http::transport(&what, e))?;
        if response.status().is_success() {
            return Ok(Put::Stored);
        }
        let failure = Failure::read(response).await;
        match failure.status {
            StatusCode::UNAUTHORIZED if self.auth.can_refresh() => {
                self.auth.refresh(&used).await?;
                Err(Error::Retryable(format!(
                    "{what}: the access token had expired; refreshed, sending again"
                )))
            }
            StatusCode::UNAUTHORIZED => Err(self.auth.expired(&what)),
            StatusCode::CONFLICT | StatusCode::NOT_FOUND => Ok(Put::FolderMissing),
            _ => Err(error::map(&what, &failure)),
        }
    }

    /// Renames `from` to `to` without ever replacing what is at `to`.
    pub async fn move_to<S: AsRef<str>, T: AsRef<str>>(
        &self,
        from: &[S],
        to: &[T],
    ) -> Result<Moved> {
        let what = format!("placing {}", shown(to));
        let source = self.url(from, false);
        let destination = self.url(to, false);
        let method = Method::from_bytes(b"MOVE").expect("a valid method name");
        let build = || {
            self.http
                .request(method.clone(), &source)
                .header("Destination", &destination)
                .header("Overwrite", "F")
        };
        let handled = [
            StatusCode::PRECONDITION_FAILED,
            StatusCode::NOT_FOUND,
            StatusCode::CONFLICT,
            StatusCode::FORBIDDEN,
        ];
        Ok(match self.call(&what, build, &handled).await? {
            Answer::Done(_) => Moved::Done,
            Answer::Refused(f) if f.status == StatusCode::PRECONDITION_FAILED => Moved::Taken,
            Answer::Refused(f) => Moved::Refused(f.status),
        })
    }

    /// Deletes a file; `false` when it was already gone.
    pub async fn delete<S: AsRef<str>>(&self, segments: &[S]) -> Result<bool> {
        let what = format!("removing {}", shown(segments));
        let url = self.url(segments, false);
        let build = || self.http.delete(&url);
        Ok(matches!(
            self.call(&what, build, &[StatusCode::NOT_FOUND]).await?,
            Answer::Done(_)
        ))
    }

    /// A file's bytes, streamed; `None` when it is gone.
    pub async fn get<S: AsRef<str>>(&self, segments: &[S]) -> Result<Option<Response>> {
        let what = format!("reading {}", shown(segments));
        let url = self.url(segments, false);
        let build = || self.http.get(&url);
        match self.call(&what, build, &[StatusCode::NOT_FOUND]).await? {
            Answer::Done(response) => Ok(Some(response)),
            Answer::Refused(_) => Ok(None),
        }
    }
}

/// A path for messages: the segments as the person knows them.
pub fn shown<S: AsRef<str>>(segments: &[S]) -> String {
    let joined: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
    format!("/{}", joined.join("/"))
}

/// Reads a `DAV:multistatus`: each response's path, and the properties of its propstats
/// whose status is 200. Element names are matched by local name, whatever the prefixes.
pub fn parse_multistatus(xml: &str) -> std::result::Result<Vec<Entry>, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut entries = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    let mut entry = Entry::default();
    let mut found = Entry::default();
    let mut status_ok = false;
    loop {
        let event = reader.read_event().map_err(|e| e.to_string())?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                match name.as_slice() {
                    b"response" => entry = Entry::default(),
                    b"propstat" => {
                        found = Entry::default();
                        status_ok = false;
                    }
                    b"collection" if in_element(&stack, b"resourcetype") => found.collection = true,
                    _ => {}
                }
                stack.push(name);
                text.clear();
            }
            Event::Empty(e)
                if e.local_name().as_ref() == b"collection"
                    && in_element(&stack, b"resourcetype") =>
            {
                found.collection = true;
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::CData(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(value) => text.push_str(value),
                        None => return Err(format!("unknown entity &{name};")),
                    }
                }
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_vec();
                stack.pop();
                let value = text.trim();
                match name.as_slice() {
                    b"href" if in_element(&stack, b"response") => entry.path = href_path(value),
                    b"getcontentlength" => found.length = value.parse().ok(),
                    b"quota-available-bytes" => found.quota_available = value.parse().ok(),
                    b"checksum" | b"checksums" if found.sha256.is_none() => {
                        found.sha256 = sha256_of_checksums(value);
                    }
                    b"status" if in_element(&stack, b"propstat") => {
                        status_ok = value.split_whitespace().nth(1) == Some("200");
                    }
                    b"propstat" if status_ok => {
                        entry.collection |= found.collection;
                        entry.length = entry.length.or(found.length);
                        entry.sha256 = entry.sha256.take().or(found.sha256.take());
                        entry.quota_available = entry.quota_available.or(found.quota_available);
                    }
                    b"response" => entries.push(std::mem::take(&mut entry)),
                    _ => {}
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(entries)
}

fn in_element(stack: &[Vec<u8>], name: &[u8]) -> bool {
    stack.last().is_some_and(|last| last.as_slice() == name)
}

/// The decoded path of an href (an absolute path, or a full URL), without a trailing slash.
fn href_path(href: &str) -> String {
    let path = match href.find("://") {
        Some(at) => match href[at + 3..].find('/') {
            Some(slash) => &href[at + 3 + slash..],
            None => "/",
        },
        None => href,
    };
    let decoded: Cow<str> = percent_decode_str(path).decode_utf8_lossy();
    decoded.trim_end_matches('/').to_string()
}

/// `SHA256:<hex>` among `oc:checksums` (`SHA1:… MD5:… SHA256:…`), lower-cased.
fn sha256_of_checksums(value: &str) -> Option<String> {
    value.split_whitespace().find_map(|c| {
        let (kind, hex) = c.split_once(':')?;
        (kind.eq_ignore_ascii_case("SHA256") && hex.len() == 64).then(|| hex.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multistatus_whatever_the_prefixes() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a/</D:href><D:propstat><D:prop>
<D:resourcetype><D:collection xmlns:D="DAV:"/></D:resourcetype></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>http://h:8/a/%C3%89t%C3%A9%20%23%25.jpg</D:href><D:propstat><D:prop>
<D:resourcetype></D:resourcetype><D:getcontentlength>49</D:getcontentlength></D:prop>
<D:status>HTTP/1.1 200 OK</D:status></D:propstat><D:propstat><D:prop><D:getcontentlength>7</D:getcontentlength>
</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>
<d:response xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:href>/b&amp;c.jpg</d:href>
<d:propstat><d:prop><oc:checksums><oc:checksum>SHA1:00 SHA256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789</oc:checksum></oc:checksums>
<d:quota-available-bytes>-3</d:quota-available-bytes></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</D:multistatus>"#;
        let entries = parse_multistatus(xml).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].path, "/a");
        assert!(entries[0].collection);
        assert_eq!(entries[1].path, "/a/Été #%.jpg");
        assert_eq!(entries[1].name(), "Été #%.jpg");
        assert!(!entries[1].collection);
        assert_eq!(entries[1].length, Some(49));
        assert_eq!(entries[2].path, "/b&c.jpg");
        assert_eq!(
            entries[2].sha256.as_deref(),
            Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
        );
        assert_eq!(entries[2].quota_available, Some(-3));
    }

    #[test]
    fn rejects_what_is_not_xml() {
        assert!(parse_multistatus("<a><b></a>").is_err());
    }

    #[test]
    fn segments_are_encoded_one_by_one() {
        let client = Client {
            http: reqwest::Client::new(),
            auth: Auth::None,
            base: "https://dav.example/remote.php/dav/files/ana%40x".into(),
        };
        assert_eq!(
            client.url(&["Photo Transfer", "Été 🌞 #1 100%?.jpg"], false),
            "https://dav.example/remote.php/dav/files/ana%40x/Photo%20Transfer/%C3%89t%C3%A9%20%F0%9F%8C%9E%20%231%20100%25%3F.jpg"
        );
        assert_eq!(
            client.url(&["a"], true),
            "https://dav.example/remote.php/dav/files/ana%40x/a/"
        );
        assert_eq!(
            client.url::<&str>(&[], false),
            "https://dav.example/remote.php/dav/files/ana%40x/"
        );
        assert_eq!(client.host(), "dav.example");
    }
}
