//! ferry-sandbox: local emulators of the services ferry talks to.
//!
//! One listener serves every emulator under its own prefix, so a ferry base URL
//! (`scheme://host:port/prefix`) plus the service's documented path reaches it:
//!
//! | prefix | emulates |
//! |---|---|
//! | `/facebook/graph` | `graph.facebook.com` (`/vNN.0/...`) |
//! | `/facebook/www` | `www.facebook.com` (`/vNN.0/dialog/oauth`) |
//! | `/facebook/cdn` | the expiring CDN URLs of photos and videos |
//! | `/dropbox/api`, `/dropbox/content` | `api.dropboxapi.com`, `content.dropboxapi.com` |
//! | `/dropbox/www` | `www.dropbox.com` (`/oauth2/authorize`) |
//! | `/google/photos` | `photoslibrary.googleapis.com` |
//! | `/google/accounts`, `/google/oauth2` | `accounts.google.com`, `oauth2.googleapis.com` |
//! | `/google/media` | the `baseUrl`s of media items |
//! | `/koofr` | `app.koofr.net` |
//! | `/_sandbox` | the inspection API (not part of any real service) |
//!
//! The emulators are written from the public API documents, never from ferry's
//! clients, so that a client that passes here is likely to pass against the real
//! service.

// Handlers return ready-made error responses in `Err`; boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod corpus;
pub mod dropbox;
pub mod facebook;
pub mod faults;
pub mod google_photos;
pub mod inspect;
pub mod koofr;
pub mod media;
pub mod oauth;
pub mod seed;
mod state;
pub mod store;
mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use serde::Serialize;

use crate::faults::{FaultConfig, FaultKind};

/// Options of the sandbox; each field is a `--flag` of `ferry sandbox`.
#[derive(Clone, Debug, clap::Args)]
pub struct SandboxOptions {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seed of the deterministic generator (accounts, media, fault decisions).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of Facebook albums (the first is named `Trip: "Paris"?`, the last is empty).
    #[arg(long, default_value_t = 4)]
    pub albums: usize,
    /// Number of Facebook photos, spread over the non-empty albums.
    #[arg(long, default_value_t = 12)]
    pub photos: usize,
    /// Number of Facebook videos.
    #[arg(long, default_value_t = 2)]
    pub videos: usize,
    /// Size of each generated video (e.g. `50MiB`, `1GB`, `12345`).
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    pub video_size: u64,
    /// Share of service requests (0.0..=1.0) answered with an injected fault.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Fault kinds that `--fail-rate` is split evenly over: 429, 500, 503, reset, truncate.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "429,500,503,reset,truncate"
    )]
    pub fail_kinds: Vec<FaultKind>,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 14_400)]
    pub token_ttl: u64,
    /// Storage quota per destination account, in bytes (e.g. `10GiB`); unlimited when absent.
    #[arg(long, value_parser = parse_size)]
    pub quota: Option<u64>,
    /// Latency added to every service request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Bandwidth cap per request body direction, in bytes per second (e.g. `10MiB`).
    #[arg(long, value_parser = parse_size)]
    pub bandwidth: Option<u64>,
    /// Keep uploaded bytes in this folder instead of in memory.
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 42,
            albums: 4,
            photos: 12,
            videos: 2,
            video_size: 1 << 20,
            fail_rate: 0.0,
            fail_kinds: FaultKind::ALL.to_vec(),
            token_ttl: 14_400,
            quota: None,
            latency_ms: 0,
            bandwidth: None,
            state_dir: None,
        }
    }
}

impl SandboxOptions {
    /// The fault settings every emulator starts with.
    pub fn initial_faults(&self) -> FaultConfig {
        let mut cfg = FaultConfig {
            token_ttl_secs: self.token_ttl,
            quota_bytes: self.quota,
            latency_ms: self.latency_ms,
            bandwidth_bytes_per_sec: self.bandwidth,
            ..FaultConfig::default()
        };
        let kinds = &self.fail_kinds;
        if !kinds.is_empty() && self.fail_rate > 0.0 {
            let share = self.fail_rate.clamp(0.0, 1.0) / kinds.len() as f64;
            for k in kinds {
                cfg.set_rate(*k, cfg.rate(*k) + share);
            }
        }
        cfg
    }
}

