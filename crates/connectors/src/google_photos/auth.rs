//! Connecting Google Photos: the OAuth app, who the account is, revoking.
//!
//! Google's OAuth 2.0 for installed apps: authorize at `{auth_url}/o/oauth2/v2/auth`, tokens
//! at `{token_url}/token`, revoke at `{token_url}/revoke`; `access_type=offline` for a refresh
//! token and `prompt=consent` so that reconnecting gets one again; PKCE with S256.

use serde::Deserialize;

use ferry_core::{Error, Pacer, Result};

use super::client::Client;
use crate::auth::Auth;
use crate::config::ServiceConfig;
use crate::http;
use crate::oauth::OAuthApp;
use crate::service::Session;

const SCOPE: &str = "https://www.googleapis.com/auth/";

/// Uploading and creating albums (`appendonly`), and reading back what the app created, to
/// find its albums and recognise items already placed (`readonly.appcreateddata`). Nothing
/// ferry does needs to edit or delete.
pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        service: config.service,
        authorize_url: format!("{}/o/oauth2/v2/auth", config.url("auth_url")),
        token_url: format!("{}/token", config.url("token_url")),
        scopes: vec![
            format!("{SCOPE}photoslibrary.appendonly"),
            format!("{SCOPE}photoslibrary.readonly.appcreateddata"),
        ],
        scope_separator: " ",
        extra: vec![("access_type", "offline"), ("prompt", "consent")],
        pkce: true,
    }
}

/// Who the connection is. The Library API has no profile route, and asking for `openid
/// email` only to print an address would widen what the person consents to; so this names
/// the service and counts the albums ferry made there, which also proves the token works.
pub async fn account(session: &Session) -> Result<String> {
    let client = Client::new(
        session.clone(),
        Pacer::new(Default::default(), Default::default()),
    );
    let albums = client.all_albums().await?.len();
    let plural = if albums == 1 { "" } else { "s" };
    Ok(format!(
        "Google Photos ({albums} album{plural} created by this app)"
    ))
}

#[derive(Deserialize)]
struct RevokeError {
    #[serde(default)]
    error: String,
}

/// Revokes the grant: `POST {token_url}/revoke` with the access token, which Google documents
/// as revoking its refresh token too. A token Google no longer knows has nothing left to
/// revoke.
pub async fn revoke(session: &Session) -> Result<()> {
    let Auth::Bearer(bearer) = &session.auth else {
        return Ok(());
    };
    let (token, _) = bearer.token().await?;
    let url = format!("{}/revoke", session.config.url("token_url"));
    let what = "revoking the Google Photos connection";
    let form = [("token", secrecy::ExposeSecret::expose_secret(&token))];
    let response = session
        .http
        .post(&url)
        .form(&form)
        .send()
        .await
        .map_err(|e| http::transport(what, e))?;
    if response.status().is_success() {
        return Ok(());
    }
    let failure = http::Failure::read(response).await;
    let answer: Option<RevokeError> = serde_json::from_str(&failure.body).ok();
    match answer {
        Some(answer) if answer.error == "invalid_token" => Ok(()),
        _ => Err(match failure.by_status(what) {
            Error::NotFound(m) => Error::Permanent(m),
            other => other,
        }),
    }
}
