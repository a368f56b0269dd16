//! Connections: `ferry connect`, `ferry connections`, `ferry disconnect`, and opening a
//! `NAME:` or `NAME:/path` endpoint as a source or a destination.
//!
//! A connection's credentials are sealed by the vault (the connection's id as associated data)
//! before they reach the journal database, and unsealed only to build a session. A token that
//! the service refreshes mid-transfer is sealed and saved again at once.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use async_trait::async_trait;
use clap::Args;
use ferry_connectors::auth::{Secret, TokenSaver};
use ferry_connectors::config::Config;
use ferry_connectors::service::{ServiceKind, Session, Settings};
use ferry_engine::{ConnectionRow, Store, Vault};

#[derive(Args)]
pub struct ConnectArgs {
    /// facebook, dropbox, koofr, google-photos or webdav.
    #[arg(value_parser = parse_kind)]
    pub service: ServiceKind,
    /// The name to use it by (`NAME:` in `ferry transfer`); defaults to the service's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Use this access token instead of authorizing in a browser (`-` reads it from stdin).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The refresh token that goes with --token.
    #[arg(long, value_name = "TOKEN", requires = "token")]
    pub refresh_token: Option<String>,
    /// The user (Koofr: your e-mail; WebDAV: the user name).
    #[arg(long)]
    pub user: Option<String>,
    /// A Koofr app password (`-` reads it from stdin).
    #[arg(long, requires = "user")]
    pub app_password: Option<String>,
    /// The WebDAV server's URL.
    #[arg(long)]
    pub url: Option<String>,
    /// The WebDAV password (`-` reads it from stdin).
    #[arg(long)]
    pub password: Option<String>,
    /// Print the authorization URL only; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
}

fn parse_kind(text: &str) -> Result<ServiceKind, String> {
    ServiceKind::from_name(text).ok_or_else(|| {
        format!(
            "unknown service '{text}' (known: {})",
            ServiceKind::names().join(", ")
        )
    })
}

/// The connections of one data dir, with the configuration and the vault to open them.
pub struct Connections {
    store: Arc<dyn Store>,
    data_dir: PathBuf,
    /// The configuration, or why it could not be read: only connections need it, so a
    /// folder-to-folder transfer never fails on it.
    config: std::result::Result<Config, String>,
    vault: OnceLock<Arc<Vault>>,
}

impl Connections {
    pub fn new(
        store: Arc<dyn Store>,
        data_dir: PathBuf,
        config: std::result::Result<Config, String>,
    ) -> Connections {
        Connections {
            store,
            data_dir,
            config,
            vault: OnceLock::new(),
        }
    }

    fn config(&self) -> Result<&Config> {
        self.config.as_ref().map_err(|e| anyhow!("{e}"))
    }

    /// The vault, opened (and its key file created) on first need only: a folder-to-folder
    /// transfer never makes a key.
    fn vault(&self) -> Result<Arc<Vault>> {
        if let Some(v) = self.vault.get() {
            return Ok(v.clone());
        }
        let vault = Arc::new(Vault::open(&self.data_dir)?);
        Ok(self.vault.get_or_init(|| vault).clone())
    }

