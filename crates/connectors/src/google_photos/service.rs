//! Google Photos in the registry: a destination of albums, connected through OAuth with PKCE.

use ferry_core::{Destination, Error, Result};

use crate::service::{OAUTH_PKCE, Service, ServiceInfo, ServiceKind, Session, TOKEN};

const INFO: ServiceInfo = ServiceInfo {
    kind: ServiceKind::GooglePhotos,
    name: "google-photos",
    title: "Google Photos",
    url_keys: &[
        ("api_url", "https://photoslibrary.googleapis.com"),
        ("auth_url", "https://accounts.google.com"),
        ("token_url", "https://oauth2.googleapis.com"),
    ],
    methods: &[OAUTH_PKCE, TOKEN],
    source: false,
    oauth: Some(super::auth::oauth_app),
    account: |session| Box::pin(super::auth::account(session)),
    revoke: Some(|session| Box::pin(super::auth::revoke(session))),
    exchange: None,
};

pub struct GooglePhotos;

impl Service for GooglePhotos {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
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
}
