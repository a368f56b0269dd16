//! Connecting Dropbox: the OAuth app, who the account is, revoking.
//!
//! Dropbox's OAuth 2 (apis.md §1.3): authorize at `{auth_url}/oauth2/authorize` with PKCE
//! (S256) and `token_access_type=offline`, which is what makes Dropbox hand out a refresh token
//! beside the 4-hour access token; exchange and refresh at `{api_url}/oauth2/token`.

use ferry_core::Result;

use super::client::Client;
use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::Session;

/// The scopes ferry asks for, each for the routes that need it: `account_info.read` for
/// users/*, `files.metadata.read` for get_metadata, `files.content.write` for uploads, folders
/// and deletes, `sharing.write` and `sharing.read` for creating and finding shared links.
/// `files.metadata.write` and `files.content.read` are kept so that a connection made once
/// also serves reading a Dropbox back.
const SCOPES: &[&str] = &[
    "account_info.read",
    "files.metadata.read",
    "files.metadata.write",
    "files.content.read",
    "files.content.write",
    "sharing.read",
    "sharing.write",
];

pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        service: config.service,
        authorize_url: format!("{}/oauth2/authorize", config.url("auth_url")),
        token_url: format!("{}/oauth2/token", config.url("api_url")),
        scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
        scope_separator: " ",
        extra: vec![("token_access_type", "offline")],
        pkce: true,
    }
}

/// The account's e-mail address (its display name when it has none), which also proves that
/// the connection works.
pub async fn account(session: &Session) -> Result<String> {
    let account = Client::new(session.clone()).get_current_account().await?;
    Ok(account
        .email
        .filter(|e| !e.is_empty())
        .unwrap_or(account.name.display_name))
}

/// Revokes the access token; Dropbox revokes the refresh token it came from with it.
pub async fn revoke(session: &Session) -> Result<()> {
    Client::new(session.clone()).revoke_token().await?;
    Ok(())
}
