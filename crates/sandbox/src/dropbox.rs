//! Dropbox API v2 emulator (files, upload sessions, sharing, users, OAuth).
//!
//! Paths: `/dropbox/api/2/...` and `/dropbox/api/oauth2/token` (api host),
//! `/dropbox/content/2/...` (content host), `/dropbox/www/oauth2/authorize`.
//!
//! Contract points emulated: every call is POST; rpc arguments in a JSON body,
//! upload/download arguments in `Dropbox-API-Arg` (which must be header-safe JSON:
//! non-ASCII escaped as `\uXXXX`, unescaped bytes are rejected with 400), results
//! of downloads in `Dropbox-API-Result`; Stone unions with `.tag`; paths keyed
//! case-insensitively with `path_display` kept; `content_hash`; 9+ hex `rev`s;
//! 409 `{error_summary, error}` route errors; 401 auth errors; 400 plain text for
//! malformed input; 429 with `Retry-After`; the 150 MiB per-request cap.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::faults::FaultKind;
use crate::oauth::{self, Check, TokenError};
use crate::store::{Blob, Hashes};
use crate::util::{self, BodyError};
use crate::{AppState, Service};

/// Bytes accepted in one request body.
pub const MAX_REQUEST_BYTES: u64 = 150 * 1024 * 1024;
/// Largest file an upload session may build (2^41 - 2^22).
pub const MAX_SESSION_BYTES: u64 = (1 << 41) - (1 << 22);
/// Upload sessions live this long.
pub const SESSION_TTL: i64 = 7 * 86_400;
const CONCURRENT_BLOCK: u64 = 4 * 1024 * 1024;

#[derive(Clone, Debug)]
struct FileMeta {
    name: String,
    path_display: String,
    id: String,
    client_modified: String,
    server_modified: String,
    rev: String,
    blob: Blob,
}

#[derive(Clone, Debug)]
struct FolderMeta {
    name: String,
    path_display: String,
    id: String,
}

#[derive(Clone, Debug)]
enum Entry {
    File(FileMeta),
    Folder(FolderMeta),
}

struct Session {
    concurrent: bool,
    closed: bool,
    /// Received chunks by offset (kept separate so a failed request leaves no trace).
    chunks: BTreeMap<u64, Blob>,
    /// Next offset of a sequential session.
    offset: u64,
    created: i64,
    busy: bool,
}

impl Session {
    fn total(&self) -> u64 {
        self.chunks.values().map(|b| b.size).sum()
    }
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<String, Entry>,
    sessions: HashMap<String, Session>,
    links: HashMap<String, Value>,
    counter: u64,
    committing_batch: bool,
}

/// The Dropbox account's files and sessions.
#[derive(Default)]
pub struct DropboxState {
    inner: Mutex<Inner>,
}

impl DropboxState {
    fn used(inner: &Inner) -> u64 {
        inner
            .entries
            .values()
            .map(|e| match e {
                Entry::File(f) => f.blob.size,
                Entry::Folder(_) => 0,
            })
            .sum()
    }

    /// Every stored file and folder with its hashes (inspection API).
    pub fn inspect(&self) -> Value {
        let g = self.inner.lock().unwrap();
        let entries: Vec<Value> = g
            .entries
            .iter()
            .map(|(lower, e)| match e {
                Entry::File(f) => json!({
                    "type": "file", "path_lower": lower, "path_display": f.path_display,
                    "id": f.id, "rev": f.rev, "size": f.blob.size, "sha256": f.blob.sha256,
                    "content_hash": f.blob.dropbox_hash, "client_modified": f.client_modified,
                    "server_modified": f.server_modified,
                }),
                Entry::Folder(d) => json!({
                    "type": "folder", "path_lower": lower, "path_display": d.path_display, "id": d.id,
                }),
            })
            .collect();
        json!({ "entries": entries, "used_bytes": Self::used(&g), "open_sessions": g.sessions.len() })
    }
}

pub fn router(app: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/dropbox/api/oauth2/token", post(token))
        .route("/dropbox/api/2/{ns}/{*route}", post(api_call))
        .route("/dropbox/content/2/{ns}/{*route}", post(content_call))
        .layer(axum::middleware::from_fn_with_state(
            (app.clone(), Service::Dropbox),
            crate::faults::middleware,
        ))
        .with_state(app.clone());
    let www = Router::new()
        .route(
            "/dropbox/www/oauth2/authorize",
            get(authorize).post(authorize_post),
        )
        .with_state(app);
    api.merge(www)
}

// ---------------------------------------------------------------------------------------
// Errors

/// What a route can answer besides success.
pub enum DbxError {
    /// 400 with a plain-text body.
    BadRequest(String),
    /// 401 with an `AuthError` union.
    Auth(Value),
    /// 409 with the route's error union.
    Route(Value),
    /// 429 `RateLimitError`.
    RateLimited {
        reason: &'static str,
        retry_after: Option<u64>,
    },
}

impl DbxError {
    fn tag(t: &str) -> DbxError {
        DbxError::Route(json!({ ".tag": t }))
    }
}

/// `error_summary`: the chain of tags, `/`-joined, with a trailing `/..`.
fn summary(v: &Value) -> String {
    let mut parts = Vec::new();
    let mut cur = v;
    for _ in 0..8 {
        let Some(tag) = cur.get(".tag").and_then(Value::as_str) else {
            break;
        };
        parts.push(tag.to_string());
        let next = cur
            .get(tag)
            .filter(|x| x.get(".tag").is_some())
            .or_else(|| {
                cur.as_object()?
                    .iter()
                    .find(|(k, x)| k.as_str() != ".tag" && x.get(".tag").is_some())
                    .map(|(_, x)| x)
            });
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    format!("{}/..", parts.join("/"))
}

fn json_resp(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response()
}

impl IntoResponse for DbxError {
    fn into_response(self) -> Response {
        match self {
            DbxError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                m,
            )
                .into_response(),
            DbxError::Auth(e) => json_resp(
                StatusCode::UNAUTHORIZED,
                &json!({ "error_summary": summary(&e), "error": e }),
            ),
            DbxError::Route(e) => json_resp(
                StatusCode::CONFLICT,
                &json!({ "error_summary": summary(&e), "error": e }),
            ),
            DbxError::RateLimited {
                reason,
                retry_after,
            } => {
                let mut err = json!({ "reason": { ".tag": reason } });
                if let Some(r) = retry_after {
                    err["retry_after"] = json!(r);
                }
                let mut resp = json_resp(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({ "error_summary": format!("{reason}/.."), "error": err }),
                );
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.unwrap_or(1)),
                );
                resp
            }
        }
    }
}

