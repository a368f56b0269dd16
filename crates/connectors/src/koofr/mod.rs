//! Koofr as a destination. Skeleton: filled in by the Koofr connector work.

pub mod auth;
mod destination;

pub use destination::KoofrDestination;
