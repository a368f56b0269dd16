//! The OAuth 2.0 authorization-code server shared by the emulators: client
//! registrations, a consent page a person can click through, single-use codes
//! bound to redirect URI and PKCE challenge, expiring access tokens, refresh
//! tokens and revocation. Each service module wraps these in its own paths,
//! parameters and error shapes.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::seed::World;
use crate::util::{Clock, Rng, get, pct_encode};
use crate::{AppState, Credentials, KoofrCredentials, SandboxOptions, Service, ServiceCredentials};

/// Lifetime of authorization codes (seconds).
pub const CODE_TTL: i64 = 600;

#[derive(Clone, Debug)]
pub struct Client {
    pub service: Service,
    pub id: String,
    pub secret: String,
}

#[derive(Clone, Debug)]
struct CodeGrant {
    service: Service,
    client_id: String,
    redirect_uri: String,
    scope: String,
    challenge: Option<(String, String)>,
    offline: bool,
    expires_at: i64,
}

/// What an access token stands for.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub service: Service,
    pub account: String,
    pub client_id: String,
    pub scope: String,
    pub expires_at: i64,
    /// Facebook: exchanged for a long-lived token already.
    pub long_lived: bool,
}

#[derive(Clone, Debug)]
struct RefreshGrant {
    service: Service,
    client_id: String,
    account: String,
    scope: String,
    public_client: bool,
}

#[derive(Debug)]
pub enum Check {
    Valid(TokenInfo),
    Expired,
    Invalid,
}

/// Why a token request failed, in RFC 6749 §5.2 terms; each service renders it in its shape.
#[derive(Debug, Clone)]
pub enum TokenError {
    InvalidRequest(String),
    InvalidClient(String),
    InvalidGrant(String),
    UnsupportedGrantType(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidClient(_) => "invalid_client",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
        }
    }
    pub fn description(&self) -> &str {
        match self {
            TokenError::InvalidRequest(s)
            | TokenError::InvalidClient(s)
            | TokenError::InvalidGrant(s)
            | TokenError::UnsupportedGrantType(s) => s,
        }
    }
    pub fn status(&self) -> StatusCode {
        match self {
            TokenError::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// A successful token response, before the service shapes it.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub account: String,
}

#[derive(Default)]
struct Inner {
    clients: Vec<Client>,
    accounts: HashMap<Service, String>,
    codes: HashMap<String, CodeGrant>,
    access: HashMap<String, TokenInfo>,
    refresh: HashMap<String, RefreshGrant>,
}

#[derive(Default)]
pub struct OAuth {
    inner: Mutex<Inner>,
}

fn token_prefix(s: Service) -> &'static str {
    // Shapes of real tokens, so that logs look familiar; clients must treat them as opaque.
    match s {
        Service::Facebook => "EAAB",
        Service::Dropbox => "sl.",
        Service::GooglePhotos => "ya29.",
        Service::Koofr => "",
    }
}

impl OAuth {
    pub fn client(&self, s: Service, id: &str) -> Option<Client> {
        let g = self.inner.lock().unwrap();
        g.clients
            .iter()
            .find(|c| c.service == s && c.id == id)
            .cloned()
    }

    pub fn account(&self, s: Service) -> String {
        self.inner
            .lock()
            .unwrap()
            .accounts
            .get(&s)
            .cloned()
            .unwrap_or_default()
    }

    pub fn check(&self, s: Service, token: &str, now: i64) -> Check {
        let g = self.inner.lock().unwrap();
        match g.access.get(token) {
            Some(t) if t.service == s => {
                if now >= t.expires_at {
                    Check::Expired
                } else {
                    Check::Valid(t.clone())
                }
            }
            _ => Check::Invalid,
        }
    }

    /// Revokes an access or refresh token (and, for a refresh token, nothing else: the
    /// access tokens it minted stay valid until they expire, as at Google).
    pub fn revoke(&self, token: &str) -> bool {
        let mut g = self.inner.lock().unwrap();
        g.access.remove(token).is_some() | g.refresh.remove(token).is_some()
    }