/// Injected faults in Dropbox's shapes. A 429 cycles through the rate-limit reasons
/// (`too_many_requests` with `retry_after`, `too_many_write_operations` without it, as the
/// SDKs allow) and, on write routes, the 409 `too_many_write_operations` route error of
/// namespace lock contention. 5xx bodies are plain text.
pub fn injected_error(k: FaultKind, retry_after: u64, n: u64, path: &str) -> Response {
    match k {
        FaultKind::TooManyRequests => {
            let route = path.rsplit_once("/2/").map_or("", |(_, r)| r);
            let lock = json!({ ".tag": "too_many_write_operations" });
            let route_err = match (n % 3, route) {
                (2, "files/upload") => {
                    Some(json!({ ".tag": "path", "reason": lock, "upload_session_id": "" }))
                }
                (2, "files/upload_session/finish") => Some(lock),
                (2, "files/create_folder_v2") => Some(json!({ ".tag": "path", "path": lock })),
                _ => None,
            };
            if let Some(e) = route_err {
                return DbxError::Route(e).into_response();
            }
            let mut r = if n % 3 == 1 {
                DbxError::RateLimited {
                    reason: "too_many_write_operations",
                    retry_after: None,
                }
            } else {
                DbxError::RateLimited {
                    reason: "too_many_requests",
                    retry_after: Some(retry_after),
                }
            }
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            r
        }
        FaultKind::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            "Service Unavailable",
        )
            .into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            "Internal Server Error",
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------------------------------
// Header-safe JSON

/// Escapes every code point >= U+007F as `\uXXXX` (surrogate pairs above U+FFFF), as the
/// `Dropbox-API-Arg` / `Dropbox-API-Result` headers require.
pub fn header_safe_json(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c as u32) < 0x7f {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{:04x}", u));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Argument helpers

struct Args<'a> {
    route: &'a str,
    v: Value,
}

impl<'a> Args<'a> {
    fn bad(&self, msg: impl std::fmt::Display) -> DbxError {
        DbxError::BadRequest(format!(
            "Error in call to API function \"{}\": {msg}",
            self.route
        ))
    }
    fn str_opt(&self, k: &str) -> Result<Option<String>, DbxError> {
        match self.v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(format!("request body: {k}: expected string"))),
        }
    }
    fn str_req(&self, k: &str) -> Result<String, DbxError> {
        self.str_opt(k)?
            .ok_or_else(|| self.bad(format!("request body: missing required field '{k}'")))
    }
    fn bool_or(&self, k: &str, d: bool) -> Result<bool, DbxError> {
        match self.v.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.bad(format!("request body: {k}: expected boolean"))),
        }
    }
    fn u64_opt(&self, k: &str) -> Result<Option<u64>, DbxError> {
        match self.v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.bad(format!("request body: {k}: expected integer"))),
        }
    }
    fn sub(&self, k: &str) -> Result<Args<'a>, DbxError> {
        match self.v.get(k) {
            Some(Value::Object(_)) => Ok(Args {
                route: self.route,
                v: self.v[k].clone(),
            }),
            None => Err(self.bad(format!("request body: missing required field '{k}'"))),
            _ => Err(self.bad(format!("request body: {k}: expected object"))),
        }
    }
}

/// `Dropbox-API-Arg` as JSON; non-ASCII bytes mean the client did not escape them.
fn header_arg<'a>(
    route: &'a str,
    headers: &HeaderMap,
    q: Option<&str>,
) -> Result<Args<'a>, DbxError> {
    let raw: Vec<u8> = match headers.get("dropbox-api-arg") {
        Some(v) => v.as_bytes().to_vec(),
        // The documented `arg` URL parameter alternative.
        None => match util::get(&util::query_pairs(q), "arg") {
            Some(a) => a.as_bytes().to_vec(),
            None => {
                return Err(DbxError::BadRequest(format!(
                    "Error in call to API function \"{route}\": Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\"."
                )));
            }
        },
    };
    if raw.iter().any(|&b| b >= 0x7f) {
        return Err(DbxError::BadRequest(format!(
            "Error in call to API function \"{route}\": HTTP header \"Dropbox-API-Arg\": could not decode input as JSON: characters >= U+007F must be escaped as \\uXXXX"
        )));
    }
    let v: Value = serde_json::from_slice(&raw).map_err(|e| {
        DbxError::BadRequest(format!(
            "Error in call to API function \"{route}\": HTTP header \"Dropbox-API-Arg\": could not decode input as JSON: {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(DbxError::BadRequest(format!(
            "Error in call to API function \"{route}\": HTTP header \"Dropbox-API-Arg\": expected object"
        )));
    }
    Ok(Args { route, v })
}

fn check_upload_content_type(route: &str, headers: &HeaderMap) -> Result<(), DbxError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let base = ct.split(';').next().unwrap_or("").trim();
    if base.eq_ignore_ascii_case("application/octet-stream")
        || ct.eq_ignore_ascii_case("text/plain; charset=dropbox-cors-hack")
    {
        Ok(())
    } else {
        Err(DbxError::BadRequest(format!(
            "Error in call to API function \"{route}\": Bad HTTP \"Content-Type\" header: \"{ct}\".  Expecting one of \"application/octet-stream\", \"text/plain; charset=dropbox-cors-hack\"."
        )))
    }
}

fn authenticate(app: &AppState, route: &str, headers: &HeaderMap) -> Result<(), DbxError> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(tok) = oauth::bearer(h) else {
        return Err(DbxError::BadRequest(format!(
            "Error in call to API function \"{route}\": Must provide HTTP header \"Authorization\" or URL parameter \"authorization\"."
        )));
    };
    match app.oauth.check(Service::Dropbox, tok, app.clock.unix()) {
        Check::Valid(_) => Ok(()),
        Check::Expired => Err(DbxError::Auth(json!({ ".tag": "expired_access_token" }))),
        Check::Invalid => Err(DbxError::Auth(json!({ ".tag": "invalid_access_token" }))),
    }
}

// ---------------------------------------------------------------------------------------
// Paths and metadata

/// A validated path: (`path_lower`, as given). `""` is the root.
fn parse_path(p: &str) -> Result<(String, String), Value> {
    if p.is_empty() {
        return Ok((String::new(), String::new()));
    }
    let malformed = || json!({ ".tag": "malformed_path" });
    if !p.starts_with('/') || p.ends_with('/') || p.contains('\0') {
        return Err(malformed());
    }
    for comp in p[1..].split('/') {
        if comp.is_empty() || comp == "." || comp == ".." {
            return Err(malformed());
        }
        if comp.chars().count() > 255 {
            return Err(malformed());
        }
    }
    Ok((p.to_lowercase(), p.to_string()))
}

/// Like `parse_path`, but also accepts `id:` paths (resolved by `find_entry`).
fn parse_lookup(p: &str) -> Result<(String, String), Value> {
    if p.starts_with("id:") {
        return Ok((p.to_string(), p.to_string()));
    }
    parse_path(p)
}

fn parent_of(lower: &str) -> &str {
    match lower.rfind('/') {
        Some(0) | None => "",
        Some(i) => &lower[..i],
    }
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn dbx_time(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn valid_dbx_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19) || c.is_ascii_digit())
}

fn file_json(f: &FileMeta, lower: &str) -> Value {
    json!({
        "name": f.name, "path_lower": lower, "path_display": f.path_display, "id": f.id,
        "client_modified": f.client_modified, "server_modified": f.server_modified,
        "rev": f.rev, "size": f.blob.size, "is_downloadable": true,
        "content_hash": f.blob.dropbox_hash,
    })
}

fn folder_json(d: &FolderMeta, lower: &str) -> Value {
    json!({ "name": d.name, "path_lower": lower, "path_display": d.path_display, "id": d.id })
}

