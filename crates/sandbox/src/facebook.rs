//! Facebook Graph API emulator (read side: the user's albums, photos and videos).
//!
//! Paths: `/facebook/graph/vNN.N/...` (Graph API), `/facebook/www/vNN.N/dialog/oauth`
//! (login dialog), `/facebook/cdn/...` (expiring media URLs handed out in `images[]`,
//! `picture` and `source`).
//!
//! Contract points emulated: versioned paths, `access_token` as query parameter or
//! Bearer header, `fields=` with nested selections (`place{name,location{city}}`) and
//! edge modifiers (`photos.limit(5){images}`), cursor paging with `paging.next` absent
//! on the last page, Graph error objects, throttling codes 4/17/32/613 with
//! `X-App-Usage`, code exchange and `fb_exchange_token` (no refresh tokens).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::faults::{FaultKind, RouteLabel};
use crate::media::{Mp4, PhotoSpec, VideoSpec};
use crate::oauth::{self, Check, TokenError};
use crate::seed::{Album, Photo, Place, Video};
use crate::util::{self, get as qget, query_pairs};
use crate::{AppState, Service};

/// The version a path without `/vNN.N` is served as, and the one reported in headers.
pub const DEFAULT_VERSION: &str = "v21.0";
/// How long CDN URLs stay valid (seconds).
pub const MEDIA_URL_TTL: i64 = 3600;
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;

pub fn router(app: Arc<AppState>) -> Router {
    let faulted = Router::new()
        .route("/facebook/graph/{*rest}", any(graph))
        .route("/facebook/cdn/{kind}/{file}", get(cdn))
        .layer(axum::middleware::from_fn_with_state(
            (app.clone(), Service::Facebook),
            crate::faults::middleware,
        ))
        .with_state(app.clone());
    let www = Router::new()
        .route(
            "/facebook/www/{ver}/dialog/oauth",
            get(dialog).post(dialog_post),
        )
        .route(
            "/facebook/www/dialog/oauth",
            get(dialog_nov).post(dialog_post_nov),
        )
        .with_state(app);
    faulted.merge(www)
}

// ---------------------------------------------------------------------------------------
// Errors

static TRACE: AtomicU64 = AtomicU64::new(1);

fn trace_id() -> String {
    let n = util::mix(TRACE.fetch_add(1, Ordering::Relaxed));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&n.to_le_bytes()[..8])
}

/// A Graph API error object.
#[derive(Debug)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: u32,
    pub subcode: Option<u32>,
    pub kind: &'static str,
    pub message: String,
    pub transient: bool,
}

impl GraphError {
    fn new(code: u32, kind: &'static str, message: impl Into<String>) -> GraphError {
        GraphError {
            status: StatusCode::BAD_REQUEST,
            code,
            subcode: None,
            kind,
            message: message.into(),
            transient: false,
        }
    }
    fn sub(mut self, s: u32) -> Self {
        self.subcode = Some(s);
        self
    }
    fn param(msg: impl Into<String>) -> GraphError {
        GraphError::new(100, "OAuthException", msg)
    }
    fn no_object(id: &str) -> GraphError {
        GraphError::new(
            100,
            "GraphMethodException",
            format!(
                "Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        )
        .sub(33)
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut err = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": trace_id(),
        });
        if let Some(s) = self.subcode {
            err["error_subcode"] = json!(s);
        }
        if self.transient {
            err["is_transient"] = json!(true);
        }
        let mut r = (
            self.status,
            graph_headers(),
            axum::Json(json!({ "error": err })),
        )
            .into_response();
        if self.kind == "OAuthException" && matches!(self.code, 190 | 102 | 2500) {
            let v = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                self.message.replace('"', "'")
            );
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }
}

fn graph_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "facebook-api-version",
        HeaderValue::from_static(DEFAULT_VERSION),
    );
    if let Ok(v) = HeaderValue::from_str(&trace_id()) {
        h.insert("x-fb-trace-id", v);
    }
    h.insert("x-fb-rev", HeaderValue::from_static("1000000001"));
    h
}

/// The injected throttling / server errors (fault middleware).
pub fn injected_error(k: FaultKind, n: u64) -> Response {
    match k {
        FaultKind::TooManyRequests => {
            let (code, msg) = [
                (4, "(#4) Application request limit reached"),
                (17, "(#17) User request limit reached"),
                (32, "(#32) Page request limit reached"),
                (
                    613,
                    "(#613) Calls to this api have exceeded the rate limit.",
                ),
            ][(n % 4) as usize];
            let mut e = GraphError::new(code, "OAuthException", msg);
            e.transient = true;
            let mut r = e.into_response();
            r.headers_mut().insert(
                "x-app-usage",
                HeaderValue::from_static(
                    r#"{"call_count":100,"total_cputime":100,"total_time":100}"#,
                ),
            );
            r
        }
        FaultKind::Unavailable => {
            let mut e = GraphError::new(
                2,
                "OAuthException",
                "An unexpected error has occurred. Please retry your request later.",
            );
            e.status = StatusCode::SERVICE_UNAVAILABLE;
            e.transient = true;
            e.into_response()
        }
        _ => {
            let mut e = GraphError::new(1, "OAuthException", "An unknown error occurred");
            e.status = StatusCode::INTERNAL_SERVER_ERROR;
            e.transient = true;
            e.into_response()
        }
    }
}

// ---------------------------------------------------------------------------------------
// Field selection

/// One entry of a `fields=` list: `name`, `name{sub,fields}`, `name.limit(5){...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub limit: Option<usize>,
    pub sub: Option<Vec<Field>>,
}

