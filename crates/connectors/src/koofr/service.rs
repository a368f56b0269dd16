//! Koofr in the registry: a destination, connected with an app password (the usual way, as
//! rclone does) or through OAuth with the app's client secret.

use async_trait::async_trait;

use ferry_core::{Destination, Result};

use crate::config::ServiceConfig;
use crate::oauth::OAuthApp;
use crate::service::{
    ConnectMethod, ConnectOption, Credential, Input, Service, ServiceKind, Session, TOKEN, Target,
};

/// How an account is connected.
const METHODS: &[ConnectMethod] = &[
    ConnectMethod {
        credential: Credential::AppPassword,
        options: &[
            ConnectOption::new("user", "E-mail", Target::User)
                .input(Input::Email)
                .required()
                .help("Your Koofr e-mail address."),
            ConnectOption::new("app-password", "App password", Target::Password)
                .input(Input::Secret)
                .required()
                .help("An app password made for ferry in Koofr's Preferences → Password."),
        ],
    },
    ConnectMethod {
        credential: Credential::OAuth { pkce: false },
        options: &[],
    },
    TOKEN,
];

pub struct Koofr;

#[async_trait]
impl Service for Koofr {
    fn kind(&self) -> ServiceKind {
        ServiceKind::Koofr
    }

    fn name(&self) -> &'static str {
        "koofr"
    }

    fn title(&self) -> &'static str {
        "Koofr"
    }

    fn url_keys(&self) -> &'static [(&'static str, &'static str)] {
        &[("base_url", "https://app.koofr.net")]
    }

    fn methods(&self) -> &'static [ConnectMethod] {
        METHODS
    }

    fn oauth(&self, config: &ServiceConfig) -> Option<OAuthApp> {
        Some(super::auth::oauth_app(config))
    }

    fn open_destination(
        &self,
        session: &Session,
        root: Vec<String>,
    ) -> Result<Box<dyn Destination>> {
        Ok(Box::new(super::KoofrDestination::new(
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
