//! WebDAV in the registry: a destination on any server, connected with its URL, a user and a
//! password (HTTP Basic); nothing to revoke.

use super::{WebdavDestination, auth};
use crate::service::{ConnectMethod, ConnectOption, Credential, Input, Opens, Service, Target};

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

pub static SERVICE: Service = Service::new(
    "webdav",
    "WebDAV",
    Opens::Destination(|session, root| {
        Ok(Box::new(WebdavDestination::new(session.clone(), root)?))
    }),
    |s| Box::pin(auth::account(s)),
)
.connect(METHODS);
