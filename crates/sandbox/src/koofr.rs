//! Koofr REST API emulator (v2 paths; the `X-Koofr-Version: 2.1` header is accepted).
//!
//! Paths under `/koofr`: `/token`, `/oauth2/auth`, `/oauth2/token`, `/api/v2/user`,
//! `/api/v2/mounts[/{m}]`, `/api/v2/mounts/{m}/files/{info,list,folder,remove,move}`,
//! `/api/v2/mounts/{m}/links`, `/content/api/v2/mounts/{m}/files/{get,put,listrecursive}`.
//! `{m}` is a mount id or the alias `primary`; `/api/v2.1/...` is served too.
//!
//! Contract points emulated: Basic auth with an app password, `Token token=` from
//! `POST /token`, OAuth Bearer; FileInfo with MD5 `hash` and `modified` in
//! milliseconds; folder 409 when it exists; put with autorename / overwrite /
//! modified / info, multipart (field `file`) and raw bodies; get with Range; NDJSON
//! listrecursive; move (409 when the target exists, the file keeps its `modified`, as in
//! Koofr's own fake remote in `koofr/vault`); public links; mount sizes in MiB; 413 over quota.
//!
//! The same storage is served over WebDAV at `/koofr/dav/Koofr/...` (Koofr's
//! `https://app.koofr.net/dav/Koofr`): OPTIONS, PROPFIND (Depth 0/1), GET/HEAD with
//! Range, PUT, MKCOL, DELETE, MOVE, COPY, with Basic auth (e-mail + app password).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put as put_route};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::faults::FaultKind;
use crate::oauth::{self, Check};
use crate::store::{Blob, BlobWriter, Hashes};
use crate::util::{self, BodyError, get as qget};
use crate::{AppState, Service};

#[derive(Clone, Debug)]
enum Node {
    File {
        name: String,
        modified: i64,
        content_type: String,
        blob: Blob,
    },
    Dir {
        name: String,
        modified: i64,
    },
}

#[derive(Default)]
struct Inner {
    /// Keyed by absolute path ("/a/b"); the root "/" is implicit. Case-sensitive.
    nodes: BTreeMap<String, Node>,
    tokens: BTreeMap<String, i64>,
    /// Public links created, as (id, path).
    links: Vec<(String, String)>,
}

/// The Koofr account's primary mount.
#[derive(Default)]
pub struct KoofrState {
    inner: Mutex<Inner>,
}

/// Id of the one (primary) mount.
pub const MOUNT_ID: &str = "6f6b7a2e-5a9c-4d5e-9b8f-0a1b2c3d4e5f";

impl KoofrState {
    fn used(g: &Inner) -> u64 {
        g.nodes
            .values()
            .map(|n| match n {
                Node::File { blob, .. } => blob.size,
                Node::Dir { .. } => 0,
            })
            .sum()
    }

    pub fn inspect(&self) -> Value {
        let g = self.inner.lock().unwrap();
        let files: Vec<Value> = g
            .nodes
            .iter()
            .map(|(p, n)| match n {
                Node::File {
                    modified,
                    content_type,
                    blob,
                    ..
                } => json!({ "type": "file", "path": p, "size": blob.size, "sha256": blob.sha256,
                             "md5": blob.md5, "modified": modified, "contentType": content_type }),
                Node::Dir { modified, .. } => {
                    json!({ "type": "dir", "path": p, "modified": modified })
                }
            })
            .collect();
        let links: Vec<Value> = g
            .links
            .iter()
            .map(|(id, path)| json!({ "id": id, "path": path }))
            .collect();
        json!({ "mount_id": MOUNT_ID, "files": files, "links": links, "used_bytes": Self::used(&g) })
    }
}

pub fn router(app: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/koofr/token", post(login))
        .route("/koofr/oauth2/token", post(token))
        .route("/koofr/api/{ver}/user", get(user))
        .route("/koofr/api/{ver}/mounts", get(mounts))
        .route("/koofr/api/{ver}/mounts/{m}", get(mount))
        .route("/koofr/api/{ver}/mounts/{m}/files/info", get(info))
        .route("/koofr/api/{ver}/mounts/{m}/files/list", get(list))
        .route("/koofr/api/{ver}/mounts/{m}/files/folder", post(folder))
        .route("/koofr/api/{ver}/mounts/{m}/files/remove", delete(remove))
        .route(
            "/koofr/api/{ver}/mounts/{m}/files/move",
            put_route(move_file),
        )
        .route("/koofr/api/{ver}/mounts/{m}/links", post(create_link))
        .route(
            "/koofr/content/api/{ver}/mounts/{m}/files/get",
            get(download),
        )
        .route("/koofr/content/api/{ver}/mounts/{m}/files/put", post(put))
        .route(
            "/koofr/content/api/{ver}/mounts/{m}/files/listrecursive",
            get(listrecursive),
        )
        .route("/koofr/dav", axum::routing::any(dav))
        .route("/koofr/dav/", axum::routing::any(dav))
        .route("/koofr/dav/{*rest}", axum::routing::any(dav))
        // Uploads stream to the store; the framework's 2 MB extractor cap must not apply.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            (app.clone(), Service::Koofr),
            crate::faults::middleware,
        ))
        .with_state(app.clone());
    let www = Router::new()
        .route("/koofr/oauth2/auth", get(authorize).post(authorize_post))
        .with_state(app);
    api.merge(www)
}

