//! An S3 bucket (AWS, or an S3-compatible service: MinIO, Ceph, R2, Backblaze B2's S3 API,
//! moto) as a destination, through OpenDAL's S3 service: multipart uploads streamed from the
//! source, never a whole file in memory. A destination only: ferry does not read from S3.

pub mod auth;
mod client;
mod destination;
mod error;
mod service;
pub use service::SERVICE;

pub use client::{PART_SIZE, S3Config};
pub use destination::S3Destination;
pub use error::map_error;