    /// Expires every access token of a service now (refresh tokens stay valid).
    pub fn expire_all(&self, s: Service, now: i64) -> usize {
        let mut g = self.inner.lock().unwrap();
        let mut n = 0;
        for t in g.access.values_mut().filter(|t| t.service == s) {
            t.expires_at = t.expires_at.min(now);
            n += 1;
        }
        n
    }

    fn insert_access(&self, token: String, info: TokenInfo) {
        self.inner.lock().unwrap().access.insert(token, info);
    }

    /// Mints an access token.
    pub fn issue(&self, rng: &mut Rng, info: TokenInfo) -> String {
        let t = format!("{}{}", token_prefix(info.service), rng.alnum(48));
        self.insert_access(t.clone(), info);
        t
    }

    fn issue_refresh(&self, rng: &mut Rng, g: RefreshGrant) -> String {
        let t = rng.alnum(64);
        self.inner.lock().unwrap().refresh.insert(t.clone(), g);
        t
    }
}

/// Token lifetime in seconds, kept within ~100 years so expiry arithmetic cannot overflow.
fn clamp_ttl(secs: u64) -> i64 {
    secs.clamp(1, 3_153_600_000) as i64
}

fn ttl(app: &AppState, s: Service) -> i64 {
    clamp_ttl(app.faults.get(s).token_ttl_secs)
}

/// Registers one client per service and issues ready-made tokens for the seeded accounts.
pub fn register_seeded(
    oauth: &OAuth,
    world: &World,
    opts: &SandboxOptions,
    clock: &Clock,
    rng: &mut Rng,
) -> Credentials {
    let now = clock.unix();
    let mut mk = |s: Service, account: &str, login: &str, refresh: bool| {
        let client = Client {
            service: s,
            id: format!("sandbox-{}-{}", s.as_str(), rng.alnum(8).to_lowercase()),
            secret: rng.alnum(24),
        };
        {
            let mut g = oauth.inner.lock().unwrap();
            g.clients.push(client.clone());
            g.accounts.insert(s, account.to_string());
        }
        let info = TokenInfo {
            service: s,
            account: account.to_string(),
            client_id: client.id.clone(),
            scope: default_scope(s).to_string(),
            expires_at: now + clamp_ttl(opts.token_ttl),
            long_lived: false,
        };
        let access_token = oauth.issue(rng, info);
        let refresh_token = refresh.then(|| {
            oauth.issue_refresh(
                rng,
                RefreshGrant {
                    service: s,
                    client_id: client.id.clone(),
                    account: account.to_string(),
                    scope: default_scope(s).to_string(),
                    public_client: false,
                },
            )
        });
        ServiceCredentials {
            client_id: client.id,
            client_secret: client.secret,
            access_token,
            refresh_token,
            account: login.to_string(),
        }
    };
    let facebook = mk(
        Service::Facebook,
        &world.facebook.id,
        &world.facebook.email,
        false,
    );
    let dropbox = mk(
        Service::Dropbox,
        &world.dropbox.id,
        &world.dropbox.email,
        true,
    );
    let google_photos = mk(
        Service::GooglePhotos,
        &world.google.id,
        &world.google.email,
        true,
    );
    let koofr = mk(Service::Koofr, &world.koofr.id, &world.koofr.email, true);
    Credentials {
        facebook,
        dropbox,
        google_photos,
        koofr: KoofrCredentials {
            oauth: koofr,
            email: world.koofr.email.clone(),
            app_password: format!("sandbox-app-password-{}", rng.alnum(12).to_lowercase()),
        },
    }
}

pub fn default_scope(s: Service) -> &'static str {
    match s {
        Service::Facebook => "public_profile,user_photos,user_videos",
        Service::Dropbox => {
            "account_info.read files.content.read files.content.write files.metadata.read files.metadata.write sharing.write"
        }
        Service::GooglePhotos => {
            "https://www.googleapis.com/auth/photoslibrary.appendonly https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata https://www.googleapis.com/auth/photoslibrary.edit.appcreateddata"
        }
        Service::Koofr => "files.read files.import",
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn error_page(status: StatusCode, service: Service, msg: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Error</title></head>\
             <body><h1>{} sandbox: authorization error</h1><p id=\"error\">{}</p></body></html>",
            service.as_str(),
            esc(msg)
        )),
    )
        .into_response()
}

