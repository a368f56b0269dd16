//! Facebook as a source: a person's albums, photos and videos through the Graph API.
//!
//! `client.rs` sends Graph calls (Bearer token, `appsecret_proof`, pacing by the usage
//! headers) and downloads from the CDN; `source.rs` lists and opens; `auth.rs` connects an
//! account (code exchange, then a long-lived token: Facebook has no refresh token);
//! `error.rs` maps Graph error codes; `throttle.rs` slows down before Facebook throttles.

pub mod auth;
mod client;
pub mod error;
mod service;
pub use service::SERVICE;
mod source;
pub mod throttle;

use std::time::Duration;

pub use source::FacebookSource;

/// The Graph API version every call names.
pub const GRAPH_VERSION: &str = "v21.0";

/// Knobs of the Facebook connector; the defaults suit the real service, tests shrink them.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Items asked for per Graph page (`limit`); Graph caps most edges at 100.
    pub page_limit: usize,
    /// The wait announced (and kept between calls) when Facebook throttles without saying
    /// for how long.
    pub throttle_backoff: Duration,
    /// The longest pause put between Graph calls as usage nears the app's limit.
    pub max_spacing: Duration,
    /// How long a media link handed out by a listing is tried before a fresh one is asked
    /// for (Facebook's links are signed and expire; a refused one is replaced anyway).
    pub link_reuse: Duration,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            page_limit: 100,
            throttle_backoff: Duration::from_secs(60),
            max_spacing: Duration::from_secs(30),
            link_reuse: Duration::from_secs(45 * 60),
        }
    }
}
