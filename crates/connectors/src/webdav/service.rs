//! WebDAV in the registry: a destination on any server, connected with its URL, a user and a
//! password (HTTP Basic); nothing to revoke.

use async_trait::async_trait;

use ferry_core::{Destination, Result};

use crate::service::{
    ConnectMethod, ConnectOption, Credential, Input, Service, ServiceKind, Session, Target,
};

/// How an account is connected.
const METHODS: &[ConnectMethod] = &[ConnectMethod {
    credential: Credential::Password,
    options: &[
        ConnectOption::new("url", "Server URL", Target::Url)
            .input(Input::Url)
            .required()
            .help("The WebDAV server's URL (the folder to use as the root)."),
        ConnectOption::new("user", "User", Target::User).help("The user name."),
        ConnectOption::new("password", "Password", Target::Password)
            .input(Input::Secret)
            .help("The password."),
    ],
}];

pub struct Webdav;

#[async_trait]
impl Service for Webdav {
    fn kind(&self) -> ServiceKind {
        ServiceKind::Webdav
    }

    fn name(&self) -> &'static str {
        "webdav"
    }

    fn title(&self) -> &'static str {
        "WebDAV"
    }

    fn methods(&self) -> &'static [ConnectMethod] {
        METHODS
    }

    fn open_destination(
        &self,
        session: &Session,
        root: Vec<String>,
    ) -> Result<Box<dyn Destination>> {
        Ok(Box::new(super::WebdavDestination::new(
            session.clone(),
            root,
        )?))
    }

    async fn account(&self, session: &Session) -> Result<String> {
        super::auth::account(session).await
    }
}
