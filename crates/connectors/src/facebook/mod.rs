//! Facebook as a source. Skeleton: filled in by the Facebook connector work.

pub mod auth;
mod source;

pub use source::FacebookSource;
pub const GRAPH_VERSION: &str = "v21.0";