/// Parses a `fields=` value; `Err` carries a Graph-style message.
pub fn parse_fields(s: &str) -> Result<Vec<Field>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut pos = 0;
    let out = parse_list(&chars, &mut pos, 0)?;
    if pos != chars.len() {
        return Err(format!(
            "Syntax error \"Expected end of string instead of \"{}\".\" at character {pos}: {s}",
            chars[pos]
        ));
    }
    Ok(out)
}

fn parse_list(c: &[char], pos: &mut usize, depth: usize) -> Result<Vec<Field>, String> {
    if depth > 8 {
        return Err("Field selection nested too deeply".into());
    }
    let mut out = Vec::new();
    loop {
        while *pos < c.len() && c[*pos].is_whitespace() {
            *pos += 1;
        }
        let start = *pos;
        while *pos < c.len() && (c[*pos].is_alphanumeric() || c[*pos] == '_') {
            *pos += 1;
        }
        let name: String = c[start..*pos].iter().collect();
        if name.is_empty() {
            if *pos >= c.len() || c[*pos] == '}' {
                if out.is_empty() && depth == 0 && *pos >= c.len() {
                    return Ok(out);
                }
                // Trailing comma: Graph tolerates it.
                return Ok(out);
            }
            return Err(format!(
                "Syntax error \"Expected name.\" at character {}",
                *pos
            ));
        }
        let mut f = Field {
            name,
            limit: None,
            sub: None,
        };
        // Modifiers: .limit(n) and others (ignored).
        while *pos < c.len() && c[*pos] == '.' {
            *pos += 1;
            let ms = *pos;
            while *pos < c.len() && c[*pos].is_alphanumeric() {
                *pos += 1;
            }
            let m: String = c[ms..*pos].iter().collect();
            if *pos >= c.len() || c[*pos] != '(' {
                return Err(format!(
                    "Syntax error \"Expected \"(\".\" at character {}",
                    *pos
                ));
            }
            let as_ = *pos + 1;
            while *pos < c.len() && c[*pos] != ')' {
                *pos += 1;
            }
            if *pos >= c.len() {
                return Err("Syntax error \"Expected \")\".\"".into());
            }
            let arg: String = c[as_..*pos].iter().collect();
            *pos += 1;
            if m == "limit" {
                f.limit = Some(
                    arg.trim()
                        .parse()
                        .map_err(|_| format!("Invalid limit {arg:?}"))?,
                );
            }
        }
        if *pos < c.len() && c[*pos] == '{' {
            *pos += 1;
            f.sub = Some(parse_list(c, pos, depth + 1)?);
            if *pos >= c.len() || c[*pos] != '}' {
                return Err("Syntax error \"Expected \"}\".\"".into());
            }
            *pos += 1;
        }
        out.push(f);
        if *pos < c.len() && c[*pos] == ',' {
            *pos += 1;
            continue;
        }
        return Ok(out);
    }
}

/// An edge entry: its node type, id and full node.
type EdgeItem = (NodeType, String, Map<String, Value>);

/// Which slice of an edge a request asks for: `limit` items after or before a cursor.
struct Window<'q> {
    limit: usize,
    after: Option<&'q str>,
    before: Option<&'q str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeType {
    User,
    Album,
    Photo,
    Video,
}

impl NodeType {
    fn name(self) -> &'static str {
        match self {
            NodeType::User => "User",
            NodeType::Album => "Album",
            NodeType::Photo => "Photo",
            NodeType::Video => "Video",
        }
    }
    /// Fields (not edges) the node type has; asking for others is error #100.
    fn known(self) -> &'static [&'static str] {
        match self {
            NodeType::User => &[
                "id",
                "name",
                "first_name",
                "last_name",
                "email",
                "short_name",
                "link",
                "picture",
            ],
            NodeType::Album => &[
                "id",
                "name",
                "description",
                "count",
                "created_time",
                "updated_time",
                "type",
                "cover_photo",
                "link",
                "place",
                "location",
                "from",
                "can_upload",
                "privacy",
                "event",
            ],
            NodeType::Photo => &[
                "id",
                "name",
                "images",
                "created_time",
                "updated_time",
                "place",
                "album",
                "link",
                "width",
                "height",
                "backdated_time",
                "picture",
                "icon",
                "from",
                "can_delete",
                "can_tag",
                "webp_images",
                "alt_text",
                "name_tags",
                "page_story_id",
                "target",
            ],
            NodeType::Video => &[
                "id",
                "title",
                "description",
                "source",
                "created_time",
                "updated_time",
                "length",
                "picture",
                "permalink_url",
                "place",
                "format",
                "from",
                "icon",
                "embed_html",
                "published",
                "status",
            ],
        }
    }
    fn edges(self) -> &'static [&'static str] {
        match self {
            NodeType::User => &["albums", "photos", "videos", "permissions"],
            NodeType::Album => &["photos", "picture"],
            NodeType::Photo | NodeType::Video => &[],
        }
    }
    fn default_fields(self) -> &'static [&'static str] {
        match self {
            NodeType::User => &["name", "id"],
            NodeType::Album => &["created_time", "name", "id"],
            NodeType::Photo => &["created_time", "name", "id"],
            NodeType::Video => &["description", "updated_time", "id"],
        }
    }
}

