//! Reaching a bucket: an OpenDAL operator from a connection's settings and sealed secret.
//! Shared with `ferry serve`'s archive store, which keeps export archives in a bucket.

use std::time::Duration;

use opendal::Operator;
use opendal::layers::TimeoutLayer;
use opendal::services::S3;
use secrecy::{ExposeSecret, SecretString};

use ferry_core::{Error, Result};

use crate::auth::Auth;
use crate::service::Session;

/// The size of one part of a multipart upload (S3 takes 5 MiB to 5 GiB, at most 10,000
/// parts): what one upload holds in memory, twice over with two parts in flight.
pub const PART_SIZE: usize = 8 << 20;

/// Parts of one upload sent at once.
pub(crate) const PARTS_IN_FLIGHT: usize = 2;

/// Where a bucket is and the credentials for it. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct S3Config {
    pub bucket: String,
    /// `us-east-1` when none is given (S3-compatible services mostly ignore it).
    pub region: Option<String>,
    /// The endpoint of an S3-compatible service (`https://minio.example:9000`); AWS's when
    /// none is given.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// The bucket of an `s3` connection: settings in the clear, the secret access key sealed.
    pub fn from_session(session: &Session) -> Result<S3Config> {
        let missing = |what: &str| {
            Error::permanent(format!(
                "S3 connection {}: no {what}; connect it again with `ferry connect s3 --name {} --bucket B --access-key-id ID`",
                session.name, session.name
            ))
        };
        let bucket = session
            .settings
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| missing("bucket"))?;
        let Auth::Basic { user, password } = &session.auth else {
            return Err(missing("secret access key"));
        };
        if user.is_empty() {
            return Err(missing("access key id"));
        }
        Ok(S3Config {
            bucket,
            region: session.settings.region.clone(),
            endpoint: session.settings.url.clone(),
            access_key_id: user.clone(),
            secret_access_key: password.clone(),
        })
    }

    /// An operator on the bucket's root. Nothing is read from the environment, AWS profiles
    /// or instance metadata: only these credentials are used.
    pub fn operator(&self) -> Result<Operator> {
        opendal::install_default();
        let mut builder = S3::default()
            .bucket(&self.bucket)
            .region(self.region.as_deref().unwrap_or("us-east-1"))
            .access_key_id(&self.access_key_id)
            .secret_access_key(self.secret_access_key.expose_secret())
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint(endpoint);
        }
        let operator = Operator::new(builder)
            .map_err(|e| Error::permanent(format!("S3 bucket {}: {}", self.bucket, e.message())))?;
        // A stalled connection fails the call instead of hanging the transfer; a part's
        // upload is one IO call, hence the generous IO timeout.
        Ok(operator.layer(
            TimeoutLayer::new()
                .with_timeout(Duration::from_secs(60))
                .with_io_timeout(Duration::from_secs(120)),
        ))
    }
}

/// Object keys from `/`-separated parts, ignoring empty ones.
pub(crate) fn key(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|p| p.split('/'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}
