//! Connecting Koofr: an app password (Basic, the usual way, as rclone does) or OAuth.
//!
//! OAuth endpoints are `{base_url}/oauth2/auth` and `{base_url}/oauth2/token` (DTP's
//! `KoofrOAuthConfig`, Koofr's own `koofr/vault` client); client credentials go in the form
//! body; Koofr issues a refresh token with every grant; PKCE is not documented. The scope is
//! `public`, the one Koofr's own Vault app asks for to read and write files (DTP asks for
//! the narrower `files.import`, which is not documented to cover moves and links).

use ferry_core::Result;

use super::client::Client;
use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::Session;

pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        service: config.service,
        authorize_url: format!("{}/oauth2/auth", config.url("base_url")),
        token_url: format!("{}/oauth2/token", config.url("base_url")),
        scopes: vec!["public".into()],
        scope_separator: " ",
        extra: vec![],
        pkce: false,
    }
}

/// The account's e-mail address (`GET /api/v2/user`), which also proves the credentials work.
pub async fn account(session: &Session) -> Result<String> {
    Ok(Client::new(session.clone()).user().await?.email)
}

/// Koofr documents no way for an app to revoke an OAuth grant or an app password (its
/// `DELETE /token` ends a password login's session token, which ferry never holds): the
/// person removes them in Koofr's settings. Nothing to do here.
pub async fn revoke(_session: &Session) -> Result<()> {
    Ok(())
}
