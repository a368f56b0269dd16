//! ferry-server: `ferry serve`, the web app and JSON API where people sign in, connect their
//! services, transfer their photos and videos, and download their information.
//!
//! - `auth`: accounts (argon2id), server-side sessions behind an HttpOnly cookie, sign-in
//!   throttling, password re-confirmation freshness.
//! - `connect`: connecting a service through its OAuth flow from the browser.
//! - `jobs`: transfers: review, start, progress (server-sent events), pause, resume, cancel.
//! - `archives`: "download your information": build, notify, one-time download tickets,
//!   expiry.
//! - `workers`: the engine's jobs and archive builds, run in this process.
//! - `notify`: in-app notices and e-mail.
//! - `web`: the server-rendered pages (askama + htmx); `api`: the JSON API.
//!
//! CSRF: every request passes tower-http's `CsrfLayer`, the scheme Go 1.25 adopted: a
//! state-changing request is refused when the browser says it is cross-site
//! (`Sec-Fetch-Site`) or, from browsers too old to send that, when its `Origin` does not match
//! the host. No tokens, so htmx forms and the JSON API need nothing extra; requests with
//! neither header come from non-browser clients, which cannot carry a victim's cookies. The
//! session cookie is also `SameSite=Lax`, a second wall for the same attack.

mod api;
mod archive_store;
mod archives;
mod assets;
mod auth;
mod connect;
mod error;
mod forms;
mod jobs;
mod mail;
mod metrics;
mod notify;
mod openapi;
mod reach;
mod settings;
mod web;
mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::routing::{MethodRouter, delete, get, post};
use ferry_endpoints::Connections;
use ferry_engine::{AppStore, Engine, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::csrf::{CsrfLayer, ProtectionError};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use archive_store::{ArchiveBytes, ArchiveStore};
pub use auth::{
    CONFIRMATION_MAX_AGE, ClientIp, CurrentSession, Password, Throttle, ThrottleConfig,
};
pub use error::ApiError;
pub use mail::{MailError, Mailer, SMTP_TIMEOUT};
pub use metrics::serve_metrics;
pub use notify::Outbox;
pub use settings::{
    ArchiveStoreSettings, DEFAULT_LINK_LIFETIME, MailSettings, S3_SECRET_ENV, ServeSettings,
    SettingsError, SmtpCredentials, SmtpSecurity,
};
pub use workers::TransferNotices;

/// How the server behaves; `ferry serve` fills it from flags and `ferry.toml`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Mark the session cookie `Secure` (and name it `__Host-…`): set it when people reach
    /// the server over https, directly or through a proxy.
    pub secure_cookies: bool,
    /// How long a session lasts after sign-in.
    pub session_lifetime: Duration,
    pub throttle: ThrottleConfig,
    /// Where people reach the server (`https://ferry.example`): e-mail links and OAuth
    /// redirect URIs are built on it.
    pub public_url: url::Url,
    /// Where archives are built (and, with the local store, wait to be downloaded).
    pub archive_dir: std::path::PathBuf,
    /// Where finished archives wait to be downloaded: `archive_dir`, or a bucket shared by
    /// every server process.
    pub archive_store: ArchiveStore,
    /// How long an archive's download link lives; the archive is deleted then.
    pub link_lifetime: Duration,
    /// The services offered are the sandbox's emulators, not the real ones: say so
    /// everywhere.
    pub sandbox: bool,
    /// Items a transfer moves at once.
    pub transfer_concurrency: usize,
    /// How recently the password must have been entered to start a transfer or download an
    /// archive (5 minutes, as issue 6 asks; tests shorten it).
    pub confirmation_max_age: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Whether a person may connect a service at a loopback or private address (a WebDAV
    /// server at home); off, only public hosts are reached (see reach.rs).
    pub private_endpoints: bool,
    /// With a shared database (`--database`): transfers go to this queue, and `ferry worker`
    /// processes move them; without, this process moves them itself.
    pub work_queue: Option<WorkQueueHandle>,
}

/// The work queue of a shared database.
#[derive(Clone)]
pub struct WorkQueueHandle(pub Arc<dyn ferry_engine::queue::WorkQueue>);

impl std::fmt::Debug for WorkQueueHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkQueue")
    }
}

