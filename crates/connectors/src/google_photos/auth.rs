//! Connecting Google Photos: the OAuth app, who the account is, revoking.

use ferry_core::{Error, Result};

use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{ServiceKind, Session};

pub fn oauth_app(config: &ServiceConfig) -> OAuthApp {
    OAuthApp {
        kind: ServiceKind::GooglePhotos,
        authorize_url: format!("{}/o/oauth2/v2/auth", config.url("auth_url")),
        token_url: format!("{}/token", config.url("token_url")),
        scopes: vec!["https://www.googleapis.com/auth/photoslibrary.appendonly".into(), "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata".into(), "https://www.googleapis.com/auth/photoslibrary.edit.appcreateddata".into()],
        scope_separator: " ",
        extra: vec![("access_type", "offline"), ("prompt", "consent")],
        pkce: true,
    }
}

pub async fn account(_session: &Session) -> Result<String> {
    Err(Error::permanent("not built yet"))
}

pub async fn revoke(_session: &Session) -> Result<()> {
    Ok(())
}
