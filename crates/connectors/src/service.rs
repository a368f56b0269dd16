//! What a service is, as data: a [`Service`] is one service's entry in the registry
//! ([`crate::registry::SERVICES`]), declared in its own folder (`<service>/service.rs`): its
//! name and title, its `ferry.toml` keys, how an account is connected ([`ConnectMethod`]s and
//! their [`ConnectOption`]s, from which both `ferry connect`'s flags and the web app's connect
//! forms are made), how a connection opens as a source or a destination, who the account is,
//! and revoking. `&'static Service` is also what says "which service" everywhere: it compares,
//! orders and prints by its name.
//!
//! The logic every service shares is written here once ([`Session`]); nothing matches on a
//! service.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use ferry_core::{Destination, Error, Result, Source};

use crate::auth::{Auth, Bearer, Refresher, Secret, TokenSaver};
use crate::config::{Config, ServiceConfig};
use crate::oauth::OAuthApp;

/// One service, as data. Each service declares one `static` of it in its folder, listed in
/// [`crate::registry::SERVICES`].
pub struct Service {
    /// The name used on the command line, in `ferry.toml` and in the journal (`google-photos`).
    pub name: &'static str,
    /// A person-facing name ("Google Photos").
    pub title: &'static str,
    /// The fixed endpoint keys of `[services.<name>]` and their defaults (the real services).
    pub url_keys: &'static [(&'static str, &'static str)],
    /// How an account is connected, in order of preference.
    pub methods: &'static [ConnectMethod],
    /// The OAuth app, for a service with an [`Credential::OAuth`] method.
    pub oauth: Option<fn(&ServiceConfig) -> OAuthApp>,
    /// Who a connection is (an e-mail address or a name), checking that it works.
    pub account: SessionCall<String>,
    /// Revokes a connection's credentials, where the service allows it.
    pub revoke: Option<SessionCall<()>>,
    /// The service's own OAuth code exchange (redirect URI, code), where the standard form
    /// POST does not do.
    pub exchange: Option<Exchange>,
    /// What a connection opens as: photos come from a source, copies go to a destination.
    pub opens: Opens,
}

/// How a connection opens, by role.
#[derive(Clone, Copy)]
pub enum Opens {
    Source(OpenSource),
    Destination(OpenDestination),
}

/// Opens a connection as a source, at a path (empty for everything).
pub type OpenSource = fn(&Session, &str) -> Result<Box<dyn Source>>;

/// Opens a connection as a destination, under a root (checked: no `.` or `..`).
pub type OpenDestination = fn(&Session, Vec<String>) -> Result<Box<dyn Destination>>;

/// A call to the service for a connection (who is this? revoke).
pub type SessionCall<T> = for<'a> fn(&'a Session) -> BoxFuture<'a, Result<T>>;

/// An OAuth code exchange of a service's own.
pub type Exchange = for<'a> fn(
    &'a reqwest::Client,
    &'a ServiceConfig,
    &'a str,
    &'a str,
) -> BoxFuture<'a, Result<Secret>>;

impl Service {
    /// A service of `name` and `title` that opens as `opens`, whose account `account` names;
    /// the rest is declared with the methods below.
    pub const fn new(
        name: &'static str,
        title: &'static str,
        opens: Opens,
        account: SessionCall<String>,
    ) -> Service {
        Service {
            name,
            title,
            url_keys: &[],
            methods: &[],
            oauth: None,
            account,
            revoke: None,
            exchange: None,
            opens,
        }
    }

    /// The `[services.<name>]` endpoint keys and their defaults.
    pub const fn endpoints(mut self, url_keys: &'static [(&'static str, &'static str)]) -> Service {
        self.url_keys = url_keys;
        self
    }

    /// How an account is connected, in order of preference.
    pub const fn connect(mut self, methods: &'static [ConnectMethod]) -> Service {
        self.methods = methods;
        self
    }

    /// The OAuth app, for a service with an OAuth method.
    pub const fn oauth(mut self, app: fn(&ServiceConfig) -> OAuthApp) -> Service {
        self.oauth = Some(app);
        self
    }

    pub const fn revoke(mut self, revoke: SessionCall<()>) -> Service {
        self.revoke = Some(revoke);
        self
    }

    pub const fn exchange(mut self, exchange: Exchange) -> Service {
        self.exchange = Some(exchange);
        self
    }

    pub fn is_source(&self) -> bool {
        matches!(self.opens, Opens::Source(_))
    }

    pub fn is_destination(&self) -> bool {
        !self.is_source()
    }

