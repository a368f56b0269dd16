//! Facebook in the registry: a source, connected through OAuth with the app secret.

use async_trait::async_trait;

use ferry_core::{Error, Result, Source};

use crate::auth::Secret;
use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{ConnectMethod, Credential, Service, ServiceKind, Session, TOKEN};

pub struct Facebook;

#[async_trait]
impl Service for Facebook {
    fn kind(&self) -> ServiceKind {
        ServiceKind::Facebook
    }

    fn name(&self) -> &'static str {
        "facebook"
    }

    fn title(&self) -> &'static str {
        "Facebook"
    }

    fn url_keys(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("graph_url", "https://graph.facebook.com"),
            ("auth_url", "https://www.facebook.com"),
        ]
    }

    fn methods(&self) -> &'static [ConnectMethod] {
        &[
            ConnectMethod {
                credential: Credential::OAuth { pkce: false },
                options: &[],
            },
            TOKEN,
        ]
    }

    fn oauth(&self, config: &ServiceConfig) -> Option<OAuthApp> {
        Some(super::auth::oauth_app(config))
    }

    /// Facebook's own exchange, then a long-lived token.
    async fn exchange(
        &self,
        _app: &OAuthApp,
        http: &reqwest::Client,
        config: &ServiceConfig,
        redirect_uri: &str,
        code: String,
        _verifier: Option<String>,
    ) -> Result<Secret> {
        super::auth::exchange(http, config, redirect_uri, &code).await
    }

    fn is_source(&self) -> bool {
        true
    }

    fn is_destination(&self) -> bool {
        false
    }

    fn open_source(&self, session: &Session, path: &str) -> Result<Box<dyn Source>> {
        if !path.trim_matches('/').is_empty() {
            return Err(Error::permanent(format!(
                "{}: Facebook has no paths; use `{}:`",
                session.name, session.name
            )));
        }
        Ok(Box::new(super::FacebookSource::new(session.clone())))
    }

    async fn account(&self, session: &Session) -> Result<String> {
        super::auth::account(session).await
    }

    async fn revoke(&self, session: &Session) -> Result<()> {
        super::auth::revoke(session).await
    }
}
