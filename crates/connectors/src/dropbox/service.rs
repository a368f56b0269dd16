//! Dropbox in the registry: a destination, connected through OAuth with PKCE.

use ferry_core::{Destination, Result};

use crate::service::{OAUTH_PKCE, Service, ServiceInfo, ServiceKind, Session, TOKEN};

const INFO: ServiceInfo = ServiceInfo {
    kind: ServiceKind::Dropbox,
    name: "dropbox",
    title: "Dropbox",
    url_keys: &[
        ("api_url", "https://api.dropboxapi.com"),
        ("content_url", "https://content.dropboxapi.com"),
        ("auth_url", "https://www.dropbox.com"),
    ],
    methods: &[OAUTH_PKCE, TOKEN],
    source: false,
    oauth: Some(super::auth::oauth_app),
    account: |session| Box::pin(super::auth::account(session)),
    revoke: Some(|session| Box::pin(super::auth::revoke(session))),
    exchange: None,
};

pub struct Dropbox;

impl Service for Dropbox {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
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
}
