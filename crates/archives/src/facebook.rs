//! Facebook export archives (see shared/reference/archives.md).

use crate::catalogue::{Catalogue, Detection};
use crate::vfs::ArchiveFs;

/// Finds this service's marker files anywhere in the tree.
pub fn detect(fs: &ArchiveFs) -> Option<Detection> {
    let _ = fs;
    None
}

/// Reads everything the export holds.
pub fn read(fs: &ArchiveFs, detection: &Detection) -> Catalogue {
    let _ = fs;
    Catalogue::new(detection.clone())
}
