//! S3 in the registry: a destination in a bucket (AWS or any S3-compatible service),
//! connected with an access key; nothing to revoke (keys are managed in the provider's
//! console).

use ferry_core::{Destination, Result};

use crate::service::{
    ConnectMethod, ConnectOption, Credential, Input, Service, ServiceInfo, ServiceKind, Session,
    Target,
};

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

const INFO: ServiceInfo = ServiceInfo {
    kind: ServiceKind::S3,
    name: "s3",
    title: "S3",
    url_keys: &[],
    methods: METHODS,
    source: false,
    oauth: None,
    account: |session| Box::pin(super::auth::account(session)),
    revoke: None,
    exchange: None,
};

pub struct S3;

impl Service for S3 {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn open_destination(
        &self,
        session: &Session,
        root: Vec<String>,
    ) -> Result<Box<dyn Destination>> {
        Ok(Box::new(super::S3Destination::new(session, root)?))
    }
}
