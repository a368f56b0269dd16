//! Google Photos Library API emulator (app-created data, as after the March 2025 scope
//! change) and the Google OAuth endpoints it needs.
//!
//! Paths: `/google/photos/v1/...` (photoslibrary.googleapis.com), `/google/accounts`
//! (+ `/o/oauth2/auth`, `/o/oauth2/v2/auth`), `/google/oauth2` (+ `/token`,
//! `/revoke`), `/google/media/{key}=d` (media item `baseUrl`s).
//!
//! Contract points emulated: raw and resumable `/v1/uploads` returning a text upload
//! token, `X-Goog-Hash: sha1=` checked when sent, upload tokens valid one day and
//! usable once, `mediaItems:batchCreate` (≤50, per-item `status`), albums create /
//! get / list, media items list / get / search, only app-created data visible,
//! 20,000 items per album, google.rpc error bodies, 429 RESOURCE_EXHAUSTED, storage
//! quota errors, scope checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::faults::FaultKind;
use crate::oauth::{self, Check, TokenInfo};
use crate::store::{Blob, Hashes};
use crate::util::{self, get as qget};
use crate::{AppState, Service};

/// Upload tokens expire after a day.
pub const UPLOAD_TOKEN_TTL: i64 = 86_400;
/// `baseUrl`s expire after 60 minutes.
pub const BASE_URL_TTL: i64 = 3600;
pub const MAX_ALBUM_ITEMS: usize = 20_000;
pub const MAX_BATCH: usize = 50;
pub const MAX_PHOTO_BYTES: u64 = 200 * 1000 * 1000;
pub const MAX_VIDEO_BYTES: u64 = 20 * 1000 * 1000 * 1000;
const GRANULARITY: u64 = 256 * 1024;
const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";

struct Upload {
    blob: Blob,
    file_name: Option<String>,
    mime: Option<String>,
    created: i64,
}

struct Resumable {
    parts: Vec<Blob>,
    received: u64,
    total: Option<u64>,
    file_name: Option<String>,
    mime: Option<String>,
    token: Option<String>,
    sha1: Option<String>,
}

#[derive(Clone)]
struct Item {
    id: String,
    filename: String,
    description: Option<String>,
    mime: String,
    created: i64,
    blob: Blob,
    app_created: bool,
}

#[derive(Clone)]
struct GAlbum {
    id: String,
    title: String,
    items: Vec<String>,
    app_created: bool,
}

#[derive(Default)]
struct Inner {
    uploads: HashMap<String, Upload>,
    sessions: HashMap<String, Resumable>,
    items: Vec<Item>,
    albums: Vec<GAlbum>,
}

/// The Google Photos library of the seeded account.
pub struct GoogleState {
    inner: Mutex<Inner>,
}

impl Default for GoogleState {
    fn default() -> Self {
        // One album another app created: invisible to lists, not writable by us.
        let inner = Inner {
            albums: vec![GAlbum {
                id: "AF1QipOtherAppAlbum0000000000000000000000000000000".into(),
                title: "Not created by this app".into(),
                items: Vec::new(),
                app_created: false,
            }],
            ..Inner::default()
        };
        GoogleState {
            inner: Mutex::new(inner),
        }
    }
}

impl GoogleState {
    fn used(g: &Inner) -> u64 {
        g.items.iter().map(|i| i.blob.size).sum()
    }

