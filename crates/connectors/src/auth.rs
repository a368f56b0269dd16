//! Credentials as the clients use them: an OAuth access token that refreshes itself (and has
//! the refreshed token saved, sealed, by whoever owns the connection), or a user and password
//! sent as HTTP Basic (Koofr app passwords, WebDAV).
//!
//! Secrets live in [`SecretString`]s from the moment they are unsealed: they never appear in
//! `Debug` output, and nothing here formats one into a message.

use std::sync::Arc;

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RefreshToken, TokenResponse, TokenUrl};
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop};

use ferry_core::{Error, Result};

/// What a connection keeps sealed at rest. Fields a service does not use stay empty.
#[derive(Clone, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// A password or app password (Koofr, WebDAV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl Secret {
    /// OAuth tokens (`expires_at` in Unix seconds).
    pub fn tokens(access: String, refresh: Option<String>, expires_at: Option<i64>) -> Secret {
        Secret {
            access_token: Some(access),
            refresh_token: refresh,
            expires_at,
            password: None,
        }
    }

    /// A password or app password.
    pub fn password(password: String) -> Secret {
        Secret {
            access_token: None,
            refresh_token: None,
            expires_at: None,
            password: Some(password),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Persists a refreshed token (sealed) so that the next run starts with it.
#[async_trait]
pub trait TokenSaver: Send + Sync {
    async fn save(&self, secret: &Secret) -> Result<()>;
}

/// How to refresh an access token: the service's token endpoint and the app's credentials.
#[derive(Clone)]
pub struct Refresher {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub http: reqwest::Client,
}

/// A token's generation: which refresh produced it, so that a 401 seen by several requests at
/// once causes one refresh, not one each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used(u64);

struct TokenState {
    access: SecretString,
    refresh: Option<SecretString>,
    expires_at: Option<OffsetDateTime>,
    /// When to refresh ahead of `expires_at`.
    refresh_at: Option<OffsetDateTime>,
    generation: u64,
}

impl TokenState {
    /// Sets a token's expiry and when to refresh it: [`EARLY_REFRESH`] before it expires, or
    /// half its lifetime for a token that lives less than twice that (else a token living
    /// under two minutes would be refreshed before every call). `lifetime` is what the
    /// service announced; for a token read back from storage, what is left of it.
    fn expires(&mut self, expires_at: Option<OffsetDateTime>, lifetime: Option<time::Duration>) {
        self.expires_at = expires_at;
        self.refresh_at = expires_at.map(|at| {
            let early = lifetime.map_or(EARLY_REFRESH, |l| (l / 2_i32).min(EARLY_REFRESH));
            at - early.max(time::Duration::ZERO)
        });
    }
}

/// An OAuth bearer token that refreshes itself.
pub struct Bearer {
    state: tokio::sync::Mutex<TokenState>,
    refresher: Option<Refresher>,
    saver: Option<Arc<dyn TokenSaver>>,
    /// How the person gets a new token when refreshing cannot ("reconnect with `ferry connect
    /// dropbox --name dbx`").
    reconnect: String,
}

/// Refresh this long before the announced expiry, so that a request never starts with a token
/// about to die (half the lifetime of a token that lives less than twice this).
const EARLY_REFRESH: time::Duration = time::Duration::seconds(120);

impl Bearer {
    pub fn new(
        secret: &Secret,
        refresher: Option<Refresher>,
        saver: Option<Arc<dyn TokenSaver>>,
        reconnect: impl Into<String>,
    ) -> Result<Bearer> {
        let reconnect = reconnect.into();
        let access = secret
            .access_token
            .clone()
            .ok_or_else(|| Error::AuthExpired(format!("no access token; {reconnect}")))?;
        let mut state = TokenState {
            access: SecretString::from(access),
            refresh: secret.refresh_token.clone().map(SecretString::from),
            expires_at: None,
            refresh_at: None,
            generation: 0,
        };
        let expires_at = secret
            .expires_at
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        state.expires(
            expires_at,
            expires_at.map(|at| at - OffsetDateTime::now_utc()),
        );
        Ok(Bearer {
            state: tokio::sync::Mutex::new(state),
            refresher,
            saver,
            reconnect,
        })
    }

    /// The current access token, refreshed first when it is about to expire.
    pub async fn token(&self) -> Result<(SecretString, Used)> {
        let mut state = self.state.lock().await;
        let now = OffsetDateTime::now_utc();
        if state.refresh_at.is_some_and(|at| at <= now) && self.can_refresh(&state) {
            self.refresh_locked(&mut state).await?;
        }
        Ok((state.access.clone(), Used(state.generation)))
    }

    /// Refreshes after the service refused the token of generation `used`, unless another
    /// request already did.
    pub async fn refresh(&self, used: Used) -> Result<()> {
        let mut state = self.state.lock().await;
        if state.generation != used.0 {
            return Ok(());
        }
        if !self.can_refresh(&state) {
            return Err(self.expired("the service refused the access token"));
        }
        self.refresh_locked(&mut state).await
    }

    fn can_refresh(&self, state: &TokenState) -> bool {
        self.refresher.is_some() && state.refresh.is_some()
    }

    pub fn refreshable(&self) -> bool {
        self.refresher.is_some()
    }

    pub fn expired(&self, what: &str) -> Error {
        Error::AuthExpired(format!(
            "{what}: the connection has expired; {}",
            self.reconnect
        ))
    }

    async fn refresh_locked(&self, state: &mut TokenState) -> Result<()> {
        let (Some(refresher), Some(refresh_token)) = (&self.refresher, &state.refresh) else {
            return Err(self.expired("refreshing the access token"));
        };
        let mut client = BasicClient::new(ClientId::new(refresher.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::new(refresher.token_url.clone()).map_err(|e| {
                Error::permanent(format!("bad token URL {}: {e}", refresher.token_url))
            })?);
        if let Some(secret) = &refresher.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.expose_secret().into()));
        }
        let refresh = RefreshToken::new(refresh_token.expose_secret().to_string());
        let answer = client
            .exchange_refresh_token(&refresh)
            .request_async(&oauth_client(refresher.http.clone()))
            .await
            .map_err(|e| self.refresh_error(e))?;
        state.access = SecretString::from(answer.access_token().secret().clone());
        if let Some(new_refresh) = answer.refresh_token() {
            state.refresh = Some(SecretString::from(new_refresh.secret().clone()));
        }
        let lifetime = answer
            .expires_in()
            .and_then(|d| time::Duration::try_from(d).ok());
        state.expires(lifetime.map(|d| OffsetDateTime::now_utc() + d), lifetime);
        state.generation += 1;
        tracing::debug!("access token refreshed");
        if let Some(saver) = &self.saver {
            let secret = Secret {
                access_token: Some(state.access.expose_secret().to_string()),
                refresh_token: state
                    .refresh
                    .as_ref()
                    .map(|r| r.expose_secret().to_string()),
                expires_at: state.expires_at.map(|t| t.unix_timestamp()),
                password: None,
            };
            if let Err(err) = saver.save(&secret).await {
                // The token works for this run; the next one refreshes again.
                tracing::warn!("could not save the refreshed token: {err}");
            }
        }
        Ok(())
    }

    fn refresh_error(
        &self,
        err: oauth2::RequestTokenError<
            OAuthHttpError,
            oauth2::StandardErrorResponse<oauth2::basic::BasicErrorResponseType>,
        >,
    ) -> Error {
        match err {
            oauth2::RequestTokenError::ServerResponse(answer) => {
                // invalid_grant: revoked or expired refresh token; invalid_client: the app's
                // credentials changed. Either way only the person can fix it.
                self.expired(&format!("refreshing the access token ({})", answer.error()))
            }
            oauth2::RequestTokenError::Request(e) => {
                Error::Retryable(format!("refreshing the access token: {e}"))
            }
            other => Error::Retryable(format!("refreshing the access token: {other}")),
        }
    }
}

