//! A WebDAV server as a destination (RFC 4918): Koofr's WebDAV, Nextcloud, ownCloud,
//! `rclone serve webdav`. Files stream in one PUT each to a hidden staging name and are
//! MOVEd into place without ever replacing anything.

pub mod auth;
mod client;
mod destination;
mod error;
mod service;
pub use service::SERVICE;

pub use destination::WebdavDestination;
