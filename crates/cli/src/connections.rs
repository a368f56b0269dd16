//! `ferry connect`, `ferry connections`, `ferry disconnect`: the machine's own connections
//! (ferry-endpoints keeps them sealed), with credentials from flags, stdin or a browser.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use ferry_connectors::auth::Secret;
use ferry_connectors::service::{ServiceKind, Settings};
use ferry_endpoints::{Connections, validate_name};

#[derive(Args)]
pub struct ConnectArgs {
    /// facebook, dropbox, koofr, google-photos, webdav or s3.
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
    /// The S3 bucket (s3).
    #[arg(long)]
    pub bucket: Option<String>,
    /// The bucket's region (s3; default us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// The endpoint of an S3-compatible service (s3; AWS when absent).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The key prefix everything goes under (s3).
    #[arg(long)]
    pub prefix: Option<String>,
    /// The access key id (s3); the secret comes from FERRY_S3_SECRET_ACCESS_KEY, else a
    /// prompt (stdin).
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
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

/// The machine's own user owns the CLI's connections.
pub const LOCAL: &str = "";

/// Connects an account and stores it.
pub async fn connect(connections: &Connections, args: ConnectArgs) -> Result<()> {
    let kind = args.service;
    let name = args.name.clone().unwrap_or_else(|| kind.name().to_string());
    validate_name(&name)?;
    if let Some(row) = connections
        .list(LOCAL)
        .await?
        .iter()
        .find(|r| r.name == name)
        && row.service != kind.name()
    {
        bail!(
            "a {} connection named '{name}' exists already; choose another --name or `ferry disconnect {name}` first",
            row.service
        );
    }
    let (settings, secret) = credentials(connections, kind, &name, &args).await?;
    let saved = connections
        .save(LOCAL, &name, kind, settings, &secret)
        .await?;
    let verb = if saved.reconnected {
        "reconnected"
    } else {
        "connected"
    };
    println!("{verb} {name}: {} ({})", kind.title(), saved.account);
    Ok(())
}

async fn credentials(
    connections: &Connections,
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
    if kind == ServiceKind::S3 {
        return s3_credentials(args);
    }
    if args.bucket.is_some()
        || args.region.is_some()
        || args.endpoint.is_some()
        || args.prefix.is_some()
        || args.access_key_id.is_some()
    {
        bail!(
            "--bucket, --region, --endpoint, --prefix and --access-key-id are for s3 connections"
        );
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
    let secret = authorize(connections, kind, name, args.no_browser).await?;
    Ok((settings, secret))
}

/// The environment variable `ferry connect s3` takes the secret access key from.
const S3_SECRET_ENV: &str = "FERRY_S3_SECRET_ACCESS_KEY";

/// A bucket and its access key: settings in the clear, the secret sealed as the password.
fn s3_credentials(args: &ConnectArgs) -> Result<(Settings, Secret)> {
    if args.url.is_some() || args.password.is_some() || args.user.is_some() {
        bail!("s3 takes --bucket, --access-key-id and --endpoint, not --url, --user or --password");
    }
    let usage = "s3 needs --bucket B --access-key-id ID [--region R] [--endpoint URL] [--prefix P]";
    let bucket = args
        .bucket
        .clone()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| anyhow!("{usage}"))?;
    let access_key_id = args
        .access_key_id
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| anyhow!("{usage}"))?;
    if let Some(endpoint) = &args.endpoint {
        let parsed =
            url::Url::parse(endpoint).map_err(|e| anyhow!("--endpoint {endpoint}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("--endpoint must be an http or https URL");
        }
    }
    let prefix = args.prefix.as_deref().unwrap_or("");
    if prefix.split('/').any(|p| p == "." || p == "..") {
        bail!("--prefix: `.` and `..` are not allowed");
    }
    let secret = match std::env::var(S3_SECRET_ENV) {
        Ok(secret) if !secret.is_empty() => secret,
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "the secret access key for {access_key_id} ({S3_SECRET_ENV} is not set):"
                );
            }
            read_secret("-")?
        }
    };
    let settings = Settings {
        url: args.endpoint.clone(),
        user: Some(access_key_id),
        bucket: Some(bucket),
        region: args.region.clone().filter(|r| !r.is_empty()),
        prefix: Some(prefix.to_string()).filter(|p| !p.trim_matches('/').is_empty()),
    };
    Ok((settings, Secret::password(secret)))
}

/// The browser flow: a loopback redirect, PKCE where the service takes it.
async fn authorize(
    connections: &Connections,
    kind: ServiceKind,
    name: &str,
    no_browser: bool,
) -> Result<Secret> {
    let config = connections.config()?.service(kind);
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
    let verifier = verifier.map(|v| v.into_secret());
    Ok(app
        .exchange(&http, config, &redirect_uri, code, verifier)
        .await?)
}

pub async fn list(connections: &Connections, json: bool) -> Result<()> {
    let rows = connections.list(LOCAL).await?;
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
pub async fn disconnect(connections: &Connections, name: &str) -> Result<()> {
    if let Some(warning) = connections.forget(LOCAL, name).await? {
        eprintln!("ferry: {warning}");
    }
    println!("disconnected {name}");
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