fn fb_time(t: i64) -> String {
    // Graph's timestamp format: 2019-05-01T10:20:30+0000.
    let d = util::unix_to_dt(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
        d.year(),
        d.month() as u8,
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

fn place_json(p: &Place) -> Value {
    let mut loc = json!({
        "city": p.city, "country": p.country,
        "latitude": p.latitude, "longitude": p.longitude,
    });
    if let Some(s) = &p.street {
        loc["street"] = json!(s);
    }
    if let Some(z) = &p.zip {
        loc["zip"] = json!(z);
    }
    json!({ "id": p.id, "name": p.name, "location": loc })
}

/// Request context for building nodes (needed for signed URLs and nested edges).
struct Ctx<'a> {
    app: &'a AppState,
    version: String,
    token: String,
}

impl Ctx<'_> {
    fn cdn_url(&self, kind: &str, file: &str) -> String {
        let exp = self.app.clock.unix() + MEDIA_URL_TTL;
        let sig = self.app.sign(&format!("{kind}/{file}"), exp);
        format!(
            "{}/facebook/cdn/{kind}/{file}?oe={exp:x}&oh={sig}",
            self.app.base_url
        )
    }

    fn from(&self) -> Value {
        json!({ "id": self.app.world.facebook.id, "name": self.app.world.facebook.name })
    }

    fn renditions(p: &Photo) -> Vec<(u32, u32)> {
        let mut v = vec![(p.width, p.height)];
        for div in [2, 4] {
            let (w, h) = (p.width / div, p.height / div);
            if w >= 64 && h >= 48 {
                v.push((w, h));
            }
        }
        v
    }

    fn user(&self) -> Map<String, Value> {
        let u = &self.app.world.facebook;
        let (first, last) = u.name.split_once(' ').unwrap_or((&u.name, ""));
        let mut m = Map::new();
        m.insert("id".into(), json!(u.id));
        m.insert("name".into(), json!(u.name));
        m.insert("first_name".into(), json!(first));
        m.insert("last_name".into(), json!(last));
        m.insert("short_name".into(), json!(first));
        m.insert("email".into(), json!(u.email));
        m
    }

    fn album(&self, a: &Album) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(a.id));
        m.insert("name".into(), json!(a.name));
        if let Some(d) = &a.description {
            m.insert("description".into(), json!(d));
        }
        let deleted = self.app.fb_deleted.lock().unwrap();
        let live = a
            .photos
            .iter()
            .filter(|&&i| !deleted.contains(&self.app.world.photos[i].id))
            .count();
        drop(deleted);
        m.insert("count".into(), json!(live));
        m.insert("created_time".into(), json!(fb_time(a.created)));
        m.insert("updated_time".into(), json!(fb_time(a.updated)));
        m.insert("type".into(), json!("normal"));
        if let Some(&first) = a.photos.first() {
            let p = &self.app.world.photos[first];
            m.insert(
                "cover_photo".into(),
                json!({ "id": p.id, "created_time": fb_time(p.created) }),
            );
        }
        m.insert(
            "link".into(),
            json!(format!("https://www.facebook.com/album.php?fbid={}", a.id)),
        );
        if let Some(p) = &a.place {
            m.insert("place".into(), place_json(p));
            m.insert("location".into(), json!(p.city));
        }
        m.insert("from".into(), self.from());
        m.insert("can_upload".into(), json!(false));
        m.insert("privacy".into(), json!("custom"));
        m
    }

    fn photo(&self, p: &Photo) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(p.id));
        if let Some(c) = &p.caption {
            m.insert("name".into(), json!(c));
        }
        m.insert("created_time".into(), json!(fb_time(p.created)));
        m.insert("updated_time".into(), json!(fb_time(p.created)));
        let images: Vec<Value> = Ctx::renditions(p)
            .into_iter()
            .map(|(w, h)| {
                json!({ "height": h, "width": w,
                        "source": self.cdn_url("p", &format!("{}_{w}x{h}.jpg", p.id)) })
            })
            .collect();
        let small = Ctx::renditions(p)
            .last()
            .copied()
            .unwrap_or((p.width, p.height));
        m.insert(
            "picture".into(),
            json!(self.cdn_url("p", &format!("{}_{}x{}.jpg", p.id, small.0, small.1))),
        );
        m.insert("images".into(), Value::Array(images));
        m.insert("width".into(), json!(p.width));
        m.insert("height".into(), json!(p.height));
        if let Some(a) = self.app.world.albums.get(p.album) {
            m.insert(
                "album".into(),
                json!({ "id": a.id, "name": a.name, "created_time": fb_time(a.created) }),
            );
        }
        m.insert(
            "link".into(),
            json!(format!("https://www.facebook.com/photo.php?fbid={}", p.id)),
        );
        if let Some(pl) = &p.place {
            m.insert("place".into(), place_json(pl));
        }
        m.insert("from".into(), self.from());
        m.insert("can_delete".into(), json!(false));
        m.insert("can_tag".into(), json!(true));
        m.insert(
            "icon".into(),
            json!("https://static.xx.fbcdn.net/rsrc.php/v3/yz/r/StEh3RhPvjk.gif"),
        );
        m
    }

    fn video(&self, v: &Video) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(v.id));
        if let Some(t) = &v.title {
            m.insert("title".into(), json!(t));
        }
        if let Some(d) = &v.description {
            m.insert("description".into(), json!(d));
        }
        m.insert("created_time".into(), json!(fb_time(v.created)));
        m.insert("updated_time".into(), json!(fb_time(v.created)));
        m.insert("length".into(), json!(v.length_secs));
        m.insert(
            "source".into(),
            json!(self.cdn_url("v", &format!("{}.mp4", v.id))),
        );
        let thumb = self.cdn_url("t", &format!("{}.jpg", v.id));
        m.insert("picture".into(), json!(thumb));
        m.insert(
            "permalink_url".into(),
            json!(format!("/{}/videos/{}/", self.app.world.facebook.id, v.id)),
        );
        if let Some(pl) = &v.place {
            m.insert("place".into(), place_json(pl));
        }
        m.insert(
            "format".into(),
            json!([{ "filter": "native", "width": 160, "height": 120, "picture": thumb,
                     "embed_html": format!("<iframe src=\"https://www.facebook.com/video/embed?video_id={}\" width=\"160\" height=\"120\" frameborder=\"0\"></iframe>", v.id) }]),
        );
        m.insert("from".into(), self.from());
        m.insert("published".into(), json!(true));
        m.insert("status".into(), json!({ "video_status": "ready" }));
        m
    }

    /// Applies a field selection to a full node; edges are expanded here.
    fn select(
        &self,
        t: NodeType,
        full: Map<String, Value>,
        fields: Option<&[Field]>,
        node_id: &str,
    ) -> Result<Value, GraphError> {
        let mut out = Map::new();
        let default: Vec<Field>;
        let fields = match fields {
            Some(f) if !f.is_empty() => f,
            _ => {
                default = t
                    .default_fields()
                    .iter()
                    .map(|n| Field {
                        name: n.to_string(),
                        limit: None,
                        sub: None,
                    })
                    .collect();
                &default
            }
        };
        for f in fields {
            if t.edges().contains(&f.name.as_str()) && !t.known().contains(&f.name.as_str()) {
                let items = self.edge_items(t, node_id, &f.name, None)?;
                let limit = f.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
                let page = self.page(
                    items,
                    Window {
                        limit,
                        after: None,
                        before: None,
                    },
                    f.sub.as_deref(),
                    &format!("{node_id}/{}", f.name),
                    &[],
                )?;
                out.insert(f.name.clone(), page);
                continue;
            }
            if !t.known().contains(&f.name.as_str()) {
                return Err(GraphError::param(format!(
                    "(#100) Tried accessing nonexisting field ({}) on node type ({})",
                    f.name,
                    t.name()
                )));
            }
            if let Some(v) = full.get(&f.name) {
                let v = match &f.sub {
                    Some(sub) => sub_select(v, sub),
                    None => v.clone(),
                };
                out.insert(f.name.clone(), v);
            }
        }
        // `id` always comes back, as on Graph.
        if let Some(id) = full.get("id") {
            out.entry("id").or_insert(id.clone());
        }
        Ok(Value::Object(out))
    }

    /// The items of an edge, as (type, full node) pairs in Graph order.
    fn edge_items(
        &self,
        t: NodeType,
        node_id: &str,
        edge: &str,
        type_param: Option<&str>,
    ) -> Result<Vec<EdgeItem>, GraphError> {
        let mut items = self.edge_items_all(t, node_id, edge, type_param)?;
        let deleted = self.app.fb_deleted.lock().unwrap();
        items.retain(|(_, id, _)| !deleted.contains(id));
        Ok(items)
    }

    fn edge_items_all(
        &self,
        t: NodeType,
        node_id: &str,
        edge: &str,
        type_param: Option<&str>,
    ) -> Result<Vec<EdgeItem>, GraphError> {
        let w = &self.app.world;
        let photos = |idx: &mut dyn Iterator<Item = usize>| {
            idx.map(|i| {
                let p = &w.photos[i];
                (NodeType::Photo, p.id.clone(), self.photo(p))
            })
            .collect::<Vec<_>>()
        };
        match (t, edge) {
            (NodeType::User, "albums") => {
                let mut a: Vec<&Album> = w.albums.iter().collect();
                a.sort_by_key(|a| std::cmp::Reverse(a.created));
                Ok(a.into_iter()
                    .map(|a| (NodeType::Album, a.id.clone(), self.album(a)))
                    .collect())
            }
            (NodeType::User, "photos") => match type_param.unwrap_or("tagged") {
                "uploaded" => {
                    let mut idx: Vec<usize> = (0..w.photos.len()).collect();
                    idx.sort_by_key(|&i| std::cmp::Reverse((w.photos[i].created, i)));
                    Ok(photos(&mut idx.into_iter()))
                }
                // The seeded person is tagged in nobody's photos.
                "tagged" => Ok(Vec::new()),
                other => Err(GraphError::param(format!(
                    "(#100) type must be one of the following values: tagged, uploaded (got {other})"
                ))),
            },
            (NodeType::User, "videos") => match type_param.unwrap_or("tagged") {
                "uploaded" => {
                    let mut v: Vec<&Video> = w.videos.iter().collect();
                    v.sort_by_key(|v| std::cmp::Reverse((v.created, v.index)));
                    Ok(v.into_iter()
                        .map(|v| (NodeType::Video, v.id.clone(), self.video(v)))
                        .collect())
                }
                "tagged" => Ok(Vec::new()),
                other => Err(GraphError::param(format!(
                    "(#100) type must be one of the following values: tagged, uploaded (got {other})"
                ))),
            },
            (NodeType::Album, "photos") => {
                let a = w
                    .album(node_id)
                    .map(|(_, a)| a)
                    .ok_or_else(|| GraphError::no_object(node_id))?;
                Ok(photos(&mut a.photos.iter().copied()))
            }
            _ => Err(GraphError::param(format!(
                "(#100) Tried accessing nonexisting field ({edge}) on node type ({})",
                t.name()
            ))),
        }
    }

    /// One page of an edge with Graph cursors.
    fn page(
        &self,
        items: Vec<EdgeItem>,
        window: Window<'_>,
        fields: Option<&[Field]>,
        path: &str,
        extra: &[(String, String)],
    ) -> Result<Value, GraphError> {
        let Window {
            limit,
            after,
            before,
        } = window;
        let n = items.len();
        let (start, end) = if let Some(a) = after {
            let i = decode_cursor(a)?;
            let s = i.saturating_add(1).min(n);
            (s, s.saturating_add(limit).min(n))
        } else if let Some(b) = before {
            let i = decode_cursor(b)?.min(n);
            (i.saturating_sub(limit), i)
        } else {
            (0, limit.min(n))
        };
        let mut data = Vec::with_capacity(end - start);
        for (t, id, full) in items.into_iter().skip(start).take(end - start) {
            data.push(self.select(t, full, fields, &id)?);
        }
        let mut out = json!({ "data": data });
        if end > start {
            let mut paging = json!({ "cursors": { "before": encode_cursor(start), "after": encode_cursor(end - 1) } });
            let url = |k: &str, c: String| -> String {
                let mut q: Vec<(String, String)> = extra
                    .iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "after" | "before" | "limit" | "access_token")
                    })
                    .cloned()
                    .collect();
                q.push(("access_token".into(), self.token.clone()));
                q.push(("limit".into(), limit.to_string()));
                q.push((k.into(), c));
                let qs: Vec<String> = q
                    .iter()
                    .map(|(k, v)| format!("{}={}", util::pct_encode(k), util::pct_encode(v)))
                    .collect();
                format!(
                    "{}/facebook/graph/{}/{}?{}",
                    self.app.base_url,
                    self.version,
                    path,
                    qs.join("&")
                )
            };
            if end < n {
                paging["next"] = json!(url("after", encode_cursor(end - 1)));
            }
            if start > 0 {
                paging["previous"] = json!(url("before", encode_cursor(start)));
            }
            out["paging"] = paging;
        }
        Ok(out)
    }
}