    /// The OAuth app of a service that connects through OAuth.
    pub fn oauth_app(&self, config: &ServiceConfig) -> Option<OAuthApp> {
        self.oauth.map(|app| app(config))
    }
}

// A service is its name: the registry checks that names are unique.
impl PartialEq for Service {
    fn eq(&self, other: &Service) -> bool {
        self.name == other.name
    }
}

impl Eq for Service {}

impl PartialOrd for Service {
    fn partial_cmp(&self, other: &Service) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Service {
    fn cmp(&self, other: &Service) -> std::cmp::Ordering {
        self.name.cmp(other.name)
    }
}

impl std::hash::Hash for Service {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// One way of connecting an account, with what it asks for.
#[derive(Clone, Copy, Debug)]
pub struct ConnectMethod {
    pub credential: Credential,
    /// What it asks, by the key of the CLI flag (`--app-password`) and form field.
    pub options: &'static [ConnectOption],
}

/// How a method proves who the account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// Authorizing in a browser (OAuth 2.0 authorization code), with PKCE or with the app's
    /// client secret.
    OAuth { pkce: bool },
    /// An access token obtained elsewhere (and its refresh token): for scripts and tests.
    Token,
    /// A user and an app password made for ferry in the service's settings.
    AppPassword,
    /// A server URL, a user and a password.
    Password,
    /// An API key: a key id and its secret.
    ApiKey,
}

impl Credential {
    /// The method's id in forms (`app-password`).
    pub fn id(self) -> &'static str {
        match self {
            Credential::OAuth { .. } => "oauth",
            Credential::Token => "token",
            Credential::AppPassword => "app-password",
            Credential::Password => "password",
            Credential::ApiKey => "api-key",
        }
    }

    /// A person-facing name.
    pub fn title(self) -> &'static str {
        match self {
            Credential::OAuth { .. } => "Sign in",
            Credential::Token => "Access token",
            Credential::AppPassword => "App password",
            Credential::Password => "Server and password",
            Credential::ApiKey => "Access key",
        }
    }
}

/// One thing a method asks for.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOption {
    /// The CLI flag without its dashes, and the form field's name (`access-key-id`).
    pub key: &'static str,
    /// The form's label ("Access key id").
    pub label: &'static str,
    /// Shown under the field and in `ferry connect --help`.
    pub help: &'static str,
    pub input: Input,
    pub required: bool,
    /// Where the value goes in the connection.
    pub target: Target,
    /// A secret that the CLI takes from this environment variable (else asks on stdin),
    /// never from a flag.
    pub env: Option<&'static str>,
}

impl ConnectOption {
    pub const fn new(key: &'static str, label: &'static str, target: Target) -> ConnectOption {
        ConnectOption {
            key,
            label,
            help: "",
            input: Input::Text,
            required: false,
            target,
            env: None,
        }
    }

    pub const fn help(mut self, help: &'static str) -> ConnectOption {
        self.help = help;
        self
    }

    pub const fn input(mut self, input: Input) -> ConnectOption {
        self.input = input;
        self
    }

    pub const fn required(mut self) -> ConnectOption {
        self.required = true;
        self
    }

    pub const fn env(mut self, env: &'static str) -> ConnectOption {
        self.env = Some(env);
        self
    }

    /// A secret: never shown, read from stdin with `-` on the command line.
    pub fn is_secret(&self) -> bool {
        self.input == Input::Secret
    }
}

/// What kind of value an option takes, and how it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Text,
    Email,
    /// An http or https URL, without a user or password in it.
    Url,
    /// A path of names (`a/b`): no `.` or `..`.
    Path,
    Secret,
}

/// Where an option's value goes in the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Url,
    User,
    Bucket,
    Region,
    Prefix,
    /// The sealed password (an app password, a secret access key).
    Password,
    /// The sealed access token.
    AccessToken,
    /// The sealed refresh token.
    RefreshToken,
}

/// The options' values, by key (empty values are absent).
pub type Values = BTreeMap<String, String>;

impl ConnectMethod {
    pub fn is_oauth(&self) -> bool {
        matches!(self.credential, Credential::OAuth { .. })
    }

