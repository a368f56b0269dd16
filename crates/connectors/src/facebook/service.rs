//! Facebook in the registry: a source, connected through OAuth with the app secret.

use ferry_core::{Error, Result, Source};

use super::{FacebookSource, auth};
use crate::service::{OAUTH_SECRET, Opens, Service, Session, TOKEN};

pub static SERVICE: Service = Service::new("facebook", "Facebook", Opens::Source(open), |s| {
    Box::pin(auth::account(s))
})
.endpoints(&[
    ("graph_url", "https://graph.facebook.com"),
    ("auth_url", "https://www.facebook.com"),
])
.connect(&[OAUTH_SECRET, TOKEN])
.oauth(auth::oauth_app)
.revoke(|s| Box::pin(auth::revoke(s)))
// Facebook's own exchange, then a long-lived token.
.exchange(|http, config, redirect_uri, code| {
    Box::pin(auth::exchange(http, config, redirect_uri, code))
});

fn open(session: &Session, path: &str) -> Result<Box<dyn Source>> {
    if !path.trim_matches('/').is_empty() {
        return Err(Error::permanent(format!(
            "{}: Facebook has no paths; use `{}:`",
            session.name, session.name
        )));
    }
    Ok(Box::new(FacebookSource::new(session.clone())))
}
