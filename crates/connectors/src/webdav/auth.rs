//! Connecting a WebDAV server: a URL, a user and a password; no OAuth.

use ferry_core::{Error, Result};

use crate::service::Session;

pub async fn account(_session: &Session) -> Result<String> {
    Err(Error::permanent("not built yet"))
}
