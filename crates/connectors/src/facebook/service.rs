//! Facebook in the registry: a source, connected through OAuth with the app secret.

use ferry_core::{Error, Result, Source};

use crate::service::{OAUTH_SECRET, Service, ServiceInfo, ServiceKind, Session, TOKEN};

const INFO: ServiceInfo = ServiceInfo {
    kind: ServiceKind::Facebook,
    name: "facebook",
    title: "Facebook",
    url_keys: &[
        ("graph_url", "https://graph.facebook.com"),
        ("auth_url", "https://www.facebook.com"),
    ],
    methods: &[OAUTH_SECRET, TOKEN],
    source: true,
    oauth: Some(super::auth::oauth_app),
    account: |session| Box::pin(super::auth::account(session)),
    revoke: Some(|session| Box::pin(super::auth::revoke(session))),
    // Facebook\'s own exchange, then a long-lived token.
    exchange: Some(|http, config, redirect_uri, code| {
        Box::pin(super::auth::exchange(http, config, redirect_uri, code))
    }),
};

pub struct Facebook;

impl Service for Facebook {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
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
}
