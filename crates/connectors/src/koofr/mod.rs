//! Koofr as a destination (apis.md §3): folders on the primary storage place, streamed in
//! one POST per file to a hidden staging name, then moved into place without ever replacing.

pub mod auth;
mod client;
mod destination;
mod error;
mod service;
pub use service::SERVICE;

pub use destination::KoofrDestination;