fn tagged(e: &Entry, lower: &str) -> Value {
    let (tag, mut v) = match e {
        Entry::File(f) => ("file", file_json(f, lower)),
        Entry::Folder(d) => ("folder", folder_json(d, lower)),
    };
    v[".tag"] = json!(tag);
    v
}

impl Inner {
    fn new_id(&mut self, app: &AppState) -> String {
        self.counter += 1;
        format!("id:{}", app.token(22))
    }
    fn new_rev(&mut self) -> String {
        self.counter += 1;
        format!("0{:015x}", 0x5a0_0000_0000 + self.counter)
    }

    /// Display path of `lower` honouring the case of existing ancestors.
    fn display_for(&self, lower: &str, given: &str) -> String {
        let mut out = String::new();
        let given_parts: Vec<&str> = given.split('/').skip(1).collect();
        let mut acc = String::new();
        for part in lower.split('/').skip(1).zip(given_parts) {
            acc.push('/');
            acc.push_str(part.0);
            out.push('/');
            match self.entries.get(&acc) {
                Some(Entry::Folder(d)) => out.push_str(&d.name),
                _ => out.push_str(part.1),
            }
        }
        out
    }

    /// Creates missing ancestors; a file in the way is a `file_ancestor` conflict.
    fn ensure_parents(&mut self, app: &AppState, lower: &str, given: &str) -> Result<(), Value> {
        let parent = parent_of(lower);
        if parent.is_empty() {
            return Ok(());
        }
        let given_parent = &given[..given.rfind('/').unwrap_or(0)];
        let mut acc_l = String::new();
        let mut acc_g = String::new();
        for (l, g) in parent
            .split('/')
            .skip(1)
            .zip(given_parent.split('/').skip(1))
        {
            acc_l.push('/');
            acc_l.push_str(l);
            acc_g.push('/');
            acc_g.push_str(g);
            match self.entries.get(&acc_l) {
                Some(Entry::Folder(_)) => {}
                Some(Entry::File(_)) => {
                    return Err(
                        json!({ ".tag": "conflict", "conflict": { ".tag": "file_ancestor" } }),
                    );
                }
                None => {
                    let id = self.new_id(app);
                    let display = self.display_for(&acc_l, &acc_g);
                    self.entries.insert(
                        acc_l.clone(),
                        Entry::Folder(FolderMeta {
                            name: g.to_string(),
                            path_display: display,
                            id,
                        }),
                    );
                }
            }
        }
        Ok(())
    }

    /// `name (2).ext`, `name (3).ext`, … until free (the numbering in the WriteMode docs);
    /// for `update` conflicts `name (conflicted copy).ext` first.
    fn free_name(&self, lower: &str, given: &str, conflicted_copy: bool) -> (String, String) {
        let name = base_name(given);
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => (&name[..i], &name[i..]),
            _ => (name, ""),
        };
        let dir_g = &given[..given.len() - name.len()];
        let dir_l = &lower[..lower.rfind('/').map_or(0, |i| i + 1)];
        if conflicted_copy {
            let cand = format!("{stem} (conflicted copy){ext}");
            let l = format!("{dir_l}{}", cand.to_lowercase());
            if !self.entries.contains_key(&l) {
                return (l, format!("{dir_g}{cand}"));
            }
        }
        for n in 2.. {
            let cand = if conflicted_copy {
                format!("{stem} (conflicted copy {n}){ext}")
            } else {
                format!("{stem} ({n}){ext}")
            };
            let l = format!("{dir_l}{}", cand.to_lowercase());
            if !self.entries.contains_key(&l) {
                return (l, format!("{dir_g}{cand}"));
            }
        }
        unreachable!("an unbounded counter always finds a free name")
    }
}

struct Commit {
    path: String,
    mode: Value,
    autorename: bool,
    client_modified: Option<String>,
    strict_conflict: bool,
}

fn parse_commit(a: &Args) -> Result<Commit, DbxError> {
    let mode = a.v.get("mode").cloned().unwrap_or(json!("add"));
    let tag = mode
        .as_str()
        .or_else(|| mode.get(".tag").and_then(Value::as_str))
        .unwrap_or("");
    match tag {
        "add" | "overwrite" => {}
        "update" => {
            if mode.get("update").and_then(Value::as_str).is_none() {
                return Err(a.bad("request body: mode: update: expected rev"));
            }
        }
        other => return Err(a.bad(format!("request body: mode: unknown tag '{other}'"))),
    }
    let client_modified = a.str_opt("client_modified")?;
    if let Some(c) = &client_modified
        && !valid_dbx_time(c)
    {
        return Err(a.bad(format!(
            "request body: client_modified: '{c}' does not match format '%Y-%m-%dT%H:%M:%SZ'"
        )));
    }
    Ok(Commit {
        path: a.str_req("path")?,
        mode,
        autorename: a.bool_or("autorename", false)?,
        client_modified,
        strict_conflict: a.bool_or("strict_conflict", false)?,
    })
}

