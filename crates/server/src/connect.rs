//! Connecting a service from the browser, the ways its registry entry declares: the OAuth 2.0
//! authorization-code flow with a random state and (where the service takes it) PKCE,
//! redirecting back to `<public_url>/oauth/callback`; or a form made from the service's
//! options (a WebDAV server's URL and password, a Koofr app password, S3 keys).
//!
//! The state and verifier never leave the server: they wait here, bound to the session that
//! asked, for 10 minutes. A callback is accepted once, from that same session; a wrong,
//! reused, expired or foreign state is refused before any code is exchanged.
//! They live in memory: a restart forgets authorizations in progress (the person clicks
//! "Connect" again), and several server processes need them in the shared store (issue 7).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ferry_connectors::config::Config;
use ferry_connectors::registry::{self, SERVICES};
use ferry_connectors::service::{ConnectMethod, Credential, Input, Service, Settings, Values};
use ferry_endpoints::validate_name;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::auth::CurrentSession;
use crate::forms::{FormPairs, QueryPairs};
use crate::web::{Nav, Page, error_page};
use crate::{ApiError, AppState};

/// How long the person has to approve at the service.
const AUTHORIZATION_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Authorizations one account may have in progress (each holds memory until it expires).
const MAX_PENDING_PER_ACCOUNT: usize = 8;

struct PendingConnect {
    account_id: String,
    session_hash: String,
    service: &'static Service,
    verifier: Option<Zeroizing<String>>,
    redirect_uri: String,
    /// Where to go once connected (a path in the app).
    next: String,
    created: Instant,
}

/// Authorizations waiting for their callback, by state.
#[derive(Default)]
pub struct PendingAuthorizations {
    by_state: Mutex<HashMap<String, PendingConnect>>,
}

impl PendingAuthorizations {
    fn insert(&self, state: String, pending: PendingConnect) -> Result<(), ApiError> {
        let mut map = self
            .by_state
            .lock()
            .map_err(|_| ApiError::Internal("pending authorizations poisoned".into()))?;
        map.retain(|_, p| p.created.elapsed() < AUTHORIZATION_LIFETIME);
        let mine = map
            .values()
            .filter(|p| p.account_id == pending.account_id)
            .count();
        if mine >= MAX_PENDING_PER_ACCOUNT {
            return Err(ApiError::Conflict(
                "too many connections in progress; finish one or wait a few minutes".into(),
            ));
        }
        map.insert(state, pending);
        Ok(())
    }

    /// Removes and returns the authorization of `state`: whatever happens next, a state is
    /// good for one callback only.
    fn take(&self, state: &str) -> Option<PendingConnect> {
        self.by_state.lock().ok()?.remove(state)
    }
}

/// A service a person can connect here.
#[derive(Clone, Debug, Serialize)]
pub struct Offered {
    pub name: &'static str,
    pub title: &'static str,
    /// Emulated by the sandbox, not the real service.
    pub sandbox: bool,
    /// "photos come from here" / "photos go here".
    pub role: &'static str,
    /// The ways to connect it here, as the service declares them.
    pub methods: Vec<OfferedMethod>,
}

/// One way of connecting a service: authorizing in a browser, or a form.
#[derive(Clone, Debug, Serialize)]
pub struct OfferedMethod {
    /// `oauth`, `app-password`, `password`, `api-key`.
    pub id: &'static str,
    pub title: &'static str,
    /// Authorizing in a browser: no fields.
    pub oauth: bool,
    pub fields: Vec<OfferedField>,
}

/// A field of a connect form.
#[derive(Clone, Debug, Serialize)]
pub struct OfferedField {
    /// The form field's name (and `ferry connect`'s `--<key>` flag).
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// The HTML input type: `text`, `email`, `url` or `password`.
    pub input: &'static str,
    pub required: bool,
}

impl OfferedMethod {
    fn new(method: &ConnectMethod) -> OfferedMethod {
        OfferedMethod {
            id: method.credential.id(),
            title: method.credential.title(),
            oauth: method.is_oauth(),
            fields: method
                .options
                .iter()
                .map(|o| OfferedField {
                    key: o.key,
                    label: o.label,
                    help: o.help,
                    input: match o.input {
                        Input::Email => "email",
                        Input::Url => "url",
                        Input::Secret => "password",
                        Input::Text | Input::Path => "text",
                    },
                    required: o.required,
                })
                .collect(),
        }
    }
}

