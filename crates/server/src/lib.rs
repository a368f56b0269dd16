//! ferry-server: `ferry serve`, the web app and JSON API where people sign in and (later)
//! transfer and download their data.
//!
//! What stands so far: accounts (argon2id passwords), server-side sessions behind an HttpOnly
//! cookie, sign-in throttling, CSRF protection, password re-confirmation freshness, the
//! OpenAPI document, a minimal server-rendered sign-in page, and graceful shutdown.
//!
//! CSRF: every request passes tower-http's `CsrfLayer`, the scheme Go 1.25 adopted: a
//! state-changing request is refused when the browser says it is cross-site
//! (`Sec-Fetch-Site`) or, from browsers too old to send that, when its `Origin` does not match
//! the host. No tokens, so htmx forms and the JSON API need nothing extra; requests with
//! neither header come from non-browser clients, which cannot carry a victim's cookies. The
//! session cookie is also `SameSite=Lax`, a second wall for the same attack.

mod api;
mod auth;
mod error;
mod mail;
mod openapi;
mod settings;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::routing::{MethodRouter, delete, get, post};
use ferry_engine::Store;
use tokio::net::TcpListener;
use tower_http::csrf::{CsrfLayer, ProtectionError};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use auth::{
    CONFIRMATION_MAX_AGE, ClientIp, CurrentSession, Password, Throttle, ThrottleConfig,
};
pub use error::ApiError;
pub use mail::{MailError, Mailer, SMTP_TIMEOUT};
pub use settings::{
    DEFAULT_LINK_LIFETIME, MailSettings, ServeSettings, SettingsError, SmtpCredentials,
    SmtpSecurity,
};

/// How the server behaves; `ferry serve` fills it from flags and `ferry.toml`.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Mark the session cookie `Secure` (and name it `__Host-…`): set it when people reach
    /// the server over https, directly or through a proxy.
    pub secure_cookies: bool,
    /// How long a session lasts after sign-in.
    pub session_lifetime: Duration,
    pub throttle: ThrottleConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            secure_cookies: false,
            session_lifetime: Duration::from_secs(14 * 24 * 3600),
            throttle: ThrottleConfig::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: ServerConfig,
    throttle: Throttle,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> AppState {
        let throttle = Throttle::new(config.throttle.clone());
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                throttle,
            }),
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
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
        .route("/sign-in", get(web::sign_in_page).post(web::sign_in_form))
        .route("/sign-up", get(web::sign_up_page).post(web::sign_up_form))
        .route("/sign-out", post(web::sign_out_form))
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
    let sweeper = tokio::spawn(sweep_sessions(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    served
}

/// Deletes expired sessions now and then; lookups ignore them anyway, this only keeps the
/// table small.
async fn sweep_sessions(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(err) = state
            .store()
            .delete_expired_sessions(auth::unix_now())
            .await
        {
            tracing::warn!(error = %err, "could not delete expired sessions");
        }
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
