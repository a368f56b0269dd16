//! Connecting Dropbox: the OAuth app, who the account is, revoking.

use ferry_core::{Error, Result};

use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{ServiceKind, Session};

pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        kind: ServiceKind::Dropbox,
        authorize_url: format!("{}/oauth2/authorize", config.url("auth_url")),
        token_url: format!("{}/oauth2/token", config.url("api_url")),
        scopes: vec!["files.metadata.read".into(), "files.metadata.write".into(), "files.content.write".into(), "files.content.read".into(), "sharing.write".into(), "account_info.read".into()],
        scope_separator: " ",
        extra: vec![("token_access_type", "offline")],
        pkce: true,
    }
}

pub async fn account(_session: &Session) -> Result<String> {
    Err(Error::permanent("not built yet"))
}

pub async fn revoke(_session: &Session) -> Result<()> {
    Ok(())
}
