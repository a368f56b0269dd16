//! `ferry serve`'s own settings: the `[serve]` and `[serve.mail]` tables of `ferry.toml` (the
//! file whose `[services.*]` tables `ferry_connectors::config::Config` reads), each value
//! overridable from the environment, which wins over the file.
//!
//! ```toml
//! [serve]
//! public_url = "https://ferry.example.org"  # FERRY_PUBLIC_URL; used in e-mail links
//! archive_dir = "/var/lib/ferry/archives"   # FERRY_ARCHIVE_DIR
//! link_lifetime_hours = 96                  # FERRY_LINK_LIFETIME_HOURS (default 4 days)
//! private_endpoints = false                 # let people connect loopback/private hosts
//!
//! [serve.mail]
//! smtp_host = "smtp.example.org"            # FERRY_SMTP_HOST
//! smtp_port = 587                           # FERRY_SMTP_PORT (default by security)
//! security = "starttls"                     # FERRY_SMTP_SECURITY: none | starttls | tls
//! smtp_user = "ferry"                       # FERRY_SMTP_USER
//! smtp_password = "…"                       # FERRY_SMTP_PASSWORD
//! from = "ferry <ferry@example.org>"        # FERRY_MAIL_FROM
//!
//! [serve.archive_store]                     # default: archives stay in archive_dir
//! kind = "s3"
//! bucket = "ferry-archives"
//! region = "eu-west-1"                      # default us-east-1
//! endpoint = "https://s3.example.org"       # S3-compatible services; AWS when absent
//! prefix = "archives"
//! access_key_id = "AKIA…"                   # the secret: FERRY_S3_SECRET_ACCESS_KEY only
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use lettre::message::Mailbox;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// How long a download link stays valid when `link_lifetime_hours` is not set: 4 days.
pub const DEFAULT_LINK_LIFETIME: Duration = Duration::from_secs(96 * 3600);

/// Everything `[serve]` configures.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    /// Where people reach the server, for links in e-mails and OAuth redirect URIs. Always
    /// http or https, with a path ending in `/` and no query or fragment.
    pub public_url: Option<Url>,
    /// Where finished export archives are kept.
    pub archive_dir: Option<PathBuf>,
    /// How long an archive's download link stays valid.
    pub link_lifetime: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed (the client address for
    /// throttling and the audit log); empty: the TCP peer is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Whether people may connect services at loopback or private addresses (off: public
    /// hosts only, so that nobody signed in can reach the server's own network).
    pub private_endpoints: bool,
    /// The SMTP server for notification e-mails; `None` when no mail is configured.
    pub mail: Option<MailSettings>,
    /// A bucket for finished archives; `None` keeps them in `archive_dir`.
    pub archive_store: Option<ArchiveStoreSettings>,
}

/// The environment variable that holds the archive bucket's secret access key (never the
/// file).
pub const S3_SECRET_ENV: &str = "FERRY_S3_SECRET_ACCESS_KEY";

/// `[serve.archive_store]` with `kind = "s3"`. The secret is redacted from `Debug`.
#[derive(Clone, Debug)]
pub struct ArchiveStoreSettings {
    pub s3: ferry_connectors::s3::S3Config,
    /// The key prefix archives go under (`a/b`, or empty).
    pub prefix: String,
}

/// The SMTP server that sends notification e-mails.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: SmtpSecurity,
    /// User and password, set together or not at all.
    pub credentials: Option<SmtpCredentials>,
    /// The sender of every e-mail.
    pub from: Mailbox,
}

/// SMTP authentication. The password's `Debug` is redacted.
#[derive(Clone, Debug)]
pub struct SmtpCredentials {
    pub user: String,
    pub password: SecretString,
}

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP: only sensible for a relay on the same machine.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (never optional).
    StartTls,
    /// TLS from the first byte ("implicit TLS", SMTPS).
    Tls,
}

impl SmtpSecurity {
    /// The usual port for each: 25, 587 (submission) and 465 (submissions).
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::None => 25,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SmtpSecurity::None => "none",
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
        }
    }
}

impl fmt::Display for SmtpSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SmtpSecurity {
    type Err = String;