/// The methods of `service` that can be used here: OAuth where an app is configured (with no
/// real app configured, `ferry serve` runs the sandbox and these are its emulators), and
/// every form; never a pasted token (for scripts).
fn usable_methods(config: &Config, service: &'static Service) -> Vec<&'static ConnectMethod> {
    let config = config.service(service);
    service
        .methods
        .iter()
        .filter(|m| match m.credential {
            Credential::OAuth { .. } => {
                config.client_id.is_some() && service.oauth_app(config).is_some()
            }
            Credential::Token => false,
            _ => true,
        })
        .collect()
}

/// Every service that can be connected here, with how.
pub fn offered(state: &AppState) -> Vec<Offered> {
    let Ok(config) = state.connections().config() else {
        return Vec::new();
    };
    SERVICES
        .iter()
        .filter_map(|&service| {
            let methods = usable_methods(config, service);
            (!methods.is_empty()).then(|| Offered {
                name: service.name,
                title: service.title,
                sandbox: state.config().sandbox,
                role: if service.is_source() {
                    "your photos, videos and posts come from here"
                } else {
                    "your copies go here"
                },
                methods: methods.into_iter().map(OfferedMethod::new).collect(),
            })
        })
        .collect()
}

/// The service named `name` and its usable method `method`.
fn offered_method(
    state: &AppState,
    name: &str,
    method: &str,
) -> Result<(&'static Service, &'static ConnectMethod), ApiError> {
    let not_here = || ApiError::NotFound(format!("'{name}' cannot be connected here that way"));
    let service = registry::named(name).ok_or_else(not_here)?;
    let config = state
        .connections()
        .config()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let method = usable_methods(config, service)
        .into_iter()
        .find(|m| m.credential.id() == method)
        .ok_or_else(not_here)?;
    Ok((service, method))
}

fn offered_oauth(state: &AppState, name: &str) -> Result<&'static Service, ApiError> {
    offered_method(state, name, "oauth").map(|(service, _)| service)
}

/// A path inside this app to return to, or `/connections`: never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_string()
        }
        _ => "/connections".to_string(),
    }
}

/// Back to `next`, saying what was connected.
fn landing(next: &str, done: &str) -> Response {
    let sep = if next.contains('?') { '&' } else { '?' };
    let text: String = url::form_urlencoded::byte_serialize(done.as_bytes()).collect();
    Redirect::to(&format!("{next}{sep}connected={text}")).into_response()
}

/// Starts an authorization: the URL to send the browser to.
fn authorize(
    state: &AppState,
    current: &CurrentSession,
    service: &str,
    next: String,
) -> Result<String, ApiError> {
    let service = offered_oauth(state, service)?;
    let config = state
        .connections()
        .config()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .service(service);
    let app = service
        .oauth_app(config)
        .ok_or_else(|| ApiError::NotFound(format!("{} has no OAuth flow", service.title)))?;
    let redirect_uri = state.config().absolute("/oauth/callback");
    let authorization = app
        .authorize(config, &redirect_uri)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    state.pending().insert(
        authorization.state,
        PendingConnect {
            account_id: current.account.id.clone(),
            session_hash: current.session.token_hash.clone(),
            service,
            verifier: authorization.verifier.map(Zeroizing::new),
            redirect_uri,
            next,
            created: Instant::now(),
        },
    )?;
    Ok(authorization.url)
}

/// `GET /connect/{service}`: off to the service's consent page.
pub async fn begin(
    State(state): State<AppState>,
    Page(current): Page,
    Path(service): Path<String>,
    QueryPairs(query): QueryPairs,
) -> Response {
    let next = safe_next(query.get("next"));
    match authorize(&state, &current, &service, next) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(err) => error_page(&state, &current, err, "/connections"),
    }
}

/// `POST /connect/{service}`: connects with what a form asked (a URL, a user and a
/// password, an app password, an access key), checked with the service and sealed like the
/// CLI's. The values are never shown again or logged: a refused form comes back empty.
pub async fn connect_form(
    State(state): State<AppState>,
    Page(current): Page,
    Path(service): Path<String>,
    QueryPairs(query): QueryPairs,
    FormPairs(form): FormPairs,
) -> Response {
    let next = safe_next(query.get("next"));
    match connect_with(&state, &current, &service, &form).await {
        Ok(done) => landing(&next, &done),
        Err(err @ ApiError::Internal(_)) => error_page(&state, &current, err, "/connections"),
        Err(err) => {
            let status = err.status();
            match render(&state, &current, &query, Some(err.to_string()), None).await {
                Ok(page) => (status, page).into_response(),
                Err(err) => error_page(&state, &current, err, "/"),
            }
        }
    }
}

