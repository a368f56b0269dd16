//! Connecting Facebook: the OAuth app, who the account is, revoking.

use ferry_core::{Error, Result};

use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{ServiceKind, Session};

pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        kind: ServiceKind::Facebook,
        authorize_url: format!("{}/{}/dialog/oauth", config.url("auth_url"), super::GRAPH_VERSION),
        token_url: format!("{}/{}/oauth/access_token", config.url("graph_url"), super::GRAPH_VERSION),
        scopes: vec!["user_photos".into(), "user_videos".into()],
        scope_separator: ",",
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

/// Exchanges an authorization code for a long-lived token.
pub async fn exchange(
    _http: &reqwest::Client,
    _config: &ServiceConfig,
    _redirect_uri: &str,
    _code: &str,
) -> Result<crate::auth::Secret> {
    Err(Error::permanent("not built yet"))
}