    fn from_str(s: &str) -> Result<SmtpSecurity, String> {
        match s {
            "none" => Ok(SmtpSecurity::None),
            "starttls" => Ok(SmtpSecurity::StartTls),
            "tls" => Ok(SmtpSecurity::Tls),
            _ => Err(format!("{s:?} is not one of none, starttls, tls")),
        }
    }
}

/// A settings problem, as one line naming where the bad value came from.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// The file's shape. Other top-level tables (`[services.*]`) belong to other readers.
#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    serve: ServeTable,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServeTable {
    public_url: Option<String>,
    archive_dir: Option<PathBuf>,
    link_lifetime_hours: Option<u64>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    private_endpoints: Option<bool>,
    mail: Option<MailTable>,
    archive_store: Option<ArchiveStoreTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ArchiveStoreTable {
    kind: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    prefix: Option<String>,
    access_key_id: Option<String>,
    /// Refused with a message saying where the secret goes instead.
    secret_access_key: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MailTable {
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    security: Option<SmtpSecurity>,
    smtp_user: Option<String>,
    smtp_password: Option<SecretString>,
    from: Option<String>,
}

/// Where a value was set, for error messages: `ferry.toml: [serve] public_url` or
/// `FERRY_PUBLIC_URL`.
struct Source<'a> {
    origin: &'a str,
    table: &'a str,
}

impl Source<'_> {
    fn of(&self, key: &str, env: &str, from_env: bool) -> String {
        if from_env {
            env.to_string()
        } else {
            format!("{}: [{}] {key}", self.origin, self.table)
        }
    }
}

impl ServeSettings {
    /// Reads `path` when it exists (a missing file gives the defaults), then the environment.
    pub fn load(path: Option<&Path>) -> Result<ServeSettings, SettingsError> {
        let text = match path {
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(SettingsError(format!("cannot read {}: {e}", p.display())));
                }
            },
            None => None,
        };
        ServeSettings::parse_with_env(text.as_deref().unwrap_or(""), path, |name| {
            std::env::var(name).ok()
        })
    }

    /// Parses a file's text alone (`origin` names it in errors).
    pub fn parse(text: &str, origin: Option<&Path>) -> Result<ServeSettings, SettingsError> {
        ServeSettings::parse_with_env(text, origin, |_| None)
    }

    /// Parses a file's text, then applies the `FERRY_*` overrides that `lookup` finds
    /// (`std::env::var` outside tests). Empty variables count as unset.
    pub fn parse_with_env(
        text: &str,
        origin: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ServeSettings, SettingsError> {
        let origin = origin
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "ferry.toml".into());
        let file: File = toml::from_str(text)
            .map_err(|e| SettingsError(format!("{origin}: {}", one_line(&e.to_string()))))?;
        let mut serve = file.serve;
        let env = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let fail = |message: String| SettingsError(one_line(&message));

        // Values from the environment replace the file's; remember which, to name them.
        let url_env = env("FERRY_PUBLIC_URL");
        let dir_env = env("FERRY_ARCHIVE_DIR");
        let hours_env = env("FERRY_LINK_LIFETIME_HOURS");
        let serve_src = Source {
            origin: &origin,
            table: "serve",
        };

        let public_url_raw = url_env.clone().or(serve.public_url.take());
        let public_url = match public_url_raw {
            Some(raw) => {
                let at = serve_src.of("public_url", "FERRY_PUBLIC_URL", url_env.is_some());
                Some(public_url(&raw).map_err(|e| fail(format!("{at} = {raw:?}: {e}")))?)
            }
            None => None,
        };

        let archive_dir = dir_env.map(PathBuf::from).or(serve.archive_dir.take());

        let hours = match &hours_env {
            Some(raw) => Some(raw.trim().parse::<u64>().map_err(|_| {
                fail(format!(
                    "FERRY_LINK_LIFETIME_HOURS = {raw:?}: not a whole number of hours"
                ))
            })?),
            None => serve.link_lifetime_hours,
        };
        let link_lifetime = match hours {
            None => DEFAULT_LINK_LIFETIME,
            Some(0) => {
                let at = serve_src.of(
                    "link_lifetime_hours",
                    "FERRY_LINK_LIFETIME_HOURS",
                    hours_env.is_some(),
                );
                return Err(fail(format!("{at}: must be at least 1 hour")));
            }
            Some(h) => Duration::from_secs(h.saturating_mul(3600)),
        };

        let proxies_env = env("FERRY_TRUSTED_PROXIES");
        let proxies_raw: Vec<String> = match &proxies_env {
            Some(raw) => raw.split(',').map(|p| p.trim().to_string()).collect(),
            None => std::mem::take(&mut serve.trusted_proxies),
        };
        let mut trusted_proxies = Vec::new();
        for raw in proxies_raw.iter().filter(|p| !p.is_empty()) {
            let at = serve_src.of(
                "trusted_proxies",
                "FERRY_TRUSTED_PROXIES",
                proxies_env.is_some(),
            );
            trusted_proxies.push(
                raw.parse::<std::net::IpAddr>()
                    .map_err(|_| fail(format!("{at}: {raw:?} is not an IP address")))?,
            );
        }

        let mail = resolve_mail(serve.mail.take(), &origin, &env)?;
        let archive_store = resolve_archive_store(serve.archive_store.take(), &origin, &env)?;

        Ok(ServeSettings {
            public_url,
            archive_dir,
            link_lifetime,
            trusted_proxies,
            private_endpoints: serve.private_endpoints.unwrap_or(false),
            mail,
            archive_store,
        })
    }

    /// The absolute URL of one of the server's pages (`path` like `archives/42` or
    /// `/archives/42`), for e-mails; `None` without a `public_url`.
    pub fn public_link(&self, path: &str) -> Option<Url> {
        // public_url's path ends in '/', so joining a relative path keeps any prefix.
        self.public_url
            .as_ref()
            .and_then(|base| base.join(path.trim_start_matches('/')).ok())
    }
}