impl ServerConfig {
    /// Defaults for a server reached at `public_url`, keeping archives in `archive_dir`.
    pub fn new(public_url: url::Url, archive_dir: std::path::PathBuf) -> ServerConfig {
        ServerConfig {
            secure_cookies: false,
            session_lifetime: Duration::from_secs(14 * 24 * 3600),
            throttle: ThrottleConfig::default(),
            public_url,
            archive_dir,
            archive_store: ArchiveStore::Local,
            link_lifetime: Duration::from_secs(4 * 24 * 3600),
            sandbox: false,
            transfer_concurrency: 4,
            confirmation_max_age: CONFIRMATION_MAX_AGE,
            trusted_proxies: Vec::new(),
            private_endpoints: false,
            work_queue: None,
        }
    }

    /// `path` (starting with `/`) as an absolute URL on this server.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_str().trim_end_matches('/'))
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    app: Arc<dyn AppStore>,
    config: ServerConfig,
    throttle: Throttle,
    connections: Arc<Connections>,
    workers: workers::Workers,
    pending: connect::PendingAuthorizations,
    /// Fired when the server begins to stop: live progress streams end, jobs pause.
    shutdown: CancellationToken,
}

impl AppState {
    /// `store` is the engine's journal and `app` the web app's tables (one database holds
    /// both); `connections` opens people's services (the vault and the service
    /// configuration); `outbox` sends e-mail, when the server has an SMTP server configured.
    pub fn new(
        store: Arc<dyn Store>,
        app: Arc<dyn AppStore>,
        connections: Arc<Connections>,
        outbox: Option<Arc<dyn Outbox>>,
        config: ServerConfig,
    ) -> AppState {
        let throttle = Throttle::new(config.throttle.clone());
        let notifier = notify::Notifier::new(app.clone(), outbox, config.clone());
        let workers = workers::Workers::new(
            Engine::new(store.clone()),
            connections.clone(),
            notifier.clone(),
            config.clone(),
        );
        AppState {
            inner: Arc::new(Inner {
                store,
                app,
                config,
                throttle,
                connections,
                workers,
                pending: connect::PendingAuthorizations::default(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// Accounts, sessions, the audit log, archives, tickets and notices.
    pub(crate) fn app(&self) -> &dyn AppStore {
        self.inner.app.as_ref()
    }

    pub(crate) fn connections(&self) -> &Connections {
        &self.inner.connections
    }

    pub(crate) fn workers(&self) -> &workers::Workers {
        &self.inner.workers
    }

    pub(crate) fn pending(&self) -> &connect::PendingAuthorizations {
        &self.inner.pending
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub(crate) fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }
}

/// The JSON API's routes: the OpenAPI document must describe each (a test holds it to that).
/// The router is built from this list, so a route cannot exist without being in it.
fn api_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/health", get(api::health)),
        (Method::GET, "/api/v1/openapi.json", get(openapi::document)),
        (Method::POST, "/api/v1/accounts", post(api::sign_up)),
        (Method::GET, "/api/v1/session", get(api::who_am_i)),
        (Method::POST, "/api/v1/session", post(api::sign_in)),
        (Method::DELETE, "/api/v1/session", delete(api::sign_out)),
        (Method::POST, "/api/v1/session/confirm", post(api::confirm)),
        (
            Method::GET,
            "/api/v1/account/audit-log",
            get(api::audit_log),
        ),
        (Method::GET, "/api/v1/notices", get(api::notices)),
        (Method::GET, "/api/v1/services", get(connect::api_services)),
        (Method::GET, "/api/v1/connections", get(connect::api_list)),
        (
            Method::POST,
            "/api/v1/connections",
            post(connect::api_authorize),
        ),
        (
            Method::DELETE,
            "/api/v1/connections/{name}",
            delete(connect::api_forget),
        ),
        (
            Method::GET,
            "/api/v1/transfers/review",
            get(jobs::api_review),
        ),
        (Method::POST, "/api/v1/transfers", post(jobs::api_start)),
        (Method::GET, "/api/v1/jobs", get(jobs::api_list)),
        (Method::GET, "/api/v1/jobs/{id}", get(jobs::api_job)),
        (
            Method::GET,
            "/api/v1/jobs/{id}/events",
            get(jobs::api_events),
        ),
        (
            Method::POST,
            "/api/v1/jobs/{id}/pause",
            post(jobs::api_pause),
        ),
        (
            Method::POST,
            "/api/v1/jobs/{id}/resume",
            post(jobs::api_resume),
        ),
        (
            Method::POST,
            "/api/v1/jobs/{id}/cancel",
            post(jobs::api_cancel),
        ),
        (Method::GET, "/api/v1/archives", get(archives::api_list)),
        (
            Method::POST,
            "/api/v1/archives",
            post(archives::api_request),
        ),
        (
            Method::GET,
            "/api/v1/archives/{id}",
            get(archives::api_archive),
        ),
        (
            Method::POST,
            "/api/v1/archives/{id}/ticket",
            post(archives::api_ticket),
        ),
        (
            Method::GET,
            "/api/v1/archives/{id}/download",
            get(archives::download),
        ),
    ]
}

/// The documented routes as (method, path), for tests and tooling.
pub fn api_route_list() -> Vec<(Method, &'static str)> {
    api_routes()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// The whole application: API, pages, CSRF protection and request tracing.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (_, path, method_router) in api_routes() {
        router = router.route(path, method_router);
    }
    router
        .route("/", get(web::home))
        .route("/metrics", get(metrics::scrape))
        .route("/sign-in", get(web::sign_in_page).post(web::sign_in_form))
        .route("/sign-up", get(web::sign_up_page).post(web::sign_up_form))
        .route("/sign-out", post(web::sign_out_form))
        .route("/static/{file}", get(assets::file))
        .route("/connections", get(connect::page))
        .route("/connections/{name}/forget", post(connect::forget_form))
        .route(
            "/connect/{service}",
            get(connect::begin).post(connect::connect_form),
        )
        .route("/oauth/callback", get(connect::callback))
        .route("/transfer", get(jobs::transfer_page))
        .route("/transfer/albums", get(jobs::albums_fragment))
        .route("/transfer/review", get(jobs::review_page))
        .route("/transfer", post(jobs::start_form))
        .route("/jobs", get(jobs::list_page))
        .route("/jobs/{id}", get(jobs::job_page))
        .route("/jobs/{id}/events", get(jobs::live_events))
        .route("/jobs/{id}/{action}", post(jobs::action_form))
        .route("/download", get(archives::request_page).post(archives::request_form))
        .route("/archives", get(archives::list_page))
        .route("/archives/{id}", get(archives::archive_page))
        .route("/archives/{id}/download", post(archives::download_form))
        .with_state(state)
        .layer(CsrfLayer::new().with_rejection_response(csrf_refused))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
        // The pages must not be framed by another site (clickjacking the sign-in form).
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; \
             form-action 'self'; base-uri 'none'",
        ))
        // Session details and pages with personal data stay out of shared caches.
        .layer(header_layer(header::CACHE_CONTROL, "no-store"))
        .layer(
            // The path only: query strings will carry OAuth codes, which must not reach logs.
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
}

/// Sets `name` on every response that does not set it itself.
fn header_layer(
    name: header::HeaderName,
    value: &'static str,
) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

fn csrf_refused(_: ProtectionError) -> Response<Body> {
    let mut response = Response::new(Body::from(
        r#"{"error":"cross_site","message":"cross-site request refused"}"#.to_string(),
    ));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves until `shutdown` completes, then stops accepting and lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.workers().resume_all().await;
    let sweeper = tokio::spawn(sweep(state.clone()));
    let token = state.shutdown_token().clone();
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends the live progress streams (graceful shutdown waits for open requests) and
            // starts pausing the jobs while the last requests finish.
            token.cancel();
        })
        .await;
    sweeper.abort();
    state.workers().shutdown().await;
    served
}

/// Now and then: deletes expired sessions (lookups ignore them anyway; this keeps the table
/// small), and deletes archives whose download link has expired.
async fn sweep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    let mut runs: u64 = 0;
    loop {
        tick.tick().await;
        if runs.is_multiple_of(60)
            && let Err(err) = state.app().delete_expired_sessions(auth::unix_now()).await
        {
            tracing::warn!(error = %err, "could not delete expired sessions");
        }
        runs += 1;
        archives::expire_due(&state).await;
    }
}

/// Completes on Ctrl-C or SIGTERM (what service managers send to stop a process).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
