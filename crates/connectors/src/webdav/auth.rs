//! Connecting a WebDAV server: a URL, a user and a password (HTTP Basic); no OAuth, and
//! nothing to revoke.

use ferry_core::{Error, Result};

use super::client::{Client, Depth};
use crate::auth::Auth;
use crate::service::Session;

/// `user@host` once a PROPFIND on the server URL succeeds with the credentials.
pub async fn account(session: &Session) -> Result<String> {
    let client = Client::new(session)?;
    if client
        .propfind::<String>(&[], true, Depth::Zero)
        .await?
        .is_none()
    {
        return Err(Error::permanent(format!(
            "WebDAV {}: the server URL was not found",
            session.name
        )));
    }
    let user = match &session.auth {
        Auth::Basic { user, .. } if !user.is_empty() => Some(user.clone()),
        _ => session.settings.user.clone().filter(|u| !u.is_empty()),
    };
    Ok(match user {
        Some(user) => format!("{user}@{}", client.host()),
        None => client.host(),
    })
}
