//! "Download your information": a person chooses a source, data types and dates; ferry
//! builds the archive in the background (ferry's own format: media as they are, records as
//! JSON, a manifest of SHA-256s, an offline viewer), then tells them by e-mail and in the
//! app. Downloading takes the signed-in owner and their password again: the password buys a
//! one-time ticket good for a few minutes, so a download URL that leaks (history, proxy
//! logs) is worth nothing. The link expires after 4 days (configurable) and the archive is
//! deleted then.

use std::path::PathBuf;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use ferry_archives::ferry::ExportOptions;
use ferry_core::model::Timestamp;
use ferry_core::{DataType, Scope};
use ferry_engine::{ArchiveReady, ArchiveRow};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::{ClientIp, CurrentSession, Password, unix_now};
use crate::connect::{ConnectionView, connection_views};
use crate::forms::{FormPairs, Pairs};
use crate::notify::Message;
use crate::web::{Nav, Page, error_page};
use crate::workers::Workers;
use crate::{ApiError, AppState};

/// How long a download ticket lives once minted.
const TICKET_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// What a person asks to be archived (kept as JSON on the archive's row).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ArchiveRequest {
    /// A source connection's name.
    pub source: String,
    /// Data types (default: all of them).
    #[serde(default)]
    pub types: Vec<DataType>,
    /// Only records from this day on (YYYY-MM-DD, UTC) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// … up to and including this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl ArchiveRequest {
    fn from_pairs(pairs: &Pairs) -> Result<ArchiveRequest, ApiError> {
        let mut types = Vec::new();
        for t in pairs.all("types") {
            types.push(parse_type(&t)?);
        }
        if types.is_empty() {
            return Err(ApiError::BadRequest(
                "choose at least one kind of data".into(),
            ));
        }
        Ok(ArchiveRequest {
            source: pairs.get("source").unwrap_or_default().to_string(),
            types,
            since: pairs.get("since").map(str::to_string),
            until: pairs.get("until").map(str::to_string),
        })
    }

    fn scope(&self) -> Result<Scope, ApiError> {
        let types = if self.types.is_empty() {
            DataType::ALL.into_iter().collect()
        } else {
            self.types.iter().copied().collect()
        };
        let since = self.since.as_deref().map(|d| day(d, false)).transpose()?;
        let until = self.until.as_deref().map(|d| day(d, true)).transpose()?;
        if let (Some(since), Some(until)) = (&since, &until)
            && since.utc >= until.utc
        {
            return Err(ApiError::BadRequest(
                "the start date is after the end date".into(),
            ));
        }
        Ok(Scope {
            types,
            since,
            until,
        })
    }

    fn describe(&self) -> String {
        let types = if self.types.is_empty() || self.types.len() == DataType::ALL.len() {
            "everything".to_string()
        } else {
            self.types
                .iter()
                .map(|t| type_label(*t).to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!("{types} from {}", self.source);
        match (&self.since, &self.until) {
            (Some(s), Some(u)) => text.push_str(&format!(", {s} to {u}")),
            (Some(s), None) => text.push_str(&format!(", since {s}")),
            (None, Some(u)) => text.push_str(&format!(", until {u}")),
            (None, None) => {}
        }
        text
    }
}

/// A type by its name in the API (`DataType::as_str`: "photos", "check-ins").
pub(crate) fn parse_type(text: &str) -> Result<DataType, ApiError> {
    DataType::ALL
        .into_iter()
        .find(|t| t.as_str() == text)
        .ok_or_else(|| ApiError::BadRequest(format!("unknown kind of data '{text}'")))
}

fn type_label(t: DataType) -> &'static str {
    match t {
        DataType::Photos => "Photos",
        DataType::Videos => "Videos",
        DataType::Posts => "Posts",
        DataType::Comments => "Comments",
        DataType::Stories => "Archived stories",
        DataType::Messages => "Messages",
        DataType::Profile => "Profile",
        DataType::Notes => "Notes",
        DataType::Events => "Events",
        DataType::CheckIns => "Check-ins",
    }
}

/// A day (UTC); `end` means the start of the next day, so that the day itself is included.
fn day(text: &str, end: bool) -> Result<Timestamp, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, format)
        .map_err(|_| ApiError::BadRequest(format!("'{text}' is not a date (YYYY-MM-DD)")))?;
    let mut at = date.midnight().assume_utc();
    if end {
        at += time::Duration::days(1);
    }
    Ok(Timestamp::from_utc(at))
}