    /// The option of `key`.
    pub fn option(&self, key: &str) -> Option<&'static ConnectOption> {
        self.options.iter().find(|o| o.key == key)
    }

    /// Checks `values` against the options and makes the connection's settings and secret
    /// (not for OAuth, whose secret comes from the flow). Errors name options by `flag`
    /// (`|key| format!("--{key}")` for the CLI, the label for forms).
    pub fn credentials(
        &self,
        values: &Values,
        flag: &dyn Fn(&ConnectOption) -> String,
    ) -> std::result::Result<(Settings, Secret), String> {
        if let Some(key) = values.keys().find(|k| self.option(k).is_none()) {
            return Err(format!("'{key}' is not an option of this method"));
        }
        let mut settings = Settings::default();
        let (mut password, mut token, mut refresh) = (None, None, None);
        for option in self.options {
            let Some(value) = values.get(option.key).filter(|v| !v.is_empty()) else {
                if option.required {
                    return Err(format!("{} is required", flag(option)));
                }
                continue;
            };
            check(option, value).map_err(|e| format!("{}: {e}", flag(option)))?;
            let value = value.clone();
            match option.target {
                Target::Url => settings.url = Some(value),
                Target::User => settings.user = Some(value),
                Target::Bucket => settings.bucket = Some(value),
                Target::Region => settings.region = Some(value),
                Target::Prefix => {
                    settings.prefix = Some(value).filter(|p| !p.trim_matches('/').is_empty())
                }
                Target::Password => password = Some(value),
                Target::AccessToken => token = Some(value),
                Target::RefreshToken => refresh = Some(value),
            }
        }
        let secret = match self.credential {
            Credential::OAuth { .. } => {
                return Err("this method authorizes in a browser".to_string());
            }
            Credential::Token => {
                Secret::tokens(token.ok_or("an access token is required")?, refresh, None)
            }
            Credential::AppPassword | Credential::Password | Credential::ApiKey => {
                Secret::password(password.unwrap_or_default())
            }
        };
        Ok((settings, secret))
    }
}

/// Authorizing in a browser with PKCE.
pub const OAUTH_PKCE: ConnectMethod = ConnectMethod {
    credential: Credential::OAuth { pkce: true },
    options: &[],
};

/// Authorizing in a browser, the code exchanged with the app's client secret.
pub const OAUTH_SECRET: ConnectMethod = ConnectMethod {
    credential: Credential::OAuth { pkce: false },
    options: &[],
};

/// Connecting with an access token obtained elsewhere (and its refresh token), which every
/// OAuth service also takes: for scripts and tests.
pub const TOKEN: ConnectMethod = ConnectMethod {
    credential: Credential::Token,
    options: &[
        ConnectOption::new("token", "Access token", Target::AccessToken)
            .input(Input::Secret)
            .required()
            .help("Use this access token instead of authorizing in a browser."),
        ConnectOption::new("refresh-token", "Refresh token", Target::RefreshToken)
            .input(Input::Secret)
            .help("The refresh token that goes with --token."),
    ],
};