    pub fn inspect(&self) -> Value {
        let g = self.inner.lock().unwrap();
        json!({
            "media_items": g.items.iter().map(|i| json!({
                "id": i.id, "filename": i.filename, "description": i.description,
                "mimeType": i.mime, "size": i.blob.size, "sha256": i.blob.sha256,
                "album_ids": g.albums.iter().filter(|a| a.items.contains(&i.id)).map(|a| a.id.clone()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "albums": g.albums.iter().filter(|a| a.app_created).map(|a| json!({
                "id": a.id, "title": a.title, "media_item_ids": a.items,
            })).collect::<Vec<_>>(),
            "pending_upload_tokens": g.uploads.len(),
            "used_bytes": Self::used(&g),
        })
    }
}

pub fn router(app: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/google/photos/v1/uploads", post(uploads))
        .route(
            "/google/photos/v1/mediaItems:batchCreate",
            post(batch_create),
        )
        .route("/google/photos/v1/mediaItems:search", post(search))
        .route("/google/photos/v1/mediaItems", get(list_items))
        .route("/google/photos/v1/mediaItems/{id}", get(get_item))
        .route(
            "/google/photos/v1/albums",
            get(list_albums).post(create_album),
        )
        .route(
            "/google/photos/v1/albums/{id}",
            get(get_album).post(album_action),
        )
        .route("/google/photos/{*rest}", axum::routing::any(not_found))
        .route("/google/media/{key}", get(media))
        .route("/google/oauth2", post(token))
        .route("/google/oauth2/token", post(token))
        .route("/google/oauth2/revoke", post(revoke))
        .layer(axum::middleware::from_fn_with_state(
            (app.clone(), Service::GooglePhotos),
            crate::faults::middleware,
        ))
        .with_state(app.clone());
    let www = Router::new()
        .route("/google/accounts", get(authorize).post(authorize_post))
        .route(
            "/google/accounts/o/oauth2/auth",
            get(authorize).post(authorize_post),
        )
        .route(
            "/google/accounts/o/oauth2/v2/auth",
            get(authorize).post(authorize_post),
        )
        .with_state(app);
    api.merge(www)
}

// ---------------------------------------------------------------------------------------
// Errors

fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    }
}

/// A google.rpc error body: `{"error":{"code","message","status"}}`.
fn gerr(code: u16, msg: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": msg.into(), "status": status_name(code) } })),
    )
        .into_response()
}

pub fn injected_error(k: FaultKind, retry_after: u64) -> Response {
    match k {
        FaultKind::TooManyRequests => {
            let mut r = gerr(
                429,
                "Quota exceeded for quota metric 'All requests' and limit 'All requests per day' of service 'photoslibrary.googleapis.com'.",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            r
        }
        FaultKind::Unavailable => gerr(503, "The service is currently unavailable."),
        _ => gerr(500, "Internal error encountered."),
    }
}

fn not_json(e: impl std::fmt::Display) -> Response {
    gerr(400, format!("Invalid JSON payload received. {e}"))
}

async fn not_found() -> Response {
    gerr(404, "Requested entity was not found.")
}

/// Checks the Bearer token and that it carries one of `scopes` (suffixes of the prefix).
fn auth(app: &AppState, headers: &HeaderMap, scopes: &[&str]) -> Result<TokenInfo, Response> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let unauth = || {
        let mut r = gerr(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            ),
        );
        r
    };
    let t = oauth::bearer(h).ok_or_else(unauth)?;
    match app.oauth.check(Service::GooglePhotos, t, app.clock.unix()) {
        Check::Valid(info) => {
            let granted: Vec<&str> = info.scope.split(' ').collect();
            if scopes
                .iter()
                .any(|s| granted.contains(&format!("{SCOPE_PREFIX}{s}").as_str()))
            {
                Ok(info)
            } else {
                Err(gerr(403, "Request had insufficient authentication scopes."))
            }
        }
        _ => Err(unauth()),
    }
}

const WRITE: &[&str] = &[
    "photoslibrary.appendonly",
    "photoslibrary.edit.appcreateddata",
];
const READ: &[&str] = &[
    "photoslibrary.readonly.appcreateddata",
    "photoslibrary.edit.appcreateddata",
];

// ---------------------------------------------------------------------------------------
// Uploads

fn header<'a>(h: &'a HeaderMap, k: &str) -> Option<&'a str> {
    h.get(k).and_then(|v| v.to_str().ok())
}

fn sha1_matches(h: &HeaderMap, blob: &Blob) -> Result<(), Response> {
    if let Some(v) = header(h, "x-goog-hash") {
        for part in v.split(',') {
            if let Some(b64) = part.trim().strip_prefix("sha1=") {
                let want = base64::engine::general_purpose::STANDARD.encode(blob.sha1);
                if b64 != want {
                    return Err(gerr(
                        400,
                        "User-provided checksum does not match received payload content.",
                    ));
                }
            }
        }
    }
    Ok(())
}