/// Stores `blob` at `c.path` following the WriteMode rules; `Err` is a WriteError.
fn commit_file(app: &AppState, c: &Commit, blob: Blob) -> Result<Value, Value> {
    let (mut lower, mut given) = parse_path(&c.path)?;
    if lower.is_empty() {
        return Err(json!({ ".tag": "malformed_path" }));
    }
    let mut g = app.dropbox.inner.lock().unwrap();
    let mode_tag = c
        .mode
        .as_str()
        .or_else(|| c.mode.get(".tag").and_then(Value::as_str))
        .unwrap_or("add")
        .to_string();
    let mut replaced = 0u64;
    match g.entries.get(&lower) {
        Some(Entry::Folder(_)) => {
            if c.autorename {
                (lower, given) = g.free_name(&lower, &given, mode_tag == "update");
            } else {
                return Err(json!({ ".tag": "conflict", "conflict": { ".tag": "folder" } }));
            }
        }
        Some(Entry::File(f)) => {
            let same = f.blob.dropbox_hash == blob.dropbox_hash;
            let conflict = match mode_tag.as_str() {
                "overwrite" => false,
                "update" => {
                    let want = c.mode.get("update").and_then(Value::as_str).unwrap_or("");
                    want != f.rev
                }
                _ => true,
            };
            if same && !(c.strict_conflict && mode_tag == "update" && conflict) {
                // Identical content: nothing is written and there is no conflict.
                let v = file_json(f, &lower);
                drop(g);
                app.blobs.remove(blob.id);
                return Ok(v);
            }
            if conflict {
                if c.autorename {
                    (lower, given) = g.free_name(&lower, &given, mode_tag == "update");
                } else {
                    return Err(json!({ ".tag": "conflict", "conflict": { ".tag": "file" } }));
                }
            } else {
                replaced = f.blob.size;
            }
        }
        None => {}
    }
    let quota = app.faults.get(Service::Dropbox).quota_bytes;
    if let Some(q) = quota
        && DropboxState::used(&g) - replaced + blob.size > q
    {
        return Err(json!({ ".tag": "insufficient_space" }));
    }
    g.ensure_parents(app, &lower, &given)?;
    let display = g.display_for(&lower, &given);
    let now = dbx_time(app.clock.now());
    let (id, old) = match g.entries.get(&lower) {
        Some(Entry::File(f)) => (f.id.clone(), Some(f.blob.id)),
        _ => (g.new_id(app), None),
    };
    let rev = g.new_rev();
    let meta = FileMeta {
        name: base_name(&display).to_string(),
        path_display: display,
        id,
        client_modified: c.client_modified.clone().unwrap_or_else(|| now.clone()),
        server_modified: now,
        rev,
        blob,
    };
    let v = file_json(&meta, &lower);
    g.entries.insert(lower, Entry::File(meta));
    drop(g);
    if let Some(old) = old {
        app.blobs.remove(old);
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------
// Body handling

async fn body_to_blob(
    app: &AppState,
    route: &str,
    body: Body,
    headers: &HeaderMap,
) -> Result<Blob, DbxError> {
    let too_large = || DbxError::Route(json!({ ".tag": "payload_too_large" }));
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && n > MAX_REQUEST_BYTES
    {
        return Err(too_large());
    }
    let mut w = app.blobs.writer_with(Hashes::DROPBOX).map_err(|e| {
        DbxError::BadRequest(format!("Error in call to API function \"{route}\": {e}"))
    })?;
    let r = util::pump_body(body, MAX_REQUEST_BYTES, |c| w.write(c)).await;
    match r {
        Ok(_) => app
            .blobs
            .commit(w)
            .map_err(|e| DbxError::BadRequest(e.to_string())),
        Err(e) => {
            app.blobs.discard(w);
            Err(match e {
                BodyError::TooLarge(_) => too_large(),
                other => DbxError::BadRequest(format!(
                    "Error in call to API function \"{route}\": {other}"
                )),
            })
        }
    }
}

fn check_hash(a: &Args, blob: &Blob) -> Result<(), DbxError> {
    if let Some(h) = a.str_opt("content_hash")? {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(a.bad("request body: content_hash: must be 64 hex characters"));
        }
        if !h.eq_ignore_ascii_case(&blob.dropbox_hash) {
            return Err(DbxError::tag("content_hash_mismatch"));
        }
    }
    Ok(())
}

/// Routes the emulator knows, for the request statistics.
const ROUTES: &[&str] = &[
    "files/upload",
    "files/upload_session/start",
    "files/upload_session/append",
    "files/upload_session/append_v2",
    "files/upload_session/finish",
    "files/upload_session/finish_batch",
    "files/upload_session/finish_batch_v2",
    "files/download",
    "files/create_folder_v2",
    "files/list_folder",
    "files/list_folder/continue",
    "files/get_metadata",
    "files/delete_v2",
    "sharing/create_shared_link_with_settings",
    "sharing/list_shared_links",
    "users/get_current_account",
    "users/get_space_usage",
    "auth/token/revoke",
];

/// The statistics label of a request path: `/2/files/upload`, or `/2/{unknown}`.
pub fn route_label(path: &str) -> String {
    let route = path.rsplit_once("/2/").map_or("", |(_, r)| r);
    if ROUTES.contains(&route) {
        format!("/2/{route}")
    } else if path.ends_with("/oauth2/token") {
        "/oauth2/token".to_string()
    } else {
        "/2/{unknown}".to_string()
    }
}

fn labelled(mut r: Response, route: &str) -> Response {
    let label = route_label(&format!("/2/{route}"));
    r.extensions_mut().insert(crate::faults::RouteLabel(label));
    r
}

// ---------------------------------------------------------------------------------------
// Content host

async fn content_call(
    State(app): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    let full = route_of(req.uri());
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let r = async {
        authenticate(&app, &full, &headers)?;
        match full.as_str() {
            "files/upload"
            | "files/upload_session/start"
            | "files/upload_session/append_v2"
            | "files/upload_session/append"
            | "files/upload_session/finish" => {
                check_upload_content_type(&full, &headers)?;
                let a = header_arg(&full, &headers, q.as_deref())?;
                match full.as_str() {
                    "files/upload" => upload(&app, a, body, &headers).await,
                    "files/upload_session/start" => start(&app, a, body, &headers).await,
                    "files/upload_session/finish" => finish(&app, a, body, &headers).await,
                    _ => append(&app, a, body, &headers, full.ends_with("_v2")).await,
                }
            }
            "files/download" => {
                let a = header_arg(&full, &headers, q.as_deref())?;
                download(&app, a, &headers).await
            }
            _ => Err(DbxError::BadRequest(format!(
                "Unknown API function: \"{full}\""
            ))),
        }
    }
    .await;
    labelled(r.unwrap_or_else(IntoResponse::into_response), &full)
}

async fn upload(
    app: &AppState,
    a: Args<'_>,
    body: Body,
    headers: &HeaderMap,
) -> Result<Response, DbxError> {
    let c = parse_commit(&a)?;
    if let Err(e) = parse_path(&c.path) {
        return Err(DbxError::Route(
            json!({ ".tag": "path", "reason": e, "upload_session_id": "" }),
        ));
    }
    let blob = body_to_blob(app, a.route, body, headers).await?;
    if let Err(e) = check_hash(&a, &blob) {
        app.blobs.remove(blob.id);
        return Err(e);
    }
    match commit_file(app, &c, blob.clone()) {
        Ok(v) => Ok(json_resp(StatusCode::OK, &v)),
        Err(reason) => {
            // Keep the bytes in a closed session so that the client can retry the commit.
            let sid = new_session(app, false, true, Some(blob));
            Err(DbxError::Route(
                json!({ ".tag": "path", "reason": reason, "upload_session_id": sid }),
            ))
        }
    }
}

fn new_session(app: &AppState, concurrent: bool, closed: bool, first: Option<Blob>) -> String {
    let sid = format!("pid_upload_session:{}", app.token(43));
    let mut chunks = BTreeMap::new();
    let mut offset = 0;
    if let Some(b) = first {
        offset = b.size;
        chunks.insert(0, b);
    }
    app.dropbox.inner.lock().unwrap().sessions.insert(
        sid.clone(),
        Session {
            concurrent,
            closed,
            chunks,
            offset,
            created: app.clock.unix(),
            busy: false,
        },
    );
    sid
}

async fn start(
    app: &AppState,
    a: Args<'_>,
    body: Body,
    headers: &HeaderMap,
) -> Result<Response, DbxError> {
    let close = a.bool_or("close", false)?;
    let concurrent = match a.v.get("session_type") {
        None | Some(Value::Null) => false,
        Some(t) => match t.as_str().or_else(|| t.get(".tag").and_then(Value::as_str)) {
            Some("sequential") => false,
            Some("concurrent") => true,
            _ => return Err(a.bad("request body: session_type: unknown tag")),
        },
    };
    let blob = body_to_blob(app, a.route, body, headers).await?;
    if concurrent && blob.size > 0 {
        app.blobs.remove(blob.id);
        return Err(DbxError::tag("concurrent_session_data_not_allowed"));
    }
    if concurrent && close {
        app.blobs.remove(blob.id);
        return Err(DbxError::tag("concurrent_session_close_not_allowed"));
    }
    if let Err(e) = check_hash(&a, &blob) {
        app.blobs.remove(blob.id);
        return Err(e);
    }
    let first = if blob.size > 0 {
        Some(blob)
    } else {
        app.blobs.remove(blob.id);
        None
    };
    let sid = new_session(app, concurrent, close, first);
    Ok(json_resp(StatusCode::OK, &json!({ "session_id": sid })))
}

/// Looks a session up for writing at `offset`; `Err` is an `UploadSessionLookupError`.
fn lookup(app: &AppState, sid: &str, offset: u64, len_hint: Option<u64>) -> Result<(), Value> {
    let mut g = app.dropbox.inner.lock().unwrap();
    let now = app.clock.unix();
    let expired = g
        .sessions
        .get(sid)
        .is_some_and(|s| now - s.created > SESSION_TTL);
    if expired && let Some(s) = g.sessions.remove(sid) {
        for b in s.chunks.values() {
            app.blobs.remove(b.id);
        }
    }
    let s = g
        .sessions
        .get_mut(sid)
        .ok_or_else(|| json!({ ".tag": "not_found" }))?;
    if s.closed {
        return Err(json!({ ".tag": "closed" }));
    }
    if s.busy {
        return Err(json!({ ".tag": "incorrect_offset", "correct_offset": s.offset }));
    }
    if s.concurrent {
        if !offset.is_multiple_of(CONCURRENT_BLOCK) {
            return Err(json!({ ".tag": "concurrent_session_invalid_offset" }));
        }
        if s.chunks.contains_key(&offset) {
            return Err(json!({ ".tag": "incorrect_offset", "correct_offset": s.total() }));
        }
    } else if offset != s.offset {
        return Err(json!({ ".tag": "incorrect_offset", "correct_offset": s.offset }));
    }
    if offset.saturating_add(len_hint.unwrap_or(0)) > MAX_SESSION_BYTES {
        return Err(json!({ ".tag": "too_large" }));
    }
    s.busy = true;
    Ok(())
}

fn unbusy(app: &AppState, sid: &str) {
    if let Some(s) = app.dropbox.inner.lock().unwrap().sessions.get_mut(sid) {
        s.busy = false;
    }
}

fn cursor(a: &Args) -> Result<(String, u64), DbxError> {
    let c = a.sub("cursor")?;
    let sid = c.str_req("session_id")?;
    let off = c
        .u64_opt("offset")?
        .ok_or_else(|| a.bad("request body: cursor: missing required field 'offset'"))?;
    Ok((sid, off))
}

async fn append(
    app: &AppState,
    a: Args<'_>,
    body: Body,
    headers: &HeaderMap,
    v2: bool,
) -> Result<Response, DbxError> {
    // v1 (`upload_session/append`) takes the cursor itself as its argument and cannot close.
    let (sid, offset, close) = if v2 {
        let (sid, offset) = cursor(&a)?;
        (sid, offset, a.bool_or("close", false)?)
    } else {
        let offset = a
            .u64_opt("offset")?
            .ok_or_else(|| a.bad("request body: missing required field 'offset'"))?;
        (a.str_req("session_id")?, offset, false)
    };
    let clen = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    lookup(app, &sid, offset, clen).map_err(DbxError::Route)?;
    let blob = match body_to_blob(app, a.route, body, headers).await {
        Ok(b) => b,
        Err(e) => {
            unbusy(app, &sid);
            return Err(e);
        }
    };
    if let Err(e) = check_hash(&a, &blob) {
        unbusy(app, &sid);
        app.blobs.remove(blob.id);
        return Err(e);
    }
    let mut g = app.dropbox.inner.lock().unwrap();
    let Some(s) = g.sessions.get_mut(&sid) else {
        app.blobs.remove(blob.id);
        return Err(DbxError::tag("not_found"));
    };
    s.busy = false;
    if s.concurrent && !close && blob.size % CONCURRENT_BLOCK != 0 {
        app.blobs.remove(blob.id);
        return Err(DbxError::tag("concurrent_session_invalid_data_size"));
    }
    s.offset = offset.saturating_add(blob.size);
    if blob.size > 0 || s.chunks.is_empty() {
        s.chunks.insert(offset, blob);
    } else {
        app.blobs.remove(blob.id);
    }
    if close {
        s.closed = true;
    }
    Ok(json_resp(StatusCode::OK, &Value::Null))
}

/// A session taken out for committing; put back with [`restore_session`] when the commit
/// fails, since a failed commit leaves the uploaded data in the session ("Data has already
/// been appended to the upload session. Please retry with empty data body and updated
/// offset", `UploadSessionFinishError.path`).
struct Taken {
    parts: Vec<Blob>,
    concurrent: bool,
    created: i64,
}

/// Puts a taken session back, closed, holding `blob` (the joined parts).
fn restore_session(app: &AppState, sid: &str, taken: &Taken, blob: Blob) {
    let size = blob.size;
    app.dropbox.inner.lock().unwrap().sessions.insert(
        sid.to_string(),
        Session {
            concurrent: taken.concurrent,
            closed: true,
            chunks: BTreeMap::from([(0, blob)]),
            offset: size,
            created: taken.created,
            busy: false,
        },
    );
}

/// Takes a session for committing: checks contiguity and the cursor offset.
fn take_session(app: &AppState, sid: &str, offset: u64, need_closed: bool) -> Result<Taken, Value> {
    let mut g = app.dropbox.inner.lock().unwrap();
    let now = app.clock.unix();
    let s = g
        .sessions
        .get(sid)
        .filter(|s| now - s.created <= SESSION_TTL)
        .ok_or_else(|| json!({ ".tag": "not_found" }))?;
    if s.busy {
        return Err(json!({ ".tag": "incorrect_offset", "correct_offset": s.offset }));
    }
    if need_closed && !s.closed {
        return Err(json!({ ".tag": "not_closed" }));
    }
    if s.concurrent {
        if !s.closed {
            return Err(json!({ ".tag": "concurrent_session_not_closed" }));
        }
        let mut pos = 0;
        for (&off, b) in &s.chunks {
            if off != pos {
                return Err(json!({ ".tag": "concurrent_session_missing_data" }));
            }
            pos += b.size;
        }
    }
    let total = s.total();
    if offset != total {
        return Err(json!({ ".tag": "incorrect_offset", "correct_offset": total }));
    }
    let s = g.sessions.remove(sid).expect("checked above");
    Ok(Taken {
        concurrent: s.concurrent,
        created: s.created,
        parts: s.chunks.into_values().collect(),
    })
}

async fn finish(
    app: &AppState,
    a: Args<'_>,
    body: Body,
    headers: &HeaderMap,
) -> Result<Response, DbxError> {
    let (sid, offset) = cursor(&a)?;
    let commit = a.sub("commit")?;
    let c = parse_commit(&commit)?;
    // The body may carry the last bytes: append them first (sequential sessions only).
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|n| n > 0);
    let mut offset = offset;
    if has_body {
        let blob = body_to_blob(app, a.route, body, headers).await?;
        if blob.size > 0 {
            if let Err(e) = check_hash(&a, &blob) {
                app.blobs.remove(blob.id);
                return Err(e);
            }
            let mut g = app.dropbox.inner.lock().unwrap();
            let res = match g.sessions.get_mut(&sid) {
                None => Err(json!({ ".tag": "not_found" })),
                Some(s) if s.concurrent => {
                    Err(json!({ ".tag": "concurrent_session_data_not_allowed" }))
                }
                Some(s) if s.closed => Err(json!({ ".tag": "closed" })),
                Some(s) if s.offset != offset => {
                    Err(json!({ ".tag": "incorrect_offset", "correct_offset": s.offset }))
                }
                Some(s) => {
                    s.offset += blob.size;
                    offset = s.offset;
                    s.chunks.insert(offset - blob.size, blob.clone());
                    Ok(())
                }
            };
            drop(g);
            if let Err(e) = res {
                app.blobs.remove(blob.id);
                let e = if e[".tag"] == "concurrent_session_data_not_allowed" {
                    e
                } else {
                    json!({ ".tag": "lookup_failed", "lookup_failed": e })
                };
                return Err(DbxError::Route(e));
            }
        } else {
            app.blobs.remove(blob.id);
        }
    }
    let taken = take_session(app, &sid, offset, false)
        .map_err(|e| DbxError::Route(json!({ ".tag": "lookup_failed", "lookup_failed": e })))?;
    let blob = app
        .blobs
        .concat(&taken.parts, Hashes::DROPBOX)
        .await
        .map_err(|e| DbxError::BadRequest(e.to_string()))?;
    match commit_file(app, &c, blob.clone()) {
        Ok(v) => Ok(json_resp(StatusCode::OK, &v)),
        Err(e) => {
            restore_session(app, &sid, &taken, blob);
            Err(DbxError::Route(json!({ ".tag": "path", "path": e })))
        }
    }
}