fn sub_select(v: &Value, sub: &[Field]) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for f in sub {
                if let Some(x) = m.get(&f.name) {
                    let x = match &f.sub {
                        Some(s) => sub_select(x, s),
                        None => x.clone(),
                    };
                    out.insert(f.name.clone(), x);
                }
            }
            if let Some(id) = m.get("id") {
                out.entry("id").or_insert(id.clone());
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| sub_select(x, sub)).collect()),
        other => other.clone(),
    }
}

fn encode_cursor(i: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sandbox:{i}"))
}

fn decode_cursor(c: &str) -> Result<usize, GraphError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("sandbox:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| {
            GraphError::param(format!(
                "(#100) The parameter after/before is not a valid cursor: {c}"
            ))
        })
}

// ---------------------------------------------------------------------------------------
// Graph handler

/// Versions served: older ones are served as the oldest (as Graph upgrades them), newer
/// than the newest do not exist yet.
const MAX_MAJOR: u32 = 25;

fn is_version(s: &str) -> bool {
    s.strip_prefix('v')
        .and_then(|r| r.split_once('.'))
        .is_some_and(|(a, b)| {
            !b.is_empty()
                && b.bytes().all(|c| c.is_ascii_digit())
                && a.parse::<u32>().is_ok_and(|m| m <= MAX_MAJOR)
        })
}