async fn connect_with(
    state: &AppState,
    current: &CurrentSession,
    service: &str,
    form: &crate::forms::Pairs,
) -> Result<String, ApiError> {
    let (service, method) = offered_method(state, service, form.get("method").unwrap_or(""))?;
    if method.is_oauth() {
        return Err(ApiError::BadRequest(format!(
            "{} is connected by signing in there",
            service.title
        )));
    }
    // Secrets as typed (a password may start or end with a space); the rest trimmed.
    let values: Values = method
        .options
        .iter()
        .filter_map(|o| {
            let raw = form.0.iter().find(|(k, _)| k == o.key).map(|(_, v)| v)?;
            let value = if o.is_secret() {
                raw.clone()
            } else {
                raw.trim().to_string()
            };
            (!value.is_empty()).then(|| (o.key.to_string(), value))
        })
        .collect();
    let (settings, secret) = method
        .credentials(&values, &|o| o.label.to_string())
        .map_err(ApiError::BadRequest)?;
    if let Some(url) = &settings.url {
        crate::reach::check_endpoint(url, state.config().private_endpoints)
            .await
            .map_err(ApiError::BadRequest)?;
    }
    let connections = state.connections();
    let owner = &current.account.id;
    let name = match form.get("name") {
        Some(name) => {
            validate_name(name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            if connections
                .exists(owner, name)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
            {
                return Err(ApiError::Conflict(format!(
                    "a connection named '{name}' exists already; choose another name"
                )));
            }
            name.to_string()
        }
        None => connections
            .free_name(owner, service)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    store_connection(state, owner, &name, service, settings, &secret).await
}

/// Checks the credentials with the service, seals and stores them, and audits it: what
/// a person is told.
async fn store_connection(
    state: &AppState,
    owner: &str,
    name: &str,
    service: &'static Service,
    settings: Settings,
    secret: &ferry_connectors::auth::Secret,
) -> Result<String, ApiError> {
    let saved = state
        .connections()
        .save(owner, name, service, settings, secret)
        .await
        .map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
    state
        .app()
        .audit(
            owner,
            "connected",
            &format!("{name}: {} ({})", service.name, saved.account),
        )
        .await?;
    Ok(format!(
        "{} ({}) is connected as {name}",
        service.title, saved.account
    ))
}

/// `GET /oauth/callback`: the service sends the browser back here with a code (or an error).
pub async fn callback(
    State(state): State<AppState>,
    Page(current): Page,
    QueryPairs(query): QueryPairs,
) -> Response {
    match finish(&state, &current, &query).await {
        Ok((next, done)) => landing(&next, &done),
        Err(err) => error_page(&state, &current, err, "/connections"),
    }
}

async fn finish(
    state: &AppState,
    current: &CurrentSession,
    query: &crate::forms::Pairs,
) -> Result<(String, String), ApiError> {
    let refused = || {
        ApiError::BadRequest(
            "this authorization is not valid here: it expired, was used already, or was started \
             elsewhere. Connect the service again."
                .into(),
        )
    };
    let pending = query
        .get("state")
        .and_then(|s| state.pending().take(s))
        .ok_or_else(refused)?;
    if pending.session_hash != current.session.token_hash
        || pending.account_id != current.account.id
        || pending.created.elapsed() >= AUTHORIZATION_LIFETIME
    {
        return Err(refused());
    }
    let service = pending.service;
    if let Some(error) = query.get("error") {
        let _ = state
            .app()
            .audit(
                &current.account.id,
                "connection_refused",
                &format!("{} {error}", service.name),
            )
            .await;
        return Err(ApiError::BadRequest(format!(
            "{} did not authorize ferry ({error})",
            service.title
        )));
    }
    let code = query
        .get("code")
        .ok_or_else(|| ApiError::BadRequest("the service sent no authorization code".into()))?;
    let connections = state.connections();
    let config = connections
        .config()
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .service(service);
    let app = service
        .oauth_app(config)
        .ok_or_else(|| ApiError::Internal(format!("{} has no OAuth flow", service.title)))?;
    let http = ferry_connectors::http::client();
    let secret = app
        .exchange(
            &http,
            config,
            &pending.redirect_uri,
            code.to_string(),
            pending.verifier.as_ref().map(|v| v.to_string()),
        )
        .await
        .map_err(|e| ApiError::BadRequest(format!("{} refused: {e}", service.title)))?;
    let owner = &current.account.id;
    let name = connections
        .free_name(owner, service)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let done = store_connection(state, owner, &name, service, Settings::default(), &secret).await?;
    Ok((pending.next, done))
}

#[derive(Template, WebTemplate)]
#[template(path = "connections.html")]
struct ConnectionsPage {
    nav: Nav,
    rows: Vec<ConnectionView>,
    services: Vec<Offered>,
    next_query: String,
    error: Option<String>,
    done: Option<String>,
}

/// A connection as pages and the API show it: never its secret.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionView {
    pub name: String,
    pub service: String,
    pub account: String,
    pub created_at: String,
    /// Photos come from it (a source) or go to it (a destination).
    pub source: bool,
}

pub async fn connection_views(
    state: &AppState,
    owner: &str,
) -> Result<Vec<ConnectionView>, ApiError> {
    let rows = state
        .connections()
        .list(owner)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|r| ConnectionView {
            source: registry::named(&r.service).is_some_and(Service::is_source),
            created_at: r.created_at.get(..10).unwrap_or(&r.created_at).to_string(),
            name: r.name,
            service: r.service,
            account: r.account,
        })
        .collect())
}

