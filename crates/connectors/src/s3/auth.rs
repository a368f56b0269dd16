//! Connecting a bucket: an access key id and secret access key (SigV4); no OAuth, and nothing
//! to revoke (keys are managed in the provider's console).

use ferry_core::Result;

use super::client::S3Config;
use super::error::map_error;
use crate::service::Session;

/// `s3://bucket (access key id)` once listing the bucket succeeds with the credentials.
pub async fn account(session: &Session) -> Result<String> {
    let config = S3Config::from_session(session)?;
    let operator = config.operator()?;
    operator
        .list_with("/")
        .limit(1)
        .await
        .map_err(|e| map_error(&config.bucket, "listing the bucket", &e))?;
    Ok(format!("s3://{} ({})", config.bucket, config.access_key_id))
}