async fn graph(
    State(app): State<Arc<AppState>>,
    uri: http::Uri,
    method: Method,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The raw path, so that odd bytes still get a Graph error rather than the framework's.
    let rest = uri
        .path()
        .strip_prefix("/facebook/graph")
        .unwrap_or("")
        .to_string();
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let version = match segs.first() {
        Some(v) if is_version(v) => {
            let v = v.to_string();
            segs.remove(0);
            v
        }
        Some(v)
            if v.starts_with('v')
                && v.len() > 1
                && v[1..].starts_with(|c: char| c.is_ascii_digit()) =>
        {
            return label(
                GraphError::new(
                    100,
                    "OAuthException",
                    format!("(#100) Unknown path components: /{v}"),
                )
                .into_response(),
                &route_label(uri.path()),
            );
        }
        _ => DEFAULT_VERSION.to_string(),
    };
    let mut pairs = query_pairs(q.as_deref());
    if method == Method::POST {
        pairs.extend(util::form_pairs(&body));
    }
    let route = route_label(uri.path());
    let (resp, _) = graph_inner(&app, &method, &segs, &pairs, &headers, version);
    let mut resp = resp;
    if !resp.headers().contains_key("x-app-usage") {
        let n = app.next_u64() % 20 + 1;
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{{\"call_count\":{n},\"total_cputime\":{},\"total_time\":{}}}",
            n / 2,
            n / 2 + 1
        )) {
            resp.headers_mut().insert("x-app-usage", v);
        }
    }
    label(resp, &route)
}

/// The statistics label of a Graph path: ids and versions folded (`/{ver}/{id}/photos`).
pub fn route_label(path: &str) -> String {
    let rest = path.strip_prefix("/facebook/graph").unwrap_or(path);
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segs.first().is_some_and(|v| is_version(v)) {
        segs.remove(0);
    }
    let r = match segs.as_slice() {
        [] => String::new(),
        ["oauth", "access_token"] => "oauth/access_token".into(),
        ["me"] => "me".into(),
        ["me", e] => format!("me/{e}"),
        ["me", "videos", "uploaded"] => "me/videos/uploaded".into(),
        [_] => "{id}".into(),
        [_, e] => format!("{{id}}/{e}"),
        _ => "…".into(),
    };
    format!("/{{ver}}/{r}")
}

fn label(mut r: Response, route: &str) -> Response {
    r.extensions_mut().insert(RouteLabel(route.to_string()));
    r
}