async fn body_blob(app: &AppState, body: Body) -> Result<Blob, Response> {
    let mut w = app
        .blobs
        .writer_with(Hashes::GOOGLE)
        .map_err(|e| gerr(500, e.to_string()))?;
    match util::pump_body(body, u64::MAX, |c| w.write(c)).await {
        Ok(_) => app.blobs.commit(w).map_err(|e| gerr(500, e.to_string())),
        Err(e) => {
            app.blobs.discard(w);
            Err(gerr(400, e.to_string()))
        }
    }
}

fn new_upload_token(
    app: &AppState,
    blob: Blob,
    file_name: Option<String>,
    mime: Option<String>,
) -> String {
    let t = format!("CAIS{}", app.token(120));
    app.google.inner.lock().unwrap().uploads.insert(
        t.clone(),
        Upload {
            blob,
            file_name,
            mime,
            created: app.clock.unix(),
        },
    );
    t
}

fn text(s: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], s).into_response()
}

async fn uploads(
    State(app): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    if let Err(r) = auth(&app, &headers, WRITE) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    if let Some(id) = qget(&q, "upload_id") {
        return resumable_step(&app, id.to_string(), &headers, req.into_body()).await;
    }
    let protocol = header(&headers, "x-goog-upload-protocol").unwrap_or("raw");
    let name = header(&headers, "x-goog-upload-file-name").map(str::to_string);
    let mime = header(&headers, "x-goog-upload-content-type").map(str::to_string);
    match protocol {
        "raw" => {
            let blob = match body_blob(&app, req.into_body()).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            if let Err(r) = sha1_matches(&headers, &blob) {
                app.blobs.remove(blob.id);
                return r;
            }
            text(new_upload_token(&app, blob, name, mime))
        }
        "resumable" => {
            if header(&headers, "x-goog-upload-command") != Some("start") {
                return gerr(400, "X-Goog-Upload-Command must be start");
            }
            let total = header(&headers, "x-goog-upload-raw-size").and_then(|v| v.parse().ok());
            let id = app.token(48);
            app.google.inner.lock().unwrap().sessions.insert(
                id.clone(),
                Resumable {
                    parts: Vec::new(),
                    received: 0,
                    total,
                    file_name: name,
                    mime,
                    token: None,
                    sha1: header(&headers, "x-goog-hash").map(str::to_string),
                },
            );
            let url = format!(
                "{}/google/photos/v1/uploads?upload_id={id}&upload_protocol=resumable",
                app.base_url
            );
            let mut r = StatusCode::OK.into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&url) {
                h.insert("x-goog-upload-url", v);
            }
            h.insert("x-goog-upload-status", HeaderValue::from_static("active"));
            h.insert(
                "x-goog-upload-chunk-granularity",
                HeaderValue::from(GRANULARITY),
            );
            r
        }
        other => gerr(400, format!("Unsupported X-Goog-Upload-Protocol {other:?}")),
    }
}

fn upload_status(status: &'static str, received: u64) -> Response {
    let mut r = StatusCode::OK.into_response();
    r.headers_mut()
        .insert("x-goog-upload-status", HeaderValue::from_static(status));
    r.headers_mut()
        .insert("x-goog-upload-size-received", HeaderValue::from(received));
    r
}

