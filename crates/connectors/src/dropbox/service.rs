//! Dropbox in the registry: a destination, connected through OAuth with PKCE.

use async_trait::async_trait;

use ferry_core::{Destination, Result};

use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{ConnectMethod, Credential, Service, ServiceKind, Session, TOKEN};

pub struct Dropbox;

#[async_trait]
impl Service for Dropbox {
    fn kind(&self) -> ServiceKind {
        ServiceKind::Dropbox
    }

    fn name(&self) -> &'static str {
        "dropbox"
    }

    fn title(&self) -> &'static str {
        "Dropbox"
    }

    fn url_keys(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("api_url", "https://api.dropboxapi.com"),
            ("content_url", "https://content.dropboxapi.com"),
            ("auth_url", "https://www.dropbox.com"),
        ]
    }

    fn methods(&self) -> &'static [ConnectMethod] {
        &[
            ConnectMethod {
                credential: Credential::OAuth { pkce: true },
                options: &[],
            },
            TOKEN,
        ]
    }

    fn oauth(&self, config: &ServiceConfig) -> Option<OAuthApp> {
        Some(super::auth::oauth_app(config))
    }

    fn open_destination(
        &self,
        session: &Session,
        root: Vec<String>,
    ) -> Result<Box<dyn Destination>> {
        Ok(Box::new(super::DropboxDestination::new(
            session.clone(),
            root,
        )?))
    }

    async fn account(&self, session: &Session) -> Result<String> {
        super::auth::account(session).await
    }

    async fn revoke(&self, session: &Session) -> Result<()> {
        super::auth::revoke(session).await
    }
}
