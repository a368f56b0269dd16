//! S3 in the registry: a destination in a bucket (AWS or any S3-compatible service),
//! connected with an access key; nothing to revoke (keys are managed in the provider's
//! console).

use super::{S3Destination, auth};
use crate::service::{ConnectMethod, ConnectOption, Credential, Input, Opens, Service, Target};

/// How an account is connected.
const METHODS: &[ConnectMethod] = &[ConnectMethod {
    credential: Credential::ApiKey,
    options: &[
        ConnectOption::new("bucket", "Bucket", Target::Bucket)
            .required()
            .help("The bucket."),
        ConnectOption::new("access-key-id", "Access key id", Target::User)
            .required()
            .help("The access key id."),
        ConnectOption::new("secret-access-key", "Secret access key", Target::Password)
            .input(Input::Secret)
            .required()
            .env("FERRY_S3_SECRET_ACCESS_KEY")
            .help("The secret access key that goes with the key id."),
        ConnectOption::new("region", "Region", Target::Region)
            .help("The bucket's region (default us-east-1)."),
        ConnectOption::new("endpoint", "Endpoint", Target::Url)
            .input(Input::Url)
            .help("The endpoint of an S3-compatible service (AWS when absent)."),
        ConnectOption::new("prefix", "Prefix", Target::Prefix)
            .input(Input::Path)
            .help("The key prefix everything goes under."),
    ],
}];

pub static SERVICE: Service = Service::new(
    "s3",
    "S3",
    Opens::Destination(|session, root| Ok(Box::new(S3Destination::new(session, root)?))),
    |s| Box::pin(auth::account(s)),
)
.connect(METHODS);