/// Checks one value by its option's kind.
fn check(option: &ConnectOption, value: &str) -> std::result::Result<(), String> {
    match option.input {
        Input::Url => {
            let parsed = url::Url::parse(value).map_err(|e| format!("{value}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err("must be an http or https URL".into());
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(
                    "put the user and password in their own options, not in the URL".into(),
                );
            }
        }
        Input::Path => {
            if value.split('/').any(|p| p == "." || p == "..") {
                return Err("`.` and `..` are not allowed".into());
            }
        }
        Input::Email if !value.contains('@') => {
            return Err(format!("'{value}' is not an e-mail address"));
        }
        Input::Text | Input::Email | Input::Secret => {}
    }
    Ok(())
}

/// What a connection records in the clear: who it is, and where (a WebDAV server's URL, an
/// S3 bucket).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Settings {
    /// The server (WebDAV), or the endpoint of an S3-compatible service (none for AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The user name sent with a password (Koofr app passwords, WebDAV), or the S3 access
    /// key id (the secret access key is the sealed password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// S3: the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// S3: the region (`us-east-1` when none is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// S3: the key prefix everything goes under (`a/b`), before any path of the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Everything a service module needs to talk to its service for one connection.
#[derive(Clone)]
pub struct Session {
    pub service: &'static Service,
    /// The connection's name, for messages ("dbx").
    pub name: String,
    pub http: reqwest::Client,
    pub config: ServiceConfig,
    pub settings: Settings,
    pub auth: Auth,
    /// How calls that can be sent again are tried again in place.
    pub retry: ferry_core::RetryPolicy,
}

impl Session {
    /// Builds the credentials of a connection from its unsealed secret: a bearer token that
    /// refreshes itself (and has `saver` store the new one), or Basic with a password.
    pub fn new(
        service: &'static Service,
        name: &str,
        config: &Config,
        settings: Settings,
        secret: &Secret,
        saver: Option<Arc<dyn TokenSaver>>,
    ) -> Result<Session> {
        let http = crate::http::client();
        let config = config.service(service).clone();
        let reconnect = format!("reconnect with `ferry connect {service} --name {name}`");
        let auth = match (&secret.password, &secret.access_token) {
            (Some(password), _) => Auth::Basic {
                user: settings.user.clone().unwrap_or_default(),
                password: password.clone().into(),
            },
            (None, Some(_)) => {
                let refresher = match (service.oauth_app(&config), &config.client_id) {
                    (Some(app), Some(client_id)) if secret.refresh_token.is_some() => {
                        Some(Refresher {
                            token_url: app.token_url,
                            client_id: client_id.clone(),
                            client_secret: config.client_secret.clone(),
                            http: http.clone(),
                        })
                    }
                    _ => None,
                };
                Auth::Bearer(Arc::new(Bearer::new(secret, refresher, saver, reconnect)?))
            }
            (None, None) => Auth::None,
        };
        Ok(Session {
            service,
            name: name.to_string(),
            http,
            config,
            settings,
            auth,
            retry: ferry_core::RetryPolicy::in_place(),
        })
    }

    /// The source this connection reads, at `path` (empty for everything).
    pub fn source(&self, path: &str) -> Result<Box<dyn Source>> {
        match self.service.opens {
            Opens::Source(open) => open(self, path),
            Opens::Destination(_) => Err(Error::permanent(format!(
                "{}: ferry cannot read from {} yet; it is a destination",
                self.name, self.service.title
            ))),
        }
    }

    /// The destination this connection writes, under `path` (empty for the root).
    pub fn destination(&self, path: &str) -> Result<Box<dyn Destination>> {
        let root: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if root.iter().any(|p| p == "." || p == "..") {
            return Err(Error::permanent(format!(
                "{}:{path}: `.` and `..` are not allowed in a path",
                self.name
            )));
        }
        match self.service.opens {
            Opens::Destination(open) => open(self, root),
            Opens::Source(_) => Err(Error::permanent(format!(
                "{}: ferry cannot write to {}; it is a source",
                self.name, self.service.title
            ))),
        }
    }

    /// Who this connection is (an e-mail address or a name), checking that it works.
    pub async fn account(&self) -> Result<String> {
        (self.service.account)(self).await
    }

    /// Revokes the connection's tokens where the service allows it.
    pub async fn revoke(&self) -> Result<()> {
        match self.service.revoke {
            Some(revoke) => revoke(self).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_declared_options() {
        let webdav = crate::webdav::SERVICE.methods[0];
        let flag = |o: &ConnectOption| format!("--{}", o.key);
        let values = |pairs: &[(&str, &str)]| -> Values {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (settings, secret) = webdav
            .credentials(
                &values(&[
                    ("url", "https://dav.example/x"),
                    ("user", "ann"),
                    ("password", "pw"),
                ]),
                &flag,
            )
            .unwrap();
        assert_eq!(settings.url.as_deref(), Some("https://dav.example/x"));
        assert_eq!(settings.user.as_deref(), Some("ann"));
        assert_eq!(secret.password.as_deref(), Some("pw"));
        let err = webdav
            .credentials(&values(&[("user", "ann")]), &flag)
            .unwrap_err();
        assert_eq!(err, "--url is required");
        let err = webdav
            .credentials(&values(&[("url", "ftp://dav.example")]), &flag)
            .unwrap_err();
        assert!(err.contains("http or https"), "{err}");
        let err = webdav
            .credentials(&values(&[("url", "https://ann:pw@dav.example")]), &flag)
            .unwrap_err();
        assert!(err.contains("not in the URL"), "{err}");
        assert!(!err.contains("pw"), "{err}");

        let s3 = crate::s3::SERVICE.methods[0];
        let (settings, _) = s3
            .credentials(
                &values(&[
                    ("bucket", "b"),
                    ("access-key-id", "AK"),
                    ("secret-access-key", "SK"),
                    ("prefix", "/"),
                ]),
                &flag,
            )
            .unwrap();
        assert_eq!(settings.bucket.as_deref(), Some("b"));
        assert_eq!(settings.user.as_deref(), Some("AK"));
        assert_eq!(settings.prefix, None);
        let err = s3
            .credentials(
                &values(&[
                    ("bucket", "b"),
                    ("access-key-id", "AK"),
                    ("secret-access-key", "SK"),
                    ("prefix", "a/../b"),
                ]),
                &flag,
            )
            .unwrap_err();
        assert!(err.starts_with("--prefix"), "{err}");
    }
}
