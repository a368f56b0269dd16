//! Dropbox API v2 over HTTP: one function per route, typed arguments and results.
//!
//! Two request styles (apis.md §1.1): *rpc* routes on `{api_url}/2/<route>` take their
//! argument as a JSON body; *upload* routes on `{content_url}/2/<route>` take it in the
//! `Dropbox-API-Arg` header, as header-safe JSON, and the file's bytes as the body. Every call
//! is a POST with a bearer token; an expired token is refreshed once and the call sent again
//! (streamed uploads cannot be sent again and fail as retryable instead). Reads, and upload
//! session chunks (held in memory, sent at an explicit offset), are tried again in place after
//! a passing fault.

use std::sync::Mutex;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use ferry_core::{Error, Result};

use super::error::{RouteError, map_failure};
use crate::http::{self, Failure};
use crate::service::Session;

/// The header carrying an upload route's argument.
const ARG_HEADER: &str = "Dropbox-API-Arg";

/// What a call can fail with: a route error the caller may act on, or anything else, already
/// mapped onto the taxonomy.
#[derive(Debug)]
pub enum CallError {
    Route(RouteError),
    Other(Error),
}

impl CallError {
    /// The route error, when this is one carrying `tag`.
    pub fn route_with(&self, tag: &str) -> Option<&RouteError> {
        match self {
            CallError::Route(route) if route.has(tag) => Some(route),
            _ => None,
        }
    }

    pub fn into_error(self) -> Error {
        match self {
            CallError::Route(route) => route.to_error(),
            CallError::Other(err) => err,
        }
    }
}

impl From<Error> for CallError {
    fn from(err: Error) -> CallError {
        CallError::Other(err)
    }
}

impl From<CallError> for Error {
    fn from(err: CallError) -> Error {
        err.into_error()
    }
}

pub type CallResult<T> = std::result::Result<T, CallError>;

/// Serialises an argument for `Dropbox-API-Arg`: JSON with every character from U+007F up
/// escaped as `\uXXXX` (UTF-16 surrogate pairs above U+FFFF), since HTTP headers carry
/// ASCII only.
pub fn header_safe_json<T: Serialize + ?Sized>(arg: &T) -> Result<String> {
    let json = serde_json::to_string(arg)
        .map_err(|e| Error::permanent(format!("encoding a Dropbox argument: {e}")))?;
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    Ok(out)
}

/// Formats a time as Dropbox timestamps are written: `%Y-%m-%dT%H:%M:%SZ`, in UTC. `None` for
/// a time outside the years 1..=9999, which the format cannot carry.
pub fn dropbox_time(time: OffsetDateTime) -> Option<String> {
    let utc = time.to_offset(time::UtcOffset::UTC);
    if !(1..=9999).contains(&utc.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    ))
}

// ---------------------------------------------------------------------------------------
// Arguments and results (files.stone, sharing.stone, users.stone)

/// `WriteMode`, `add` only: ferry never overwrites.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    Add,
}

/// Where and how a file is committed.
#[derive(Clone, Debug, Serialize)]
pub struct CommitInfo {
    pub path: String,
    pub mode: WriteMode,
    pub autorename: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_modified: Option<String>,
    pub mute: bool,
    pub strict_conflict: bool,
}

