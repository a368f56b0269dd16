//! Google Photos as a destination. Skeleton: filled in by the Google Photos connector work.

pub mod auth;
mod destination;

pub use destination::GooglePhotosDestination;