impl Default for ServeSettings {
    fn default() -> Self {
        ServeSettings {
            public_url: None,
            archive_dir: None,
            link_lifetime: DEFAULT_LINK_LIFETIME,
            trusted_proxies: Vec::new(),
            private_endpoints: false,
            mail: None,
            archive_store: None,
        }
    }
}

/// `[serve.archive_store]`: `None` for the local store (no table, or `kind = "local"`).
fn resolve_archive_store(
    table: Option<ArchiveStoreTable>,
    origin: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<ArchiveStoreSettings>, SettingsError> {
    let Some(table) = table else {
        return Ok(None);
    };
    let at = |key: &str| format!("{origin}: [serve.archive_store] {key}");
    if table.secret_access_key.is_some() {
        return Err(SettingsError(format!(
            "{}: secrets never go in the file; set {S3_SECRET_ENV} instead",
            at("secret_access_key")
        )));
    }
    match table.kind.as_deref() {
        Some("local") => return Ok(None),
        Some("s3") => {}
        Some(other) => {
            return Err(SettingsError(format!(
                "{} = {other:?}: not one of local, s3",
                at("kind")
            )));
        }
        None => {
            return Err(SettingsError(format!(
                "{}: missing (local or s3)",
                at("kind")
            )));
        }
    }
    let required = |value: Option<String>, key: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| SettingsError(format!("{}: missing", at(key))))
    };
    let bucket = required(table.bucket, "bucket")?;
    let access_key_id = required(table.access_key_id, "access_key_id")?;
    if let Some(endpoint) = &table.endpoint {
        let parsed = Url::parse(endpoint)
            .map_err(|e| SettingsError(format!("{} = {endpoint:?}: {e}", at("endpoint"))))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SettingsError(format!(
                "{}: only http and https URLs",
                at("endpoint")
            )));
        }
    }
    let secret = env(S3_SECRET_ENV).ok_or_else(|| {
        SettingsError(format!(
            "{origin}: [serve.archive_store] kind = \"s3\" needs the secret access key in {S3_SECRET_ENV}"
        ))
    })?;
    Ok(Some(ArchiveStoreSettings {
        s3: ferry_connectors::s3::S3Config {
            bucket,
            region: table.region.filter(|r| !r.is_empty()),
            endpoint: table.endpoint.filter(|e| !e.is_empty()),
            access_key_id,
            secret_access_key: SecretString::from(secret),
        },
        prefix: table.prefix.unwrap_or_default(),
    }))
}