fn valid_redirect(uri: &str) -> bool {
    (uri.starts_with("http://") || uri.starts_with("https://")) && !uri.contains('#')
}

/// Checks an authorization request; `Err` is the page to show (never a redirect, since the
/// redirect URI may be the thing that is wrong).
fn check_authorize(app: &AppState, s: Service, q: &[(String, String)]) -> Result<(), Response> {
    let client_id = get(q, "client_id").unwrap_or("");
    if app.oauth.client(s, client_id).is_none() {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            s,
            &format!("Invalid client_id: {client_id:?}"),
        ));
    }
    match get(q, "redirect_uri") {
        Some(u) if valid_redirect(u) => {}
        // Dropbox's "no redirect" flow: the code is shown on the page for copy-paste.
        None if s == Service::Dropbox => {}
        _ => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                s,
                "redirect_uri is missing or not an absolute http(s) URL",
            ));
        }
    }
    // Facebook's dialog defaults response_type to code; the others require it.
    let response_type = match (s, get(q, "response_type")) {
        (Service::Facebook, None) => Some("code"),
        (_, rt) => rt,
    };
    if response_type != Some("code") {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            s,
            "response_type must be \"code\" (only the authorization-code flow is emulated)",
        ));
    }
    if let Some(ch) = get(q, "code_challenge") {
        let method = get(q, "code_challenge_method").unwrap_or("plain");
        if s == Service::Koofr {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                s,
                "PKCE is not supported",
            ));
        }
        if method != "S256" && method != "plain" {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                s,
                "code_challenge_method must be S256 or plain",
            ));
        }
        if !(43..=128).contains(&ch.len()) {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                s,
                "code_challenge must be 43 to 128 characters",
            ));
        }
    }
    Ok(())
}

/// The consent page: a plain HTML form that posts back to the same URL.
pub fn authorize_page(
    app: &AppState,
    s: Service,
    q: &[(String, String)],
    action: &str,
) -> Response {
    if let Err(r) = check_authorize(app, s, q) {
        return r;
    }
    let hidden: String = q
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let scope = get(q, "scope").unwrap_or(default_scope(s));
    let account = match s {
        Service::Facebook => &app.world.facebook,
        Service::Dropbox => &app.world.dropbox,
        Service::GooglePhotos => &app.world.google,
        Service::Koofr => &app.world.koofr,
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorize — {svc} sandbox</title></head>\
         <body><h1>{svc} sandbox</h1>\
         <p>Signed in as <b>{name}</b> ({email}).</p>\
         <p>The application <code>{client}</code> asks for: <code>{scope}</code></p>\
         <form method=\"post\" action=\"{action}\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Cancel</button>\
         </form></body></html>",
        svc = s.as_str(),
        name = esc(&account.name),
        email = esc(&account.email),
        client = esc(get(q, "client_id").unwrap_or("")),
        scope = esc(scope),
    ))
    .into_response()
}

fn append_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_string();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&pct_encode(v));
        sep = '&';
    }
    out
}

/// The consent form's answer: redirect back with a code (or `error=access_denied`).
pub fn authorize_decide(app: &AppState, s: Service, form: &[(String, String)]) -> Response {
    if let Err(r) = check_authorize(app, s, form) {
        return r;
    }
    let redirect_uri = get(form, "redirect_uri").unwrap_or_default().to_string();
    let state = get(form, "state").unwrap_or_default().to_string();
    let mut params: Vec<(&str, &str)> = Vec::new();
    if redirect_uri.is_empty() && get(form, "decision") != Some("approve") {
        return error_page(StatusCode::OK, s, "Access was denied.");
    }
    if get(form, "decision") != Some("approve") {
        params.push(("error", "access_denied"));
        if s == Service::Facebook {
            params.push(("error_reason", "user_denied"));
            params.push(("error_description", "Permissions error"));
        }
        if !state.is_empty() {
            params.push(("state", &state));
        }
        return Redirect::to(&append_query(&redirect_uri, &params)).into_response();
    }
    let code = app.token(43);
    let offline = match s {
        Service::Dropbox => get(form, "token_access_type") == Some("offline"),
        Service::GooglePhotos => get(form, "access_type") == Some("offline"),
        Service::Koofr => true,
        Service::Facebook => false,
    };
    let grant = CodeGrant {
        service: s,
        client_id: get(form, "client_id").unwrap_or_default().to_string(),
        redirect_uri: redirect_uri.clone(),
        scope: get(form, "scope").unwrap_or(default_scope(s)).to_string(),
        challenge: get(form, "code_challenge").map(|c| {
            (
                c.to_string(),
                get(form, "code_challenge_method")
                    .unwrap_or("plain")
                    .to_string(),
            )
        }),
        offline,
        expires_at: app.clock.unix() + CODE_TTL,
    };
    app.oauth
        .inner
        .lock()
        .unwrap()
        .codes
        .insert(code.clone(), grant);
    if redirect_uri.is_empty() {
        return Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Code</title></head>\
             <body><p>Enter this code into the application:</p><code id=\"code\">{}</code></body></html>",
            esc(&code)
        ))
        .into_response();
    }
    params.push(("code", &code));
    if !state.is_empty() {
        params.push(("state", &state));
    }
    Redirect::to(&append_query(&redirect_uri, &params)).into_response()
}