async fn resumable_step(app: &AppState, id: String, headers: &HeaderMap, body: Body) -> Response {
    let cmd = header(headers, "x-goog-upload-command")
        .unwrap_or("")
        .to_string();
    let cmds: Vec<&str> = cmd.split(',').map(str::trim).collect();
    let (received, done_token) = {
        let g = app.google.inner.lock().unwrap();
        match g.sessions.get(&id) {
            Some(s) => (s.received, s.token.clone()),
            None => return gerr(404, "Upload session not found."),
        }
    };
    if cmds == ["query"] {
        return match done_token {
            Some(t) => {
                let mut r = text(t);
                r.headers_mut()
                    .insert("x-goog-upload-status", HeaderValue::from_static("final"));
                r
            }
            None => upload_status("active", received),
        };
    }
    if cmds == ["cancel"] {
        if let Some(s) = app.google.inner.lock().unwrap().sessions.remove(&id) {
            for p in s.parts {
                app.blobs.remove(p.id);
            }
        }
        return upload_status("cancelled", received);
    }
    if done_token.is_some() {
        return gerr(400, "The upload was already finalized.");
    }
    let upload = cmds.contains(&"upload");
    let finalize = cmds.contains(&"finalize");
    if !upload && !finalize {
        return gerr(400, format!("Unknown X-Goog-Upload-Command {cmd:?}"));
    }
    if upload {
        let offset = header(headers, "x-goog-upload-offset").and_then(|v| v.parse::<u64>().ok());
        if offset != Some(received) {
            // The client must resume from what the server has.
            let mut r = gerr(
                400,
                format!("Invalid X-Goog-Upload-Offset: expected {received}"),
            );
            r.headers_mut()
                .insert("x-goog-upload-size-received", HeaderValue::from(received));
            return r;
        }
        let blob = match body_blob(app, body).await {
            Ok(b) => b,
            Err(r) => return r,
        };
        if !finalize && blob.size % GRANULARITY != 0 {
            app.blobs.remove(blob.id);
            return gerr(
                400,
                format!(
                    "Chunk size must be a multiple of {GRANULARITY} bytes except for the last chunk."
                ),
            );
        }
        let mut g = app.google.inner.lock().unwrap();
        let Some(s) = g.sessions.get_mut(&id) else {
            app.blobs.remove(blob.id);
            return gerr(404, "Upload session not found.");
        };
        s.received += blob.size;
        s.parts.push(blob);
    }
    if !finalize {
        let received = app
            .google
            .inner
            .lock()
            .unwrap()
            .sessions
            .get(&id)
            .map_or(0, |s| s.received);
        return upload_status("active", received);
    }
    let (parts, name, mime, total, received, sha1) = {
        let mut g = app.google.inner.lock().unwrap();
        let Some(s) = g.sessions.get_mut(&id) else {
            return gerr(404, "Upload session not found.");
        };
        (
            std::mem::take(&mut s.parts),
            s.file_name.clone(),
            s.mime.clone(),
            s.total,
            s.received,
            s.sha1.clone(),
        )
    };
    if let Some(t) = total
        && t != received
    {
        return gerr(
            400,
            format!("Upload size {received} does not match X-Goog-Upload-Raw-Size {t}"),
        );
    }
    let blob = match app.blobs.concat(&parts, Hashes::GOOGLE).await {
        Ok(b) => b,
        Err(e) => return gerr(500, e.to_string()),
    };
    if let Some(h) = sha1 {
        let mut hm = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&h) {
            hm.insert("x-goog-hash", v);
        }
        if let Err(r) = sha1_matches(&hm, &blob) {
            app.blobs.remove(blob.id);
            return r;
        }
    }
    let token = new_upload_token(app, blob, name, mime);
    if let Some(s) = app.google.inner.lock().unwrap().sessions.get_mut(&id) {
        s.token = Some(token.clone());
    }
    let mut r = text(token);
    r.headers_mut()
        .insert("x-goog-upload-status", HeaderValue::from_static("final"));
    r
}

// ---------------------------------------------------------------------------------------
// Library

fn rfc3339(t: i64) -> String {
    util::rfc3339(util::unix_to_dt(t))
}

/// MIME type from the file name when the upload did not say.
fn mime_from_name(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n.ends_with(".png") {
        "image/png".into()
    } else if n.ends_with(".mp4") || n.ends_with(".mov") {
        "video/mp4".into()
    } else {
        "image/jpeg".into()
    }
}

fn item_json(app: &AppState, i: &Item, with_base_url: bool) -> Value {
    let video = i.mime.starts_with("video/");
    let mut meta = json!({ "creationTime": rfc3339(i.created), "width": "640", "height": "480" });
    if video {
        meta["video"] = json!({ "fps": 30.0, "status": "READY" });
    } else {
        meta["photo"] = json!({});
    }
    let mut v = json!({
        "id": i.id,
        "productUrl": format!("https://photos.google.com/lr/photo/{}", i.id),
        "mimeType": i.mime,
        "mediaMetadata": meta,
        "filename": i.filename,
    });
    if let Some(d) = &i.description {
        v["description"] = json!(d);
    }
    if with_base_url {
        let exp = app.clock.unix() + BASE_URL_TTL;
        let key = format!("{}.{exp:x}", i.id);
        let sig = app.sign(&key, exp);
        v["baseUrl"] = json!(format!("{}/google/media/{key}.{sig}", app.base_url));
    }
    v
}