fn err(status: StatusCode, code: &str, msg: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "code": code, "message": msg.into() } })),
    )
        .into_response()
}

pub fn injected_error(k: FaultKind, retry_after: u64) -> Response {
    match k {
        FaultKind::TooManyRequests => {
            let mut r = err(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            r
        }
        FaultKind::Unavailable => err(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service unavailable",
        ),
        _ => err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Internal server error",
        ),
    }
}

fn check_version(ver: &str) -> Result<(), Response> {
    if ver == "v2" || ver == "v2.1" {
        Ok(())
    } else {
        Err(err(StatusCode::NOT_FOUND, "NotFound", "Not found"))
    }
}

/// Basic (email + app password), `Token token=...` or `Bearer`.
fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = || err(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let creds = &app.credentials.koofr;
    if let Some(b) = h.strip_prefix("Basic ") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|_| unauthorized())?;
        let s = String::from_utf8(raw).map_err(|_| unauthorized())?;
        return match s.split_once(':') {
            Some((e, p)) if e.eq_ignore_ascii_case(&creds.email) && p == creds.app_password => {
                Ok(())
            }
            _ => Err(unauthorized()),
        };
    }
    if let Some(t) = h.strip_prefix("Token token=") {
        let g = app.koofr.inner.lock().unwrap();
        return match g.tokens.get(t.trim().trim_matches('"')) {
            Some(_) => Ok(()),
            None => Err(unauthorized()),
        };
    }
    match oauth::bearer(Some(h)) {
        Some(t) => match app.oauth.check(Service::Koofr, t, app.clock.unix()) {
            Check::Valid(_) => Ok(()),
            Check::Expired => Err(err(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Access token expired",
            )),
            Check::Invalid => Err(unauthorized()),
        },
        None => Err(unauthorized()),
    }
}

/// Common prelude: version, auth, mount alias.
fn prelude(app: &AppState, ver: &str, m: &str, headers: &HeaderMap) -> Result<(), Response> {
    check_version(ver)?;
    authenticate(app, headers)?;
    if m == MOUNT_ID || m == "primary" {
        Ok(())
    } else {
        Err(err(StatusCode::NOT_FOUND, "NotFound", "Mount not found"))
    }
}

/// Normalizes the `path` parameter: absolute, no empty/`.`/`..` components.
fn norm(p: Option<&str>) -> Result<String, Response> {
    let bad = || err(StatusCode::BAD_REQUEST, "BadRequest", "Invalid path");
    let p = p.ok_or_else(bad)?;
    if !p.starts_with('/') {
        return Err(bad());
    }
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    if parts.iter().any(|s| *s == "." || *s == "..") {
        return Err(bad());
    }
    Ok(format!("/{}", parts.join("/")))
}

fn child(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn file_info(path: &str, n: &Node) -> Value {
    match n {
        Node::File {
            name,
            modified,
            content_type,
            blob,
        } => json!({ "name": name, "type": "file", "modified": modified, "size": blob.size,
                     "contentType": content_type, "hash": blob.md5, "path": path, "tags": {} }),
        Node::Dir { name, modified } => json!({ "name": name, "type": "dir", "modified": modified,
                     "size": 0, "contentType": "", "path": path, "tags": {} }),
    }
}

fn root_info() -> Value {
    json!({ "name": "", "type": "dir", "modified": 0, "size": 0, "contentType": "", "path": "/", "tags": {} })
}

fn is_dir(g: &Inner, p: &str) -> bool {
    p == "/" || matches!(g.nodes.get(p), Some(Node::Dir { .. }))
}

fn children<'a>(g: &'a Inner, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> {
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    g.nodes
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .filter(move |(k, _)| {
            let rest = &k[if dir == "/" { 1 } else { dir.len() + 1 }..];
            !rest.contains('/')
        })
}

fn json_ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

async fn login(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return err(StatusCode::BAD_REQUEST, "BadRequest", "Invalid JSON"),
    };
    let creds = &app.credentials.koofr;
    let email = v["email"].as_str().unwrap_or("");
    let password = v["password"].as_str().unwrap_or("");
    if !email.eq_ignore_ascii_case(&creds.email) || password != creds.app_password {
        return err(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid credentials",
        );
    }
    let t = app.token(40);
    app.koofr
        .inner
        .lock()
        .unwrap()
        .tokens
        .insert(t.clone(), app.clock.unix());
    let mut r = json_ok(json!({ "token": t }));
    if let Ok(v) = HeaderValue::from_str(&app.world.koofr.id) {
        r.headers_mut().insert("x-user-id", v);
    }
    r
}

