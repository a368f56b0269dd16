//! Koofr in the registry: a destination, connected with an app password (the usual way, as
//! rclone does) or through OAuth with the app's client secret.

use super::{KoofrDestination, auth};
use crate::service::{
    ConnectMethod, ConnectOption, Credential, Input, OAUTH_SECRET, Opens, Service, TOKEN, Target,
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

pub static SERVICE: Service = Service::new(
    "koofr",
    "Koofr",
    Opens::Destination(|session, root| Ok(Box::new(KoofrDestination::new(session.clone(), root)?))),
    |s| Box::pin(auth::account(s)),
)
.endpoints(&[("base_url", "https://app.koofr.net")])
.connect(METHODS)
.oauth(auth::oauth_app)
.revoke(|s| Box::pin(auth::revoke(s)));
