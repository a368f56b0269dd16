//! `ferry.toml`: per service, the OAuth app's `client_id` and `client_secret` and the base URL
//! of every endpoint, defaulting to the real services. Every value can also come from the
//! environment as `FERRY_<SERVICE>_<KEY>` (service upper-cased, `-` → `_`), which wins over
//! the file.
//!
//! ```toml
//! [services.dropbox]
//! client_id = "…"
//! api_url = "https://api.dropboxapi.com"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::registry;
use crate::service::Service;

/// The configuration of every service.
#[derive(Clone, Debug, Default)]
pub struct Config {
    services: BTreeMap<&'static Service, ServiceConfig>,
    /// Where it was read from, for messages.
    pub path: Option<PathBuf>,
}

/// One service's app credentials and endpoint base URLs.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub service: &'static Service,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    urls: BTreeMap<&'static str, String>,
}

impl ServiceConfig {
    fn defaults(service: &'static Service) -> ServiceConfig {
        let urls = service
            .url_keys
            .iter()
            .map(|(key, default)| (*key, default.to_string()))
            .collect();
        ServiceConfig {
            service,
            client_id: None,
            client_secret: None,
            urls,
        }
    }

    /// A base URL by its fixed key (`api_url`, `content_url`, …), without a trailing slash.
    /// Panics on a key the service does not have: that is a bug, not input.
    pub fn url(&self, key: &str) -> &str {
        match self.urls.get(key) {
            Some(url) => url.trim_end_matches('/'),
            None => panic!("{} has no {key}", self.service),
        }
    }

    /// `client_id`, or an error that says where to set it.
    pub fn require_client_id(&self) -> Result<&str, ConfigError> {
        self.client_id
            .as_deref()
            .ok_or_else(|| ConfigError(format!(
                "no OAuth client_id for {kind}: set client_id under [services.{kind}] in ferry.toml, or {env}",
                kind = self.service,
                env = env_name(self.service, "client_id"),
            )))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The file's shape: `[services.<name>]` tables of strings.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    services: BTreeMap<String, BTreeMap<String, String>>,
    /// `ferry serve`'s settings: read by ferry-server, known here so that a typo in a table
    /// name is still an error.
    #[serde(default)]
    #[allow(dead_code)]
    serve: Option<toml::Table>,
}

/// The environment variable for a service's key.
pub fn env_name(service: &Service, key: &str) -> String {
    format!(
        "FERRY_{}_{}",
        service.name.to_uppercase().replace('-', "_"),
        key.to_uppercase()
    )
}

impl Config {
    /// Defaults only: the real services, no app credentials.
    pub fn defaults() -> Config {
        let services = registry::SERVICES
            .iter()
            .map(|&s| (s, ServiceConfig::defaults(s)))
            .collect();
        Config {
            services,
            path: None,
        }
    }

    /// Reads `path` when it exists (a missing file is the defaults), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(ConfigError(format!("cannot read {}: {e}", p.display()))),
            },
            None => None,
        };
        let mut config = Config::parse(text.as_deref().unwrap_or(""), path)?;
        config.apply_env(|name| std::env::var(name).ok());
        config.path = path.map(Path::to_path_buf);
        Ok(config)
    }

    /// Parses a file's text (`origin` names it in errors).
    pub fn parse(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
        let origin = origin
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "ferry.toml".into());
        let file: File = toml::from_str(text)
            .map_err(|e| ConfigError(format!("{origin}: {}", one_line(&e.to_string()))))?;
        let mut config = Config::defaults();
        for (name, values) in file.services {
            let service = registry::named(&name).ok_or_else(|| {
                ConfigError(format!(
                    "{origin}: unknown service [services.{name}] (known: {})",
                    registry::names().join(", ")
                ))
            })?;
            for (key, value) in values {
                config
                    .set(service, &key, value)
                    .map_err(|e| ConfigError(format!("{origin}: {e}")))?;
            }
        }
        Ok(config)
    }

    /// Overrides from the environment (`lookup` is `std::env::var` outside tests).
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for &service in registry::SERVICES {
            let keys: Vec<&str> = ["client_id", "client_secret"]
                .into_iter()
                .chain(service.url_keys.iter().map(|(k, _)| *k))
                .collect();
            for key in keys {
                if let Some(value) = lookup(&env_name(service, key)).filter(|v| !v.is_empty()) {
                    // Keys come from the fixed list, so this cannot fail.
                    let _ = self.set(service, key, value);
                }
            }
        }
    }

    fn set(&mut self, service: &'static Service, key: &str, value: String) -> Result<(), String> {
        let values = self
            .services
            .entry(service)
            .or_insert_with(|| ServiceConfig::defaults(service));
        match key {
            "client_id" => values.client_id = Some(value),
            "client_secret" => values.client_secret = Some(SecretString::from(value)),
            _ => {
                let Some((fixed, _)) = service.url_keys.iter().find(|(k, _)| *k == key) else {
                    let mut known = vec!["client_id", "client_secret"];
                    known.extend(service.url_keys.iter().map(|(k, _)| *k));
                    return Err(format!(
                        "unknown key {key} in [services.{service}] (known: {})",
                        known.join(", ")
                    ));
                };
                let parsed = url::Url::parse(&value)
                    .map_err(|e| format!("[services.{service}] {key} = {value:?}: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(format!(
                        "[services.{service}] {key}: only http and https URLs"
                    ));
                }
                values.urls.insert(fixed, value);
            }
        }
        Ok(())
    }

    pub fn service(&self, service: &'static Service) -> &ServiceConfig {
        &self.services[service]
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_real_services() {
        let config = Config::defaults();
        assert_eq!(
            config.service(&crate::dropbox::SERVICE).url("api_url"),
            "https://api.dropboxapi.com"
        );
        assert_eq!(
            config
                .service(&crate::google_photos::SERVICE)
                .url("token_url"),
            "https://oauth2.googleapis.com"
        );
    }

    #[test]
    fn file_then_environment() {
        let mut config = Config::parse(
            "[services.google-photos]\nclient_id = \"from-file\"\napi_url = \"http://127.0.0.1:9/google/photos/\"\n",
            None,
        )
        .unwrap();
        config.apply_env(|name| {
            (name == "FERRY_GOOGLE_PHOTOS_CLIENT_ID").then(|| "from-env".to_string())
        });
        let google = config.service(&crate::google_photos::SERVICE);
        assert_eq!(google.client_id.as_deref(), Some("from-env"));
        assert_eq!(google.url("api_url"), "http://127.0.0.1:9/google/photos");
    }

    #[test]
    fn unknown_names_are_refused_with_the_known_ones() {
        let err = Config::parse("[services.dropbox]\napi = \"http://x\"\n", None).unwrap_err();
        assert!(err.0.contains("unknown key api"), "{err}");
        assert!(err.0.contains("content_url"), "{err}");
        let err = Config::parse("[services.flickr]\n", None).unwrap_err();
        assert!(err.0.contains("unknown service"), "{err}");
        let err = Config::parse("[services.koofr]\nbase_url = \"ftp://x\"\n", None).unwrap_err();
        assert!(err.0.contains("only http"), "{err}");
    }

    #[test]
    fn env_names_follow_the_rule() {
        assert_eq!(
            env_name(&crate::google_photos::SERVICE, "token_url"),
            "FERRY_GOOGLE_PHOTOS_TOKEN_URL"
        );
        assert_eq!(
            env_name(&crate::dropbox::SERVICE, "client_id"),
            "FERRY_DROPBOX_CLIENT_ID"
        );
    }
}