async fn user(
    State(app): State<Arc<AppState>>,
    KPath(ver): KPath<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_version(&ver).and_then(|_| authenticate(&app, &headers)) {
        return r;
    }
    let p = &app.world.koofr;
    let (first, last) = p.name.split_once(' ').unwrap_or((&p.name, ""));
    json_ok(json!({ "id": p.id, "firstName": first, "lastName": last, "email": p.email }))
}

fn mount_json(app: &AppState) -> Value {
    let used = KoofrState::used(&app.koofr.inner.lock().unwrap());
    let total = app
        .faults
        .get(Service::Koofr)
        .quota_bytes
        .unwrap_or(10 * 1024 * 1024 * 1024);
    json!({
        "id": MOUNT_ID, "name": "Koofr", "type": "device", "origin": "hosted",
        "online": true, "isPrimary": true, "isShared": false, "canWrite": true, "canUpload": true,
        "overQuota": used > total,
        "spaceTotal": total / (1024 * 1024), "spaceUsed": used / (1024 * 1024),
    })
}

async fn mounts(
    State(app): State<Arc<AppState>>,
    KPath(ver): KPath<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_version(&ver).and_then(|_| authenticate(&app, &headers)) {
        return r;
    }
    json_ok(json!({ "mounts": [mount_json(&app)] }))
}

async fn mount(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    json_ok(mount_json(&app))
}