async fn download(app: &AppState, a: Args<'_>, headers: &HeaderMap) -> Result<Response, DbxError> {
    let p = a.str_req("path")?;
    let (lower, _) =
        parse_lookup(&p).map_err(|e| DbxError::Route(json!({ ".tag": "path", "path": e })))?;
    let entry = {
        let g = app.dropbox.inner.lock().unwrap();
        find_entry(&g, &p, &lower)
    };
    let (lower, f) = match entry {
        Some((l, Entry::File(f))) => (l, f),
        Some((_, Entry::Folder(_))) => {
            return Err(DbxError::Route(
                json!({ ".tag": "path", "path": { ".tag": "not_file" } }),
            ));
        }
        None => {
            return Err(DbxError::Route(
                json!({ ".tag": "path", "path": { ".tag": "not_found" } }),
            ));
        }
    };
    let len = f.blob.size;
    let range = util::parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((s, e))) => (StatusCode::PARTIAL_CONTENT, s, e),
        Some(Err(())) => {
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, "").into_response());
        }
    };
    let body = if len == 0 {
        Body::empty()
    } else {
        app.blobs
            .read(&f.blob, start, end)
            .await
            .map_err(|e| DbxError::BadRequest(e.to_string()))?
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(if len == 0 { 0 } else { end + 1 - start }),
    );
    if let Ok(v) = HeaderValue::from_str(&header_safe_json(&file_json(&f, &lower))) {
        h.insert("dropbox-api-result", v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(r)
}

fn find_entry(g: &Inner, given: &str, lower: &str) -> Option<(String, Entry)> {
    if let Some(id) = given.strip_prefix("id:") {
        let id = format!("id:{id}");
        return g.entries.iter().find_map(|(l, e)| {
            let eid = match e {
                Entry::File(f) => &f.id,
                Entry::Folder(d) => &d.id,
            };
            (*eid == id).then(|| (l.clone(), e.clone()))
        });
    }
    g.entries.get(lower).map(|e| (lower.to_string(), e.clone()))
}

// ---------------------------------------------------------------------------------------
// API host (rpc)

/// `ns/route` from the request path (read raw, so that odd bytes in a path still get
/// Dropbox's error shape rather than the framework's).
fn route_of(uri: &http::Uri) -> String {
    uri.path()
        .split_once("/2/")
        .map_or(String::new(), |(_, r)| r.to_string())
}

async fn api_call(
    State(app): State<Arc<AppState>>,
    uri: http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = route_of(&uri);
    let r = async {
        authenticate(&app, &full, &headers)?;
        let no_arg = matches!(
            full.as_str(),
            "users/get_current_account" | "users/get_space_usage" | "auth/token/revoke"
        );
        let v = if no_arg && (body.is_empty() || body.as_ref() == b"null") {
            Value::Null
        } else {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
                return Err(DbxError::BadRequest(format!(
                    "Error in call to API function \"{full}\": Bad HTTP \"Content-Type\" header: \"{ct}\".  Expecting one of \"application/json\", \"application/json; charset=utf-8\", \"text/plain; charset=dropbox-cors-hack\"."
                )));
            }
            let v: Value = serde_json::from_slice(&body).map_err(|e| {
                DbxError::BadRequest(format!(
                    "Error in call to API function \"{full}\": request body: could not decode input as JSON: {e}"
                ))
            })?;
            if no_arg && !v.is_null() {
                return Err(DbxError::BadRequest(format!(
                    "Error in call to API function \"{full}\": request body: expected null, got value"
                )));
            }
            if !no_arg && !v.is_object() {
                return Err(DbxError::BadRequest(format!(
                    "Error in call to API function \"{full}\": request body: expected object"
                )));
            }
            v
        };
        let a = Args { route: &full, v };
        match full.as_str() {
            "files/create_folder_v2" => create_folder(&app, a),
            "files/list_folder" => list_folder(&app, a),
            "files/list_folder/continue" => list_continue(&app, a),
            "files/get_metadata" => get_metadata(&app, a),
            "files/delete_v2" => delete(&app, a),
            "files/upload_session/finish_batch_v2" => finish_batch(&app, a, true).await,
            "files/upload_session/finish_batch" => finish_batch(&app, a, false).await,
            "sharing/create_shared_link_with_settings" => create_link(&app, a),
            "sharing/list_shared_links" => list_links(&app, a),
            "users/get_current_account" => Ok(current_account(&app)),
            "users/get_space_usage" => Ok(space_usage(&app)),
            "auth/token/revoke" => {
                let h = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                if let Some(t) = oauth::bearer(h) {
                    app.oauth.revoke(t);
                }
                Ok(json_resp(StatusCode::OK, &Value::Null))
            }
            _ => Err(DbxError::BadRequest(format!("Unknown API function: \"{full}\""))),
        }
    }
    .await;
    labelled(r.unwrap_or_else(IntoResponse::into_response), &full)
}