/// Client credentials from the form, or from HTTP Basic (RFC 6749 §2.3.1).
pub fn client_credentials(
    form: &[(String, String)],
    authorization: Option<&str>,
) -> (Option<String>, Option<String>) {
    if let Some(b) = authorization.and_then(|h| h.strip_prefix("Basic "))
        && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b.trim())
        && let Ok(s) = String::from_utf8(raw)
        && let Some((id, secret)) = s.split_once(':')
    {
        return (
            Some(crate::util::pct_decode(id)),
            Some(crate::util::pct_decode(secret)),
        );
    }
    (
        get(form, "client_id").map(str::to_string),
        get(form, "client_secret").map(str::to_string),
    )
}

fn pkce_ok(challenge: &(String, String), verifier: &str) -> bool {
    let valid_chars = verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !(43..=128).contains(&verifier.len()) || !valid_chars {
        return false;
    }
    match challenge.1.as_str() {
        "S256" => {
            let d = Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d) == challenge.0
        }
        _ => verifier == challenge.0,
    }
}

/// The token endpoint's logic for `authorization_code` and `refresh_token` grants.
pub fn token(
    app: &AppState,
    s: Service,
    form: &[(String, String)],
    authorization: Option<&str>,
) -> Result<Issued, TokenError> {
    let (client_id, secret) = client_credentials(form, authorization);
    let client_id =
        client_id.ok_or_else(|| TokenError::InvalidRequest("No client_id provided".into()))?;
    let client = app
        .oauth
        .client(s, &client_id)
        .ok_or_else(|| TokenError::InvalidClient("The OAuth client was not found.".into()))?;
    if let Some(sec) = &secret
        && *sec != client.secret
    {
        return Err(TokenError::InvalidClient("Unauthorized".into()));
    }
    let now = app.clock.unix();
    let ttl = ttl(app, s);
    match get(form, "grant_type") {
        Some("authorization_code") => {
            let code = get(form, "code").ok_or_else(|| {
                TokenError::InvalidRequest("Missing required parameter: code".into())
            })?;
            // Codes are single-use: taken out even when the rest of the request is wrong.
            let grant = app.oauth.inner.lock().unwrap().codes.remove(code);
            let grant = grant.filter(|g| g.service == s).ok_or_else(|| {
                TokenError::InvalidGrant("code doesn't exist or has expired".into())
            })?;
            if grant.expires_at <= now {
                return Err(TokenError::InvalidGrant("code has expired".into()));
            }
            if grant.client_id != client.id {
                return Err(TokenError::InvalidGrant(
                    "code was issued to another client".into(),
                ));
            }
            if get(form, "redirect_uri").unwrap_or("") != grant.redirect_uri {
                return Err(TokenError::InvalidGrant("redirect_uri mismatch".into()));
            }
            let public_client = match &grant.challenge {
                Some(ch) => {
                    let v = get(form, "code_verifier")
                        .ok_or_else(|| TokenError::InvalidGrant("Missing code_verifier".into()))?;
                    if !pkce_ok(ch, v) {
                        return Err(TokenError::InvalidGrant("invalid code verifier".into()));
                    }
                    secret.is_none()
                }
                None => {
                    if secret.is_none() {
                        return Err(TokenError::InvalidClient(
                            "client_secret is required without PKCE".into(),
                        ));
                    }
                    false
                }
            };
            let account = app.oauth.account(s);
            let mut rng = app.rng.lock().unwrap();
            let access_token = app.oauth.issue(
                &mut rng,
                TokenInfo {
                    service: s,
                    account: account.clone(),
                    client_id: client.id.clone(),
                    scope: grant.scope.clone(),
                    expires_at: now + ttl,
                    long_lived: false,
                },
            );
            let refresh_token = grant.offline.then(|| {
                app.oauth.issue_refresh(
                    &mut rng,
                    RefreshGrant {
                        service: s,
                        client_id: client.id.clone(),
                        account: account.clone(),
                        scope: grant.scope.clone(),
                        public_client,
                    },
                )
            });
            Ok(Issued {
                access_token,
                expires_in: ttl,
                refresh_token,
                scope: grant.scope,
                account,
            })
        }
        Some("refresh_token") if s != Service::Facebook => {
            let rt = get(form, "refresh_token").ok_or_else(|| {
                TokenError::InvalidRequest("Missing required parameter: refresh_token".into())
            })?;
            let g = app.oauth.inner.lock().unwrap().refresh.get(rt).cloned();
            let g = g
                .filter(|g| g.service == s && g.client_id == client.id)
                .ok_or_else(|| {
                    TokenError::InvalidGrant("refresh token is invalid or revoked".into())
                })?;
            if secret.is_none() && !g.public_client {
                return Err(TokenError::InvalidClient(
                    "client_secret is required".into(),
                ));
            }
            let mut rng = app.rng.lock().unwrap();
            let access_token = app.oauth.issue(
                &mut rng,
                TokenInfo {
                    service: s,
                    account: g.account.clone(),
                    client_id: client.id.clone(),
                    scope: g.scope.clone(),
                    expires_at: now + ttl,
                    long_lived: false,
                },
            );
            Ok(Issued {
                access_token,
                expires_in: ttl,
                refresh_token: None,
                scope: g.scope,
                account: g.account,
            })
        }
        Some(other) => Err(TokenError::UnsupportedGrantType(format!(
            "unsupported grant_type {other:?}"
        ))),
        None => Err(TokenError::InvalidRequest(
            "Missing required parameter: grant_type".into(),
        )),
    }
}

