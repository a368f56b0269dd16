//! The services ferry connects to, and the one place that knows which module serves which:
//! the CLI and the server open sources and destinations through here, by kind.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use ferry_core::{Destination, Error, Result, Source};

use crate::auth::{Auth, Bearer, Refresher, Secret, TokenSaver};
use crate::config::{Config, ServiceConfig};
use crate::oauth::OAuthApp;
use crate::{dropbox, facebook, google_photos, koofr, s3, webdav};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    Facebook,
    Dropbox,
    Koofr,
    GooglePhotos,
    Webdav,
    S3,
}

impl ServiceKind {
    pub const ALL: &'static [ServiceKind] = &[
        ServiceKind::Facebook,
        ServiceKind::Dropbox,
        ServiceKind::Koofr,
        ServiceKind::GooglePhotos,
        ServiceKind::Webdav,
        ServiceKind::S3,
    ];

    /// The name used on the command line, in `ferry.toml` and in the journal.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Facebook => "facebook",
            ServiceKind::Dropbox => "dropbox",
            ServiceKind::Koofr => "koofr",
            ServiceKind::GooglePhotos => "google-photos",
            ServiceKind::Webdav => "webdav",
            ServiceKind::S3 => "s3",
        }
    }

    pub fn from_name(name: &str) -> Option<ServiceKind> {
        ServiceKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    pub fn names() -> Vec<&'static str> {
        ServiceKind::ALL.iter().map(|k| k.name()).collect()
    }

    /// A person-facing name ("Google Photos").
    pub fn title(self) -> &'static str {
        match self {
            ServiceKind::Facebook => "Facebook",
            ServiceKind::Dropbox => "Dropbox",
            ServiceKind::Koofr => "Koofr",
            ServiceKind::GooglePhotos => "Google Photos",
            ServiceKind::Webdav => "WebDAV",
            ServiceKind::S3 => "S3",
        }
    }

    /// The fixed endpoint keys of `[services.<name>]` and their defaults (the real services).
    pub fn url_keys(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ServiceKind::Facebook => &[
                ("graph_url", "https://graph.facebook.com"),
                ("auth_url", "https://www.facebook.com"),
            ],
            ServiceKind::Dropbox => &[
                ("api_url", "https://api.dropboxapi.com"),
                ("content_url", "https://content.dropboxapi.com"),
                ("auth_url", "https://www.dropbox.com"),
            ],
            ServiceKind::GooglePhotos => &[
                ("api_url", "https://photoslibrary.googleapis.com"),
                ("auth_url", "https://accounts.google.com"),
                ("token_url", "https://oauth2.googleapis.com"),
            ],
            ServiceKind::Koofr => &[("base_url", "https://app.koofr.net")],
            ServiceKind::Webdav | ServiceKind::S3 => &[],
        }
    }

    pub fn is_source(self) -> bool {
        matches!(self, ServiceKind::Facebook)
    }

    pub fn is_destination(self) -> bool {
        !self.is_source()
    }

    /// The OAuth app of a service that connects through OAuth (all but WebDAV and S3).
    pub fn oauth(self, config: &ServiceConfig) -> Option<OAuthApp> {
        match self {
            ServiceKind::Facebook => Some(facebook::auth::oauth_app(config)),
            ServiceKind::Dropbox => Some(dropbox::auth::oauth_app(config)),
            ServiceKind::Koofr => Some(koofr::auth::oauth_app(config)),
            ServiceKind::GooglePhotos => Some(google_photos::auth::oauth_app(config)),
            ServiceKind::Webdav | ServiceKind::S3 => None,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
    pub kind: ServiceKind,
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
        kind: ServiceKind,
        name: &str,
        config: &Config,
        settings: Settings,
        secret: &Secret,
        saver: Option<Arc<dyn TokenSaver>>,
    ) -> Result<Session> {
        let http = crate::http::client();
        let service = config.service(kind).clone();
        let reconnect = format!("reconnect with `ferry connect {kind} --name {name}`");
        let auth = match (&secret.password, &secret.access_token) {
            (Some(password), _) => Auth::Basic {
                user: settings.user.clone().unwrap_or_default(),
                password: password.clone().into(),
            },
            (None, Some(_)) => {
                let refresher = match (kind.oauth(&service), &service.client_id) {
                    (Some(app), Some(client_id)) if secret.refresh_token.is_some() => {
                        Some(Refresher {
                            token_url: app.token_url,
                            client_id: client_id.clone(),
                            client_secret: service.client_secret.clone(),
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
            kind,
            name: name.to_string(),
            http,
            config: service,
            settings,
            auth,
            retry: ferry_core::RetryPolicy::in_place(),
        })
    }

    /// The source this connection reads, at `path` (empty for everything).
    pub fn source(&self, path: &str) -> Result<Box<dyn Source>> {
        match self.kind {
            ServiceKind::Facebook => {
                if !path.trim_matches('/').is_empty() {
                    return Err(Error::permanent(format!(
                        "{}: Facebook has no paths; use `{}:`",
                        self.name, self.name
                    )));
                }
                Ok(Box::new(facebook::FacebookSource::new(self.clone())))
            }
            other => Err(Error::permanent(format!(
                "{}: ferry cannot read from {} yet; it is a destination",
                self.name,
                other.title()
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
        Ok(match self.kind {
            ServiceKind::Dropbox => Box::new(dropbox::DropboxDestination::new(self.clone(), root)?),
            ServiceKind::Koofr => Box::new(koofr::KoofrDestination::new(self.clone(), root)?),
            ServiceKind::Webdav => Box::new(webdav::WebdavDestination::new(self.clone(), root)?),
            ServiceKind::S3 => Box::new(s3::S3Destination::new(self, root)?),
            ServiceKind::GooglePhotos => {
                if !root.is_empty() {
                    return Err(Error::permanent(format!(
                        "{}: Google Photos has albums, not folders; use `{}:`",
                        self.name, self.name
                    )));
                }
                Box::new(google_photos::GooglePhotosDestination::new(self.clone())?)
            }
            ServiceKind::Facebook => {
                return Err(Error::permanent(format!(
                    "{}: ferry cannot write to Facebook; it is a source",
                    self.name
                )));
            }
        })
    }

    /// Who this connection is (an e-mail address or a name), checking that it works.
    pub async fn account(&self) -> Result<String> {
        match self.kind {
            ServiceKind::Facebook => facebook::auth::account(self).await,
            ServiceKind::Dropbox => dropbox::auth::account(self).await,
            ServiceKind::Koofr => koofr::auth::account(self).await,
            ServiceKind::GooglePhotos => google_photos::auth::account(self).await,
            ServiceKind::Webdav => webdav::auth::account(self).await,
            ServiceKind::S3 => s3::auth::account(self).await,
        }
    }

    /// Revokes the connection's tokens where the service allows it.
    pub async fn revoke(&self) -> Result<()> {
        match self.kind {
            ServiceKind::Facebook => facebook::auth::revoke(self).await,
            ServiceKind::Dropbox => dropbox::auth::revoke(self).await,
            ServiceKind::Koofr => koofr::auth::revoke(self).await,
            ServiceKind::GooglePhotos => google_photos::auth::revoke(self).await,
            ServiceKind::Webdav | ServiceKind::S3 => Ok(()),
        }
    }
}
