//! ferry-connectors: one module per service, each the same shape (see DESIGN.md), and local
//! folders.
//!
//! A service module has `client.rs` (raw HTTP calls, one function per API route, typed request
//! and response structs), `source.rs` or `destination.rs` (the trait impls), `auth.rs` (its
//! OAuth app, who the account is, revoking) and `error.rs` (its errors onto the taxonomy).
//! What they share is here: [`http`] (sending with credentials, error mapping), [`auth`]
//! (tokens that refresh themselves), [`oauth`] (connecting an account), [`config`]
//! (`ferry.toml`), [`service`] (which module serves which service) and [`file_store`] (the kit
//! the destinations of named files in folders are built on: folder, WebDAV, Koofr, S3).

pub mod auth;
pub mod config;
pub mod file_store;
pub mod folder;
pub mod http;
pub mod oauth;
pub mod service;

pub mod dropbox;
pub mod facebook;
pub mod google_photos;
pub mod koofr;
pub mod s3;
pub mod webdav;