/// Facebook's `grant_type=fb_exchange_token`: a valid short-lived token for a ~60-day one.
pub fn exchange_long_lived(
    app: &AppState,
    short: &str,
    client_id: &str,
    secret: &str,
) -> Result<Issued, TokenError> {
    let s = Service::Facebook;
    let client = app
        .oauth
        .client(s, client_id)
        .filter(|c| c.secret == secret)
        .ok_or_else(|| TokenError::InvalidClient("Error validating client secret.".into()))?;
    let now = app.clock.unix();
    let info = match app.oauth.check(s, short, now) {
        Check::Valid(i) => i,
        Check::Expired => {
            return Err(TokenError::InvalidGrant(
                "Error validating access token: Session has expired".into(),
            ));
        }
        Check::Invalid => {
            return Err(TokenError::InvalidGrant(
                "Invalid OAuth access token.".into(),
            ));
        }
    };
    // ~60 days, but never longer than the configured TTL allows when a test shortens it.
    let ttl = 5_183_944.min(ttl(app, s).max(1) * 360);
    let mut rng = app.rng.lock().unwrap();
    let access_token = app.oauth.issue(
        &mut rng,
        TokenInfo {
            service: s,
            account: info.account.clone(),
            client_id: client.id,
            scope: info.scope.clone(),
            expires_at: now + ttl,
            long_lived: true,
        },
    );
    Ok(Issued {
        access_token,
        expires_in: ttl,
        refresh_token: None,
        scope: info.scope,
        account: info.account,
    })
}

/// `Authorization: Bearer <t>` (case-insensitive scheme).
pub fn bearer(h: Option<&str>) -> Option<&str> {
    let h = h?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        // RFC 7636 appendix B.
        let ch = (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string(),
            "S256".to_string(),
        );
        assert!(pkce_ok(&ch, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!pkce_ok(&ch, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX"));
    }
}