/// `[serve.mail]` merged with the environment, or `None` when neither sets anything.
fn resolve_mail(
    table: Option<MailTable>,
    origin: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<MailSettings>, SettingsError> {
    let src = Source {
        origin,
        table: "serve.mail",
    };
    let fail = |message: String| SettingsError(one_line(&message));
    let host_env = env("FERRY_SMTP_HOST");
    let port_env = env("FERRY_SMTP_PORT");
    let security_env = env("FERRY_SMTP_SECURITY");
    let user_env = env("FERRY_SMTP_USER");
    let password_env = env("FERRY_SMTP_PASSWORD");
    let from_env = env("FERRY_MAIL_FROM");
    let any_env = [
        &host_env,
        &port_env,
        &security_env,
        &user_env,
        &password_env,
        &from_env,
    ]
    .iter()
    .any(|v| v.is_some());
    if table.is_none() && !any_env {
        return Ok(None);
    }
    let table = table.unwrap_or_default();

    let host_from_env = host_env.is_some();
    let host = host_env
        .or(table.smtp_host)
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            fail(format!(
                "{origin}: [serve.mail] needs smtp_host (or set FERRY_SMTP_HOST)"
            ))
        })?;
    let bare_ipv6 = host.parse::<std::net::Ipv6Addr>().is_ok();
    if !bare_ipv6 && host.contains(|c: char| c.is_whitespace() || matches!(c, '/' | ':' | '@')) {
        let at = src.of("smtp_host", "FERRY_SMTP_HOST", host_from_env);
        return Err(fail(format!(
            "{at} = {host:?}: a host name or IP address (the port goes in smtp_port)"
        )));
    }

    let security = match &security_env {
        Some(raw) => Some(
            raw.trim()
                .parse::<SmtpSecurity>()
                .map_err(|e| fail(format!("FERRY_SMTP_SECURITY: {e}")))?,
        ),
        None => table.security,
    };

    let user_from_env = user_env.is_some();
    let user = user_env.or(table.smtp_user).filter(|u| !u.is_empty());
    let password_from_env = password_env.is_some();
    let password = password_env.map(SecretString::from).or(table.smtp_password);
    let credentials = match (user, password) {
        (Some(user), Some(password)) => Some(SmtpCredentials { user, password }),
        (None, None) => None,
        (Some(_), None) => {
            let at = src.of("smtp_user", "FERRY_SMTP_USER", user_from_env);
            return Err(fail(format!(
                "{at} is set without a password (set smtp_password or FERRY_SMTP_PASSWORD)"
            )));
        }
        (None, Some(_)) => {
            let at = src.of("smtp_password", "FERRY_SMTP_PASSWORD", password_from_env);
            return Err(fail(format!(
                "{at} is set without a user (set smtp_user or FERRY_SMTP_USER)"
            )));
        }
    };

    let security = security.unwrap_or(if credentials.is_none() && is_loopback(&host) {
        SmtpSecurity::None
    } else {
        SmtpSecurity::StartTls
    });
    // A password sent in clear over the network can be read on the way; only a relay on the
    // same machine is safe without TLS.
    if security == SmtpSecurity::None && credentials.is_some() && !is_loopback(&host) {
        let at = src.of("security", "FERRY_SMTP_SECURITY", security_env.is_some());
        return Err(fail(format!(
            "{at} = \"none\" would send the SMTP password unencrypted to {host}: \
             use starttls or tls"
        )));
    }

    let port = match &port_env {
        Some(raw) => Some(
            raw.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| fail(format!("FERRY_SMTP_PORT = {raw:?}: not a port number")))?,
        ),
        None => match table.smtp_port {
            Some(0) => {
                return Err(fail(format!(
                    "{origin}: [serve.mail] smtp_port: 0 is not a port"
                )));
            }
            other => other,
        },
    };
    let smtp_port = port.unwrap_or(security.default_port());

    let from_from_env = from_env.is_some();
    let from_raw = from_env.or(table.from).ok_or_else(|| {
        fail(format!(
            "{origin}: [serve.mail] needs from, the sender's address (or set FERRY_MAIL_FROM)"
        ))
    })?;
    let from = from_raw.trim().parse::<Mailbox>().map_err(|e| {
        let at = src.of("from", "FERRY_MAIL_FROM", from_from_env);
        fail(format!(
            "{at} = {from_raw:?}: not an e-mail address like \"ferry <ferry@example.org>\" ({e})"
        ))
    })?;

    Ok(Some(MailSettings {
        smtp_host: host,
        smtp_port,
        security,
        credentials,
        from,
    }))
}