fn album_json(a: &GAlbum) -> Value {
    let mut v = json!({
        "id": a.id,
        "title": a.title,
        "productUrl": format!("https://photos.google.com/lr/album/{}", a.id),
        "isWriteable": true,
        "mediaItemsCount": a.items.len().to_string(),
    });
    if let Some(first) = a.items.first() {
        v["coverPhotoMediaItemId"] = json!(first);
    }
    v
}

async fn json_body(req_body: Bytes) -> Result<Value, Response> {
    if req_body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&req_body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(not_json("Expected an object")),
        Err(e) => Err(not_json(e)),
    }
}

async fn batch_create(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = auth(&app, &headers, WRITE) {
        return r;
    }
    let v = match json_body(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(items) = v["newMediaItems"].as_array() else {
        return gerr(400, "Request must contain newMediaItems.");
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return gerr(
            400,
            format!("Request must have between 1 and {MAX_BATCH} newMediaItems."),
        );
    }
    let album_id = v["albumId"].as_str().map(str::to_string);
    let quota = app.faults.get(Service::GooglePhotos).quota_bytes;
    let now = app.clock.unix();
    let mut g = app.google.inner.lock().unwrap();
    if let Some(aid) = &album_id {
        match g.albums.iter().find(|a| &a.id == aid) {
            None => return gerr(400, "The provided ID does not match any albums."),
            Some(a) if !a.app_created => {
                return gerr(403, "No permission to add media items to this album.");
            }
            _ => {}
        }
    }
    let mut results = Vec::with_capacity(items.len());
    for it in items {
        let token = it["simpleMediaItem"]["uploadToken"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let description = it["description"].as_str().map(str::to_string);
        let file_name = it["simpleMediaItem"]["fileName"]
            .as_str()
            .map(str::to_string);
        let fail = |code: i32, msg: &str| json!({ "uploadToken": token, "status": { "code": code, "message": msg } });
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 1000)
        {
            results.push(fail(3, "Description must be at most 1000 characters."));
            continue;
        }
        if file_name.as_ref().is_some_and(|n| n.chars().count() > 255) {
            results.push(fail(3, "File name must be at most 255 characters."));
            continue;
        }
        // Tokens are usable once: taken out whatever happens next.
        let Some(up) = g.uploads.remove(&token) else {
            results.push(fail(3, "Invalid upload token."));
            continue;
        };
        if now - up.created > UPLOAD_TOKEN_TTL {
            app.blobs.remove(up.blob.id);
            results.push(fail(3, "Upload token has expired."));
            continue;
        }
        if up.blob.size == 0 {
            app.blobs.remove(up.blob.id);
            results.push(fail(
                3,
                "Failed: There was an error while trying to create this media item.",
            ));
            continue;
        }
        if let Some(q) = quota
            && GoogleState::used(&g) + up.blob.size > q
        {
            app.blobs.remove(up.blob.id);
            results.push(fail(
                    8,
                    "The remaining storage in the user's account is not enough to perform this operation.",
                ));
            continue;
        }
        if let Some(aid) = &album_id
            && g.albums
                .iter()
                .find(|a| &a.id == aid)
                .is_some_and(|a| a.items.len() >= MAX_ALBUM_ITEMS)
        {
            app.blobs.remove(up.blob.id);
            results.push(fail(
                3,
                "The album is full: albums hold at most 20000 media items.",
            ));
            continue;
        }
        let filename = file_name
            .or(up.file_name)
            .unwrap_or_else(|| "unnamed".to_string());
        let mime = up
            .mime
            .filter(|m| m.starts_with("image/") || m.starts_with("video/"))
            .unwrap_or_else(|| mime_from_name(&filename));
        // Upload guide limits: photos up to 200 MB, videos up to 20 GB.
        let limit = if mime.starts_with("video/") {
            MAX_VIDEO_BYTES
        } else {
            MAX_PHOTO_BYTES
        };
        if up.blob.size > limit {
            app.blobs.remove(up.blob.id);
            results.push(fail(3, "Failed: The media item is too large."));
            continue;
        }
        let item = Item {
            id: format!("AF1Qip{}", app.token(60)),
            filename,
            description,
            mime,
            created: now,
            blob: up.blob,
            app_created: true,
        };
        if let Some(aid) = &album_id
            && let Some(a) = g.albums.iter_mut().find(|a| &a.id == aid)
        {
            a.items.push(item.id.clone());
        }
        results.push(json!({
            "uploadToken": token,
            "status": { "message": "Success" },
            "mediaItem": item_json(&app, &item, false),
        }));
        g.items.push(item);
    }
    axum::Json(json!({ "newMediaItemResults": results })).into_response()
}

fn page_params(
    q: &[(String, String)],
    v: Option<&Value>,
    default: usize,
    max: usize,
) -> Result<(usize, usize), Response> {
    let size = match v.and_then(|v| v.get("pageSize")) {
        Some(x) => x.as_u64().map(|n| n as usize),
        None => qget(q, "pageSize")
            .map(|s| s.parse::<usize>().ok())
            .unwrap_or(Some(default)),
    };
    let Some(size) = size else {
        return Err(gerr(400, "Invalid pageSize."));
    };
    if size > max {
        return Err(gerr(400, format!("pageSize must be at most {max}.")));
    }
    let size = if size == 0 { default } else { size };
    let token = match v
        .and_then(|v| v.get("pageToken"))
        .and_then(Value::as_str)
        .or(qget(q, "pageToken"))
    {
        None | Some("") => 0,
        Some(t) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse().ok()))
        {
            Some(n) => n,
            None => return Err(gerr(400, "Invalid page token.")),
        },
    };
    Ok((size, token))
}

