//! Dropbox in the registry: a destination, connected through OAuth with PKCE.

use super::{DropboxDestination, auth};
use crate::service::{OAUTH_PKCE, Opens, Service, TOKEN};

pub static SERVICE: Service = Service::new(
    "dropbox",
    "Dropbox",
    Opens::Destination(|session, root| {
        Ok(Box::new(DropboxDestination::new(session.clone(), root)?))
    }),
    |s| Box::pin(auth::account(s)),
)
.endpoints(&[
    ("api_url", "https://api.dropboxapi.com"),
    ("content_url", "https://content.dropboxapi.com"),
    ("auth_url", "https://www.dropbox.com"),
])
.connect(&[OAUTH_PKCE, TOKEN])
.oauth(auth::oauth_app)
.revoke(|s| Box::pin(auth::revoke(s)));