fn public_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("only http and https URLs".into());
    }
    if url.host().is_none() {
        return Err("no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("a base URL has no query, fragment or user".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn err(text: &str) -> String {
        ServeSettings::parse(text, Some(Path::new("/etc/ferry.toml")))
            .unwrap_err()
            .0
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let settings = ServeSettings::parse("", None).unwrap();
        assert_eq!(settings.public_url, None);
        assert_eq!(settings.archive_dir, None);
        assert_eq!(settings.link_lifetime, Duration::from_secs(96 * 3600));
        assert!(settings.mail.is_none());
    }

    #[test]
    fn trusted_proxies_come_from_the_file_or_the_environment() {
        let text = "[serve]\ntrusted_proxies = [\"127.0.0.1\", \"::1\"]\n";
        let settings = ServeSettings::parse(text, None).unwrap();
        assert_eq!(settings.trusted_proxies.len(), 2);
        let env = ServeSettings::parse_with_env(text, None, |name| {
            (name == "FERRY_TRUSTED_PROXIES").then(|| "10.0.0.1".to_string())
        })
        .unwrap();
        assert_eq!(
            env.trusted_proxies,
            vec!["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        let err = ServeSettings::parse("[serve]\ntrusted_proxies = [\"proxy\"]\n", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("trusted_proxies") && err.contains("not an IP address"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_gives_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let settings = ServeSettings::load(Some(&dir.path().join("absent.toml"))).unwrap();
        assert_eq!(settings.link_lifetime, DEFAULT_LINK_LIFETIME);
    }

    #[test]
    fn the_contract_example_parses() {
        let text = r#"
[services.dropbox]
client_id = "ignored here"

[serve]
public_url = "http://127.0.0.1:8080"
archive_dir = "/tmp/archives"
link_lifetime_hours = 12

[serve.mail]
smtp_host = "127.0.0.1"
smtp_port = 2525
security = "none"
from = "ferry <ferry@localhost>"
"#;
        let settings = ServeSettings::parse(text, None).unwrap();
        assert_eq!(
            settings.public_url.as_ref().unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(settings.archive_dir, Some(PathBuf::from("/tmp/archives")));
        assert_eq!(settings.link_lifetime, Duration::from_secs(12 * 3600));
        let mail = settings.mail.unwrap();
        assert_eq!(mail.smtp_host, "127.0.0.1");
        assert_eq!(mail.smtp_port, 2525);
        assert_eq!(mail.security, SmtpSecurity::None);
        assert!(mail.credentials.is_none());
        assert_eq!(mail.from.email.to_string(), "ferry@localhost");
        assert_eq!(mail.from.name.as_deref(), Some("ferry"));
    }

    #[test]
    fn environment_wins_over_the_file() {
        let text = "[serve]\npublic_url = \"http://file.example\"\n\
                    [serve.mail]\nsmtp_host = \"file.example\"\nfrom = \"a@file.example\"\n";
        let settings = ServeSettings::parse_with_env(
            text,
            None,
            env(&[
                ("FERRY_PUBLIC_URL", "https://env.example/ferry"),
                ("FERRY_ARCHIVE_DIR", "/srv/archives"),
                ("FERRY_LINK_LIFETIME_HOURS", "1"),
                ("FERRY_SMTP_HOST", "smtp.env.example"),
                ("FERRY_SMTP_PORT", "2587"),
                ("FERRY_SMTP_SECURITY", "tls"),
                ("FERRY_SMTP_USER", "ferry"),
                ("FERRY_SMTP_PASSWORD", "hunter2"),
                ("FERRY_MAIL_FROM", "Ferry <noreply@env.example>"),
            ]),
        )
        .unwrap();
        assert_eq!(
            settings.public_url.as_ref().unwrap().as_str(),
            "https://env.example/ferry/"
        );
        assert_eq!(settings.archive_dir, Some(PathBuf::from("/srv/archives")));
        assert_eq!(settings.link_lifetime, Duration::from_secs(3600));
        let mail = settings.mail.unwrap();
        assert_eq!(mail.smtp_host, "smtp.env.example");
        assert_eq!(mail.smtp_port, 2587);
        assert_eq!(mail.security, SmtpSecurity::Tls);
        let credentials = mail.credentials.unwrap();
        assert_eq!(credentials.user, "ferry");
        assert_eq!(credentials.password.expose_secret(), "hunter2");
        assert_eq!(mail.from.email.to_string(), "noreply@env.example");
    }

    #[test]
    fn environment_alone_configures_mail() {
        let settings = ServeSettings::parse_with_env(
            "",
            None,
            env(&[
                ("FERRY_SMTP_HOST", "localhost"),
                ("FERRY_MAIL_FROM", "ferry@localhost"),
                ("FERRY_SMTP_PORT", ""),
            ]),
        )
        .unwrap();
        let mail = settings.mail.unwrap();
        assert_eq!(mail.security, SmtpSecurity::None);
        assert_eq!(mail.smtp_port, 25);
    }

    #[test]
    fn security_and_port_defaults() {
        let mail = |table: &str| {
            ServeSettings::parse(
                &format!("[serve.mail]\nfrom = \"f@example.org\"\n{table}"),
                None,
            )
            .unwrap()
            .mail
            .unwrap()
        };
        let local = mail("smtp_host = \"127.0.0.1\"");
        assert_eq!((local.security, local.smtp_port), (SmtpSecurity::None, 25));
        let local = mail("smtp_host = \"localhost\"");
        assert_eq!(local.security, SmtpSecurity::None);
        let remote = mail("smtp_host = \"smtp.example.org\"");
        assert_eq!(
            (remote.security, remote.smtp_port),
            (SmtpSecurity::StartTls, 587)
        );
        let with_user = mail("smtp_host = \"localhost\"\nsmtp_user = \"u\"\nsmtp_password = \"p\"");
        assert_eq!(with_user.security, SmtpSecurity::StartTls);
        let tls = mail("smtp_host = \"smtp.example.org\"\nsecurity = \"tls\"");
        assert_eq!((tls.security, tls.smtp_port), (SmtpSecurity::Tls, 465));
        let explicit =
            mail("smtp_host = \"smtp.example.org\"\nsecurity = \"tls\"\nsmtp_port = 2465");
        assert_eq!(explicit.smtp_port, 2465);
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = err("[serve]\npublic_ur = \"http://x\"\n");
        assert!(
            e.contains("/etc/ferry.toml") && e.contains("public_ur"),
            "{e}"
        );
        let e = err("[serve.mail]\nsmtp_host = \"x\"\nfrom = \"a@b.c\"\nsmtp_pass = \"p\"\n");
        assert!(e.contains("smtp_pass"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn bad_values_are_refused_naming_the_file_or_variable() {
        let e = err("[serve]\npublic_url = \"ftp://x.example\"\n");
        assert!(e.contains("/etc/ferry.toml: [serve] public_url"), "{e}");
        assert!(e.contains("only http and https"), "{e}");
        let e = err("[serve]\npublic_url = \"not a url\"\n");
        assert!(e.contains("public_url"), "{e}");
        let e = err("[serve]\nlink_lifetime_hours = 0\n");
        assert!(e.contains("link_lifetime_hours"), "{e}");
        let e = err("[serve.mail]\nsmtp_host = \"x\"\nfrom = \"a@b.c\"\nsecurity = \"ssl\"\n");
        assert!(e.contains("/etc/ferry.toml") && e.contains("ssl"), "{e}");
        let e = err("[serve.mail]\nsmtp_host = \"x\"\nfrom = \"no address\"\n");
        assert!(e.contains("[serve.mail] from"), "{e}");
        let e = err("[serve.mail]\nsmtp_host = \"x\"\n");
        assert!(e.contains("needs from"), "{e}");
        let e = err("[serve.mail]\nfrom = \"a@b.c\"\n");
        assert!(e.contains("needs smtp_host"), "{e}");
        let e = err("[serve.mail]\nsmtp_host = \"x:25\"\nfrom = \"a@b.c\"\n");
        assert!(e.contains("smtp_port"), "{e}");
        let e = err("[serve.mail]\nsmtp_host = \"x\"\nfrom = \"a@b.c\"\nsmtp_port = 70000\n");
        assert!(e.contains("smtp_port"), "{e}");

        let e = ServeSettings::parse_with_env(
            "",
            None,
            env(&[
                ("FERRY_SMTP_HOST", "x"),
                ("FERRY_MAIL_FROM", "a@b.c"),
                ("FERRY_SMTP_PORT", "smtp"),
            ]),
        )
        .unwrap_err()
        .0;
        assert!(e.contains("FERRY_SMTP_PORT"), "{e}");
        let e = ServeSettings::parse_with_env(
            "[serve.mail]\nsmtp_host = \"x\"\nfrom = \"a@b.c\"\n",
            None,
            env(&[("FERRY_SMTP_SECURITY", "ssl")]),
        )
        .unwrap_err()
        .0;
        assert!(
            e.contains("FERRY_SMTP_SECURITY") && e.contains("ssl"),
            "{e}"
        );
        let e = ServeSettings::parse_with_env("", None, env(&[("FERRY_SMTP_USER", "u")]))
            .unwrap_err()
            .0;
        assert!(e.contains("needs smtp_host"), "{e}");
    }

    #[test]
    fn credentials_come_in_pairs_and_never_in_clear_over_the_network() {
        let e = err("[serve.mail]\nsmtp_host = \"x\"\nfrom = \"a@b.c\"\nsmtp_user = \"u\"\n");
        assert!(e.contains("without a password"), "{e}");
        let e = err(
            "[serve.mail]\nsmtp_host = \"smtp.example.org\"\nfrom = \"a@b.c\"\n\
             smtp_user = \"u\"\nsmtp_password = \"p\"\nsecurity = \"none\"\n",
        );
        assert!(e.contains("unencrypted"), "{e}");
        assert!(!e.contains("\"p\""), "{e}");
        // A relay on the same machine may take them in clear.
        ServeSettings::parse(
            "[serve.mail]\nsmtp_host = \"127.0.0.1\"\nfrom = \"a@b.c\"\n\
             smtp_user = \"u\"\nsmtp_password = \"p\"\nsecurity = \"none\"\n",
            None,
        )
        .unwrap();
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let settings = ServeSettings::parse(
            "[serve.mail]\nsmtp_host = \"smtp.example.org\"\nfrom = \"a@b.c\"\n\
             smtp_user = \"u\"\nsmtp_password = \"correct horse battery\"\n",
            None,
        )
        .unwrap();
        let debug = format!("{settings:?} {settings:#?}");
        assert!(!debug.contains("correct horse"), "{debug}");
        assert!(debug.contains("smtp.example.org"), "{debug}");
    }

    #[test]
    fn public_links_keep_the_base_path() {
        let settings =
            ServeSettings::parse("[serve]\npublic_url = \"https://x.example/ferry\"\n", None)
                .unwrap();
        assert_eq!(
            settings.public_link("/archives/7").unwrap().as_str(),
            "https://x.example/ferry/archives/7"
        );
        assert!(ServeSettings::default().public_link("archives/7").is_none());
    }

    #[test]
    fn an_s3_archive_store_takes_its_secret_from_the_environment_only() {
        let table = "[serve.archive_store]\nkind = \"s3\"\nbucket = \"arch\"\n\
                     endpoint = \"http://127.0.0.1:9000\"\nprefix = \"x/y\"\n\
                     access_key_id = \"AKIA1\"\n";
        let settings = ServeSettings::parse_with_env(table, None, |name| {
            (name == S3_SECRET_ENV).then(|| "very secret value".to_string())
        })
        .unwrap();
        let store = settings.archive_store.as_ref().unwrap();
        assert_eq!(store.s3.bucket, "arch");
        assert_eq!(store.s3.access_key_id, "AKIA1");
        assert_eq!(store.prefix, "x/y");
        let debug = format!("{settings:?}");
        assert!(!debug.contains("very secret"), "{debug}");

        let e = ServeSettings::parse(table, None).unwrap_err().to_string();
        assert!(e.contains(S3_SECRET_ENV), "{e}");
        let e = ServeSettings::parse(
            &format!("{table}secret_access_key = \"in the file\"\n"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("never go in the file"), "{e}");
        assert!(!e.contains("in the file\""), "{e}");
        let e = ServeSettings::parse("[serve.archive_store]\nkind = \"ftp\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not one of local, s3"), "{e}");
        let local = ServeSettings::parse("[serve.archive_store]\nkind = \"local\"\n", None);
        assert!(local.unwrap().archive_store.is_none());
    }
}