fn graph_inner(
    app: &AppState,
    method: &Method,
    segs: &[&str],
    q: &[(String, String)],
    headers: &HeaderMap,
    version: String,
) -> (Response, String) {
    if segs == ["oauth", "access_token"] {
        return (access_token(app, q), "oauth/access_token".into());
    }
    let token = qget(q, "access_token").map(str::to_string).or_else(|| {
        let h = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        oauth::bearer(Some(h))
            .or_else(|| h.strip_prefix("OAuth "))
            .map(str::to_string)
    });
    let route = match segs {
        [] => String::new(),
        ["me"] => "me".into(),
        ["me", e] => format!("me/{e}"),
        ["me", "videos", "uploaded"] => "me/videos/uploaded".into(),
        [_] => "{id}".into(),
        [_, e] => format!("{{id}}/{e}"),
        _ => "…".into(),
    };
    let Some(token) = token else {
        return (
            GraphError::new(
                2500,
                "OAuthException",
                "An active access token must be used to query information about the current user.",
            )
            .into_response(),
            route,
        );
    };
    let now = app.clock.unix();
    match app.oauth.check(Service::Facebook, &token, now) {
        Check::Valid(_) => {}
        Check::Expired => {
            return (
                GraphError::new(
                    190,
                    "OAuthException",
                    "Error validating access token: Session has expired. The current time is later than the expiry time.",
                )
                .sub(463)
                .into_response(),
                route,
            );
        }
        Check::Invalid => {
            return (
                GraphError::new(
                    190,
                    "OAuthException",
                    "Invalid OAuth access token - Cannot parse access token",
                )
                .into_response(),
                route,
            );
        }
    }
    let ctx = Ctx {
        app,
        version,
        token,
    };
    let r = match (method, segs) {
        (&Method::DELETE, ["me", "permissions"]) => {
            app.oauth.revoke(&ctx.token);
            Ok((graph_headers(), axum::Json(json!({ "success": true }))).into_response())
        }
        (&Method::GET, _) => get_path(&ctx, segs, q),
        _ => Err(GraphError::param(format!(
            "Unsupported {} request. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
            method.as_str().to_lowercase()
        ))),
    };
    (r.unwrap_or_else(IntoResponse::into_response), route)
}

fn get_path(ctx: &Ctx, segs: &[&str], q: &[(String, String)]) -> Result<Response, GraphError> {
    let w = &ctx.app.world;
    let fields = match qget(q, "fields") {
        Some(f) => Some(parse_fields(f).map_err(|m| GraphError::param(m).sub(2018))?),
        None => None,
    };
    let resolve = |id: &str| -> Result<(NodeType, String), GraphError> {
        if ctx.app.fb_deleted.lock().unwrap().contains(id) {
            return Err(GraphError::no_object(id));
        }
        if id == "me" || id == w.facebook.id {
            return Ok((NodeType::User, w.facebook.id.clone()));
        }
        if w.album(id).is_some() {
            return Ok((NodeType::Album, id.to_string()));
        }
        if w.photo(id).is_some() {
            return Ok((NodeType::Photo, id.to_string()));
        }
        if w.video(id).is_some() {
            return Ok((NodeType::Video, id.to_string()));
        }
        Err(GraphError::no_object(id))
    };
    let json = |v: Value| (graph_headers(), axum::Json(v)).into_response();
    match segs {
        [] => Err(GraphError::param("(#100) Missing node id")),
        [id] => {
            let (t, id) = resolve(id)?;
            let full = match t {
                NodeType::User => ctx.user(),
                NodeType::Album => ctx.album(
                    w.album(&id)
                        .map(|x| x.1)
                        .ok_or_else(|| GraphError::no_object(&id))?,
                ),
                NodeType::Photo => {
                    ctx.photo(w.photo(&id).ok_or_else(|| GraphError::no_object(&id))?)
                }
                NodeType::Video => {
                    ctx.video(w.video(&id).ok_or_else(|| GraphError::no_object(&id))?)
                }
            };
            Ok(json(ctx.select(t, full, fields.as_deref(), &id)?))
        }
        [id, edge] | [id, edge, _] => {
            let (t, node) = resolve(id)?;
            let mut type_param = qget(q, "type");
            if let [_, "videos", sub] = segs {
                if *sub != "uploaded" || t != NodeType::User {
                    return Err(GraphError::param(format!(
                        "(#100) Tried accessing nonexisting field ({sub}) on node type (Video)"
                    )));
                }
                type_param = Some("uploaded");
            }
            if *edge == "permissions" && t == NodeType::User {
                return Ok(json(json!({ "data": [
                    { "permission": "public_profile", "status": "granted" },
                    { "permission": "user_photos", "status": "granted" },
                    { "permission": "user_videos", "status": "granted" },
                ]})));
            }
            if !t.edges().contains(edge) {
                return Err(GraphError::param(format!(
                    "(#100) Tried accessing nonexisting field ({edge}) on node type ({})",
                    t.name()
                )));
            }
            let items = ctx.edge_items(t, &node, edge, type_param)?;
            let limit = match qget(q, "limit") {
                Some(l) => l
                    .parse::<usize>()
                    .map_err(|_| GraphError::param("(#100) Param limit must be an integer"))?
                    .clamp(1, MAX_LIMIT),
                None => DEFAULT_LIMIT,
            };
            let path = segs.join("/");
            Ok(json(ctx.page(
                items,
                Window {
                    limit,
                    after: qget(q, "after"),
                    before: qget(q, "before"),
                },
                fields.as_deref(),
                &path,
                q,
            )?))
        }
        _ => Err(GraphError::param("(#100) Unknown path components")),
    }
}

// ---------------------------------------------------------------------------------------
// OAuth

fn token_error(e: TokenError) -> Response {
    match e {
        TokenError::InvalidClient(m) => GraphError::new(
            101,
            "OAuthException",
            format!("Error validating application. {m}"),
        )
        .into_response(),
        TokenError::InvalidGrant(m) if m.contains("access token") || m.contains("Session") => {
            GraphError::new(190, "OAuthException", m).into_response()
        }
        TokenError::InvalidGrant(m) => GraphError::new(
            100,
            "OAuthException",
            format!("Invalid verification code format. ({m})"),
        )
        .sub(36007)
        .into_response(),
        TokenError::InvalidRequest(m) | TokenError::UnsupportedGrantType(m) => {
            GraphError::new(100, "OAuthException", m).into_response()
        }
    }
}