/// The folder of one archive (its id is a UUID: nothing from the request reaches the path).
fn archive_folder(workers: &Workers, id: &str) -> PathBuf {
    workers.config().archive_dir.join(id)
}

/// Builds an archive and records the outcome; run by the workers.
pub async fn build(workers: &Workers, id: &str) {
    let app = workers.app();
    let row = match app.archive(id).await {
        Ok(Some(row)) if row.state == "building" => row,
        Ok(_) => return,
        Err(err) => {
            tracing::error!(archive = id, error = %err, "cannot read the archive request");
            return;
        }
    };
    let what = serde_json::from_str::<ArchiveRequest>(&row.request)
        .map(|r| r.describe())
        .unwrap_or_default();
    match build_file(workers, &row).await {
        Ok(ready) => {
            if let Err(err) = app.archive_ready(id, &ready).await {
                tracing::error!(archive = id, error = %err, "cannot record the archive");
                return;
            }
            let until = show_time(ready.expires_at);
            workers
                .notifier()
                .tell(
                    &row.owner,
                    Message {
                        subject: "Your ferry archive is ready".into(),
                        text: format!(
                            "Your archive ({what}) is ready. Download it until {until}; it is \
                             deleted then."
                        ),
                        link: format!("/archives/{id}"),
                    },
                )
                .await;
        }
        // A build cut short by the server stopping starts again on the next start.
        Err(_) if workers.stopping() => {}
        Err(err) => {
            let reason = format!("{err:#}");
            tracing::warn!(archive = id, error = %reason, "archive build failed");
            let _ = tokio::fs::remove_dir_all(archive_folder(workers, id)).await;
            let _ = app.archive_failed(id, &reason).await;
            workers
                .notifier()
                .tell(
                    &row.owner,
                    Message {
                        subject: "Your ferry archive could not be built".into(),
                        text: format!("Your archive ({what}) could not be built: {reason}"),
                        link: "/archives".into(),
                    },
                )
                .await;
        }
    }
}

async fn build_file(workers: &Workers, row: &ArchiveRow) -> anyhow::Result<ArchiveReady> {
    let request: ArchiveRequest = serde_json::from_str(&row.request)?;
    let scope = request.scope().map_err(|e| anyhow::anyhow!("{e}"))?;
    let folder = archive_folder(workers, &row.id);
    // A build interrupted by a stop left part of a file: start clean.
    let _ = tokio::fs::remove_dir_all(&folder).await;
    // People's archives wait in the data dir: the owner's only (0700 folders, 0600 files).
    ferry_core::private::create_dir_all(&folder)?;
    let source = ferry_endpoints::open_source(
        workers.connections(),
        &row.owner,
        &format!("{}:", request.source),
    )
    .await?;
    let date = OffsetDateTime::now_utc().date();
    let out = folder.join(format!("ferry-export-{date}.zip"));
    let options = ExportOptions {
        scope,
        split_size: 0,
        encryption: None,
        private: true,
    };
    let summary = ferry_archives::ferry::export(&[source], &out, &options, &|_| {}).await?;
    let part = summary
        .parts
        .first()
        .ok_or_else(|| anyhow::anyhow!("the export wrote no file"))?;
    let counts = serde_json::to_string(&summary.counts)?;
    let path = workers
        .config()
        .archive_store
        .keep(&part.path, &row.id)
        .await?;
    let now = unix_now();
    Ok(ArchiveReady {
        path,
        size: part.size,
        sha256: part.sha256.clone(),
        summary: counts,
        ready_at: now,
        expires_at: now + workers.config().link_lifetime.as_secs() as i64,
    })
}

/// Deletes the files of archives whose link has expired, and says so on their rows.
pub async fn expire_due(state: &AppState) {
    let due = match state.app().due_archives(unix_now()).await {
        Ok(due) => due,
        Err(err) => {
            tracing::warn!(error = %err, "cannot list expired archives");
            return;
        }
    };
    for archive in due {
        expire(state, &archive).await;
    }
}

