//! "Transfer a copy of your photos or videos": choose what and where, review (counts, size,
//! where it lands), confirm with the password, then the job runs in the background; its page
//! follows it live (server-sent events) and can pause, resume or cancel it.
//!
//! A person only ever reaches their own jobs: every lookup checks the owner, and another
//! account's job answers exactly like one that does not exist.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use ferry_connectors::registry;
use ferry_core::{DataType, Layout, Record, Scope};
use ferry_engine::{Failure, Job, JobSpec, JobState, LayoutOptions, Phase, Progress};
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::auth::{ClientIp, CurrentSession, Password};
use crate::connect::{ConnectionView, connection_views};
use crate::forms::{FormPairs, Pairs, QueryPairs};
use crate::web::{Nav, Page, error_page};
use crate::workers::describe;
use crate::{ApiError, AppState};

/// How long a review may list the source before it shows what it has counted so far.
const REVIEW_LISTING_LIMIT: Duration = Duration::from_secs(60);
/// How often the live progress is sent.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What a person asks to transfer.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TransferRequest {
    /// A source connection's name.
    pub source: String,
    /// A destination connection's name.
    pub destination: String,
    /// `photos`, `videos` (default both).
    #[serde(default)]
    pub types: Vec<String>,
    /// Only these albums (their ids at the source); absent or empty: all.
    #[serde(default)]
    pub albums: Option<Vec<String>>,
}

impl TransferRequest {
    fn from_pairs(pairs: &Pairs) -> TransferRequest {
        let chosen = pairs.get("albums") == Some("chosen");
        TransferRequest {
            source: pairs.get("source").unwrap_or_default().to_string(),
            destination: pairs.get("destination").unwrap_or_default().to_string(),
            types: pairs.all("types"),
            albums: chosen.then(|| pairs.all("album")),
        }
    }

    /// The form fields that carry this request to the next step.
    fn hidden_fields(&self) -> Vec<(String, String)> {
        let mut fields = vec![
            ("source".to_string(), self.source.clone()),
            ("destination".to_string(), self.destination.clone()),
        ];
        fields.extend(self.types.iter().map(|t| ("types".to_string(), t.clone())));
        if let Some(albums) = &self.albums {
            fields.push(("albums".into(), "chosen".into()));
            fields.extend(albums.iter().map(|a| ("album".to_string(), a.clone())));
        }
        fields
    }
}

/// A request checked against the person's connections.
struct Checked {
    source: ConnectionView,
    destination: ConnectionView,
    scope: Scope,
    albums: Option<Vec<String>>,
}

async fn check(
    state: &AppState,
    owner: &str,
    request: &TransferRequest,
) -> Result<Checked, ApiError> {
    let connections = connection_views(state, owner).await?;
    let find = |name: &str| connections.iter().find(|c| c.name == name).cloned();
    let source = find(&request.source).filter(|c| c.source).ok_or_else(|| {
        ApiError::BadRequest(format!("'{}' is not one of your sources", request.source))
    })?;
    let destination = find(&request.destination)
        .filter(|c| !c.source)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{}' is not one of your destinations",
                request.destination
            ))
        })?;
    // None named: everything the route can carry (the job says what it could not).
    let types = if request.types.is_empty() {
        DataType::ALL.into()
    } else {
        request
            .types
            .iter()
            .map(|t| crate::archives::parse_type(t))
            .collect::<Result<BTreeSet<_>, _>>()?
    };
    let albums = match &request.albums {
        Some(albums) if albums.is_empty() => {
            return Err(ApiError::BadRequest(
                "choose at least one album, or all albums".into(),
            ));
        }
        Some(albums) => Some(albums.clone()),
        None => None,
    };
    Ok(Checked {
        source,
        destination,
        scope: Scope {
            types,
            since: None,
            until: None,
        },
        albums,
    })
}

