//! Shared by the connector tests: sessions against a running sandbox.
#![allow(dead_code)]

use ferry_connectors::auth::Secret;
use std::time::Duration;

use ferry_connectors::config::Config;
use ferry_connectors::service::{Service, Session, Settings};
use ferry_core::RetryPolicy;
use ferry_sandbox::Sandbox;

/// The sandbox's `ferry.toml`, as ferry reads it.
pub fn config(sb: &Sandbox) -> Config {
    Config::parse(&sb.ferry_toml(), None).expect("the sandbox writes a valid ferry.toml")
}

/// A session for the seeded account of a service, with the sandbox's ready-made tokens
/// (Koofr: the app password; WebDAV: Koofr's WebDAV with the app password).
pub fn session(sb: &Sandbox, kind: &'static Service) -> Session {
    let creds = sb.credentials();
    let (settings, secret) = match kind.name {
        "facebook" => oauth(&creds.facebook),
        "dropbox" => oauth(&creds.dropbox),
        "google-photos" => oauth(&creds.google_photos),
        "koofr" => (
            Settings {
                user: Some(creds.koofr.email.clone()),
                ..Settings::default()
            },
            Secret::password(creds.koofr.app_password.clone()),
        ),
        "webdav" => (
            Settings {
                url: Some(sb.urls().koofr.webdav_url.clone()),
                user: Some(creds.koofr.email.clone()),
                ..Settings::default()
            },
            Secret::password(creds.koofr.app_password.clone()),
        ),
        // A session only: nothing answers there (tests/s3.rs runs moto for real buckets).
        "s3" => (
            Settings {
                url: Some("http://127.0.0.1:9".into()),
                user: Some("test".into()),
                bucket: Some("ferry".into()),
                ..Settings::default()
            },
            Secret::password("test".into()),
        ),
        other => panic!("no sandbox account for {other}"),
    };
    let mut session = Session::new(kind, kind.name, &config(sb), settings, &secret, None)
        .expect("a session from the sandbox's credentials");
    session.retry = fast_retry();
    session
}

/// The in-place retry policy with short waits, so that tests take little time (a service's
/// `Retry-After` is still honoured).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::in_place()
    }
}

fn oauth(creds: &ferry_sandbox::ServiceCredentials) -> (Settings, Secret) {
    (
        Settings::default(),
        Secret::tokens(
            creds.access_token.clone(),
            creds.refresh_token.clone(),
            None,
        ),
    )
}