fn page<T: Clone>(all: &[T], size: usize, start: usize) -> (Vec<T>, Option<String>) {
    let end = start.saturating_add(size).min(all.len());
    let items = all.get(start.min(all.len())..end).unwrap_or(&[]).to_vec();
    let next = (end < all.len())
        .then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{end}")));
    (items, next)
}

async fn list_items(
    State(app): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = auth(&app, &headers, READ) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let (size, start) = match page_params(&q, None, 25, 100) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let g = app.google.inner.lock().unwrap();
    let visible: Vec<Item> = g.items.iter().filter(|i| i.app_created).cloned().collect();
    let (items, next) = page(&visible, size, start);
    let mut v =
        json!({ "mediaItems": items.iter().map(|i| item_json(&app, i, true)).collect::<Vec<_>>() });
    if let Some(n) = next {
        v["nextPageToken"] = json!(n);
    }
    axum::Json(v).into_response()
}

async fn search(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = auth(&app, &headers, READ) {
        return r;
    }
    let v = match json_body(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if v.get("albumId").is_some() && v.get("filters").is_some() {
        return gerr(400, "Only one of albumId and filters can be set.");
    }
    let (size, start) = match page_params(&[], Some(&v), 25, 100) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let g = app.google.inner.lock().unwrap();
    let visible: Vec<Item> = match v["albumId"].as_str() {
        Some(aid) => match g.albums.iter().find(|a| a.id == aid) {
            Some(a) if a.app_created => a
                .items
                .iter()
                .filter_map(|id| g.items.iter().find(|i| &i.id == id).cloned())
                .collect(),
            Some(_) => return gerr(403, "The caller does not have permission"),
            None => return gerr(400, "The provided ID does not match any albums."),
        },
        None => g.items.iter().filter(|i| i.app_created).cloned().collect(),
    };
    let (items, next) = page(&visible, size, start);
    let mut out = json!({});
    if !items.is_empty() {
        out["mediaItems"] = json!(
            items
                .iter()
                .map(|i| item_json(&app, i, true))
                .collect::<Vec<_>>()
        );
    }
    if let Some(n) = next {
        out["nextPageToken"] = json!(n);
    }
    axum::Json(out).into_response()
}

async fn get_item(
    State(app): State<Arc<AppState>>,
    GPath(id): GPath<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = auth(&app, &headers, READ) {
        return r;
    }
    let g = app.google.inner.lock().unwrap();
    match g.items.iter().find(|i| i.id == id) {
        Some(i) if i.app_created => axum::Json(item_json(&app, i, true)).into_response(),
        _ => gerr(404, "Requested entity was not found."),
    }
}

async fn create_album(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = auth(&app, &headers, WRITE) {
        return r;
    }
    let v = match json_body(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(title) = v["album"]["title"].as_str() else {
        return gerr(400, "Request must contain album.title.");
    };
    if title.chars().count() > 500 {
        return gerr(400, "Album title must be at most 500 characters.");
    }
    let a = GAlbum {
        id: format!("AF1Qip{}", app.token(40)),
        title: title.to_string(),
        items: Vec::new(),
        app_created: true,
    };
    let v = album_json(&a);
    app.google.inner.lock().unwrap().albums.push(a);
    axum::Json(v).into_response()
}

async fn list_albums(
    State(app): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = auth(&app, &headers, READ) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let (size, start) = match page_params(&q, None, 20, 50) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let g = app.google.inner.lock().unwrap();
    let visible: Vec<GAlbum> = g.albums.iter().filter(|a| a.app_created).cloned().collect();
    let (albums, next) = page(&visible, size, start);
    let mut v = json!({});
    if !albums.is_empty() {
        v["albums"] = json!(albums.iter().map(album_json).collect::<Vec<_>>());
    }
    if let Some(n) = next {
        v["nextPageToken"] = json!(n);
    }
    axum::Json(v).into_response()
}

async fn get_album(
    State(app): State<Arc<AppState>>,
    GPath(id): GPath<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = auth(&app, &headers, READ) {
        return r;
    }
    let g = app.google.inner.lock().unwrap();
    match g.albums.iter().find(|a| a.id == id) {
        Some(a) if a.app_created => axum::Json(album_json(a)).into_response(),
        Some(_) => gerr(403, "The caller does not have permission"),
        None => gerr(404, "Requested entity was not found."),
    }
}

/// `POST /v1/albums/{id}:batchAddMediaItems` (the action rides in the last segment).
async fn album_action(
    State(app): State<Arc<AppState>>,
    GPath(id_action): GPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((id, action)) = id_action.split_once(':') else {
        return gerr(404, "Requested entity was not found.");
    };
    if action != "batchAddMediaItems" {
        return gerr(404, format!("Unknown method {action}."));
    }
    if let Err(r) = auth(&app, &headers, WRITE) {
        return r;
    }
    let v = match json_body(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(ids) = v["mediaItemIds"].as_array() else {
        return gerr(400, "Request must contain mediaItemIds.");
    };
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return gerr(
            400,
            format!("Request must have between 1 and {MAX_BATCH} mediaItemIds."),
        );
    }
    let mut g = app.google.inner.lock().unwrap();
    let ids: Vec<String> = ids
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect();
    if ids
        .iter()
        .any(|i| !g.items.iter().any(|it| &it.id == i && it.app_created))
    {
        return gerr(400, "Request contains an invalid media item id.");
    }
    let Some(a) = g.albums.iter_mut().find(|a| a.id == id) else {
        return gerr(400, "The provided ID does not match any albums.");
    };
    if !a.app_created {
        return gerr(403, "No permission to add media items to this album.");
    }
    if a.items.len() + ids.len() > MAX_ALBUM_ITEMS {
        return gerr(
            400,
            "The album is full: albums hold at most 20000 media items.",
        );
    }
    for i in ids {
        if !a.items.contains(&i) {
            a.items.push(i);
        }
    }
    axum::Json(json!({})).into_response()
}

/// `baseUrl=d` / `=dv` downloads (bytes as uploaded; the real service re-encodes photos).
async fn media(
    State(app): State<Arc<AppState>>,
    GPath(key): GPath<String>,
    headers: HeaderMap,
) -> Response {
    let (k, _params) = key.split_once('=').unwrap_or((&key, ""));
    let mut parts = k.splitn(3, '.');
    let (Some(id), Some(exp), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return gerr(404, "Not found");
    };
    let Ok(exp_n) = i64::from_str_radix(exp, 16) else {
        return gerr(404, "Not found");
    };
    if app.sign(&format!("{id}.{exp}"), exp_n) != sig {
        return gerr(403, "Forbidden");
    }
    if app.clock.unix() >= exp_n {
        return gerr(403, "The base URL has expired.");
    }
    let item = app
        .google
        .inner
        .lock()
        .unwrap()
        .items
        .iter()
        .find(|i| i.id == id)
        .cloned();
    let Some(item) = item else {
        return gerr(404, "Not found");
    };
    let len = item.blob.size;
    let range = util::parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Err(())) => return StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
    };
    let body = match app.blobs.read(&item.blob, start, end).await {
        Ok(b) => b,
        Err(e) => return gerr(500, e.to_string()),
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&item.mime) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(end + 1 - start));
    r
}