fn create_folder(app: &AppState, a: Args) -> Result<Response, DbxError> {
    let p = a.str_req("path")?;
    let autorename = a.bool_or("autorename", false)?;
    let path_err = |e: Value| DbxError::Route(json!({ ".tag": "path", "path": e }));
    let (mut lower, mut given) = parse_path(&p).map_err(path_err)?;
    if lower.is_empty() {
        return Err(path_err(json!({ ".tag": "malformed_path" })));
    }
    let mut g = app.dropbox.inner.lock().unwrap();
    if let Some(e) = g.entries.get(&lower) {
        if autorename {
            (lower, given) = g.free_name(&lower, &given, false);
        } else {
            let what = if matches!(e, Entry::File(_)) {
                "file"
            } else {
                "folder"
            };
            return Err(path_err(
                json!({ ".tag": "conflict", "conflict": { ".tag": what } }),
            ));
        }
    }
    g.ensure_parents(app, &lower, &given).map_err(path_err)?;
    let display = g.display_for(&lower, &given);
    let id = g.new_id(app);
    let d = FolderMeta {
        name: base_name(&display).to_string(),
        path_display: display,
        id,
    };
    let v = folder_json(&d, &lower);
    g.entries.insert(lower, Entry::Folder(d));
    Ok(json_resp(StatusCode::OK, &json!({ "metadata": v })))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ListCursor {
    p: String,
    r: bool,
    l: usize,
    /// Last `path_lower` returned.
    a: Option<String>,
}

fn list_page(g: &Inner, c: ListCursor) -> Value {
    let prefix = if c.p.is_empty() {
        "/".to_string()
    } else {
        format!("{}/", c.p)
    };
    let mut entries = Vec::new();
    let mut last = c.a.clone();
    let mut has_more = false;
    let range = match &c.a {
        Some(a) => g.entries.range::<String, _>((
            std::ops::Bound::Excluded(a.clone()),
            std::ops::Bound::Unbounded,
        )),
        None => g.entries.range::<String, _>(..),
    };
    for (l, e) in range {
        if !l.starts_with(&prefix) {
            continue;
        }
        if !c.r && l[prefix.len()..].contains('/') {
            continue;
        }
        if entries.len() >= c.l {
            has_more = true;
            break;
        }
        entries.push(tagged(e, l));
        last = Some(l.clone());
    }
    let next = ListCursor { a: last, ..c };
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&next).unwrap_or_default());
    json!({ "entries": entries, "cursor": format!("AA{cursor}"), "has_more": has_more })
}