/// What a source holds for a scope, from a listing.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    pub photos: u64,
    pub videos: u64,
    pub bytes: u64,
    /// Items whose size the source does not announce (not in `bytes`).
    pub unknown_sizes: u64,
    pub albums: Vec<AlbumView>,
    /// The listing was cut short (a very large account): the figures are a minimum.
    pub partial: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct AlbumView {
    pub id: String,
    pub title: String,
    pub items: u64,
}

/// Lists a source through (at most [`REVIEW_LISTING_LIMIT`]) and counts what a transfer of
/// `scope` and `albums` would move.
async fn inventory(
    state: &AppState,
    owner: &str,
    source: &str,
    scope: &Scope,
    albums: Option<&[String]>,
) -> Result<Inventory, ApiError> {
    let source = ferry_endpoints::open_source(state.connections(), owner, &format!("{source}:"))
        .await
        .map_err(|e| ApiError::BadRequest(format!("cannot open {source}: {e:#}")))?;
    let mut inventory = Inventory::default();
    let mut album_items: std::collections::HashMap<String, u64> = Default::default();
    let deadline = tokio::time::Instant::now() + REVIEW_LISTING_LIMIT;
    let mut cursor: Option<String> = None;
    loop {
        let page = tokio::time::timeout_at(deadline, source.list(scope, cursor.as_deref())).await;
        let page = match page {
            Ok(Ok(page)) => page,
            Ok(Err(err)) => {
                return Err(ApiError::BadRequest(format!(
                    "listing the source failed: {err}"
                )));
            }
            Err(_) => {
                inventory.partial = true;
                break;
            }
        };
        for record in page.records {
            match record {
                Record::Album(album) => inventory.albums.push(AlbumView {
                    id: album.id,
                    title: album.title,
                    items: 0,
                }),
                Record::Media(item) if scope.wants(item.kind.data_type()) => {
                    if let Some(chosen) = albums
                        && !item.albums.iter().any(|a| chosen.contains(a))
                    {
                        continue;
                    }
                    for album in &item.albums {
                        *album_items.entry(album.clone()).or_default() += 1;
                    }
                    match item.kind.data_type() {
                        DataType::Videos => inventory.videos += 1,
                        _ => inventory.photos += 1,
                    }
                    match item.size {
                        Some(size) => inventory.bytes += size,
                        None => inventory.unknown_sizes += 1,
                    }
                }
                _ => {}
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    for album in &mut inventory.albums {
        album.items = album_items.get(&album.id).copied().unwrap_or(0);
    }
    Ok(inventory)
}

/// The review: what moves, how much, and where it lands.
#[derive(Clone, Debug, Serialize)]
pub struct Review {
    pub source: String,
    pub source_title: String,
    pub destination: String,
    pub destination_title: String,
    pub items: u64,
    pub inventory: Inventory,
    pub items_text: String,
    pub bytes_text: String,
    pub where_text: String,
}

async fn review(state: &AppState, owner: &str, checked: &Checked) -> Result<Review, ApiError> {
    let inventory = inventory(
        state,
        owner,
        &checked.source.name,
        &checked.scope,
        checked.albums.as_deref(),
    )
    .await?;
    let dest = ferry_endpoints::open_destination(
        state.connections(),
        owner,
        &format!("{}:", checked.destination.name),
    )
    .await
    .map_err(|e| {
        ApiError::BadRequest(format!("cannot open {}: {e:#}", checked.destination.name))
    })?;
    let layout = LayoutOptions::default();
    let where_text = match dest.capabilities().layout {
        Layout::Folders => {
            let mut roots = Vec::new();
            if checked.scope.wants(DataType::Photos) {
                roots.push(format!("{}/<album>", layout.photos_root));
            }
            if checked.scope.wants(DataType::Videos) {
                roots.push(format!("{}/<album>", layout.videos_root));
            }
            format!(
                "new private folders {} on {}, one folder per album",
                roots.join(" and "),
                checked.destination.name
            )
        }
        Layout::Albums => format!(
            "private albums named after yours in {}, with the same titles",
            checked.destination.name
        ),
    };
    let items = inventory.photos + inventory.videos;
    let more = if inventory.partial { "at least " } else { "" };
    let mut items_text = format!(
        "{more}{items} items: {} photos and {} videos",
        inventory.photos, inventory.videos
    );
    if let Some(chosen) = &checked.albums {
        items_text.push_str(&format!(
            ", from {} chosen album{}",
            chosen.len(),
            if chosen.len() == 1 { "" } else { "s" }
        ));
    } else {
        items_text.push_str(&format!(", in {} albums", inventory.albums.len()));
    }
    let bytes_text = match (inventory.bytes, inventory.unknown_sizes) {
        (_, 0) => format!("{more}{}", human_bytes(inventory.bytes)),
        (0, _) => format!(
            "known once copied: {} does not give file sizes beforehand",
            checked.source.name
        ),
        (bytes, unknown) => format!(
            "{more}{} and {unknown} items whose size the source does not give",
            human_bytes(bytes)
        ),
    };
    Ok(Review {
        source: checked.source.name.clone(),
        source_title: title_of(&checked.source.service),
        destination: checked.destination.name.clone(),
        destination_title: title_of(&checked.destination.service),
        items,
        inventory,
        items_text,
        bytes_text,
        where_text,
    })
}

fn title_of(service: &str) -> String {
    registry::named(service).map_or_else(|| service.to_string(), |s| s.title.to_string())
}

/// Confirms with the password when one is given (a wrong one is refused even when the last
/// confirmation is recent), then requires a recent confirmation.
async fn confirm(
    state: &AppState,
    current: &CurrentSession,
    password: Option<&Password>,
    ip: std::net::IpAddr,
) -> Result<(), ApiError> {
    if let Some(password) = password {
        current.confirm(state, password, ip).await?;
        return Ok(());
    }
    current.require_recent_confirmation(state.config().confirmation_max_age)
}

/// Creates (or finds, for the same request) the job and runs it.
async fn start(
    state: &AppState,
    current: &CurrentSession,
    checked: Checked,
) -> Result<Job, ApiError> {
    let owner = &current.account.id;
    let spec = JobSpec {
        sources: vec![format!("{}:", checked.source.name)],
        destination: format!("{}:", checked.destination.name),
        scope: checked.scope,
        layout: LayoutOptions::default(),
        albums: checked.albums,
    };
    let (job, resumed) = state.workers().engine().start(owner, &spec).await?;
    let what = describe(&spec.sources, &spec.destination);
    state
        .app()
        .audit(
            owner,
            if resumed {
                "transfer_resumed"
            } else {
                "transfer_started"
            },
            &format!("{} {what}", job.id),
        )
        .await?;
    state.workers().run(&job.id, true);
    Ok(job)
}

/// A job of the signed-in person; anyone else's is "not found".
async fn owned_job(state: &AppState, current: &CurrentSession, id: &str) -> Result<Job, ApiError> {
    let not_found = || ApiError::NotFound("no such transfer".into());
    // Whole ids only: the journal's prefix lookup is for the CLI.
    if uuid::Uuid::parse_str(id).is_err() || id.len() != 36 {
        return Err(not_found());
    }
    match state.store().job(id).await {
        Ok(job) if job.owner == current.account.id => Ok(job),
        Ok(_) | Err(ferry_engine::EngineError::NoSuchJob(_)) => Err(not_found()),
        Err(err) => Err(err.into()),
    }
}

/// A job as pages and the API show it.
#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    pub id: String,
    pub what: String,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub items_total: u64,
    pub items_settled: u64,
    pub items_done: u64,
    pub items_skipped: u64,
    pub items_failed: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
    /// Bytes per second while it moves.
    pub rate: Option<f64>,
    /// Seconds left, estimated from the rate.
    pub eta_secs: Option<u64>,
    pub failures: Vec<Failure>,
    /// Types asked for that the route cannot carry, each with why.
    pub types_skipped: Vec<TypeSkipped>,
    #[serde(skip)]
    pub bytes_text: String,
    #[serde(skip)]
    pub rate_text: String,
    #[serde(skip)]
    pub eta_text: String,
    #[serde(skip)]
    pub percent: u64,
    #[serde(skip)]
    pub can_pause: bool,
    #[serde(skip)]
    pub can_resume: bool,
    #[serde(skip)]
    pub can_cancel: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct TypeSkipped {
    #[serde(rename = "type")]
    pub data_type: DataType,
    pub reason: String,
}

impl JobView {
    fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "done" | "cancelled")
    }
}

async fn job_view(state: &AppState, job: &Job, failures: u32) -> Result<JobView, ApiError> {
    let counts = state.store().counts(&job.id).await?;
    // A run whose engine has finished has journaled its state (paused, done) and only has to
    // leave the map: the journal tells the truth about it, reason included.
    let running = state
        .workers()
        .running(&job.id)
        .filter(|r| r.progress.phase() != Phase::Finished);
    let (mut total, mut settled, mut failed, mut bytes_total, mut bytes_done) = (
        counts.total,
        counts.done + counts.skipped + counts.failed,
        counts.failed,
        counts.total_bytes,
        counts.bytes,
    );
    let mut rate = None;
    let mut job_state = job.state.as_str().to_string();
    if let Some(running) = &running {
        let p = &running.progress;
        match p.phase() {
            Phase::Planning => {
                job_state = "planning".into();
                total = Progress::get(&p.listed);
            }
            Phase::Moving => {
                job_state = "running".into();
                total = Progress::get(&p.total_items);
                settled = Progress::get(&p.settled_items);
                failed = Progress::get(&p.failed_items).max(failed);
                bytes_total = Progress::get(&p.total_bytes);
                bytes_done = Progress::get(&p.moved_bytes);
                rate = Some(running.rate());
            }
            Phase::Finished => {}
        }
    }
    let eta_secs = match rate {
        Some(r) if r > 1.0 && bytes_total > bytes_done => {
            Some(((bytes_total - bytes_done) as f64 / r).ceil() as u64)
        }
        _ => None,
    };
    let percent = if job.state == JobState::Done {
        100
    } else {
        (settled * 100).checked_div(total).unwrap_or(0).min(100)
    };
    // With workers elsewhere, the journal's state is all there is to go by.
    let is_running = running.is_some()
        || (state.config().work_queue.is_some()
            && matches!(job.state, JobState::Planning | JobState::Running));
    let final_state = job.state.is_final();
    Ok(JobView {
        id: job.id.clone(),
        what: describe(&job.spec.sources, &job.spec.destination),
        reason: job.reason.clone().filter(|_| !is_running),
        created_at: job
            .created_at
            .get(..19)
            .unwrap_or(&job.created_at)
            .replace('T', " "),
        finished_at: job.finished_at.clone(),
        items_total: total,
        items_settled: settled,
        items_done: counts.done,
        items_skipped: counts.skipped,
        items_failed: failed,
        bytes_total,
        bytes_done,
        rate,
        eta_secs,
        failures: state.store().failures(&job.id, failures).await?,
        types_skipped: job
            .types_skipped
            .iter()
            .map(|(data_type, reason)| TypeSkipped {
                data_type: *data_type,
                reason: reason.clone(),
            })
            .collect(),
        bytes_text: format!(
            "{} of {}",
            human_bytes(bytes_done),
            human_bytes(bytes_total)
        ),
        rate_text: rate.map_or_else(|| "–".into(), |r| format!("{}/s", human_bytes(r as u64))),
        eta_text: eta_secs.map_or_else(|| "–".into(), human_duration),
        percent,
        can_pause: is_running,
        can_resume: !is_running && job.state == JobState::Paused,
        can_cancel: !final_state,
        state: job_state,
    })
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

// ---- pages ----

#[derive(Template, WebTemplate)]
#[template(path = "transfer.html")]
struct TransferPage {
    nav: Nav,
    sources: Vec<ConnectionView>,
    destinations: Vec<ConnectionView>,
    first_source: String,
    error: Option<String>,
}

/// `GET /transfer`: choose what and where.
pub async fn transfer_page(State(state): State<AppState>, Page(current): Page) -> Response {
    let connections = match connection_views(&state, &current.account.id).await {
        Ok(c) => c,
        Err(err) => return error_page(&state, &current, err, "/"),
    };
    let (sources, destinations): (Vec<_>, Vec<_>) = connections.into_iter().partition(|c| c.source);
    TransferPage {
        nav: Nav::new(&state, &current),
        first_source: sources.first().map(|s| s.name.clone()).unwrap_or_default(),
        sources,
        destinations,
        error: None,
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "albums.html")]
struct AlbumsFragment {
    albums: Vec<AlbumView>,
    error: Option<String>,
}

/// `GET /transfer/albums?source=…`: the source's albums, to choose from (htmx fragment).
pub async fn albums_fragment(
    State(state): State<AppState>,
    current: CurrentSession,
    QueryPairs(query): QueryPairs,
) -> Response {
    let source = query.get("source").unwrap_or_default();
    let owner = &current.account.id;
    let known = connection_views(&state, owner)
        .await
        .map(|c| c.iter().any(|c| c.name == source && c.source))
        .unwrap_or(false);
    let result = if known {
        inventory(&state, owner, source, &Scope::media(), None).await
    } else {
        Err(ApiError::NotFound(format!(
            "'{source}' is not one of your sources"
        )))
    };
    match result {
        Ok(inventory) => AlbumsFragment {
            albums: inventory.albums,
            error: None,
        },
        Err(err) => AlbumsFragment {
            albums: Vec::new(),
            error: Some(err.to_string()),
        },
    }
    .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "review.html")]
struct ReviewPage {
    nav: Nav,
    review: Review,
    hidden: Vec<(String, String)>,
    confirmed: bool,
    error: Option<String>,
}

async fn review_response(
    state: &AppState,
    current: &CurrentSession,
    request: &TransferRequest,
    error: Option<ApiError>,
) -> Response {
    let owner = &current.account.id;
    let built = async {
        let checked = check(state, owner, request).await?;
        review(state, owner, &checked).await
    }
    .await;
    let review = match built {
        Ok(review) => review,
        Err(err) => return error_page(state, current, err, "/transfer"),
    };
    let status = error.as_ref().map_or(StatusCode::OK, ApiError::status);
    let page = ReviewPage {
        nav: Nav::new(state, current),
        review,
        hidden: request.hidden_fields(),
        confirmed: current
            .require_recent_confirmation(state.config().confirmation_max_age)
            .is_ok(),
        error: error.map(|e| e.to_string()),
    };
    (status, page).into_response()
}

/// `GET /transfer/review?…`
pub async fn review_page(
    State(state): State<AppState>,
    Page(current): Page,
    QueryPairs(query): QueryPairs,
) -> Response {
    let request = TransferRequest::from_pairs(&query);
    review_response(&state, &current, &request, None).await
}

/// `POST /transfer`: confirm and start.
pub async fn start_form(
    State(state): State<AppState>,
    Page(current): Page,
    ClientIp(ip): ClientIp,
    FormPairs(form): FormPairs,
) -> Response {
    let request = TransferRequest::from_pairs(&form);
    let password = form.get("password").map(|p| Password::new(p.to_string()));
    if let Err(err) = confirm(&state, &current, password.as_ref(), ip).await {
        return review_response(&state, &current, &request, Some(err)).await;
    }
    let started = async {
        let checked = check(&state, &current.account.id, &request).await?;
        start(&state, &current, checked).await
    }
    .await;
    match started {
        Ok(job) => Redirect::to(&format!("/jobs/{}", job.id)).into_response(),
        Err(err) => error_page(&state, &current, err, "/transfer"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "jobs.html")]
struct JobsPage {
    nav: Nav,
    jobs: Vec<JobView>,
}

async fn job_views(state: &AppState, owner: &str) -> Result<Vec<JobView>, ApiError> {
    let mut views = Vec::new();
    for job in state.store().jobs(owner).await? {
        views.push(job_view(state, &job, 0).await?);
    }
    Ok(views)
}

/// `GET /jobs`
pub async fn list_page(State(state): State<AppState>, Page(current): Page) -> Response {
    match job_views(&state, &current.account.id).await {
        Ok(jobs) => JobsPage {
            nav: Nav::new(&state, &current),
            jobs,
        }
        .into_response(),
        Err(err) => error_page(&state, &current, err, "/"),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "job.html")]
struct JobPage {
    nav: Nav,
    job: JobView,
    live: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "job_live.html")]
struct JobLive {
    job: JobView,
    live: bool,
}

/// `GET /jobs/{id}`
pub async fn job_page(
    State(state): State<AppState>,
    Page(current): Page,
    Path(id): Path<String>,
) -> Response {
    let view = async {
        let job = owned_job(&state, &current, &id).await?;
        job_view(&state, &job, 100).await
    }
    .await;
    match view {
        Ok(job) => JobPage {
            nav: Nav::new(&state, &current),
            live: !job.is_final(),
            job,
        }
        .into_response(),
        Err(err) => error_page(&state, &current, err, "/jobs"),
    }
}

/// A stream of a job's views, every second, until it is done or cancelled (the last view is
/// sent), the client goes away, or the server stops.
fn progress_stream<T: Send + 'static>(
    state: AppState,
    job_id: String,
    failures: u32,
    render: fn(JobView) -> T,
) -> impl Stream<Item = T> {
    futures::stream::unfold(Some(()), move |more| {
        let state = state.clone();
        let job_id = job_id.clone();
        async move {
            more?;
            let view = async {
                let job = state.store().job(&job_id).await?;
                job_view(&state, &job, failures).await
            }
            .await
            .ok()?;
            let last = view.is_final();
            let item = render(view);
            if !last {
                tokio::select! {
                    () = tokio::time::sleep(PROGRESS_EVERY) => {}
                    () = state.shutdown_token().cancelled() => return Some((item, None)),
                }
            }
            Some((item, (!last).then_some(())))
        }
    })
}