async fn expire(state: &AppState, archive: &ArchiveRow) {
    if let Some(path) = &archive.path
        && let Err(err) = state.config().archive_store.delete(path).await
    {
        // Kept `ready` so that the next sweep tries again; downloads are refused anyway.
        tracing::warn!(archive = %archive.id, error = %format!("{err:#}"), "cannot delete an expired archive");
        return;
    }
    let folder = archive_folder(state.workers(), &archive.id);
    match tokio::fs::remove_dir_all(&folder).await {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            // Kept `ready` so that the next sweep tries again; downloads are refused anyway.
            tracing::warn!(archive = %archive.id, error = %err, "cannot delete an expired archive");
            return;
        }
    }
    if let Err(err) = state.app().archive_expired(&archive.id).await {
        tracing::warn!(archive = %archive.id, error = %err, "cannot mark an archive expired");
    }
    let _ = state
        .app()
        .audit(&archive.owner, "archive_deleted", &archive.id)
        .await;
}

/// An archive of the signed-in person; anyone else's is "not found". An expired one is
/// "gone" (and deleted now if the sweep has not come by yet).
async fn owned_archive(
    state: &AppState,
    current: &CurrentSession,
    id: &str,
) -> Result<ArchiveRow, ApiError> {
    let not_found = || ApiError::NotFound("no such archive".into());
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    let archive = state
        .app()
        .archive(id)
        .await?
        .filter(|a| a.owner == current.account.id)
        .ok_or_else(not_found)?;
    if archive.state == "ready" && archive.expires_at.is_some_and(|at| at <= unix_now()) {
        expire(state, &archive).await;
        return Err(gone());
    }
    if archive.state == "expired" {
        return Err(gone());
    }
    Ok(archive)
}

fn gone() -> ApiError {
    ApiError::Gone("this archive has expired and was deleted; you can ask for a new one".into())
}

fn show_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map(|t| t.replace('T', " ").replace('Z', " UTC"))
        .unwrap_or_default()
}

/// An archive as pages and the API show it.
#[derive(Clone, Debug, Serialize)]
pub struct ArchiveView {
    pub id: String,
    /// building | ready | failed | expired
    pub state: String,
    pub what: String,
    pub created_at: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// Unix seconds; the archive is deleted then.
    pub expires_at: Option<i64>,
    pub error: Option<String>,
    /// Records per type.
    pub counts: Option<serde_json::Value>,
    #[serde(skip)]
    pub size_text: String,
    #[serde(skip)]
    pub expires_text: String,
}

fn view(row: &ArchiveRow) -> ArchiveView {
    let expired_now = row.state == "ready" && row.expires_at.is_some_and(|at| at <= unix_now());
    ArchiveView {
        id: row.id.clone(),
        state: if expired_now {
            "expired".into()
        } else {
            row.state.clone()
        },
        what: serde_json::from_str::<ArchiveRequest>(&row.request)
            .map(|r| r.describe())
            .unwrap_or_default(),
        created_at: show_time(row.created_at),
        size: row.size,
        sha256: row.sha256.clone(),
        expires_at: row.expires_at,
        error: row.error.clone(),
        counts: row
            .summary
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        size_text: row.size.map(crate::jobs::human_bytes).unwrap_or_default(),
        expires_text: row.expires_at.map(show_time).unwrap_or_default(),
    }
}

async fn request(
    state: &AppState,
    current: &CurrentSession,
    request: ArchiveRequest,
) -> Result<ArchiveRow, ApiError> {
    let owner = &current.account.id;
    let sources = connection_views(state, owner).await?;
    if !sources.iter().any(|c| c.source && c.name == request.source) {
        return Err(ApiError::BadRequest(format!(
            "'{}' is not one of your sources",
            request.source
        )));
    }
    request.scope()?;
    let row = ArchiveRow {
        id: uuid::Uuid::now_v7().to_string(),
        owner: owner.clone(),
        state: "building".into(),
        request: serde_json::to_string(&request).map_err(|e| ApiError::Internal(e.to_string()))?,
        path: None,
        size: None,
        sha256: None,
        summary: None,
        error: None,
        created_at: unix_now(),
        ready_at: None,
        expires_at: None,
    };
    state.app().create_archive(&row).await?;
    state
        .app()
        .audit(
            owner,
            "archive_requested",
            &format!("{} {}", row.id, request.describe()),
        )
        .await?;
    state.workers().build_archive(row.id.clone());
    Ok(row)
}