/// How a request carries its credentials.
#[derive(Clone)]
pub enum Auth {
    /// Signed URLs (CDN downloads) need nothing.
    None,
    Bearer(Arc<Bearer>),
    Basic {
        user: String,
        password: SecretString,
    },
}

impl Auth {
    /// Adds the credentials to a request and says which token generation it used.
    pub async fn apply(&self, request: RequestBuilder) -> Result<(RequestBuilder, Used)> {
        match self {
            Auth::None => Ok((request, Used(0))),
            Auth::Basic { user, password } => Ok((
                request.basic_auth(user, Some(password.expose_secret())),
                Used(0),
            )),
            Auth::Bearer(bearer) => {
                let (token, used) = bearer.token().await?;
                Ok((request.bearer_auth(token.expose_secret()), used))
            }
        }
    }

    pub fn can_refresh(&self) -> bool {
        matches!(self, Auth::Bearer(b) if b.refreshable())
    }

    pub async fn refresh(&self, used: &Used) -> Result<()> {
        match self {
            Auth::Bearer(bearer) => bearer.refresh(*used).await,
            _ => Ok(()),
        }
    }

    /// The error for credentials the service refuses for good.
    pub fn expired(&self, what: &str) -> Error {
        match self {
            Auth::Bearer(bearer) => bearer.expired(what),
            Auth::Basic { .. } => Error::AuthExpired(format!(
                "{what}: the service refused the user name and password"
            )),
            Auth::None => Error::AuthExpired(format!("{what}: the service refused the request")),
        }
    }
}

/// The error of the HTTP client handed to the oauth2 crate.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OAuthHttpError(String);

/// oauth2's HTTP client, over our reqwest (oauth2's own reqwest feature would pull in a
/// second, older reqwest). Redirects are never followed on token endpoints.
pub fn oauth_client(
    http: reqwest::Client,
) -> impl Fn(
    oauth2::HttpRequest,
) -> std::pin::Pin<
    Box<
        dyn std::future::Future<Output = std::result::Result<oauth2::HttpResponse, OAuthHttpError>>
            + Send,
    >,
> {
    move |request: oauth2::HttpRequest| {
        let http = http.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    OAuthHttpError(crate::http::transport("token request", e).to_string())
                })?;
            let mut answer = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = crate::http::read_limited(response, crate::http::MAX_JSON_BODY)
                .await
                .map_err(|e| OAuthHttpError(e.to_string()))?;
            answer
                .body(body.to_vec())
                .map_err(|e| OAuthHttpError(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn refresh_at(lifetime: i64) -> OffsetDateTime {
        let mut state = TokenState {
            access: SecretString::from("a"),
            refresh: None,
            expires_at: None,
            refresh_at: None,
            generation: 0,
        };
        let at = datetime!(2030-01-01 12:00 UTC);
        state.expires(Some(at), Some(time::Duration::seconds(lifetime)));
        state.refresh_at.unwrap()
    }

    #[test]
    fn tokens_are_refreshed_two_minutes_early_or_at_half_their_life() {
        let at = datetime!(2030-01-01 12:00 UTC);
        assert_eq!(refresh_at(3600), at - time::Duration::seconds(120));
        assert_eq!(refresh_at(240), at - time::Duration::seconds(120));
        assert_eq!(refresh_at(5), at - time::Duration::milliseconds(2500));
        // Already expired: at once.
        assert_eq!(refresh_at(-10), at);
    }
}
