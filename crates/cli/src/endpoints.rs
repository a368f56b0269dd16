//! Turning the command line's FROM and TO into sources and destinations.
//!
//! For now every endpoint is a local folder; `NAME:` connections (rclone style) come with the
//! online services, and a `NAME:` that is not an existing path is refused clearly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use ferry_connectors::folder::{FolderDestination, FolderSource};
use ferry_core::{Destination, Source};

fn looks_like_connection(arg: &str) -> bool {
    match arg.split_once(':') {
        Some((name, _)) => {
            !name.is_empty()
                && name.len() > 1 // a drive letter is a path
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !Path::new(arg).exists()
        }
        None => false,
    }
}

fn absolute(arg: &str) -> Result<PathBuf> {
    if arg.is_empty() {
        bail!("an empty path is not a folder");
    }
    let path = Path::new(arg);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

pub fn normalize_source(arg: &str) -> Result<String> {
    if looks_like_connection(arg) {
        bail!(
            "'{arg}': no connection named '{}' (only local folders are supported so far)",
            arg.split(':').next().unwrap_or(arg)
        );
    }
    let path = absolute(arg)?;
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(path
            .canonicalize()
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()),
        Ok(_) => bail!("source {} is a file, not a folder", path.display()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            bail!("source {} does not exist", path.display())
        }
        Err(err) => bail!(
            "source {}: {}",
            path.display(),
            ferry_core::Error::io("", &err)
                .to_string()
                .trim_start_matches(": ")
        ),
    }
}

pub fn normalize_destination(arg: &str) -> Result<String> {
    if looks_like_connection(arg) {
        bail!(
            "'{arg}': no connection named '{}' (only local folders are supported so far)",
            arg.split(':').next().unwrap_or(arg)
        );
    }
    let path = absolute(arg)?;
    if path.is_file() {
        bail!("destination {} is a file, not a folder", path.display());
    }
    Ok(path.to_string_lossy().into_owned())
}

pub fn open_source(spec: &str) -> Result<Arc<dyn Source>> {
    Ok(Arc::new(FolderSource::open(spec)?))
}

pub fn open_destination(spec: &str) -> Result<Arc<dyn Destination>> {
    Ok(Arc::new(FolderDestination::new(spec)))
}