/// `GET /vX/oauth/access_token`: code exchange or `grant_type=fb_exchange_token`.
fn access_token(app: &AppState, q: &[(String, String)]) -> Response {
    let ok = |i: oauth::Issued| {
        (
            graph_headers(),
            axum::Json(json!({ "access_token": i.access_token, "token_type": "bearer", "expires_in": i.expires_in })),
        )
            .into_response()
    };
    if qget(q, "grant_type") == Some("fb_exchange_token") {
        let (Some(cid), Some(sec), Some(short)) = (
            qget(q, "client_id"),
            qget(q, "client_secret"),
            qget(q, "fb_exchange_token"),
        ) else {
            return GraphError::param(
                "Missing client_id, client_secret or fb_exchange_token parameter.",
            )
            .into_response();
        };
        return match oauth::exchange_long_lived(app, short, cid, sec) {
            Ok(i) => ok(i),
            Err(e) => token_error(e),
        };
    }
    if qget(q, "code").is_none() {
        return GraphError::param("Missing authorization code").into_response();
    }
    if qget(q, "redirect_uri").is_none() {
        return GraphError::param("Missing redirect_uri parameter.").into_response();
    }
    let mut form = q.to_vec();
    form.retain(|(k, _)| k != "grant_type");
    form.push(("grant_type".into(), "authorization_code".into()));
    match oauth::token(app, Service::Facebook, &form, None) {
        Ok(i) => ok(i),
        Err(e) => token_error(e),
    }
}

async fn dialog(
    State(app): State<Arc<AppState>>,
    Path(ver): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = query_pairs(q.as_deref());
    oauth::authorize_page(
        &app,
        Service::Facebook,
        &pairs,
        &format!("{}/facebook/www/{ver}/dialog/oauth", app.base_url),
    )
}

async fn dialog_nov(State(app): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(q.as_deref());
    oauth::authorize_page(
        &app,
        Service::Facebook,
        &pairs,
        &format!("{}/facebook/www/dialog/oauth", app.base_url),
    )
}

async fn dialog_post(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    oauth::authorize_decide(&app, Service::Facebook, &util::form_pairs(&body))
}

async fn dialog_post_nov(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    oauth::authorize_decide(&app, Service::Facebook, &util::form_pairs(&body))
}

// ---------------------------------------------------------------------------------------
// CDN

/// The JPEG behind a photo rendition (deterministic from seed + photo id + size).
pub fn photo_jpeg(app: &AppState, p: &Photo, w: u32, h: u32) -> Vec<u8> {
    let mut spec = PhotoSpec::new(app.world.seed ^ util::mix(p.index as u64 + 1));
    spec.width = w.min(u16::MAX as u32) as u16;
    spec.height = h.min(u16::MAX as u32) as u16;
    let t = util::unix_to_dt(p.taken);
    spec.taken = Some(time::PrimitiveDateTime::new(t.date(), t.time()));
    spec.offset = Some(time::UtcOffset::UTC);
    spec.gps = p.place.as_ref().map(|pl| (pl.latitude, pl.longitude));
    crate::media::jpeg(&spec)
}

/// The MP4 behind a video's `source`.
pub fn video_mp4(app: &AppState, v: &Video) -> Mp4 {
    let mut spec = VideoSpec::new(
        app.world.seed ^ util::mix(0x7669_6400 + v.index as u64),
        v.size,
    );
    spec.created = Some(util::unix_to_dt(v.created));
    Mp4::new(&spec)
}

fn video_thumb(app: &AppState, v: &Video) -> Vec<u8> {
    let mut spec = PhotoSpec::new(app.world.seed ^ util::mix(0x7669_6400 + v.index as u64));
    spec.width = 160;
    spec.height = 120;
    crate::media::jpeg(&spec)
}

fn cdn_error(msg: &'static str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain")],
        msg,
    )
        .into_response()
}

async fn cdn(
    State(app): State<Arc<AppState>>,
    Path((kind, file)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let q = query_pairs(q.as_deref());
    let exp = qget(&q, "oe").and_then(|e| i64::from_str_radix(e, 16).ok());
    let (Some(exp), Some(sig)) = (exp, qget(&q, "oh")) else {
        return cdn_error("Bad URL hash");
    };
    if app.sign(&format!("{kind}/{file}"), exp) != sig {
        return cdn_error("Bad URL hash");
    }
    if app.clock.unix() >= exp {
        return cdn_error("URL signature expired");
    }
    let w = &app.world;
    let not_found = || (StatusCode::NOT_FOUND, "Not Found").into_response();
    let id = file.split(['_', '.']).next().unwrap_or("");
    if app.fb_deleted.lock().unwrap().contains(id) {
        return not_found();
    }
    match kind.as_str() {
        "p" => {
            let Some((id, size)) = file.strip_suffix(".jpg").and_then(|f| f.split_once('_')) else {
                return not_found();
            };
            let Some((pw, ph)) = size
                .split_once('x')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            else {
                return not_found();
            };
            let Some(p) = w.photo(id).cloned() else {
                return not_found();
            };
            // Encoding is CPU work: keep it off the threads that serve other requests.
            let a = app.clone();
            match tokio::task::spawn_blocking(move || photo_jpeg(&a, &p, pw, ph)).await {
                Ok(jpeg) => ranged(Bytes::from(jpeg), "image/jpeg", &headers),
                Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "").into_response(),
            }
        }
        "t" => {
            let Some(v) = file.strip_suffix(".jpg").and_then(|id| w.video(id)) else {
                return not_found();
            };
            ranged(Bytes::from(video_thumb(&app, v)), "image/jpeg", &headers)
        }
        "v" => {
            let Some(v) = file.strip_suffix(".mp4").and_then(|id| w.video(id)) else {
                return not_found();
            };
            let mp4 = video_mp4(&app, v);
            let len = mp4.len();
            let range = util::parse_range(
                headers.get(header::RANGE).and_then(|h| h.to_str().ok()),
                len,
            );
            let (status, start, end) = match range {
                None => (StatusCode::OK, 0, len.saturating_sub(1)),
                Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
                Some(Err(())) => return unsatisfiable(len),
            };
            let body = Body::from_stream(slice_chunks(mp4.chunks(), start, end));
            let mut r = Response::new(body);
            *r.status_mut() = status;
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end + 1 - start));
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if status == StatusCode::PARTIAL_CONTENT
                && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
            {
                h.insert(header::CONTENT_RANGE, v);
            }
            r
        }
        _ => not_found(),
    }
}

