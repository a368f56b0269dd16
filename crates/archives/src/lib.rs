//! Reading the export archives Instagram, Facebook and Google Takeout hand out, and writing
//! ferry's own archive.
//!
//! Export archives are untrusted input: a zip from anywhere can name entries `../../.bashrc`,
//! claim a kilobyte and inflate to terabytes, or carry text Meta double-encoded. The modules
//! here are the primitives every reader stands on, so that no reader has to get them right
//! on its own:
//!
//! - [`entry`]: zip entry names → paths that cannot leave the folder they are joined under;
//! - [`limits`]: refusing zip bombs before and while inflating;
//! - [`mojibake`]: undoing Meta's Latin-1 re-encoding of UTF-8 text.

pub mod entry;
pub mod limits;
pub mod mojibake;

pub use entry::{NameDecoding, RelativePath, safe_entry_path};
pub use limits::{BoundedReader, Budget, Limits};

/// Why an archive, or one entry of it, was refused. Each message is one line a user can act
/// on, naming the entry where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("entry name is empty or names only the archive root: {0:?}")]
    EmptyName(String),
    #[error("entry name contains a NUL byte: {0:?}")]
    Nul(String),
    #[error("entry name is an absolute path: {0:?}")]
    Absolute(String),
    #[error("entry name climbs out of the archive with `..`: {0:?}")]
    ParentComponent(String),
    #[error("entry name starts a component with a drive letter: {0:?}")]
    DriveLetter(String),
    #[error(
        "entry name has a component of only dots and spaces, which Windows reads as `..`: {0:?}"
    )]
    DotsOnly(String),
    #[error("archive has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("archive inflates to more than {limit} bytes")]
    TotalTooLarge { limit: u64 },
    #[error(
        "entry inflates {uncompressed} bytes from {compressed} (more than {limit}× — a zip bomb?)"
    )]
    RatioTooHigh {
        compressed: u64,
        uncompressed: u64,
        limit: u64,
    },
    #[error("entry inflated past the {declared} bytes its header declares")]
    LongerThanDeclared { declared: u64 },
    #[error("JSON file of {size} bytes is larger than the {limit}-byte limit")]
    JsonTooLarge { size: u64, limit: u64 },
}
