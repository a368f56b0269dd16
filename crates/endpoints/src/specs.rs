//! Endpoint specs, as the journal keeps them, and turning the command line's FROM and TO into
//! them: a local folder, a connection as `NAME:` or `NAME:/some/path` (rclone style, looked up
//! among the owner's connections), or an export archive (zip parts, or a folder holding an
//! unpacked export). The server only ever builds `NAME:` specs from a person's own
//! connections: folder and archive specs would read the server's disk.
//!
//! An export is journalled as a JSON array of its parts' absolute paths (`["/a/x-1.zip",
//! "/a/x-2.zip"]`), or an object with the parts and how to read them (`{"parts": […],
//! "write_exif": true}`): one source, whatever the number of parts, that a resumed job opens
//! again the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use ferry_archives::SourceOptions;
use ferry_connectors::folder::{FolderDestination, FolderSource};
use ferry_core::{Destination, Source};

use crate::connections::Connections;

/// `NAME:path` when the text has that shape and is not an existing local path.
pub fn as_connection(arg: &str) -> Option<(&str, &str)> {
    let (name, path) = arg.split_once(':')?;
    let shaped = name.len() > 1 // a drive letter is a path
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (shaped && !Path::new(arg).exists()).then_some((name, path))
}

/// The journal's form of a connection endpoint: `name:` or `name:/a/b`.
pub fn connection_spec(name: &str, path: &str) -> String {
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

async fn known_connection(
    connections: &Connections,
    owner: &str,
    arg: &str,
    name: &str,
) -> Result<()> {
    if !connections.exists(owner, name).await? {
        bail!(
            "'{arg}': no connection named '{name}' (see `ferry connections`; add one with `ferry connect <service> --name {name}`)"
        );
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ArchiveSpec {
    parts: Vec<PathBuf>,
    #[serde(flatten)]
    options: SourceOptions,
}

/// The parts of an export and how to read them, when a source spec names one.
pub fn archive_parts(spec: &str) -> Option<(Vec<PathBuf>, SourceOptions)> {
    if spec.starts_with('[') {
        let parts = serde_json::from_str::<Vec<PathBuf>>(spec).ok()?;
        return Some((parts, SourceOptions::default()));
    }
    if spec.starts_with('{') {
        let spec = serde_json::from_str::<ArchiveSpec>(spec).ok()?;
        return Some((spec.parts, spec.options));
    }
    None
}

/// A source spec as people read it: an export's parts as the first part's path and how many
/// more, rather than the journal's JSON.
pub fn show_source(spec: &str) -> String {
    match archive_parts(spec) {
        Some((parts, _)) => match parts.as_slice() {
            [] => "an empty export".to_string(),
            [one] => one.display().to_string(),
            [first, rest @ ..] => format!(
                "{} (+{} more part{})",
                first.display(),
                rest.len(),
                if rest.len() == 1 { "" } else { "s" }
            ),
        },
        None => spec.to_string(),
    }
}

/// The sources of a job as people read them.
pub fn show_sources(specs: &[String]) -> String {
    specs
        .iter()
        .map(|s| show_source(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn archive_spec(parts: &[PathBuf], options: SourceOptions) -> String {
    if options == SourceOptions::default() {
        return serde_json::to_string(parts).unwrap_or_default();
    }
    serde_json::to_string(&ArchiveSpec {
        parts: parts.to_vec(),
        options,
    })
    .unwrap_or_default()
}

/// Whether a file argument is a part of an export archive (by name: a zip, or a zip
/// encrypted with age).
fn is_archive_file(path: &Path) -> bool {
    ferry_archives::vfs::is_zip_name(path) && path.is_file()
}

/// Normalises the FROM arguments. Zip files given together are the parts of one export and
/// become one source; a folder holding an unpacked export (or its zip parts) is read as that
/// export; any other folder is a folder of photos and videos.
pub async fn normalize_sources(
    connections: &Connections,
    owner: &str,
    args: &[String],
    options: SourceOptions,
) -> Result<Vec<String>> {
    let mut sources = Vec::new();
    let mut zips = Vec::new();
    for arg in args {
        if as_connection(arg).is_none() {
            let path = absolute(arg)?;
            if is_archive_file(&path) {
                zips.push(path.canonicalize().unwrap_or(path));
                continue;
            }
        }
        sources.push(normalize_source(connections, owner, arg, options).await?);
    }
    if !zips.is_empty() {
        // In name order, whatever order they were given in: the same parts are the same job.
        zips.sort();
        zips.dedup();
        sources.insert(0, archive_spec(&zips, options));
    }
    Ok(sources)
}

pub async fn normalize_source(
    connections: &Connections,
    owner: &str,
    arg: &str,
    options: SourceOptions,
) -> Result<String> {
    if let Some((name, path)) = as_connection(arg) {
        known_connection(connections, owner, arg, name).await?;
        return Ok(connection_spec(name, path));
    }
    let path = absolute(arg)?;
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => {
            let path = path.canonicalize().unwrap_or(path);
            if holds_export(&path).await? {
                return Ok(archive_spec(&[path], options));
            }
            Ok(path.to_string_lossy().into_owned())
        }
        Ok(_) if is_archive_file(&path) => Ok(archive_spec(&[path], options)),
        Ok(_) => bail!(
            "source {} is a file, not a folder or a zip export",
            path.display()
        ),
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

pub async fn normalize_destination(
    connections: &Connections,
    owner: &str,
    arg: &str,
) -> Result<String> {
    if let Some((name, path)) = as_connection(arg) {
        known_connection(connections, owner, arg, name).await?;
        return Ok(connection_spec(name, path));
    }
    let path = absolute(arg)?;
    if path.is_file() {
        bail!("destination {} is a file, not a folder", path.display());
    }
    Ok(path.to_string_lossy().into_owned())
}

/// Whether a folder holds an export ferry reads (its marker files, or zip parts of one); an
/// export ferry recognises but cannot read (HTML format) is an error, not a folder of files.
async fn holds_export(folder: &Path) -> Result<bool> {
    let folder = folder.to_path_buf();
    let shown = folder.display().to_string();
    let found = tokio::task::spawn_blocking(move || {
        if !ferry_archives::may_be_export(&folder) {
            return Ok(false);
        }
        let Ok(fs) = ferry_archives::ArchiveFs::open(&[folder], ferry_archives::Limits::default())
        else {
            return Ok(false);
        };
        match ferry_archives::detect(&fs) {
            Ok(_) => Ok(true),
            Err(err @ ferry_archives::ReadError::Html(_)) => Err(err),
            Err(_) => Ok(false),
        }
    })
    .await?;
    found.map_err(|err| anyhow::anyhow!("{shown}: {err}"))
}

pub async fn open_source(
    connections: &Connections,
    owner: &str,
    spec: &str,
) -> Result<Arc<dyn Source>> {
    if let Some((parts, options)) = archive_parts(spec) {
        return Ok(Arc::new(
            ferry_archives::ArchiveSource::open_with(parts, options).await?,
        ));
    }
    if let Some((name, path)) = as_connection(spec) {
        let session = connections.session(owner, name).await?;
        return Ok(Arc::from(session.source(path)?));
    }
    Ok(Arc::new(FolderSource::open(spec)?))
}

pub async fn open_destination(
    connections: &Connections,
    owner: &str,
    spec: &str,
) -> Result<Arc<dyn Destination>> {
    if let Some((name, path)) = as_connection(spec) {
        let session = connections.session(owner, name).await?;
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

    #[test]
    fn export_specs_round_trip_and_show_as_paths() {
        let parts = vec![PathBuf::from("/a/x-1.zip"), PathBuf::from("/a/x-2.zip")];
        let plain = archive_spec(&parts, SourceOptions::default());
        assert_eq!(plain, r#"["/a/x-1.zip","/a/x-2.zip"]"#);
        assert_eq!(
            archive_parts(&plain),
            Some((parts.clone(), SourceOptions::default()))
        );
        let exif = SourceOptions { write_exif: true };
        let with = archive_spec(&parts, exif);
        assert_eq!(archive_parts(&with), Some((parts, exif)));
        assert_eq!(show_source(&plain), "/a/x-1.zip (+1 more part)");
        assert_eq!(show_source("dbx:/a"), "dbx:/a");
        assert_eq!(archive_parts("dbx:"), None);
    }
}
