//! Koofr in the registry: a destination, connected with an app password (the usual way, as
//! rclone does) or through OAuth with the app's client secret.

use ferry_core::{Destination, Result};

use crate::service::{
    ConnectMethod, ConnectOption, Credential, Input, OAUTH_SECRET, Service, ServiceInfo,
    ServiceKind, Session, TOKEN, Target,
};

/// How an account is connected.
const METHODS: &[ConnectMethod] = &[
    ConnectMethod {
        credential: Credential::AppPassword,
        options: &[
            ConnectOption::new("user", "E-mail", Target::User)
                .input(Input::Email)
                .required()
                .help("Your Koofr e-mail address."),
            ConnectOption::new("app-password", "App password", Target::Password)
                .input(Input::Secret)
                .required()
                .help("An app password made for ferry in Koofr's Preferences → Password."),
        ],
    },
    OAUTH_SECRET,
    TOKEN,
];

const INFO: ServiceInfo = ServiceInfo {
    kind: ServiceKind::Koofr,
    name: "koofr",
    title: "Koofr",
    url_keys: &[("base_url", "https://app.koofr.net")],
    methods: METHODS,
    source: false,
    oauth: Some(super::auth::oauth_app),
    account: |session| Box::pin(super::auth::account(session)),
    revoke: Some(|session| Box::pin(super::auth::revoke(session))),
    exchange: None,
};

pub struct Koofr;

impl Service for Koofr {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn open_destination(
        &self,
        session: &Session,
        root: Vec<String>,
    ) -> Result<Box<dyn Destination>> {
        Ok(Box::new(super::KoofrDestination::new(
            session.clone(),
            root,
        )?))
    }
}
