//! Local folders as a Source and a Destination.
//!
//! As a source, each sub-folder is an album (nested folders too, named by their path) and
//! files at the top are in none; photos and videos are recognised by their content and dated
//! from EXIF or the video container, else the file's modification time.
//!
//! As a destination, every file is written under a temporary name, made durable, and renamed
//! into place only when complete; nothing is ever overwritten.

mod destination;
mod metadata;
mod source;

pub use destination::FolderDestination;
pub use source::FolderSource;

use std::path::{Component, Path, PathBuf};

use ferry_core::Error;

/// Joins an id or container path from the journal under `root`, refusing anything that could
/// leave it (`..`, absolute paths, prefixes): the journal is data, not trusted paths.
fn join_inside(root: &Path, relative: &str) -> Result<PathBuf, Error> {
    let mut out = root.to_path_buf();
    for part in Path::new(relative).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => {
                return Err(Error::permanent(format!(
                    "refusing path outside the folder: {relative}"
                )));
            }
        }
    }
    Ok(out)
}