async fn info(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let p = match norm(qget(&q, "path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if p == "/" {
        return json_ok(root_info());
    }
    let g = app.koofr.inner.lock().unwrap();
    match g.nodes.get(&p) {
        Some(n) => json_ok(file_info(&p, n)),
        None => err(StatusCode::NOT_FOUND, "NotFound", "File not found"),
    }
}

async fn list(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let p = match norm(qget(&q, "path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let g = app.koofr.inner.lock().unwrap();
    if !is_dir(&g, &p) {
        return match g.nodes.get(&p) {
            Some(_) => err(StatusCode::BAD_REQUEST, "NotDir", "Not a directory"),
            None => err(StatusCode::NOT_FOUND, "NotFound", "Directory not found"),
        };
    }
    let files: Vec<Value> = children(&g, &p).map(|(k, n)| file_info(k, n)).collect();
    json_ok(json!({ "files": files }))
}

async fn folder(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let p = match norm(qget(&q, "path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let name = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => v["name"].as_str().map(str::to_string),
        Err(_) => None,
    };
    let Some(name) = name.filter(|n| !n.is_empty() && !n.contains('/') && n != "." && n != "..")
    else {
        return err(StatusCode::BAD_REQUEST, "BadRequest", "Invalid folder name");
    };
    let mut g = app.koofr.inner.lock().unwrap();
    if !is_dir(&g, &p) {
        return err(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Parent directory not found",
        );
    }
    let path = child(&p, &name);
    if g.nodes.contains_key(&path) {
        return err(
            StatusCode::CONFLICT,
            "AlreadyExists",
            "File or folder already exists",
        );
    }
    let modified = app.clock.unix_ms();
    g.nodes.insert(path, Node::Dir { name, modified });
    StatusCode::OK.into_response()
}

async fn remove(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let p = match norm(qget(&q, "path")) {
        Ok(p) if p != "/" => p,
        Ok(_) => {
            return err(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Cannot remove the root",
            );
        }
        Err(r) => return r,
    };
    let mut g = app.koofr.inner.lock().unwrap();
    if !g.nodes.contains_key(&p) {
        return err(StatusCode::NOT_FOUND, "NotFound", "File not found");
    }
    let prefix = format!("{p}/");
    let doomed: Vec<String> = g
        .nodes
        .keys()
        .filter(|k| **k == p || k.starts_with(&prefix))
        .cloned()
        .collect();
    for k in doomed {
        if let Some(Node::File { blob, .. }) = g.nodes.remove(&k) {
            app.blobs.remove(blob.id);
        }
    }
    StatusCode::OK.into_response()
}

/// `PUT files/move?path=` with `{"toMountId","toPath"}` and the optional conditions
/// `ifSize`, `ifModified`, `ifHash` (go-koofrclient `FilesMove`; Koofr's fake remote in
/// `koofr/vault`): never replaces, 409 `AlreadyExists` when the target is taken; the moved
/// file keeps its metadata (`modified`, `hash`).
async fn move_file(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let from = match norm(qget(&q, "path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "BadRequest", "Invalid JSON");
    };
    match v["toMountId"].as_str() {
        Some(to) if to == MOUNT_ID || to == "primary" => {}
        Some(_) => return err(StatusCode::NOT_FOUND, "NotFound", "Mount not found"),
        None => return err(StatusCode::BAD_REQUEST, "BadRequest", "Missing toMountId"),
    }
    let to = match norm(v["toPath"].as_str()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if from == "/" || to == "/" || to == from || to.starts_with(&format!("{from}/")) {
        return err(
            StatusCode::BAD_REQUEST,
            "MoveIntoSelf",
            "Cannot move into itself",
        );
    }
    let mut g = app.koofr.inner.lock().unwrap();
    let Some(source) = g.nodes.get(&from) else {
        return err(StatusCode::NOT_FOUND, "NotFound", "File not found");
    };
    if let Node::File { modified, blob, .. } = source {
        let holds = qget_json(&v, "ifSize").is_none_or(|s| s == blob.size.to_string())
            && qget_json(&v, "ifModified").is_none_or(|s| s == modified.to_string())
            && qget_json(&v, "ifHash").is_none_or(|s| s == blob.md5);
        if !holds {
            return err(StatusCode::CONFLICT, "Conflict", "Move condition failed");
        }
    }
    let (to_parent, to_name) = parent_and_name(&to);
    if !is_dir(&g, &to_parent) {
        return err(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Parent directory not found",
        );
    }
    if g.nodes.contains_key(&to) {
        return err(StatusCode::CONFLICT, "AlreadyExists", "File already exists");
    }
    let prefix = format!("{from}/");
    let moving: Vec<String> = g
        .nodes
        .keys()
        .filter(|k| **k == from || k.starts_with(&prefix))
        .cloned()
        .collect();
    for k in moving {
        let Some(mut n) = g.nodes.remove(&k) else {
            continue;
        };
        if k == from {
            match &mut n {
                Node::File { name, .. } | Node::Dir { name, .. } => *name = to_name.clone(),
            }
        }
        g.nodes.insert(format!("{to}{}", &k[from.len()..]), n);
    }
    json_ok(json!({ "name": to_name }))
}

/// A condition of a move body as text (numbers and strings alike).
fn qget_json(v: &Value, key: &str) -> Option<String> {
    match &v[key] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `POST /api/v2/mounts/{m}/links` with `{"path"}`: a public, view-only link (rclone
/// `createLink`: `{id,name,path,counter,url,shortUrl,hash,host,hasPassword,...}`).
async fn create_link(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return err(StatusCode::BAD_REQUEST, "BadRequest", "Invalid JSON");
    };
    let path = match norm(v["path"].as_str()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let id = app.token(32);
    let hash = app.token(12);
    let mut g = app.koofr.inner.lock().unwrap();
    if path != "/" && !g.nodes.contains_key(&path) {
        return err(StatusCode::NOT_FOUND, "NotFound", "File not found");
    }
    g.links.push((id.clone(), path.clone()));
    let name = parent_and_name(&path).1;
    json_ok(json!({
        "id": id, "name": name, "path": path, "counter": 0,
        "url": format!("{}/koofr/links/{id}", app.base_url),
        "shortUrl": format!("{}/koofr/s/{hash}", app.base_url),
        "hash": hash, "host": app.base_url, "hasPassword": false, "password": "",
        "validFrom": 0, "validTo": i64::MAX, "passwordRequired": false,
    }))
}

async fn download(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let p = match norm(qget(&q, "path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let node = app.koofr.inner.lock().unwrap().nodes.get(&p).cloned();
    let Some(Node::File {
        content_type, blob, ..
    }) = node
    else {
        return err(StatusCode::NOT_FOUND, "NotFound", "File not found");
    };
    let len = blob.size;
    let range = util::parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Err(())) => return StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
    };
    let body = if len == 0 {
        Body::empty()
    } else {
        match app.blobs.read(&blob, start, end).await {
            Ok(b) => b,
            Err(e) => {
                return err(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    e.to_string(),
                );
            }
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(if len == 0 { 0 } else { end + 1 - start }),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

fn guess_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    match lower.rsplit('.').next().unwrap_or("") {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "txt" => "text/plain",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// `name (1).ext`, `name (2).ext`, … (Koofr's autorename pattern).
fn free_name(g: &Inner, dir: &str, name: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    (1..)
        .map(|n| format!("{stem} ({n}){ext}"))
        .find(|c| !g.nodes.contains_key(&child(dir, c)))
        .expect("an unbounded counter finds a free name")
}

async fn put(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, req.headers()) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let dir = match norm(qget(&q, "path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(name) = qget(&q, "filename").filter(|n| !n.is_empty() && !n.contains('/')) else {
        return err(StatusCode::BAD_REQUEST, "BadRequest", "Missing filename");
    };
    let name = name.to_string();
    let flag = |k: &str| qget(&q, k).map(|v| v.is_empty() || v == "true");
    let autorename = flag("autorename").unwrap_or(true);
    let overwrite = flag("overwrite").unwrap_or(false);
    let info = flag("info").unwrap_or(false);
    let modified = match qget(&q, "modified") {
        Some(v) => match v.parse::<i64>() {
            Ok(ms) => ms,
            Err(_) => return err(StatusCode::BAD_REQUEST, "BadRequest", "Invalid modified"),
        },
        None => app.clock.unix_ms(),
    };
    let quota = app.faults.get(Service::Koofr).quota_bytes;
    {
        let g = app.koofr.inner.lock().unwrap();
        if !is_dir(&g, &dir) {
            return err(
                StatusCode::NOT_FOUND,
                "NotFound",
                "Parent directory not found",
            );
        }
        // Refuse early when the announced size cannot fit.
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let (Some(q), Some(n)) = (quota, announced)
            && KoofrState::used(&g) + n > q + 1024
        {
            return err(
                StatusCode::PAYLOAD_TOO_LARGE,
                "QuotaExceeded",
                "Quota exceeded",
            );
        }
    }
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut w = match app.blobs.writer_with(Hashes::KOOFR) {
        Ok(w) => w,
        Err(e) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            );
        }
    };
    let res = if ct.starts_with("multipart/form-data") {
        read_multipart(req, &mut w).await
    } else {
        util::pump_body(req.into_body(), u64::MAX, |c| w.write(c))
            .await
            .map(|_| ())
    };
    if let Err(e) = res {
        app.blobs.discard(w);
        return err(StatusCode::BAD_REQUEST, "BadRequest", e.to_string());
    }
    let blob = match app.blobs.commit(w) {
        Ok(b) => b,
        Err(e) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            );
        }
    };
    let content_type =
        if ct.is_empty() || ct.starts_with("multipart/") || ct == "application/octet-stream" {
            guess_type(&name).to_string()
        } else {
            ct.split(';').next().unwrap_or("").trim().to_string()
        };
    let mut g = app.koofr.inner.lock().unwrap();
    let mut final_name = name.clone();
    let mut replaced = 0;
    if let Some(existing) = g.nodes.get(&child(&dir, &name)) {
        let cond_ok = match existing {
            Node::File {
                modified: em,
                blob: eb,
                ..
            } => {
                qget(&q, "overwriteIfSize").is_none_or(|s| s == eb.size.to_string())
                    && qget(&q, "overwriteIfModified").is_none_or(|s| s == em.to_string())
                    && qget(&q, "overwriteIfHash").is_none_or(|s| s == eb.md5)
            }
            Node::Dir { .. } => false,
        };
        if overwrite && matches!(existing, Node::File { .. }) {
            if !cond_ok {
                app.blobs.remove(blob.id);
                return err(
                    StatusCode::CONFLICT,
                    "Conflict",
                    "Overwrite condition failed",
                );
            }
            if let Node::File { blob: eb, .. } = existing {
                replaced = eb.size;
            }
        } else if autorename {
            final_name = free_name(&g, &dir, &name);
        } else {
            app.blobs.remove(blob.id);
            return err(StatusCode::CONFLICT, "AlreadyExists", "File already exists");
        }
    } else if qget(&q, "overwriteIgnoreNonexisting").is_none()
        && (qget(&q, "overwriteIfSize").is_some()
            || qget(&q, "overwriteIfModified").is_some()
            || qget(&q, "overwriteIfHash").is_some())
    {
        app.blobs.remove(blob.id);
        return err(
            StatusCode::CONFLICT,
            "Conflict",
            "Overwrite condition failed",
        );
    }
    if let Some(qb) = quota
        && KoofrState::used(&g) - replaced + blob.size > qb
    {
        app.blobs.remove(blob.id);
        return err(
            StatusCode::PAYLOAD_TOO_LARGE,
            "QuotaExceeded",
            "Quota exceeded",
        );
    }
    let path = child(&dir, &final_name);
    let node = Node::File {
        name: final_name.clone(),
        modified,
        content_type,
        blob,
    };
    let v = file_info(&path, &node);
    if let Some(Node::File { blob: old, .. }) = g.nodes.insert(path, node) {
        app.blobs.remove(old.id);
    }
    if info {
        json_ok(v)
    } else {
        json_ok(json!({ "name": final_name }))
    }
}

/// Streams the `file` part of a multipart body into the writer.
async fn read_multipart(req: Request, w: &mut BlobWriter) -> Result<(), BodyError> {
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| BodyError::Read(e.body_text()))?;
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| BodyError::Read(e.body_text()))?
    {
        if field.name() != Some("file") {
            continue;
        }
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| BodyError::Read(e.body_text()))?
        {
            w.write(&chunk)?;
        }
        return Ok(());
    }
    Err(BodyError::Read(
        "multipart body has no \"file\" field".into(),
    ))
}

async fn listrecursive(
    State(app): State<Arc<AppState>>,
    KPath((ver, m)): KPath<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = prelude(&app, &ver, &m, &headers) {
        return r;
    }
    let q = util::query_pairs(q.as_deref());
    let p = match norm(qget(&q, "path")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let g = app.koofr.inner.lock().unwrap();
    if !is_dir(&g, &p) {
        return err(StatusCode::NOT_FOUND, "NotFound", "Directory not found");
    }
    let prefix = if p == "/" {
        "/".to_string()
    } else {
        format!("{p}/")
    };
    let mut out = String::new();
    // The listed folder itself comes first, as path "/".
    let root = if p == "/" {
        root_info()
    } else {
        file_info(&p, g.nodes.get(&p).expect("is_dir checked"))
    };
    out.push_str(&json!({ "type": "file", "path": "/", "file": root }).to_string());
    out.push('\n');
    for (k, n) in g
        .nodes
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
    {
        let rel = &k[prefix.len() - 1..];
        out.push_str(&json!({ "type": "file", "path": rel, "file": file_info(k, n) }).to_string());
        out.push('\n');
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response()
}

async fn authorize(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let pairs = util::query_pairs(q.as_deref());
    oauth::authorize_page(
        &app,
        Service::Koofr,
        &pairs,
        &format!("{}/koofr/oauth2/auth", app.base_url),
    )
}

async fn authorize_post(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    oauth::authorize_decide(&app, Service::Koofr, &util::form_pairs(&body))
}

async fn token(State(app): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = util::form_pairs(&body);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match oauth::token(&app, Service::Koofr, &form, auth) {
        Ok(i) => {
            let mut v = json!({ "access_token": i.access_token, "token_type": "Bearer",
                                "expires_in": i.expires_in, "scope": i.scope });
            if let Some(r) = i.refresh_token {
                v["refresh_token"] = json!(r);
            }
            json_ok(v)
        }
        Err(e) => (
            e.status(),
            axum::Json(json!({ "error": e.code(), "error_description": e.description() })),
        )
            .into_response(),
    }
}

/// Path parameters whose rejection (e.g. bad percent-encoding) still gets this service's
/// error shape.
struct KPath<T>(T);

impl<T, S> FromRequestParts<S> for KPath<T>
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
            Ok(Path(t)) => Ok(KPath(t)),
            Err(_) => Err(err(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Invalid path parameter",
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------
// WebDAV (RFC 4918) over the same storage

const DAV_PREFIX: &str = "/koofr/dav";
/// The primary place's name in WebDAV paths.
const DAV_PLACE: &str = "Koofr";

fn dav_status(status: StatusCode) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        status.canonical_reason().unwrap_or(""),
    )
        .into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Percent-encodes each path segment for an href.
fn href_of(segments: &[&str], dir: bool) -> String {
    let mut out = String::from(DAV_PREFIX);
    for s in segments {
        out.push('/');
        out.push_str(&util::pct_encode(s));
    }
    if dir {
        out.push('/');
    }
    out
}

fn http_date(ms: i64) -> String {
    let t = util::unix_to_dt(ms.div_euclid(1000));
    t.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

/// What a WebDAV path names: the DAV root, the place root, or a path inside the place.
enum DavTarget {
    Root,
    Place(String),
}

/// Splits `/koofr/dav/Koofr/a/b` into a storage path (`/a/b`).
fn dav_target(raw_path: &str) -> Result<DavTarget, Response> {
    let rest = raw_path.strip_prefix(DAV_PREFIX).unwrap_or("");
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(util::pct_decode)
        .collect();
    if segs
        .iter()
        .any(|s| s == "." || s == ".." || s.contains('/'))
    {
        return Err(dav_status(StatusCode::BAD_REQUEST));
    }
    match segs.split_first() {
        None => Ok(DavTarget::Root),
        Some((place, _)) if place != DAV_PLACE => Err(dav_status(StatusCode::NOT_FOUND)),
        Some((_, inner)) => Ok(DavTarget::Place(format!("/{}", inner.join("/")))),
    }
}

fn dav_response(href: &str, name: &str, dir: bool, node: Option<&Node>) -> String {
    let mut props = format!("<d:displayname>{}</d:displayname>", xml_escape(name));
    if dir {
        props.push_str("<d:resourcetype><d:collection/></d:resourcetype>");
    } else {
        props.push_str("<d:resourcetype/>");
    }
    match node {
        Some(Node::File {
            modified,
            content_type,
            blob,
            ..
        }) => {
            props.push_str(&format!(
                "<d:getcontentlength>{}</d:getcontentlength><d:getcontenttype>{}</d:getcontenttype>\
                 <d:getlastmodified>{}</d:getlastmodified><d:getetag>\"{}\"</d:getetag>",
                blob.size,
                xml_escape(content_type),
                http_date(*modified),
                blob.md5
            ));
        }
        Some(Node::Dir { modified, .. }) => {
            props.push_str(&format!(
                "<d:getlastmodified>{}</d:getlastmodified>",
                http_date(*modified)
            ));
        }
        None => {}
    }
    format!(
        "<d:response><d:href>{}</d:href><d:propstat><d:prop>{props}</d:prop>\
         <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
        xml_escape(href)
    )
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn propfind(app: &AppState, target: &DavTarget, depth: &str) -> Response {
    if depth.eq_ignore_ascii_case("infinity") {
        // As many servers do: infinite depth is refused (RFC 4918 §9.1 allows it).
        return dav_status(StatusCode::FORBIDDEN);
    }
    let one = depth == "1";
    let mut body =
        String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><d:multistatus xmlns:d=\"DAV:\">");
    match target {
        DavTarget::Root => {
            body.push_str(&dav_response(&format!("{DAV_PREFIX}/"), "", true, None));
            if one {
                body.push_str(&dav_response(
                    &href_of(&[DAV_PLACE], true),
                    DAV_PLACE,
                    true,
                    None,
                ));
            }
        }
        DavTarget::Place(p) => {
            let g = app.koofr.inner.lock().unwrap();
            let mut segs = vec![DAV_PLACE];
            segs.extend(segments(p));
            if p == "/" {
                body.push_str(&dav_response(&href_of(&segs, true), DAV_PLACE, true, None));
            } else {
                match g.nodes.get(p) {
                    Some(n @ Node::Dir { name, .. }) => {
                        body.push_str(&dav_response(&href_of(&segs, true), name, true, Some(n)))
                    }
                    Some(n @ Node::File { name, .. }) => {
                        body.push_str(&dav_response(&href_of(&segs, false), name, false, Some(n)));
                    }
                    None => return dav_status(StatusCode::NOT_FOUND),
                }
            }
            if one && is_dir(&g, p) {
                for (k, n) in children(&g, p) {
                    let mut cs = vec![DAV_PLACE];
                    cs.extend(segments(k));
                    let (name, dir) = match n {
                        Node::Dir { name, .. } => (name, true),
                        Node::File { name, .. } => (name, false),
                    };
                    body.push_str(&dav_response(&href_of(&cs, dir), name, dir, Some(n)));
                }
            }
        }
    }
    body.push_str("</d:multistatus>");
    (
        StatusCode::MULTI_STATUS,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn parent_and_name(p: &str) -> (String, String) {
    match p.rfind('/') {
        Some(0) => ("/".to_string(), p[1..].to_string()),
        Some(i) => (p[..i].to_string(), p[i + 1..].to_string()),
        None => ("/".to_string(), p.to_string()),
    }
}

async fn dav(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let method = req.method().as_str().to_string();
    if method == "OPTIONS" {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut()
            .insert("dav", HeaderValue::from_static("1, 2"));
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static(
                "OPTIONS, PROPFIND, GET, HEAD, PUT, MKCOL, DELETE, MOVE, COPY",
            ),
        );
        return r;
    }
    if let Err(mut r) = authenticate(&app, req.headers()) {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Koofr\""),
        );
        return r;
    }
    let target = match dav_target(req.uri().path()) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let path = match (&target, method.as_str()) {
        (_, "PROPFIND") => {
            let depth = header_str(req.headers(), "depth")
                .unwrap_or("1")
                .to_string();
            return propfind(&app, &target, &depth);
        }
        (DavTarget::Root, _) => return dav_status(StatusCode::METHOD_NOT_ALLOWED),
        (DavTarget::Place(p), _) => p.clone(),
    };
    match method.as_str() {
        "GET" | "HEAD" => {
            let node = app.koofr.inner.lock().unwrap().nodes.get(&path).cloned();
            match node {
                Some(Node::File { .. }) => {
                    let mut r = download_node(&app, node.expect("matched"), req.headers()).await;
                    if method == "HEAD" {
                        *r.body_mut() = Body::empty();
                    }
                    r
                }
                Some(Node::Dir { .. }) => dav_status(StatusCode::METHOD_NOT_ALLOWED),
                None if path == "/" => dav_status(StatusCode::METHOD_NOT_ALLOWED),
                None => dav_status(StatusCode::NOT_FOUND),
            }
        }
        "PUT" => dav_put(&app, path, req).await,
        "MKCOL" => {
            if path == "/" {
                return dav_status(StatusCode::METHOD_NOT_ALLOWED);
            }
            let (parent, name) = parent_and_name(&path);
            let mut g = app.koofr.inner.lock().unwrap();
            if g.nodes.contains_key(&path) {
                return dav_status(StatusCode::METHOD_NOT_ALLOWED);
            }
            if !is_dir(&g, &parent) {
                return dav_status(StatusCode::CONFLICT);
            }
            let modified = app.clock.unix_ms();
            g.nodes.insert(path, Node::Dir { name, modified });
            dav_status(StatusCode::CREATED)
        }
        "DELETE" => {
            if path == "/" {
                return dav_status(StatusCode::FORBIDDEN);
            }
            let mut g = app.koofr.inner.lock().unwrap();
            if !g.nodes.contains_key(&path) {
                return dav_status(StatusCode::NOT_FOUND);
            }
            let prefix = format!("{path}/");
            let doomed: Vec<String> = g
                .nodes
                .keys()
                .filter(|k| **k == path || k.starts_with(&prefix))
                .cloned()
                .collect();
            for k in doomed {
                if let Some(Node::File { blob, .. }) = g.nodes.remove(&k) {
                    app.blobs.remove(blob.id);
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        "MOVE" | "COPY" => dav_move_copy(&app, &path, method == "MOVE", req.headers()),
        _ => dav_status(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn header_str<'a>(h: &'a HeaderMap, k: &str) -> Option<&'a str> {
    h.get(k).and_then(|v| v.to_str().ok())
}

async fn download_node(app: &AppState, node: Node, headers: &HeaderMap) -> Response {
    let Node::File {
        content_type,
        blob,
        modified,
        ..
    } = node
    else {
        return dav_status(StatusCode::METHOD_NOT_ALLOWED);
    };
    let len = blob.size;
    let range = util::parse_range(header_str(headers, "range"), len);
    let (status, start, end) = match range {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Err(())) => return dav_status(StatusCode::RANGE_NOT_SATISFIABLE),
    };
    let body = if len == 0 {
        Body::empty()
    } else {
        match app.blobs.read(&blob, start, end).await {
            Ok(b) => b,
            Err(_) => return dav_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(if len == 0 { 0 } else { end + 1 - start }),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", blob.md5)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    r
}

async fn dav_put(app: &AppState, path: String, req: Request) -> Response {
    if path == "/" {
        return dav_status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let (parent, name) = parent_and_name(&path);
    {
        let g = app.koofr.inner.lock().unwrap();
        if !is_dir(&g, &parent) {
            return dav_status(StatusCode::CONFLICT);
        }
        if matches!(g.nodes.get(&path), Some(Node::Dir { .. })) {
            return dav_status(StatusCode::METHOD_NOT_ALLOWED);
        }
    }
    let ct = header_str(req.headers(), "content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty() && c != "application/octet-stream")
        .unwrap_or_else(|| guess_type(&name).to_string());
    let mut w = match app.blobs.writer_with(Hashes::KOOFR) {
        Ok(w) => w,
        Err(_) => return dav_status(StatusCode::INTERNAL_SERVER_ERROR),
    };
    if let Err(_e) = util::pump_body(req.into_body(), u64::MAX, |c| w.write(c)).await {
        app.blobs.discard(w);
        return dav_status(StatusCode::BAD_REQUEST);
    }
    let blob = match app.blobs.commit(w) {
        Ok(b) => b,
        Err(_) => return dav_status(StatusCode::INTERNAL_SERVER_ERROR),
    };
    let quota = app.faults.get(Service::Koofr).quota_bytes;
    let mut g = app.koofr.inner.lock().unwrap();
    let replaced = match g.nodes.get(&path) {
        Some(Node::File { blob, .. }) => blob.size,
        _ => 0,
    };
    if quota.is_some_and(|q| KoofrState::used(&g) - replaced + blob.size > q) {
        app.blobs.remove(blob.id);
        return dav_status(StatusCode::INSUFFICIENT_STORAGE);
    }
    let node = Node::File {
        name,
        modified: app.clock.unix_ms(),
        content_type: ct,
        blob,
    };
    match g.nodes.insert(path, node) {
        Some(Node::File { blob: old, .. }) => {
            app.blobs.remove(old.id);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::CREATED.into_response(),
    }
}

fn dav_move_copy(app: &AppState, from: &str, is_move: bool, headers: &HeaderMap) -> Response {
    let Some(dest) = header_str(headers, "destination") else {
        return dav_status(StatusCode::BAD_REQUEST);
    };
    // Destination is an absolute URL or an absolute path.
    let dest_path = match dest.find("://") {
        Some(i) => dest[i + 3..]
            .find('/')
            .map(|j| &dest[i + 3 + j..])
            .unwrap_or("/"),
        None => dest,
    };
    let to = match dav_target(dest_path) {
        Ok(DavTarget::Place(p)) if p != "/" => p,
        Ok(_) => return dav_status(StatusCode::FORBIDDEN),
        Err(r) => return r,
    };
    if from == "/" || to == from || to.starts_with(&format!("{from}/")) {
        return dav_status(StatusCode::FORBIDDEN);
    }
    let overwrite = header_str(headers, "overwrite").is_none_or(|v| !v.eq_ignore_ascii_case("F"));
    let mut g = app.koofr.inner.lock().unwrap();
    if !g.nodes.contains_key(from) {
        return dav_status(StatusCode::NOT_FOUND);
    }
    let (to_parent, to_name) = parent_and_name(&to);
    if !is_dir(&g, &to_parent) {
        return dav_status(StatusCode::CONFLICT);
    }
    let existed = g.nodes.contains_key(&to);
    if existed && !overwrite {
        return dav_status(StatusCode::PRECONDITION_FAILED);
    }
    if existed {
        let prefix = format!("{to}/");
        let doomed: Vec<String> = g
            .nodes
            .keys()
            .filter(|k| **k == to || k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in doomed {
            if let Some(Node::File { blob, .. }) = g.nodes.remove(&k) {
                app.blobs.remove(blob.id);
            }
        }
    }
    let prefix = format!("{from}/");
    let moving: Vec<(String, Node)> = g
        .nodes
        .iter()
        .filter(|(k, _)| *k == from || k.starts_with(&prefix))
        .map(|(k, n)| (k.clone(), n.clone()))
        .collect();
    for (k, mut n) in moving {
        let new_key = format!("{to}{}", &k[from.len()..]);
        if k == from {
            match &mut n {
                Node::File { name, .. } | Node::Dir { name, .. } => *name = to_name.clone(),
            }
        }
        if is_move {
            g.nodes.remove(&k);
        } else if let Node::File { blob, .. } = &mut n {
            // A copy shares nothing with the original: duplicate the bytes' record.
            *blob = match app.blobs.duplicate(blob) {
                Ok(b) => b,
                Err(_) => return dav_status(StatusCode::INTERNAL_SERVER_ERROR),
            };
        }
        g.nodes.insert(new_key, n);
    }
    if existed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::CREATED.into_response()
    }
}