// ---------------------------------------------------------------------------------------
// OAuth

async fn authorize(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let pairs = util::query_pairs(q.as_deref());
    oauth::authorize_page(
        &app,
        Service::GooglePhotos,
        &pairs,
        &format!("{}/google/accounts/o/oauth2/v2/auth", app.base_url),
    )
}

async fn authorize_post(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    oauth::authorize_decide(&app, Service::GooglePhotos, &util::form_pairs(&body))
}

async fn token(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = util::form_pairs(&body);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match oauth::token(&app, Service::GooglePhotos, &form, auth) {
        Ok(i) => {
            let mut v = json!({ "access_token": i.access_token, "expires_in": i.expires_in,
                                "scope": i.scope, "token_type": "Bearer" });
            if let Some(r) = i.refresh_token {
                v["refresh_token"] = json!(r);
            }
            axum::Json(v).into_response()
        }
        Err(e) => (
            e.status(),
            axum::Json(json!({ "error": e.code(), "error_description": e.description() })),
        )
            .into_response(),
    }
}

async fn revoke(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let mut pairs = util::query_pairs(q.as_deref());
    pairs.extend(util::form_pairs(&body));
    match qget(&pairs, "token") {
        Some(t) if app.oauth.revoke(t) => axum::Json(json!({})).into_response(),
        _ => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_token", "error_description": "Token expired or revoked" })),
        )
            .into_response(),
    }
}

