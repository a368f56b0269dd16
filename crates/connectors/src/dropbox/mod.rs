//! Dropbox as a destination: upload sessions streamed in chunks, committed in batches with
//! `finish_batch_v2`, checked against Dropbox's `content_hash`.

pub mod auth;
pub mod client;
pub mod content_hash;
mod destination;
pub mod error;
mod service;
pub use service::SERVICE;

pub use destination::{DEFAULT_CHUNK_SIZE, DropboxDestination, MAX_COMMIT_BATCH, MAX_FILE_SIZE};