impl CommitInfo {
    /// Add `path`, never renamed by Dropbox, without notifying the person's devices.
    pub fn add(path: String, modified: Option<OffsetDateTime>) -> CommitInfo {
        CommitInfo {
            path,
            mode: WriteMode::Add,
            autorename: false,
            client_modified: modified.and_then(dropbox_time),
            mute: true,
            strict_conflict: false,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Cursor {
    pub session_id: String,
    pub offset: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FinishArg {
    pub cursor: Cursor,
    pub commit: CommitInfo,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FileMetadata {
    pub name: String,
    pub id: String,
    #[serde(default)]
    pub path_display: Option<String>,
    #[serde(default)]
    pub path_lower: Option<String>,
    pub size: u64,
    #[serde(default)]
    pub content_hash: Option<String>,
    #[serde(default)]
    pub client_modified: Option<String>,
    #[serde(default)]
    pub rev: Option<String>,
}

impl FileMetadata {
    /// How ferry records where the file is: its path as displayed, else its id.
    pub fn place(&self) -> String {
        self.path_display.clone().unwrap_or_else(|| self.id.clone())
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct FolderMetadata {
    pub name: String,
    #[serde(default)]
    pub path_display: Option<String>,
}

/// `Metadata`, a struct with enumerated subtypes.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum Metadata {
    File(FileMetadata),
    Folder(FolderMetadata),
    Deleted {},
}

/// One entry of `upload_session/finish_batch_v2`'s answer, in input order.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum FinishEntry {
    Success(FileMetadata),
    /// `UploadSessionFinishError`.
    Failure {
        failure: Value,
    },
}

#[derive(Debug, Deserialize)]
struct FinishBatchResult {
    entries: Vec<FinishEntry>,
}

#[derive(Debug, Deserialize)]
struct StartResult {
    session_id: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Name {
    pub display_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub account_id: String,
    pub name: Name,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SpaceUsage {
    pub used: u64,
    pub allocation: Allocation,
}

/// `SpaceAllocation`: an individual quota, or a share of a team's.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum Allocation {
    Individual {
        allocated: u64,
    },
    Team {
        /// The whole team's usage and space.
        used: u64,
        allocated: u64,
        /// This member's own limit; 0 means none.
        #[serde(default)]
        user_within_team_space_allocated: u64,
    },
    #[serde(other)]
    Other,
}

impl SpaceUsage {
    /// Whether no byte more fits.
    pub fn is_full(&self) -> bool {
        match self.allocation {
            Allocation::Individual { allocated } => allocated > 0 && self.used >= allocated,
            Allocation::Team {
                used,
                allocated,
                user_within_team_space_allocated,
            } => {
                (allocated > 0 && used >= allocated)
                    || (user_within_team_space_allocated > 0
                        && self.used >= user_within_team_space_allocated)
            }
            Allocation::Other => false,
        }
    }
}

/// `SharedLinkSettings`: a view-only link anyone can open.
#[derive(Clone, Debug, Serialize)]
pub struct LinkSettings {
    pub requested_visibility: &'static str,
    pub audience: &'static str,
    pub access: &'static str,
    pub allow_download: bool,
}

impl LinkSettings {
    pub fn public_viewer() -> LinkSettings {
        LinkSettings {
            requested_visibility: "public",
            audience: "public",
            access: "viewer",
            allow_download: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct SharedLink {
    pub url: String,
    #[serde(default)]
    pub path_lower: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SharedLinks {
    links: Vec<SharedLink>,
}

// ---------------------------------------------------------------------------------------
// The client

/// Dropbox API v2 for one connection.
#[derive(Clone)]
pub struct Client {
    session: Session,
}

impl Client {
    pub fn new(session: Session) -> Client {
        Client { session }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    fn api(&self, route: &str) -> String {
        format!("{}/2/{route}", self.session.config.url("api_url"))
    }

    fn content(&self, route: &str) -> String {
        format!("{}/2/{route}", self.session.config.url("content_url"))
    }

    /// An rpc call: `arg` as the JSON body (`None` for routes without an argument).
    async fn rpc<A: Serialize, T: DeserializeOwned>(
        &self,
        what: &str,
        route: &str,
        arg: Option<&A>,
    ) -> CallResult<T> {
        let body = match arg {
            Some(arg) => Some(serde_json::to_vec(arg).map_err(|e| {
                Error::permanent(format!("{what}: encoding the Dropbox argument: {e}"))
            })?),
            None => None,
        };
        let url = self.api(route);
        let route_error = Mutex::new(None);
        let sent = http::send(
            &self.session.auth,
            what,
            || {
                let request = self.session.http.post(&url);
                match &body {
                    Some(body) => request
                        .header(CONTENT_TYPE, "application/json")
                        .body(body.clone()),
                    None => request,
                }
            },
            |failure| keep_route_error(what, failure, &route_error),
        )
        .await;
        let response = answer(sent, route_error)?;
        Ok(http::json(what, response).await?)
    }

    /// An rpc call that may be sent twice (a read, or a write whose repetition changes
    /// nothing), tried again in place after a passing fault.
    async fn read<A: Serialize, T: DeserializeOwned>(
        &self,
        what: &str,
        route: &str,
        arg: Option<&A>,
    ) -> CallResult<T> {
        self.again(what, || self.rpc(what, route, arg)).await
    }

    /// Tries `call` again in place after a passing fault, or a route error that says Dropbox
    /// is busy; any other route error is the caller's to act on.
    pub async fn again<T, F, Fut>(&self, what: &str, mut call: F) -> CallResult<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = CallResult<T>>,
    {
        let tried = self
            .session
            .retry
            .run(what, || {
                let sent = call();
                async move {
                    match sent.await {
                        Ok(value) => Ok(Ok(value)),
                        Err(CallError::Route(route)) if !route.is_busy() => Ok(Err(route)),
                        Err(err) => Err(err.into_error()),
                    }
                }
            })
            .await;
        match tried {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(route)) => Err(CallError::Route(route)),
            Err(err) => Err(CallError::Other(err)),
        }
    }

    /// An upload-style call with its bytes in memory: sent again as it is when the token was
    /// refused (refreshed first), like an rpc call.
    async fn upload_bytes<A: Serialize, T: DeserializeOwned>(
        &self,
        what: &str,
        route: &str,
        arg: &A,
        bytes: Bytes,
    ) -> CallResult<T> {
        let arg = header_safe_json(arg)?;
        let url = self.content(route);
        let route_error = Mutex::new(None);
        let sent = http::send(
            &self.session.auth,
            what,
            || {
                self.session
                    .http
                    .post(&url)
                    .header(ARG_HEADER, &arg)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, bytes.len())
                    .body(bytes.clone())
            },
            |failure| keep_route_error(what, failure, &route_error),
        )
        .await;
        let response = answer(sent, route_error)?;
        Ok(http::json(what, response).await?)
    }

    /// An upload-style call: `arg` in `Dropbox-API-Arg`, `body` streamed (`length` bytes when
    /// known, sent as `Content-Length`). A streamed body cannot be sent twice, so a refused
    /// token is refreshed for the next call and this one fails as retryable.
    async fn upload_call<A: Serialize, T: DeserializeOwned>(
        &self,
        what: &str,
        route: &str,
        arg: &A,
        body: reqwest::Body,
        length: Option<u64>,
    ) -> CallResult<T> {
        let mut request = self
            .session
            .http
            .post(self.content(route))
            .header(ARG_HEADER, header_safe_json(arg)?)
            .header(CONTENT_TYPE, "application/octet-stream");
        if let Some(length) = length {
            request = request.header(CONTENT_LENGTH, length);
        }
        let route_error = Mutex::new(None);
        let sent = http::send_once(&self.session.auth, what, request.body(body), |failure| {
            keep_route_error(what, failure, &route_error)
        })
        .await;
        let response = answer(sent, route_error)?;
        Ok(http::json(what, response).await?)
    }

    pub async fn get_current_account(&self) -> CallResult<Account> {
        self.read::<(), _>(
            "reading the Dropbox account",
            "users/get_current_account",
            None,
        )
        .await
    }

    pub async fn get_space_usage(&self) -> CallResult<SpaceUsage> {
        self.read::<(), _>(
            "reading the Dropbox space usage",
            "users/get_space_usage",
            None,
        )
        .await
    }

    /// The metadata at `path`, `None` when nothing is there.
    pub async fn get_metadata(&self, path: &str) -> CallResult<Option<Metadata>> {
        #[derive(Serialize)]
        struct Arg<'a> {
            path: &'a str,
        }
        let what = format!("looking up {path}");
        match self
            .read::<_, Metadata>(&what, "files/get_metadata", Some(&Arg { path }))
            .await
        {
            Ok(Metadata::Deleted {}) => Ok(None),
            Ok(found) => Ok(Some(found)),
            Err(err) if err.route_with("not_found").is_some() => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Creates a folder (and its missing parents). A conflict is the caller's to judge.
    pub async fn create_folder(&self, path: &str) -> CallResult<FolderMetadata> {
        #[derive(Serialize)]
        struct Arg<'a> {
            path: &'a str,
            autorename: bool,
        }
        #[derive(Deserialize)]
        struct Created {
            metadata: FolderMetadata,
        }
        let what = format!("creating folder {path}");
        // Sent again after a lost answer, it finds the folder made: a conflict the caller
        // takes as done.
        let created: Created = self
            .read(
                &what,
                "files/create_folder_v2",
                Some(&Arg {
                    path,
                    autorename: false,
                }),
            )
            .await?;
        Ok(created.metadata)
    }

    /// Deletes the file at `path` if it is still revision `rev`.
    pub async fn delete(&self, path: &str, rev: Option<&str>) -> CallResult<()> {
        #[derive(Serialize)]
        struct Arg<'a> {
            path: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            parent_rev: Option<&'a str>,
        }
        let what = format!("deleting {path}");
        let _: Value = self
            .rpc(
                &what,
                "files/delete_v2",
                Some(&Arg {
                    path,
                    parent_rev: rev,
                }),
            )
            .await?;
        Ok(())
    }

    /// Starts an upload session with the first bytes of a file; `close` when they are all of
    /// it. Returns the session id. Not tried again here: a lost answer leaves a session whose
    /// id only Dropbox knows.
    pub async fn upload_session_start(
        &self,
        what: &str,
        close: bool,
        bytes: Bytes,
    ) -> CallResult<String> {
        #[derive(Serialize)]
        struct Arg {
            close: bool,
        }
        let started: StartResult = self
            .upload_bytes(what, "files/upload_session/start", &Arg { close }, bytes)
            .await?;
        Ok(started.session_id)
    }

    /// Appends bytes at `cursor.offset`; `close` on the last of the file.
    pub async fn upload_session_append(
        &self,
        what: &str,
        cursor: Cursor,
        close: bool,
        bytes: Bytes,
    ) -> CallResult<()> {
        #[derive(Serialize)]
        struct Arg {
            cursor: Cursor,
            close: bool,
        }
        let _: Value = self
            .upload_bytes(
                what,
                "files/upload_session/append_v2",
                &Arg { cursor, close },
                bytes,
            )
            .await?;
        Ok(())
    }

    /// Commits up to 1000 closed sessions in one call; one entry per input, in order.
    pub async fn finish_batch(&self, entries: &[FinishArg]) -> CallResult<Vec<FinishEntry>> {
        #[derive(Serialize)]
        struct Arg<'a> {
            entries: &'a [FinishArg],
        }
        let what = format!("committing {} files to Dropbox", entries.len());
        let result: FinishBatchResult = self
            .rpc(
                &what,
                "files/upload_session/finish_batch_v2",
                Some(&Arg { entries }),
            )
            .await?;
        if result.entries.len() != entries.len() {
            return Err(CallError::Other(Error::retryable(format!(
                "{what}: Dropbox answered for {} of them",
                result.entries.len()
            ))));
        }
        Ok(result.entries)
    }

    /// Uploads and commits a file of at most 150 MiB in one request.
    pub async fn upload(
        &self,
        commit: &CommitInfo,
        body: reqwest::Body,
        length: Option<u64>,
    ) -> CallResult<FileMetadata> {
        let what = format!("uploading {}", commit.path);
        self.upload_call(&what, "files/upload", commit, body, length)
            .await
    }

    pub async fn create_shared_link(
        &self,
        path: &str,
        settings: Option<LinkSettings>,
    ) -> CallResult<SharedLink> {
        #[derive(Serialize)]
        struct Arg<'a> {
            path: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            settings: Option<LinkSettings>,
        }
        let what = format!("sharing {path}");
        self.rpc(
            &what,
            "sharing/create_shared_link_with_settings",
            Some(&Arg { path, settings }),
        )
        .await
    }

    /// The links that give access to `path` itself.
    pub async fn list_shared_links(&self, path: &str) -> CallResult<Vec<SharedLink>> {
        #[derive(Serialize)]
        struct Arg<'a> {
            path: &'a str,
            direct_only: bool,
        }
        let what = format!("listing the shared links of {path}");
        let links: SharedLinks = self
            .read(
                &what,
                "sharing/list_shared_links",
                Some(&Arg {
                    path,
                    direct_only: true,
                }),
            )
            .await?;
        Ok(links.links)
    }

    /// Revokes the access token (and with it the refresh token it came from).
    pub async fn revoke_token(&self) -> CallResult<()> {
        let _: Value = self
            .rpc::<(), _>("revoking the Dropbox token", "auth/token/revoke", None)
            .await?;
        Ok(())
    }
}

/// The error mapping handed to `http::send`: a route error (409 with a JSON union) is kept for
/// the caller, everything is mapped onto the taxonomy.
fn keep_route_error(what: &str, failure: Failure, slot: &Mutex<Option<RouteError>>) -> Error {
    let mapped = map_failure(what, &failure);
    if failure.status == reqwest::StatusCode::CONFLICT
        && let Ok(body) = serde_json::from_str::<Value>(&failure.body)
        && let Some(error) = body.get("error")
    {
        let summary = body
            .get("error_summary")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(RouteError::new(what, error.clone(), summary));
        }
    }
    mapped
}

fn answer(
    sent: Result<reqwest::Response>,
    route_error: Mutex<Option<RouteError>>,
) -> CallResult<reqwest::Response> {
    match sent {
        Ok(response) => Ok(response),
        Err(err) => match route_error.into_inner().ok().flatten() {
            Some(route) => Err(CallError::Route(route)),
            None => Err(CallError::Other(err)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_safe_json_matches_the_sdk_vector() {
        let arg = json!({ "field": "some_üñîcødé_and_\u{7f}" });
        assert_eq!(
            header_safe_json(&arg).unwrap(),
            r#"{"field":"some_\u00fc\u00f1\u00eec\u00f8d\u00e9_and_\u007f"}"#
        );
    }

    #[test]
    fn header_safe_json_writes_surrogate_pairs_above_the_bmp() {
        let arg = json!({ "path": "/Été 🌞.jpg" });
        let header = header_safe_json(&arg).unwrap();
        assert_eq!(header, r#"{"path":"/\u00c9t\u00e9 \ud83c\udf1e.jpg"}"#);
        assert!(header.is_ascii());
        let back: Value = serde_json::from_str(&header).unwrap();
        assert_eq!(back, arg);
    }

    #[test]
    fn commit_info_is_add_muted_with_a_utc_timestamp() {
        let when = time::macros::datetime!(2019-07-14 23:30:05 -02:00);
        let info = CommitInfo::add("/a/b.jpg".into(), Some(when));
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            json!({
                "path": "/a/b.jpg", "mode": "add", "autorename": false,
                "client_modified": "2019-07-15T01:30:05Z", "mute": true, "strict_conflict": false,
            })
        );
        let none = CommitInfo::add("/a".into(), None);
        assert!(
            serde_json::to_value(&none)
                .unwrap()
                .get("client_modified")
                .is_none()
        );
    }

    #[test]
    fn finish_entries_read_both_shapes() {
        let answer = json!({ "entries": [
            { ".tag": "success", "name": "a.jpg", "id": "id:1", "path_display": "/A/a.jpg",
              "size": 3, "content_hash": "ab", "rev": "0123456789", "server_modified": "x" },
            { ".tag": "failure", "failure": { ".tag": "lookup_failed",
              "lookup_failed": { ".tag": "not_closed" } } },
        ]});
        let parsed: FinishBatchResult = serde_json::from_value(answer).unwrap();
        assert!(matches!(&parsed.entries[0], FinishEntry::Success(m) if m.place() == "/A/a.jpg"));
        assert!(
            matches!(&parsed.entries[1], FinishEntry::Failure { failure }
            if super::super::error::has_tag(failure, "not_closed"))
        );
    }

    #[test]
    fn space_usage_knows_full() {
        let full: SpaceUsage = serde_json::from_value(
            json!({ "used": 10, "allocation": { ".tag": "individual", "allocated": 10 } }),
        )
        .unwrap();
        assert!(full.is_full());
        let team: SpaceUsage = serde_json::from_value(json!({ "used": 5, "allocation": {
            ".tag": "team", "used": 50, "allocated": 100, "user_within_team_space_allocated": 0,
            "user_within_team_space_limit_type": { ".tag": "off" } } }))
        .unwrap();
        assert!(!team.is_full());
    }
}