/// Path parameters whose rejection (e.g. bad percent-encoding) still gets this service's
/// error shape.
struct GPath<T>(T);

impl<T, S> FromRequestParts<S> for GPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(GPath(t)),
            Err(_) => Err(gerr(400, "Invalid resource name.")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    /// Albums hold at most 20,000 items: the 20,001st fails alone, with a per-item status.
    #[tokio::test]
    async fn album_item_cap() {
        let sb = crate::start(crate::SandboxOptions::default())
            .await
            .unwrap();
        let c = reqwest::Client::new();
        let api = sb.urls().google_photos.api_url;
        let tok = sb.credentials().google_photos.access_token;
        let album: Value = c
            .post(format!("{api}/v1/albums"))
            .bearer_auth(&tok)
            .json(&json!({"album": {"title": "full"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = album["id"].as_str().unwrap().to_string();
        {
            // Filling 20,000 items through HTTP would take minutes; fill the state directly.
            let mut g = sb.app.google.inner.lock().unwrap();
            let a = g.albums.iter_mut().find(|a| a.id == id).unwrap();
            a.items = (0..super::MAX_ALBUM_ITEMS)
                .map(|i| format!("filler{i}"))
                .collect();
        }
        let token = c
            .post(format!("{api}/v1/uploads"))
            .bearer_auth(&tok)
            .header("X-Goog-Upload-Protocol", "raw")
            .body("x")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let v: Value = c
            .post(format!("{api}/v1/mediaItems:batchCreate"))
            .bearer_auth(&tok)
            .json(&json!({"albumId": id, "newMediaItems": [{"simpleMediaItem": {"uploadToken": token}}]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let st = &v["newMediaItemResults"][0]["status"];
        assert_eq!(st["code"], 3, "{v}");
        sb.shutdown().await;
    }
}
