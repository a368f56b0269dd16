//! WebDAV as a destination. Skeleton: filled in by the WebDAV connector work.

pub mod auth;
mod destination;

pub use destination::WebdavDestination;
