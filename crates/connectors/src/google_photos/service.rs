//! Google Photos in the registry: a destination of albums, connected through OAuth with PKCE.

use ferry_core::{Destination, Error, Result};

use super::{GooglePhotosDestination, auth};
use crate::service::{OAUTH_PKCE, Opens, Service, Session, TOKEN};

pub static SERVICE: Service = Service::new(
    "google-photos",
    "Google Photos",
    Opens::Destination(open),
    |s| Box::pin(auth::account(s)),
)
.endpoints(&[
    ("api_url", "https://photoslibrary.googleapis.com"),
    ("auth_url", "https://accounts.google.com"),
    ("token_url", "https://oauth2.googleapis.com"),
])
.connect(&[OAUTH_PKCE, TOKEN])
.oauth(auth::oauth_app)
.revoke(|s| Box::pin(auth::revoke(s)));

fn open(session: &Session, root: Vec<String>) -> Result<Box<dyn Destination>> {
    if !root.is_empty() {
        return Err(Error::permanent(format!(
            "{}: Google Photos has albums, not folders; use `{}:`",
            session.name, session.name
        )));
    }
    Ok(Box::new(GooglePhotosDestination::new(session.clone())?))
}
