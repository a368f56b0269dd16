//! WebDAV in the registry: a destination on any server, connected with its URL, a user and a
//! password (HTTP Basic); nothing to revoke.

use ferry_core::{Destination, Result};

use crate::service::{
    ConnectMethod, ConnectOption, Credential, Input, Service, ServiceInfo, ServiceKind, Session,
    Target,
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

const INFO: ServiceInfo = ServiceInfo {
    kind: ServiceKind::Webdav,
    name: "webdav",
    title: "WebDAV",
    url_keys: &[],
    methods: METHODS,
    source: false,
    oauth: None,
    account: |session| Box::pin(super::auth::account(session)),
    revoke: None,
    exchange: None,
};

pub struct Webdav;

impl Service for Webdav {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
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
}