fn list_folder(app: &AppState, a: Args) -> Result<Response, DbxError> {
    let p = a.str_req("path")?;
    let recursive = a.bool_or("recursive", false)?;
    let limit = a.u64_opt("limit")?.unwrap_or(500);
    if !(1..=2000).contains(&limit) {
        return Err(a.bad("request body: limit: value must be between 1 and 2000"));
    }
    if p == "/" {
        return Err(a.bad(
            "request body: path: Specify the root folder as an empty string rather than as \"/\".",
        ));
    }
    let path_err = |e: Value| DbxError::Route(json!({ ".tag": "path", "path": e }));
    let (lower, _) = parse_lookup(&p).map_err(path_err)?;
    let g = app.dropbox.inner.lock().unwrap();
    let lower = if lower.is_empty() {
        lower
    } else {
        match find_entry(&g, &p, &lower) {
            Some((l, Entry::Folder(_))) => l,
            Some((_, Entry::File(_))) => return Err(path_err(json!({ ".tag": "not_folder" }))),
            None => return Err(path_err(json!({ ".tag": "not_found" }))),
        }
    };
    let v = list_page(
        &g,
        ListCursor {
            p: lower,
            r: recursive,
            l: limit as usize,
            a: None,
        },
    );
    Ok(json_resp(StatusCode::OK, &v))
}

fn list_continue(app: &AppState, a: Args) -> Result<Response, DbxError> {
    let c = a.str_req("cursor")?;
    let cur: ListCursor = c
        .strip_prefix("AA")
        .and_then(|s| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| a.bad("request body: cursor: invalid cursor"))?;
    let g = app.dropbox.inner.lock().unwrap();
    if !cur.p.is_empty() && !matches!(g.entries.get(&cur.p), Some(Entry::Folder(_))) {
        return Err(DbxError::tag("reset"));
    }
    Ok(json_resp(StatusCode::OK, &list_page(&g, cur)))
}

fn get_metadata(app: &AppState, a: Args) -> Result<Response, DbxError> {
    let p = a.str_req("path")?;
    if p.is_empty() || p == "/" {
        return Err(a.bad("request body: path: The root folder is unsupported."));
    }
    let path_err = |e: Value| DbxError::Route(json!({ ".tag": "path", "path": e }));
    let (lower, _) = parse_lookup(&p).map_err(path_err)?;
    let g = app.dropbox.inner.lock().unwrap();
    match find_entry(&g, &p, &lower) {
        Some((l, e)) => Ok(json_resp(StatusCode::OK, &tagged(&e, &l))),
        None => Err(path_err(json!({ ".tag": "not_found" }))),
    }
}

fn delete(app: &AppState, a: Args) -> Result<Response, DbxError> {
    let p = a.str_req("path")?;
    let lookup_err = |e: Value| DbxError::Route(json!({ ".tag": "path_lookup", "path_lookup": e }));
    let (lower, _) = parse_lookup(&p).map_err(lookup_err)?;
    if lower.is_empty() {
        return Err(DbxError::Route(
            json!({ ".tag": "path_write", "path_write": { ".tag": "disallowed_name" } }),
        ));
    }
    let mut g = app.dropbox.inner.lock().unwrap();
    let Some((lower, e)) = find_entry(&g, &p, &lower) else {
        return Err(lookup_err(json!({ ".tag": "not_found" })));
    };
    let meta = tagged(&e, &lower);
    // A folder goes with everything inside it.
    let prefix = format!("{lower}/");
    let doomed: Vec<String> = g
        .entries
        .keys()
        .filter(|k| **k == lower || k.starts_with(&prefix))
        .cloned()
        .collect();
    for k in doomed {
        if let Some(Entry::File(f)) = g.entries.remove(&k) {
            app.blobs.remove(f.blob.id);
        }
        g.links.remove(&k);
    }
    Ok(json_resp(StatusCode::OK, &json!({ "metadata": meta })))
}

