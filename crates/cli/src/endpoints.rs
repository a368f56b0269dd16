//! Turning the command line's FROM and TO into sources and destinations: a local folder, or a
//! connection as `NAME:` or `NAME:/some/path` (rclone style).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use ferry_connectors::folder::{FolderDestination, FolderSource};
use ferry_core::{Destination, Source};

use crate::connections::Connections;

/// `NAME:path` when the text has that shape and is not an existing local path.
fn as_connection(arg: &str) -> Option<(&str, &str)> {
    let (name, path) = arg.split_once(':')?;
    let shaped = name.len() > 1 // a drive letter is a path
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (shaped && !Path::new(arg).exists()).then_some((name, path))
}

/// The journal's form of a connection endpoint: `name:` or `name:/a/b`.
fn connection_spec(name: &str, path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        format!("{name}:")
    } else {
        format!("{name}:/{}", parts.join("/"))
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

async fn known_connection(connections: &Connections, arg: &str, name: &str) -> Result<()> {
    if !connections.exists(name).await? {
        bail!(
            "'{arg}': no connection named '{name}' (see `ferry connections`; add one with `ferry connect <service> --name {name}`)"
        );
    }
    Ok(())
}

pub async fn normalize_source(connections: &Connections, arg: &str) -> Result<String> {
    if let Some((name, path)) = as_connection(arg) {
        known_connection(connections, arg, name).await?;
        return Ok(connection_spec(name, path));
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

pub async fn normalize_destination(connections: &Connections, arg: &str) -> Result<String> {
    if let Some((name, path)) = as_connection(arg) {
        known_connection(connections, arg, name).await?;
        return Ok(connection_spec(name, path));
    }
    let path = absolute(arg)?;
    if path.is_file() {
        bail!("destination {} is a file, not a folder", path.display());
    }
    Ok(path.to_string_lossy().into_owned())
}

pub async fn open_source(connections: &Connections, spec: &str) -> Result<Arc<dyn Source>> {
    if let Some((name, path)) = as_connection(spec) {
        let session = connections.session(name).await?;
        return Ok(Arc::from(session.source(path)?));
    }
    Ok(Arc::new(FolderSource::open(spec)?))
}

pub async fn open_destination(
    connections: &Connections,
    spec: &str,
) -> Result<Arc<dyn Destination>> {
    if let Some((name, path)) = as_connection(spec) {
        let session = connections.session(name).await?;
        return Ok(Arc::from(session.destination(path)?));
    }
    Ok(Arc::new(FolderDestination::new(spec)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_endpoints_are_recognised_and_normalised() {
        assert_eq!(as_connection("dbx:"), Some(("dbx", "")));
        assert_eq!(as_connection("dbx:/a//b/"), Some(("dbx", "/a//b/")));
        assert_eq!(connection_spec("dbx", "/a//b/"), "dbx:/a/b");
        assert_eq!(connection_spec("dbx", ""), "dbx:");
        assert_eq!(as_connection("C:\\photos"), None);
        assert_eq!(as_connection("/tmp/x"), None);
        assert_eq!(as_connection("my photos:x"), None);
    }
}
