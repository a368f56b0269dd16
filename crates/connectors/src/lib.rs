//! ferry-connectors: one module per service, each the same shape (see DESIGN.md), and local
//! folders.
//!
//! A service module has `client.rs` (raw HTTP calls, one function per API route, typed request
//! and response structs), `source.rs` or `destination.rs` (the trait impls), `auth.rs` (its
//! OAuth app, who the account is, revoking) and `error.rs` (its errors onto the taxonomy).
//! What they share is here: [`http`] (sending with credentials, error mapping), [`auth`]
//! (tokens that refresh themselves), [`oauth`] (connecting an account), [`config`]
//! (`ferry.toml`), [`service`] (what a service declares about itself), [`registry`] (every
//! service) and [`file_store`] (the kit the destinations of named files in folders are built
//! on: folder, WebDAV, Koofr, S3).

pub mod auth;
pub mod config;
pub mod file_store;
pub mod folder;
pub mod http;
pub mod oauth;
pub mod registry;
pub mod service;

/// Declares each service's module (its own folder) and lists its `SERVICE` in
/// [`registry::SERVICES`], in the order people are offered them.
macro_rules! services {
    ($($name:ident),+ $(,)?) => {
        $(pub mod $name;)+
        const LISTED: &[&service::Service] = &[$(&$name::SERVICE),+];
    };
}

// Adding a service is its folder, its name here, and its tests (docs/architecture.md).
services![facebook, dropbox, koofr, google_photos, webdav, s3];