async fn finish_batch(app: &AppState, a: Args<'_>, v2: bool) -> Result<Response, DbxError> {
    let entries = match a.v.get("entries") {
        Some(Value::Array(e)) => e.clone(),
        _ => return Err(a.bad("request body: missing required field 'entries'")),
    };
    if entries.len() > 1000 {
        return Err(a.bad("request body: entries: list has more than 1000 items"));
    }
    // Only one batch may be committed at a time per account.
    {
        let mut g = app.dropbox.inner.lock().unwrap();
        if g.committing_batch {
            return Err(DbxError::RateLimited {
                reason: "too_many_write_operations",
                retry_after: Some(1),
            });
        }
        g.committing_batch = true;
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut parsed = Vec::with_capacity(entries.len());
    for e in &entries {
        let ea = Args {
            route: a.route,
            v: e.clone(),
        };
        let p = (|| {
            let (sid, off) = cursor(&ea)?;
            let c = parse_commit(&ea.sub("commit")?)?;
            Ok::<_, DbxError>((sid, off, c))
        })();
        match p {
            Ok(x) => parsed.push(x),
            Err(err) => {
                app.dropbox.inner.lock().unwrap().committing_batch = false;
                return Err(err);
            }
        }
    }
    for (sid, off, c) in parsed {
        let r = match take_session(app, &sid, off, true) {
            Err(e) => {
                json!({ ".tag": "failure", "failure": { ".tag": "lookup_failed", "lookup_failed": e } })
            }
            Ok(taken) => match app.blobs.concat(&taken.parts, Hashes::DROPBOX).await {
                Err(_) => json!({ ".tag": "failure", "failure": { ".tag": "other" } }),
                Ok(blob) => match commit_file(app, &c, blob.clone()) {
                    Ok(mut v) => {
                        v[".tag"] = json!("success");
                        v
                    }
                    Err(e) => {
                        restore_session(app, &sid, &taken, blob);
                        json!({ ".tag": "failure", "failure": { ".tag": "path", "path": e } })
                    }
                },
            },
        };
        out.push(r);
    }
    app.dropbox.inner.lock().unwrap().committing_batch = false;
    let v = if v2 {
        json!({ "entries": out })
    } else {
        json!({ ".tag": "complete", "entries": out })
    };
    Ok(json_resp(StatusCode::OK, &v))
}

fn link_json(app: &AppState, e: &Entry, lower: &str) -> Value {
    let (tag, name, id) = match e {
        Entry::File(f) => ("file", &f.name, &f.id),
        Entry::Folder(d) => ("folder", &d.name, &d.id),
    };
    let key = &app.sign(lower, 0)[..16];
    let mut v = json!({
        ".tag": tag,
        "url": format!("{}/dropbox/www/scl/fi/{key}/{}?rlkey={key}&dl=0", app.base_url, util::pct_encode(name)),
        "id": id, "name": name, "path_lower": lower,
        "link_permissions": {
            "can_revoke": true, "resolved_visibility": { ".tag": "public" },
            "visibility_policies": [], "can_set_expiry": true, "can_remove_expiry": true,
            "allow_download": true, "can_allow_download": true, "can_disallow_download": true,
            "allow_comments": true, "team_restricts_comments": false,
            "effective_audience": { ".tag": "public" }, "link_access_level": { ".tag": "viewer" },
        },
        "preview_type": if tag == "file" { "photo" } else { "folder" },
    });
    if let Entry::File(f) = e {
        v["client_modified"] = json!(f.client_modified);
        v["server_modified"] = json!(f.server_modified);
        v["rev"] = json!(f.rev);
        v["size"] = json!(f.blob.size);
    }
    v
}

fn create_link(app: &AppState, a: Args) -> Result<Response, DbxError> {
    let p = a.str_req("path")?;
    let has_settings = a.v.get("settings").is_some_and(|s| !s.is_null());
    let path_err = |e: Value| DbxError::Route(json!({ ".tag": "path", "path": e }));
    let (lower, _) = parse_lookup(&p).map_err(path_err)?;
    let mut g = app.dropbox.inner.lock().unwrap();
    let Some((lower, e)) = find_entry(&g, &p, &lower) else {
        return Err(path_err(json!({ ".tag": "not_found" })));
    };
    if let Some(existing) = g.links.get(&lower) {
        let mut err = json!({ ".tag": "shared_link_already_exists" });
        if !has_settings {
            err["shared_link_already_exists"] = json!({ ".tag": "metadata", "metadata": existing });
        }
        return Err(DbxError::Route(err));
    }
    let v = link_json(app, &e, &lower);
    g.links.insert(lower, v.clone());
    Ok(json_resp(StatusCode::OK, &v))
}

fn list_links(app: &AppState, a: Args) -> Result<Response, DbxError> {
    let p = a.str_opt("path")?;
    let g = app.dropbox.inner.lock().unwrap();
    let links: Vec<Value> = g
        .links
        .iter()
        .filter(|(l, _)| p.as_ref().is_none_or(|p| p.to_lowercase() == **l))
        .map(|(_, v)| v.clone())
        .collect();
    Ok(json_resp(
        StatusCode::OK,
        &json!({ "links": links, "has_more": false }),
    ))
}

fn current_account(app: &AppState) -> Response {
    let p = &app.world.dropbox;
    let (given, sur) = p.name.split_once(' ').unwrap_or((&p.name, ""));
    json_resp(
        StatusCode::OK,
        &json!({
            "account_id": p.id,
            "name": { "given_name": given, "surname": sur, "familiar_name": given,
                      "display_name": p.name, "abbreviated_name": "ZÅ" },
            "email": p.email, "email_verified": true, "disabled": false,
            "country": "FR", "locale": "fr", "is_paired": false,
            "referral_link": "https://www.dropbox.com/referrals/sandbox",
            "account_type": { ".tag": "basic" },
            "root_info": { ".tag": "user", "root_namespace_id": "3235641", "home_namespace_id": "3235641" },
        }),
    )
}

fn space_usage(app: &AppState) -> Response {
    let used = DropboxState::used(&app.dropbox.inner.lock().unwrap());
    let allocated = app
        .faults
        .get(Service::Dropbox)
        .quota_bytes
        .unwrap_or(2 * 1024 * 1024 * 1024 * 1024);
    json_resp(
        StatusCode::OK,
        &json!({ "used": used, "allocation": { ".tag": "individual", "allocated": allocated } }),
    )
}

// ---------------------------------------------------------------------------------------
// OAuth

async fn authorize(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let pairs = util::query_pairs(q.as_deref());
    oauth::authorize_page(
        &app,
        Service::Dropbox,
        &pairs,
        &format!("{}/dropbox/www/oauth2/authorize", app.base_url),
    )
}

async fn authorize_post(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    oauth::authorize_decide(&app, Service::Dropbox, &util::form_pairs(&body))
}

async fn token(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = util::form_pairs(&body);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match oauth::token(&app, Service::Dropbox, &form, auth) {
        Ok(i) => {
            let mut v = json!({
                "access_token": i.access_token, "token_type": "bearer", "expires_in": i.expires_in,
                "scope": i.scope, "uid": "12345678", "account_id": i.account,
            });
            if let Some(r) = i.refresh_token {
                v["refresh_token"] = json!(r);
            }
            json_resp(StatusCode::OK, &v)
        }
        Err(e) => token_error(e),
    }
}

fn token_error(e: TokenError) -> Response {
    json_resp(
        e.status(),
        &json!({ "error": e.code(), "error_description": e.description() }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_safe_json_matches_sdk_vector() {
        let v = json!({ "field": "some_üñîcødé_and_\u{7f}" });
        assert_eq!(
            header_safe_json(&v),
            r#"{"field":"some_\u00fc\u00f1\u00eec\u00f8d\u00e9_and_\u007f"}"#
        );
        let v = json!({ "f": "😀" });
        assert_eq!(header_safe_json(&v), r#"{"f":"\ud83d\ude00"}"#);
    }

    #[test]
    fn summaries_follow_tags() {
        let e = json!({ ".tag": "path", "path": { ".tag": "conflict", "conflict": { ".tag": "folder" } } });
        assert_eq!(summary(&e), "path/conflict/folder/..");
        let e = json!({ ".tag": "path", "reason": { ".tag": "insufficient_space" }, "upload_session_id": "x" });
        assert_eq!(summary(&e), "path/insufficient_space/..");
    }

    #[test]
    fn paths_validate() {
        assert!(parse_path("/a/b.jpg").is_ok());
        assert!(parse_path("a").is_err());
        assert!(parse_path("/a/").is_err());
        assert!(parse_path("/a//b").is_err());
        assert_eq!(parse_path("/A/Ü").unwrap().0, "/a/ü");
    }
}
