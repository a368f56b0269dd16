//! Connecting Koofr: the OAuth app, who the account is, revoking.

use ferry_core::{Error, Result};

use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{ServiceKind, Session};

pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        kind: ServiceKind::Koofr,
        authorize_url: format!("{}/oauth2/auth", config.url("base_url")),
        token_url: format!("{}/oauth2/token", config.url("base_url")),
        scopes: vec!["public".into()],
        scope_separator: " ",
        extra: vec![],
        pkce: false,
    }
}

pub async fn account(_session: &Session) -> Result<String> {
    Err(Error::permanent("not built yet"))
}

pub async fn revoke(_session: &Session) -> Result<()> {
    Ok(())
}