/// `GET /jobs/{id}/events`: the live part of the job page, as HTML for htmx's SSE extension.
pub async fn live_events(
    State(state): State<AppState>,
    Page(current): Page,
    Path(id): Path<String>,
) -> Response {
    let job = match owned_job(&state, &current, &id).await {
        Ok(job) => job,
        Err(err) => return err.into_response(),
    };
    let stream = progress_stream(state, job.id, 100, |view| {
        let live = !view.is_final();
        let html = JobLive { job: view, live }.render().unwrap_or_default();
        Ok::<_, Infallible>(Event::default().event("progress").data(html))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `POST /jobs/{id}/{pause|resume|cancel}`
pub async fn action_form(
    State(state): State<AppState>,
    Page(current): Page,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    match act(&state, &current, &id, &action).await {
        Ok(_) => Redirect::to(&format!("/jobs/{id}")).into_response(),
        Err(err) => error_page(&state, &current, err, &format!("/jobs/{id}")),
    }
}

async fn act(
    state: &AppState,
    current: &CurrentSession,
    id: &str,
    action: &str,
) -> Result<Job, ApiError> {
    let job = owned_job(state, current, id).await?;
    let owner = &current.account.id;
    match action {
        "pause" => {
            if !state.workers().pause(&job.id).await? {
                return Err(ApiError::Conflict("the transfer is not running".into()));
            }
        }
        "resume" => {
            if job.state.is_final() {
                return Err(ApiError::Conflict(format!("the transfer is {}", job.state)));
            }
            state.workers().run(&job.id, false);
        }
        "cancel" => {
            if job.state.is_final() {
                return Err(ApiError::Conflict(format!("the transfer is {}", job.state)));
            }
            state.workers().cancel(&job.id).await?;
        }
        _ => return Err(ApiError::NotFound(format!("no action '{action}'"))),
    }
    state
        .app()
        .audit(owner, &format!("transfer_{action}"), &job.id)
        .await?;
    Ok(job)
}

// ---- API ----

/// `GET /api/v1/transfers/review?source=…&destination=…&types=…&album=…`
pub async fn api_review(
    State(state): State<AppState>,
    current: CurrentSession,
    QueryPairs(query): QueryPairs,
) -> Result<Json<Review>, ApiError> {
    let mut request = TransferRequest::from_pairs(&query);
    let albums = query.all("album");
    request.albums = (!albums.is_empty()).then_some(albums);
    let checked = check(&state, &current.account.id, &request).await?;
    Ok(Json(review(&state, &current.account.id, &checked).await?))
}

#[derive(Debug, Deserialize)]
pub struct StartRequest {
    #[serde(flatten)]
    pub transfer: TransferRequest,
    /// Needed when the password was last entered more than 5 minutes ago.
    #[serde(default)]
    pub password: Option<Password>,
}

/// `POST /api/v1/transfers`
pub async fn api_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    current: CurrentSession,
    json: Result<Json<StartRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = crate::api::body(json)?;
    let checked = check(&state, &current.account.id, &request.transfer).await?;
    confirm(&state, &current, request.password.as_ref(), ip).await?;
    let job = start(&state, &current, checked).await?;
    let view = job_view(&state, &job, 0).await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

/// `GET /api/v1/jobs`
pub async fn api_list(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<JobView>>, ApiError> {
    Ok(Json(job_views(&state, &current.account.id).await?))
}

/// `GET /api/v1/jobs/{id}`
pub async fn api_job(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = owned_job(&state, &current, &id).await?;
    Ok(Json(job_view(&state, &job, 1000).await?))
}

/// `GET /api/v1/jobs/{id}/events`: the job's view as JSON, every second, until it ends.
pub async fn api_events(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = owned_job(&state, &current, &id).await?;
    let stream = progress_stream(state, job.id, 100, |view| {
        Ok::<_, Infallible>(
            Event::default()
                .event("progress")
                .json_data(&view)
                .unwrap_or_default(),
        )
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

async fn api_act(
    state: AppState,
    current: CurrentSession,
    id: String,
    action: &str,
) -> Result<Json<JobView>, ApiError> {
    let job = act(&state, &current, &id, action).await?;
    let job = state.store().job(&job.id).await?;
    Ok(Json(job_view(&state, &job, 0).await?))
}

pub async fn api_pause(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    api_act(state, current, id, "pause").await
}

pub async fn api_resume(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    api_act(state, current, id, "resume").await
}

pub async fn api_cancel(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    api_act(state, current, id, "cancel").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_duration(42), "42 s");
        assert_eq!(human_duration(61), "2 min");
        assert_eq!(human_duration(3 * 3600 + 120), "3 h 2 min");
    }

    #[test]
    fn chosen_albums_travel_through_the_form() {
        let pairs = Pairs::parse(
            b"source=facebook&destination=dropbox&types=photos&albums=chosen&album=a1&album=a2",
        );
        let request = TransferRequest::from_pairs(&pairs);
        assert_eq!(
            request.albums,
            Some(vec!["a1".to_string(), "a2".to_string()])
        );
        let again = TransferRequest::from_pairs(&Pairs(request.hidden_fields()));
        assert_eq!(again.albums, request.albums);
        assert_eq!(again.types, vec!["photos"]);
        let all = TransferRequest::from_pairs(&Pairs::parse(b"source=f&albums=all&album=a1"));
        assert_eq!(all.albums, None);
    }
}