/// `GET /connections`
pub async fn page(
    State(state): State<AppState>,
    Page(current): Page,
    QueryPairs(query): QueryPairs,
) -> Response {
    let error = query.get("error").map(str::to_string);
    let done = query.get("connected").map(str::to_string);
    match render(&state, &current, &query, error, done).await {
        Ok(page) => page.into_response(),
        Err(err) => error_page(&state, &current, err, "/"),
    }
}

async fn render(
    state: &AppState,
    current: &CurrentSession,
    query: &crate::forms::Pairs,
    error: Option<String>,
    done: Option<String>,
) -> Result<ConnectionsPage, ApiError> {
    let rows = connection_views(state, &current.account.id).await?;
    let next_query = match query.get("next") {
        Some(next) => {
            let next: String =
                url::form_urlencoded::byte_serialize(safe_next(Some(next)).as_bytes()).collect();
            format!("?next={next}")
        }
        None => String::new(),
    };
    Ok(ConnectionsPage {
        nav: Nav::new(state, current),
        rows,
        services: offered(state),
        next_query,
        error,
        done,
    })
}

/// `POST /connections/{name}/forget`
pub async fn forget_form(
    State(state): State<AppState>,
    Page(current): Page,
    Path(name): Path<String>,
) -> Response {
    match forget(&state, &current, &name).await {
        Ok(()) => Redirect::to("/connections").into_response(),
        Err(err) => error_page(&state, &current, err, "/connections"),
    }
}

async fn forget(state: &AppState, current: &CurrentSession, name: &str) -> Result<(), ApiError> {
    let owner = &current.account.id;
    if !state
        .connections()
        .exists(owner, name)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    {
        return Err(ApiError::NotFound(format!("no connection named '{name}'")));
    }
    let warning = state
        .connections()
        .forget(owner, name)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(warning) = warning {
        tracing::warn!(%warning, "disconnecting");
    }
    state.app().audit(owner, "disconnected", name).await?;
    Ok(())
}

/// `GET /api/v1/services`: what can be connected here.
pub async fn api_services(
    State(state): State<AppState>,
    _current: CurrentSession,
) -> Json<Vec<Offered>> {
    Json(offered(&state))
}

/// `GET /api/v1/connections`
pub async fn api_list(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    Ok(Json(connection_views(&state, &current.account.id).await?))
}

#[derive(Debug, Deserialize)]
pub struct ConnectRequest {
    pub service: String,
    /// Where the browser lands afterwards (a path in the web app).
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ConnectStarted {
    /// Open this in the person's browser (signed in to ferry in the same session).
    pub authorize_url: String,
}

/// `POST /api/v1/connections`: starts connecting a service.
pub async fn api_authorize(
    State(state): State<AppState>,
    current: CurrentSession,
    json: Result<Json<ConnectRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let request = crate::api::body(json)?;
    let next = safe_next(request.next.as_deref());
    let url = authorize(&state, &current, &request.service, next)?;
    Ok((
        StatusCode::CREATED,
        Json(ConnectStarted { authorize_url: url }),
    )
        .into_response())
}

/// `DELETE /api/v1/connections/{name}`: revokes where the service allows, and forgets.
pub async fn api_forget(
    State(state): State<AppState>,
    current: CurrentSession,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    forget(&state, &current, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/transfer")), "/transfer");
        assert_eq!(safe_next(Some("//evil.example/x")), "/connections");
        assert_eq!(safe_next(Some("https://evil.example")), "/connections");
        assert_eq!(safe_next(Some("/\\evil.example")), "/connections");
        assert_eq!(safe_next(None), "/connections");
    }
}
