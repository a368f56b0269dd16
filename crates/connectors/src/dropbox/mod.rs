//! Dropbox as a destination. Skeleton: filled in by the Dropbox connector work.

pub mod auth;
mod destination;

pub use destination::DropboxDestination;
