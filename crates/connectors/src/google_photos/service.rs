//! Google Photos in the registry: a destination of albums, connected through OAuth with PKCE.

use async_trait::async_trait;

use ferry_core::{Destination, Error, Result};

use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{ConnectMethod, Credential, Service, ServiceKind, Session, TOKEN};

pub struct GooglePhotos;

#[async_trait]
impl Service for GooglePhotos {
    fn kind(&self) -> ServiceKind {
        ServiceKind::GooglePhotos
    }

    fn name(&self) -> &'static str {
        "google-photos"
    }

    fn title(&self) -> &'static str {
        "Google Photos"
    }

    fn url_keys(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("api_url", "https://photoslibrary.googleapis.com"),
            ("auth_url", "https://accounts.google.com"),
            ("token_url", "https://oauth2.googleapis.com"),
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
        if !root.is_empty() {
            return Err(Error::permanent(format!(
                "{}: Google Photos has albums, not folders; use `{}:`",
                session.name, session.name
            )));
        }
        Ok(Box::new(super::GooglePhotosDestination::new(
            session.clone(),
        )?))
    }

    async fn account(&self, session: &Session) -> Result<String> {
        super::auth::account(session).await
    }

    async fn revoke(&self, session: &Session) -> Result<()> {
        super::auth::revoke(session).await
    }
}
