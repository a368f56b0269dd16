//! Google Photos as a destination, through the Library API (after its March 2025 change:
//! an app sees only the albums and items it created itself).
//!
//! Items go into albums the app created (`Layout::Albums`: one album per source album, split
//! by the engine past 20,000 items) or into the library outside any album. Bytes are streamed
//! to `/v1/uploads` for an upload token (`upload.rs`); `commit` turns tokens into media items
//! with `mediaItems:batchCreate`, 50 at a time, one call at a time, as Google asks.
//!
//! # Recognising what is already there
//!
//! Google Photos reports no hash and no size of what it stores, and re-encodes what it
//! serves, so ferry cannot compare content. It identifies an item by **(container, file
//! name)** instead: the engine makes target names unique within a container, so a name the
//! app already created in an album (or in the library outside albums) is that item. Each
//! container's names are listed once (`mediaItems:search {albumId}`, or `GET /v1/mediaItems`
//! minus the items in the app's albums for the library; both only see app-created items) and
//! kept up to date as items are created. `commit` lands a target whose name is already there
//! on the existing item without using its upload token, and `find` answers from the same
//! listing, so a re-run, a second job or a crash between `batchCreate` and the journal
//! creates nothing twice. A `batchCreate` whose answer was lost marks its container for
//! listing again before anything is resent. (The library's listing reads every app album
//! first, once per process.)
//!
//! The limits: a *different* file given the same name in the same container by an earlier
//! run (the source changed in between) is taken for the item, where file-like destinations
//! would give it the next free name; and an item the person removed from an app album, or
//! deleted, is no longer seen and is uploaded again by a new job. Album descriptions are not
//! carried over: the Library API's albums have none.

pub mod auth;
mod client;
mod destination;
mod error;
mod service;
pub use service::SERVICE;
mod upload;

pub use destination::{
    GooglePhotosDestination, MAX_ALBUM_ITEMS, MAX_PHOTO_BYTES, MAX_VIDEO_BYTES, Tuning,
};
