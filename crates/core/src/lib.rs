//! ferry-core: the portable data model, the `Source` and `Destination` traits, the one error
//! taxonomy every connector maps onto, content streams with hashing, and file-name rules.
//!
//! Nothing here does I/O of its own; connectors and the engine build on these types.

pub mod content;
pub mod error;
pub mod model;
pub mod names;
pub mod pacer;
pub mod private;
pub mod retry;
pub mod traits;

pub use content::{ByteStream, Content, HashingStream, StreamDigest};
pub use error::{Error, ErrorKind, Result};
pub use model::*;
pub use pacer::Pacer;
pub use retry::{Attempts, RetryPolicy};
pub use traits::*;