/// Mints a one-time download ticket; the caller has checked the password is fresh.
async fn ticket(state: &AppState, archive: &ArchiveRow) -> Result<String, ApiError> {
    if archive.state != "ready" {
        return Err(match archive.state.as_str() {
            "expired" => gone(),
            other => ApiError::Conflict(format!("the archive is {other}, not ready")),
        });
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = unix_now() + TICKET_LIFETIME.as_secs() as i64;
    state
        .app()
        .create_ticket(
            &ticket_hash(&ticket),
            &archive.id,
            &archive.owner,
            expires_at,
        )
        .await?;
    Ok(format!(
        "/api/v1/archives/{}/download?ticket={ticket}",
        archive.id
    ))
}

fn ticket_hash(ticket: &str) -> String {
    hex::encode(Sha256::digest(ticket.as_bytes()))
}

/// `GET /api/v1/archives/{id}/download?ticket=…`: the archive's bytes, once per ticket, to
/// the signed-in owner only.
pub async fn download(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
    crate::forms::QueryPairs(query): crate::forms::QueryPairs,
) -> Result<Response, ApiError> {
    let archive = owned_archive(&state, &current, &id).await?;
    let spent = match query.get("ticket") {
        Some(ticket) => {
            state
                .app()
                .spend_ticket(&ticket_hash(ticket), unix_now())
                .await?
        }
        None => None,
    };
    match spent {
        Some((archive_id, owner)) if archive_id == archive.id && owner == current.account.id => {}
        _ => {
            return Err(ApiError::Gone(
                "this download link was used already or has expired; enter your password again \
                 for a new one"
                    .into(),
            ));
        }
    }
    let Some(path) = archive.path.as_deref().filter(|_| archive.state == "ready") else {
        return Err(gone());
    };
    let (size, bytes) = state
        .config()
        .archive_store
        .open(path)
        .await
        .map_err(|err| ApiError::Internal(format!("opening archive {}: {err:#}", archive.id)))?;
    let name = std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ferry-export.zip".into());
    state
        .app()
        .audit(&current.account.id, "archive_downloaded", &archive.id)
        .await?;
    let body = Body::from_stream(bytes);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

// ---- pages ----

#[derive(Template, WebTemplate)]
#[template(path = "download.html")]
struct RequestPage {
    nav: Nav,
    sources: Vec<ConnectionView>,
    types: Vec<(&'static str, &'static str)>,
    lifetime: String,
    error: Option<String>,
}

fn request_page_for(
    state: &AppState,
    current: &CurrentSession,
    sources: Vec<ConnectionView>,
    error: Option<ApiError>,
) -> Response {
    let hours = state.config().link_lifetime.as_secs() / 3600;
    let lifetime = if hours.is_multiple_of(24) && hours > 0 {
        format!("{} days", hours / 24)
    } else {
        format!("{hours} hours")
    };
    let status = error.as_ref().map_or(StatusCode::OK, ApiError::status);
    let page = RequestPage {
        nav: Nav::new(state, current),
        sources: sources.into_iter().filter(|c| c.source).collect(),
        types: DataType::ALL
            .into_iter()
            .map(|t| (t.as_str(), type_label(t)))
            .collect(),
        lifetime,
        error: error.map(|e| e.to_string()),
    };
    (status, page).into_response()
}

/// `GET /download`
pub async fn request_page(State(state): State<AppState>, Page(current): Page) -> Response {
    match connection_views(&state, &current.account.id).await {
        Ok(sources) => request_page_for(&state, &current, sources, None),
        Err(err) => error_page(&state, &current, err, "/"),
    }
}

/// `POST /download`
pub async fn request_form(
    State(state): State<AppState>,
    Page(current): Page,
    FormPairs(form): FormPairs,
) -> Response {
    let made = async {
        let asked = ArchiveRequest::from_pairs(&form)?;
        request(&state, &current, asked).await
    }
    .await;
    match made {
        Ok(_) => Redirect::to("/archives").into_response(),
        Err(err) => {
            let sources = connection_views(&state, &current.account.id)
                .await
                .unwrap_or_default();
            request_page_for(&state, &current, sources, Some(err))
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "archives.html")]
struct ArchivesPage {
    nav: Nav,
    archives: Vec<ArchiveView>,
    building: bool,
}

/// `GET /archives`
pub async fn list_page(State(state): State<AppState>, Page(current): Page) -> Response {
    match state.app().archives(&current.account.id).await {
        Ok(rows) => {
            let archives: Vec<ArchiveView> = rows.iter().map(view).collect();
            ArchivesPage {
                nav: Nav::new(&state, &current),
                building: archives.iter().any(|a| a.state == "building"),
                archives,
            }
            .into_response()
        }
        Err(err) => error_page(&state, &current, err.into(), "/"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "archive.html")]
struct ArchivePage {
    nav: Nav,
    archive: ArchiveView,
    error: Option<String>,
}

/// `GET /archives/{id}`: the e-mail's link.
pub async fn archive_page(
    State(state): State<AppState>,
    Page(current): Page,
    Path(id): Path<String>,
) -> Response {
    match owned_archive(&state, &current, &id).await {
        Ok(archive) if archive.state == "ready" => ArchivePage {
            nav: Nav::new(&state, &current),
            archive: view(&archive),
            error: None,
        }
        .into_response(),
        Ok(_) => Redirect::to("/archives").into_response(),
        Err(err) => error_page(&state, &current, err, "/archives"),
    }
}

/// `POST /archives/{id}/download`: the password, then off to a one-time download URL.
pub async fn download_form(
    State(state): State<AppState>,
    Page(current): Page,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    FormPairs(form): FormPairs,
) -> Response {
    let archive = match owned_archive(&state, &current, &id).await {
        Ok(archive) => archive,
        Err(err) => return error_page(&state, &current, err, "/archives"),
    };
    let password = Password::new(form.get("password").unwrap_or_default().to_string());
    let minted = async {
        current.confirm(&state, &password, ip).await?;
        ticket(&state, &archive).await
    }
    .await;
    match minted {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(err) => {
            let status = err.status();
            let page = ArchivePage {
                nav: Nav::new(&state, &current),
                archive: view(&archive),
                error: Some(err.to_string()),
            };
            (status, page).into_response()
        }
    }
}

// ---- API ----

/// `GET /api/v1/archives`
pub async fn api_list(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<ArchiveView>>, ApiError> {
    let rows = state.app().archives(&current.account.id).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

/// `POST /api/v1/archives`
pub async fn api_request(
    State(state): State<AppState>,
    current: CurrentSession,
    json: Result<Json<ArchiveRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let asked = crate::api::body(json)?;
    let row = request(&state, &current, asked).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&row))).into_response())
}

/// `GET /api/v1/archives/{id}`
pub async fn api_archive(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<Json<ArchiveView>, ApiError> {
    Ok(Json(view(&owned_archive(&state, &current, &id).await?)))
}

#[derive(Debug, Serialize)]
pub struct Ticket {
    /// Good for one download, within 5 minutes, by the same signed-in account.
    pub url: String,
}

/// `POST /api/v1/archives/{id}/ticket`: needs the password entered within 5 minutes
/// (`POST /api/v1/session/confirm`).
pub async fn api_ticket(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let archive = owned_archive(&state, &current, &id).await?;
    current.require_recent_confirmation(state.config().confirmation_max_age)?;
    let url = ticket(&state, &archive).await?;
    Ok((StatusCode::CREATED, Json(Ticket { url })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_requests_with_inclusive_days() {
        let pairs = Pairs::parse(
            b"source=facebook&types=photos&types=posts&since=2024-01-01&until=2024-01-31",
        );
        let request = ArchiveRequest::from_pairs(&pairs).unwrap();
        assert_eq!(request.types, vec![DataType::Photos, DataType::Posts]);
        let scope = request.scope().unwrap();
        let until = scope.until.unwrap().utc;
        assert_eq!(
            until.date().to_string(),
            "2024-02-01",
            "the 31st is included"
        );
        assert!(ArchiveRequest::from_pairs(&Pairs::parse(b"source=facebook")).is_err());
        let backwards = ArchiveRequest {
            source: "f".into(),
            types: vec![],
            since: Some("2024-02-01".into()),
            until: Some("2024-01-01".into()),
        };
        assert!(backwards.scope().is_err());
        assert!(parse_type("secrets").is_err());
    }

    #[test]
    fn tickets_are_stored_as_hashes() {
        let hash = ticket_hash("abc");
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, "abc");
    }
}