/// Parses `123`, `4KiB`, `50MiB`, `1.5GB`, `2G` (binary for `KiB`/`K`, decimal for `KB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("unknown size unit in {s:?}")),
    };
    Ok((n * mult as f64).round() as u64)
}

/// The services emulated here.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum Service {
    #[serde(rename = "facebook")]
    Facebook,
    #[serde(rename = "dropbox")]
    Dropbox,
    #[serde(rename = "google-photos")]
    GooglePhotos,
    #[serde(rename = "koofr")]
    Koofr,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Facebook,
        Service::Dropbox,
        Service::GooglePhotos,
        Service::Koofr,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Facebook => "facebook",
            Service::Dropbox => "dropbox",
            Service::GooglePhotos => "google-photos",
            Service::Koofr => "koofr",
        }
    }

    pub fn parse(s: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Per-service base URLs, in the form ferry's configuration takes.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceUrls {
    pub facebook: FacebookUrls,
    pub dropbox: DropboxUrls,
    pub google_photos: GooglePhotosUrls,
    pub koofr: KoofrUrls,
    /// The inspection API (`/_sandbox`).
    pub inspect_url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct FacebookUrls {
    /// `graph_url + "/v21.0/me"`.
    pub graph_url: String,
    /// `auth_url + "/v21.0/dialog/oauth"`.
    pub auth_url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DropboxUrls {
    /// `api_url + "/2/files/list_folder"`, `api_url + "/oauth2/token"`.
    pub api_url: String,
    /// `content_url + "/2/files/upload"`.
    pub content_url: String,
    /// `auth_url + "/oauth2/authorize"`.
    pub auth_url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct GooglePhotosUrls {
    /// `api_url + "/v1/uploads"`.
    pub api_url: String,
    /// `auth_url + "/o/oauth2/v2/auth"`; the bare `auth_url` also serves the consent page.
    pub auth_url: String,
    /// `token_url + "/token"`; a POST to the bare `token_url` works too.
    pub token_url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct KoofrUrls {
    /// `base_url + "/api/v2/mounts"`, `base_url + "/oauth2/auth"`.
    pub base_url: String,
    /// The WebDAV root of the primary place (Basic auth: e-mail + app password).
    pub webdav_url: String,
}

/// Client registrations and ready-made tokens for the seeded accounts.
#[derive(Clone, Debug, Serialize)]
pub struct Credentials {
    pub facebook: ServiceCredentials,
    pub dropbox: ServiceCredentials,
    pub google_photos: ServiceCredentials,
    pub koofr: KoofrCredentials,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServiceCredentials {
    pub client_id: String,
    pub client_secret: String,
    /// A valid access token for the seeded account (expires after `token_ttl`).
    pub access_token: String,
    /// A refresh token, where the real service issues them (not Facebook).
    pub refresh_token: Option<String>,
    /// The seeded account's login (shown on the consent page).
    pub account: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct KoofrCredentials {
    #[serde(flatten)]
    pub oauth: ServiceCredentials,
    /// E-mail for Basic auth and `POST /token`.
    pub email: String,
    /// App password for Basic auth.
    pub app_password: String,
}

/// A running sandbox.
pub struct Sandbox {
    addr: SocketAddr,
    app: Arc<AppState>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

pub(crate) use crate::state::AppState;

/// Starts every emulator on one listener.
pub async fn start(opts: SandboxOptions) -> anyhow::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let app = Arc::new(AppState::new(opts, base_url).await?);
    let router = build_router(app.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let listener = util::ResettableListener(listener);
    let task = tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<util::ConnKill>();
        let res = axum::serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!("sandbox server stopped: {e}");
        }
    });
    tracing::info!("ferry sandbox listening on http://{addr}");
    Ok(Sandbox {
        addr,
        app,
        shutdown: tx,
        task,
    })
}

fn build_router(app: Arc<AppState>) -> Router {
    Router::new()
        .merge(facebook::router(app.clone()))
        .merge(dropbox::router(app.clone()))
        .merge(google_photos::router(app.clone()))
        .merge(koofr::router(app.clone()))
        .nest("/_sandbox", inspect::router(app.clone()))
}

impl Sandbox {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn urls(&self) -> ServiceUrls {
        service_urls(&self.base_url())
    }

    pub fn credentials(&self) -> Credentials {
        self.app.credentials.clone()
    }

    /// A `ferry.toml` fragment pointing every service at this sandbox.
    pub fn ferry_toml(&self) -> String {
        ferry_toml_for(&self.base_url(), &self.app.credentials)
    }

    /// Current fault settings of one emulator.
    pub fn faults(&self, service: Service) -> FaultConfig {
        self.app.faults.get(service)
    }

    /// Replaces the fault settings of one emulator.
    pub fn set_faults(&self, service: Service, cfg: FaultConfig) {
        self.app.faults.set(service, cfg);
    }

    /// What `GET /_sandbox/state` returns: every stored file, album and media item.
    pub fn state(&self) -> serde_json::Value {
        inspect::state_json(&self.app)
    }

    /// What `GET /_sandbox/stats` returns: request counts by service, route and status.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::json!({ "requests": self.app.stats.snapshot() })
    }

    /// Moves the sandbox clock forward (token, code, URL and upload-token expiry).
    pub fn advance_clock(&self, secs: i64) {
        self.app.clock.advance(secs);
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
    }
}

pub(crate) fn ferry_toml_for(base: &str, c: &Credentials) -> String {
    let u = service_urls(base);
    format!(
        "# generated by ferry sandbox at {base}\n\
             [services.facebook]\n\
             graph_url = \"{fg}\"\n\
             auth_url = \"{fa}\"\n\
             client_id = \"{fci}\"\n\
             client_secret = \"{fcs}\"\n\
             \n\
             [services.dropbox]\n\
             api_url = \"{da}\"\n\
             content_url = \"{dc}\"\n\
             auth_url = \"{dw}\"\n\
             client_id = \"{dci}\"\n\
             client_secret = \"{dcs}\"\n\
             \n\
             [services.google-photos]\n\
             api_url = \"{ga}\"\n\
             auth_url = \"{gw}\"\n\
             token_url = \"{gt}\"\n\
             client_id = \"{gci}\"\n\
             client_secret = \"{gcs}\"\n\
             \n\
             [services.koofr]\n\
             base_url = \"{kb}\"\n\
             client_id = \"{kci}\"\n\
             client_secret = \"{kcs}\"\n",
        base = base,
        fg = u.facebook.graph_url,
        fa = u.facebook.auth_url,
        fci = c.facebook.client_id,
        fcs = c.facebook.client_secret,
        da = u.dropbox.api_url,
        dc = u.dropbox.content_url,
        dw = u.dropbox.auth_url,
        dci = c.dropbox.client_id,
        dcs = c.dropbox.client_secret,
        ga = u.google_photos.api_url,
        gw = u.google_photos.auth_url,
        gt = u.google_photos.token_url,
        gci = c.google_photos.client_id,
        gcs = c.google_photos.client_secret,
        kb = u.koofr.base_url,
        kci = c.koofr.oauth.client_id,
        kcs = c.koofr.oauth.client_secret,
    )
}

pub(crate) fn service_urls(base: &str) -> ServiceUrls {
    ServiceUrls {
        facebook: FacebookUrls {
            graph_url: format!("{base}/facebook/graph"),
            auth_url: format!("{base}/facebook/www"),
        },
        dropbox: DropboxUrls {
            api_url: format!("{base}/dropbox/api"),
            content_url: format!("{base}/dropbox/content"),
            auth_url: format!("{base}/dropbox/www"),
        },
        google_photos: GooglePhotosUrls {
            api_url: format!("{base}/google/photos"),
            auth_url: format!("{base}/google/accounts"),
            token_url: format!("{base}/google/oauth2"),
        },
        koofr: KoofrUrls {
            base_url: format!("{base}/koofr"),
            webdav_url: format!("{base}/koofr/dav/Koofr"),
        },
        inspect_url: format!("{base}/_sandbox"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("50MiB").unwrap(), 50 << 20);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("12345").unwrap(), 12345);
        assert_eq!(parse_size("1.5K").unwrap(), 1536);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn fail_rate_splits_over_kinds() {
        let opts = SandboxOptions {
            fail_rate: 0.5,
            ..SandboxOptions::default()
        };
        let cfg = opts.initial_faults();
        assert!((cfg.rate_429 - 0.1).abs() < 1e-9);
        assert!((cfg.rate_truncate - 0.1).abs() < 1e-9);
    }
}