    pub async fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.store.connection(name).await?.is_some())
    }

    async fn row(&self, name: &str) -> Result<ConnectionRow> {
        self.store.connection(name).await?.ok_or_else(|| {
            anyhow!("no connection named '{name}' (see `ferry connections`; add one with `ferry connect <service> --name {name}`)")
        })
    }

    /// A session for a stored connection; refreshed tokens are saved back, sealed.
    pub async fn session(&self, name: &str) -> Result<Session> {
        let row = self.row(name).await?;
        let kind = ServiceKind::from_name(&row.service).ok_or_else(|| {
            anyhow!(
                "connection '{name}' is for an unknown service '{}'",
                row.service
            )
        })?;
        let vault = self.vault()?;
        let plain = vault.open_sealed(&row.id, &row.sealed_secret)?;
        let secret: Secret = serde_json::from_slice(&plain)
            .map_err(|_| anyhow!("connection '{name}': its stored credentials are unreadable"))?;
        let settings: Settings = serde_json::from_str(&row.settings).unwrap_or_default();
        let saver = Arc::new(SealedSaver {
            store: self.store.clone(),
            vault,
            id: row.id.clone(),
        });
        Ok(Session::new(
            kind,
            name,
            self.config()?,
            settings,
            &secret,
            Some(saver),
        )?)
    }

    /// Connects an account and stores it.
    pub async fn connect(&self, args: ConnectArgs) -> Result<()> {
        let kind = args.service;
        let name = args.name.clone().unwrap_or_else(|| kind.name().to_string());
        validate_name(&name)?;
        // Connecting again under the same name (after a token expired for good) replaces the
        // credentials and keeps every job that names the connection working.
        let existing = self.store.connection(&name).await?;
        if let Some(row) = &existing
            && row.service != kind.name()
        {
            bail!(
                "a {} connection named '{name}' exists already; choose another --name or `ferry disconnect {name}` first",
                row.service
            );
        }
        let (settings, secret) = self.credentials(kind, &name, &args).await?;
        let session = Session::new(kind, &name, self.config()?, settings.clone(), &secret, None)?;
        let account = session
            .account()
            .await
            .with_context(|| format!("{} refused the credentials", kind.title()))?;
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(&secret)?);
        if let Some(row) = existing {
            let sealed = self.vault()?.seal(&row.id, &plain)?;
            self.store
                .update_connection(
                    &row.id,
                    &account,
                    &serde_json::to_string(&settings)?,
                    &sealed,
                )
                .await?;
            println!("reconnected {name}: {} ({account})", kind.title());
            return Ok(());
        }
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self.vault()?.seal(&id, &plain)?;
        self.store
            .add_connection(&ConnectionRow {
                id,
                name: name.clone(),
                service: kind.name().to_string(),
                account: account.clone(),
                settings: serde_json::to_string(&settings)?,
                sealed_secret: sealed,
                created_at: String::new(),
            })
            .await?;
        println!("connected {name}: {} ({account})", kind.title());
        Ok(())
    }

    async fn credentials(
        &self,
        kind: ServiceKind,
        name: &str,
        args: &ConnectArgs,
    ) -> Result<(Settings, Secret)> {
        let mut settings = Settings::default();
        if kind == ServiceKind::Webdav {
            let url = args
                .url
                .clone()
                .ok_or_else(|| anyhow!("webdav needs --url URL [--user U --password P]"))?;
            let parsed = url::Url::parse(&url).map_err(|e| anyhow!("--url {url}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("--url must be an http or https URL");
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                bail!("put the user and password in --user and --password, not in the URL");
            }
            settings.url = Some(url);
            settings.user = args.user.clone();
            let password = match &args.password {
                Some(p) => read_secret(p)?,
                None => String::new(),
            };
            return Ok((settings, Secret::password(password)));
        }
        if args.url.is_some() || args.password.is_some() {
            bail!("--url and --password are for webdav connections");
        }
        if let Some(password) = &args.app_password {
            if kind != ServiceKind::Koofr {
                bail!("--app-password is for koofr connections");
            }
            settings.user = args.user.clone();
            return Ok((settings, Secret::password(read_secret(password)?)));
        }
        if let Some(token) = &args.token {
            return Ok((
                settings,
                Secret::tokens(read_secret(token)?, args.refresh_token.clone(), None),
            ));
        }
        let secret = self.authorize(kind, name, args.no_browser).await?;
        Ok((settings, secret))
    }

    /// The browser flow: a loopback redirect, PKCE where the service takes it.
    async fn authorize(&self, kind: ServiceKind, name: &str, no_browser: bool) -> Result<Secret> {
        let config = self.config()?.service(kind);
        let app = kind
            .oauth(config)
            .ok_or_else(|| anyhow!("{} has no OAuth flow", kind.title()))?;
        let pending = app.begin(config).await?;
        eprintln!(
            "Authorize ferry to use your {} account ({name}) in a browser:",
            kind.title()
        );
        // The URL alone on its line, on stdout, so that scripts and tests can read it.
        println!("{}", pending.url);
        if !no_browser {
            open_browser(&pending.url);
        }
        eprintln!("Waiting for the authorization (5 minutes)…");
        let (code, verifier, redirect_uri) = pending.wait(Duration::from_secs(300)).await?;
        let http = ferry_connectors::http::client();
        let secret = match kind {
            ServiceKind::Facebook => {
                ferry_connectors::facebook::auth::exchange(&http, config, &redirect_uri, &code)
                    .await?
            }
            _ => {
                app.exchange_standard(&http, config, &redirect_uri, code, verifier)
                    .await?
            }
        };
        Ok(secret)
    }

    pub async fn list(&self, json: bool) -> Result<()> {
        let rows = self.store.connections().await?;
        if json {
            let list: Vec<_> = rows
                .iter()
                .map(|r| {
                    let settings: Settings = serde_json::from_str(&r.settings).unwrap_or_default();
                    serde_json::json!({
                        "name": r.name,
                        "service": r.service,
                        "account": r.account,
                        "url": settings.url,
                        "created_at": r.created_at,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(list));
            return Ok(());
        }
        if rows.is_empty() {
            println!("no connections yet: add one with `ferry connect <service>`");
            return Ok(());
        }
        println!("{:<16} {:<14} {:<32} CREATED", "NAME", "SERVICE", "ACCOUNT");
        for r in rows {
            println!(
                "{:<16} {:<14} {:<32} {}",
                r.name,
                r.service,
                r.account,
                r.created_at.get(..10).unwrap_or(&r.created_at)
            );
        }
        Ok(())
    }

    /// Revokes where the service allows (a failure there is reported, not fatal: the person
    /// asked to forget the connection), then deletes.
    pub async fn disconnect(&self, name: &str) -> Result<()> {
        let row = self.row(name).await?;
        match self.session(name).await {
            Ok(session) => {
                if let Err(err) = session.revoke().await {
                    eprintln!(
                        "ferry: could not revoke {name} at the service ({err}); forgetting it anyway"
                    );
                }
            }
            Err(err) => {
                eprintln!("ferry: cannot open {name} to revoke it ({err}); forgetting it anyway")
            }
        }
        self.store.delete_connection(&row.name).await?;
        println!("disconnected {name}");
        Ok(())
    }
}

/// Saves refreshed tokens, sealed, onto their connection.
struct SealedSaver {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    id: String,
}

#[async_trait]
impl TokenSaver for SealedSaver {
    async fn save(&self, secret: &Secret) -> ferry_core::Result<()> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(secret).map_err(|e| ferry_core::Error::permanent(e.to_string()))?,
        );
        let sealed = self
            .vault
            .seal(&self.id, &plain)
            .map_err(|e| ferry_core::Error::permanent(e.to_string()))?;
        self.store
            .update_connection_secret(&self.id, &sealed)
            .await
            .map_err(|e| ferry_core::Error::Retryable(e.to_string()))
    }
}

/// Connection names are what comes before `:` in an endpoint.
fn validate_name(name: &str) -> Result<()> {
    if name.len() < 2
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("'{name}': a connection name has 2 to 64 letters, digits, '-' or '_'");
    }
    Ok(())
}

/// `-` reads a secret from stdin (so that it is not in the process list or shell history).
fn read_secret(value: &str) -> Result<String> {
    if value != "-" {
        return Ok(value.to_string());
    }
    if std::io::stdin().is_terminal() {
        eprint!("secret: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the secret from stdin")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        bail!("no secret on stdin");
    }
    Ok(secret)
}

/// Opens the URL in the person's browser when there is a desktop; best effort.
fn open_browser(url: &str) {
    let desktop =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if desktop || cfg!(target_os = "macos") {
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}