fn unsatisfiable(len: u64) -> Response {
    let mut r = (StatusCode::RANGE_NOT_SATISFIABLE, "").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

/// Serves a small in-memory file with `Range` support.
pub(crate) fn ranged(b: Bytes, ctype: &'static str, headers: &HeaderMap) -> Response {
    let len = b.len() as u64;
    let range = util::parse_range(
        headers.get(header::RANGE).and_then(|h| h.to_str().ok()),
        len,
    );
    let (status, body, cr) = match range {
        None => (StatusCode::OK, b, None),
        Some(Ok((a, e))) => (
            StatusCode::PARTIAL_CONTENT,
            b.slice(a as usize..=e as usize),
            Some(format!("bytes {a}-{e}/{len}")),
        ),
        Some(Err(())) => return unsatisfiable(len),
    };
    let mut r = (
        status,
        [
            (header::CONTENT_TYPE, ctype),
            (header::ACCEPT_RANGES, "bytes"),
        ],
        body,
    )
        .into_response();
    if let Some(cr) = cr.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::CONTENT_RANGE, cr);
    }
    r
}

/// The bytes `[start, end]` of a chunk sequence, as a stream.
pub(crate) fn slice_chunks(
    chunks: impl Iterator<Item = Bytes> + Send + 'static,
    start: u64,
    end_incl: u64,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut pos = 0u64;
    let it = chunks.filter_map(move |c| {
        let (cs, ce) = (pos, pos + c.len() as u64);
        pos = ce;
        if ce <= start || cs > end_incl {
            return None;
        }
        let a = start.saturating_sub(cs) as usize;
        let b = ((end_incl + 1).min(ce) - cs) as usize;
        Some(Ok(c.slice(a..b)))
    });
    // Stop pulling chunks once past the end (the iterator may be long).
    let limit = end_incl;
    let mut done = false;
    let mut seen = 0u64;
    let it = it.take_while(move |r: &Result<Bytes, std::io::Error>| {
        if done {
            return false;
        }
        if let Ok(b) = r {
            seen += b.len() as u64;
            if start + seen > limit {
                done = true;
            }
        }
        true
    });
    futures::stream::iter(it)
}

// ---------------------------------------------------------------------------------------
// Inspection

/// Size and SHA-256 of a photo's original, computed once per photo.
fn photo_digest(app: &AppState, p: &Photo) -> (usize, String) {
    use sha2::Digest;
    if let Some(d) = app.fb_digests.lock().unwrap().get(&p.index) {
        return d.clone();
    }
    let bytes = photo_jpeg(app, p, p.width, p.height);
    let d = (bytes.len(), hex::encode(sha2::Sha256::digest(&bytes)));
    app.fb_digests.lock().unwrap().insert(p.index, d.clone());
    d
}

/// The seeded account as the inspection API shows it, with the SHA-256 of every original.
pub fn inspect(app: &AppState) -> Value {
    use sha2::Digest;
    let w = &app.world;
    let albums: Vec<Value> = w
        .albums
        .iter()
        .map(|a| {
            json!({ "id": a.id, "name": a.name, "description": a.description,
                    "created_time": fb_time(a.created),
                    "photo_ids": a.photos.iter().map(|&i| w.photos[i].id.clone()).collect::<Vec<_>>() })
        })
        .collect();
    let photos: Vec<Value> = w
        .photos
        .iter()
        .map(|p| {
            let (size, sha) = photo_digest(app, p);
            json!({ "id": p.id, "album_id": w.albums.get(p.album).map(|a| a.id.clone()),
                    "name": p.caption, "created_time": fb_time(p.created), "taken_time": fb_time(p.taken),
                    "width": p.width, "height": p.height,
                    "place": p.place.as_ref().map(place_json),
                    "size": size, "sha256": sha })
        })
        .collect();
    let videos: Vec<Value> = w
        .videos
        .iter()
        .map(|v| {
            let mp4 = video_mp4(app, v);
            // Hashing multi-GiB videos here would stall the caller; report it up to 256 MiB.
            let sha = (mp4.len() <= 256 << 20).then(|| {
                let mut h = sha2::Sha256::new();
                for c in mp4.chunks() {
                    h.update(&c);
                }
                hex::encode(h.finalize())
            });
            json!({ "id": v.id, "title": v.title, "description": v.description,
                    "created_time": fb_time(v.created), "size": mp4.len(), "sha256": sha })
        })
        .collect();
    json!({ "facebook": { "user": { "id": w.facebook.id, "name": w.facebook.name },
                          "albums": albums, "photos": photos, "videos": videos } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_nested_and_modifiers() {
        let f = parse_fields("id,place{name,location{city}},photos.limit(5){images},name").unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(
            f[1].sub.as_ref().unwrap()[1].sub.as_ref().unwrap()[0].name,
            "city"
        );
        assert_eq!(f[2].limit, Some(5));
        assert!(parse_fields("id,{").is_err());
        assert!(parse_fields("id{name").is_err());
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(17)).unwrap(), 17);
        assert!(decode_cursor("garbage!").is_err());
    }

    #[test]
    fn slicing_chunks() {
        use futures::StreamExt;
        let chunks = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defg"),
            Bytes::from_static(b"hi"),
        ];
        let got: Vec<u8> = futures::executor::block_on(
            slice_chunks(chunks.into_iter(), 2, 7)
                .map(|r| r.unwrap())
                .collect::<Vec<_>>(),
        )
        .concat();
        assert_eq!(got, b"cdefgh");
    }
}
