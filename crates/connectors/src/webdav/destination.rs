//! A WebDAV server as a destination (Koofr's WebDAV, Nextcloud, ownCloud, `rclone serve
//! webdav`, …): folders under the server URL.
//!
//! Staging is a hidden file beside the final place: `upload` streams the bytes in one PUT
//! (with `Content-Length` when known) to `.ferry-<hash of name>.<ext>` — never `*.part`,
//! which ownCloud and Nextcloud refuse — and checks the size the server reports. `commit`
//! MOVEs it to its name with `Overwrite: F`, so nothing is ever replaced; a name that is
//! taken (412) by the same bytes is the item (compared by size, then by the server's SHA-256
//! checksum when it keeps one, else by reading the file and hashing it); other content moves
//! on to `name (2).ext`, `name (3).ext`, …
//!
//! The modified time goes as `X-OC-Mtime` (applied by ownCloud and Nextcloud and kept through
//! the MOVE; ignored elsewhere): WebDAV has no standard way to set it, and `PROPPATCH` of
//! `getlastmodified` is refused by most servers.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use ferry_core::names::{NameRules, TEMP_PREFIX, with_suffix};
use ferry_core::{
    Capabilities, Container, Content, Destination, Error, Landed, Layout, Result, Staged, Target,
    Uploaded,
};

use super::client::{Client, Depth, Mkcol, Moved, Put, shown};
use crate::http;
use crate::service::Session;

/// How many staged files one commit moves at once.
const COMMIT_CONCURRENCY: usize = 8;

pub struct WebdavDestination {
    client: Client,
    name: String,
    root: Vec<String>,
    /// Folders (container ids) this process staged files in: `finish` sweeps them.
    staged_in: Mutex<HashSet<String>>,
}

/// What the engine journals about a staged file: its path under the server URL.
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    path: Vec<String>,
    size: u64,
}

impl Token {
    fn parse(token: &str) -> Result<Token> {
        serde_json::from_str(token)
            .map_err(|e| Error::permanent(format!("not a WebDAV staging token ({e})")))
    }
}

impl WebdavDestination {
    pub fn new(session: Session, root: Vec<String>) -> Result<WebdavDestination> {
        Ok(WebdavDestination {
            client: Client::new(&session)?,
            name: session.name.clone(),
            root,
            staged_in: Mutex::new(HashSet::new()),
        })
    }

    /// Makes every missing folder of `parts` (from the server URL), outermost first.
    async fn make_folders(&self, parts: &[String]) -> Result<()> {
        if let Some(entries) = self.client.propfind(parts, true, Depth::Zero).await? {
            return match entries.first() {
                Some(entry) if !entry.collection => Err(not_a_folder(parts)),
                _ => Ok(()),
            };
        }
        let mut last = Mkcol::Created;
        for depth in 1..=parts.len() {
            last = match self.client.mkcol(&parts[..depth]).await? {
                Mkcol::ParentMissing => {
                    return Err(Error::retryable(format!(
                        "creating folder {}: a folder above vanished meanwhile",
                        shown(&parts[..depth])
                    )));
                }
                other => other,
            };
        }
        if last == Mkcol::Exists {
            // 405 for the innermost one, yet the first look found nothing: see what it is.
            match self.client.propfind(parts, true, Depth::Zero).await? {
                Some(entries) if entries.first().is_some_and(|e| e.collection) => {}
                _ => return Err(not_a_folder(parts)),
            }
        }
        Ok(())
    }

    async fn delete_quietly(&self, path: &[String]) {
        if let Err(err) = self.client.delete(path).await {
            tracing::debug!("could not remove {}: {err}", shown(path));
        }
    }

    /// Whether the file at `path` holds exactly the staged bytes; `None` when nothing is
    /// there. Size first, then the server's SHA-256 when it keeps one, else the bytes.
    async fn same_content(&self, path: &[String], staged: &Staged) -> Result<Option<bool>> {
        let Some(entries) = self.client.propfind(path, false, Depth::Zero).await? else {
            return Ok(None);
        };
        let Some(entry) = entries.into_iter().next() else {
            return Ok(None);
        };
        if entry.collection || entry.length.is_some_and(|n| n != staged.bytes) {
            return Ok(Some(false));
        }
        if let Some(sha) = &entry.sha256 {
            return Ok(Some(*sha == hex::encode(staged.sha256)));
        }
        let Some(response) = self.client.get(path).await? else {
            return Ok(None);
        };
        let what = format!("reading {}", shown(path));
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| http::transport(&what, e))?;
            bytes += chunk.len() as u64;
            if bytes > staged.bytes {
                return Ok(Some(false));
            }
            hasher.update(&chunk);
        }
        Ok(Some(
            bytes == staged.bytes && <[u8; 32]>::from(hasher.finalize()) == staged.sha256,
        ))
    }

    /// MOVEs the staged file to the target's name, or the first free `name (N)`, unless one
    /// of those already holds these bytes.
    async fn place(&self, target: &Target, staged: &Staged) -> Result<Landed> {
        let token = Token::parse(&staged.token)?;
        let dir = segments(&target.container);
        let rules = NameRules::default();
        for n in 1..=u32::MAX {
            let candidate = with_suffix(&target.name, n, &rules);
            let to = child(&dir, &candidate);
            match self.client.move_to(&token.path, &to).await? {
                Moved::Done => return Ok(landed(&to, staged.bytes)),
                Moved::Taken => match self.same_content(&to, staged).await? {
                    Some(true) => {
                        self.delete_quietly(&token.path).await;
                        return Ok(landed(&to, staged.bytes));
                    }
                    Some(false) => continue,
                    None => {
                        return Err(Error::retryable(format!(
                            "placing {}: the name was taken, then freed again",
                            shown(&to)
                        )));
                    }
                },
                Moved::Refused(status) => {
                    if self
                        .client
                        .propfind(&token.path, false, Depth::Zero)
                        .await?
                        .is_none()
                    {
                        return self.staged_copy_gone(target, staged).await;
                    }
                    return Err(match status.as_u16() {
                        403 => Error::permanent(format!(
                            "placing {}: the server refused ({status})",
                            shown(&to)
                        )),
                        _ => Error::retryable(format!(
                            "placing {}: its folder is gone ({status})",
                            shown(&to)
                        )),
                    });
                }
            }
        }
        Err(Error::permanent(format!(
            "no free name for {} in {}",
            target.name,
            shown(&dir)
        )))
    }

    /// The staged file is gone: an earlier MOVE whose answer was lost may have placed it
    /// already; otherwise it must be uploaded again.
    async fn staged_copy_gone(&self, target: &Target, staged: &Staged) -> Result<Landed> {
        match self.look_for(target, staged).await? {
            Some(found) => Ok(found),
            None => Err(Error::retryable(format!(
                "the staged copy of {} is gone from the server; it will be uploaded again",
                shown(&child(&segments(&target.container), &target.name))
            ))),
        }
    }

    /// The first of `name`, `name (2)`, … holding these bytes, stopping at the first free name.
    async fn look_for(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        let dir = segments(&target.container);
        let rules = NameRules::default();
        for n in 1..=u32::MAX {
            let path = child(&dir, &with_suffix(&target.name, n, &rules));
            match self.same_content(&path, staged).await? {
                None => return Ok(None),
                Some(true) => return Ok(Some(landed(&path, staged.bytes))),
                Some(false) => {}
            }
        }
        Ok(None)
    }
}

fn not_a_folder(parts: &[String]) -> Error {
    Error::permanent(format!(
        "{} on the server is a file, not a folder",
        shown(parts)
    ))
}

fn landed(path: &[String], bytes: u64) -> Landed {
    Landed {
        id: path.join("/"),
        bytes,
        hash: None,
    }
}

fn child(dir: &[String], name: &str) -> Vec<String> {
    let mut path = dir.to_vec();
    path.push(name.to_string());
    path
}

/// The folder segments of a container id (the path under the server URL, `/`-separated).
fn segments(container: &str) -> Vec<String> {
    container
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The staging name of a target: deterministic, so that a re-upload after a crash replaces
/// the earlier attempt; hidden; ending in the real extension (servers derive the type from
/// the name, and ownCloud/Nextcloud refuse `*.part`).
fn staging_name(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let extension = match name.rfind('.') {
        Some(at)
            if at > 0 && name.len() - at <= 17 && !name[at..].eq_ignore_ascii_case(".part") =>
        {
            &name[at..]
        }
        _ => "",
    };
    format!("{TEMP_PREFIX}{}{extension}", hex::encode(&digest[..8]))
}

#[async_trait]
impl Destination for WebdavDestination {
    fn describe(&self) -> String {
        format!("WebDAV {}:/{}", self.name, self.root.join("/"))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            layout: Layout::Folders,
            // Collisions are resolved ignoring case: safe on case-insensitive servers (Koofr)
            // and harmless on the others.
            names: NameRules::default(),
            max_file_size: None,
            max_commit_batch: 32,
            max_album_items: None,
        }
    }

    async fn check(&self) -> Result<()> {
        match self.client.propfind(&self.root, true, Depth::Zero).await? {
            Some(entries) => {
                let Some(root) = entries.first() else {
                    return Ok(());
                };
                if !root.collection {
                    return Err(not_a_folder(&self.root));
                }
                if root.quota_available == Some(0) {
                    return Err(Error::DestinationFull(format!(
                        "WebDAV {}: no space left on the server",
                        self.name
                    )));
                }
                Ok(())
            }
            // Made with the first folder; the server URL itself must answer.
            None if self.root.is_empty() => Err(Error::permanent(format!(
                "WebDAV {}: the server URL was not found",
                self.name
            ))),
            None => match self
                .client
                .propfind::<String>(&[], true, Depth::Zero)
                .await?
            {
                Some(_) => Ok(()),
                None => Err(Error::permanent(format!(
                    "WebDAV {}: the server URL was not found",
                    self.name
                ))),
            },
        }
    }

    async fn ensure_container(&self, container: &Container) -> Result<String> {
        let mut parts = self.root.clone();
        match container {
            Container::Folder(folders) => parts.extend(folders.iter().cloned()),
            Container::Album { title, .. } => parts.push(title.clone()),
            Container::Library => {}
        }
        self.make_folders(&parts).await?;
        Ok(parts.join("/"))
    }

    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded> {
        let dir = segments(&target.container);
        let staging = child(&dir, &staging_name(&target.name));
        let shown_name = shown(&child(&dir, &target.name));
        if let Ok(mut dirs) = self.staged_in.lock() {
            dirs.insert(target.container.clone());
        }

        let length = content.length;
        let (body, tally) = http::tallied_body(content, false).await;
        let content_type = target.item.mime_type.clone().unwrap_or_else(|| {
            mime_guess::from_path(&target.name)
                .first_or_octet_stream()
                .to_string()
        });
        let mtime = target.modified.map(|t| t.unix_timestamp());
        let outcome = self
            .client
            .put(&staging, body, length, &content_type, mtime)
            .await;
        let (bytes, _, failure) = http::Tally::take(&tally)?;
        match (outcome, failure) {
            (Ok(Put::Stored), None) => {}
            (Ok(Put::FolderMissing), _) => {
                // Deleted under a running job: made again, and the engine sends the file again.
                self.make_folders(&dir).await?;
                return Err(Error::retryable(format!(
                    "uploading {shown_name}: its folder had vanished; it was made again"
                )));
            }
            (outcome, failure) => {
                self.delete_quietly(&staging).await;
                return Err(match (failure, outcome) {
                    (Some(source_error), _) => source_error,
                    (None, Err(err)) => err,
                    (None, Ok(_)) => Error::retryable(format!("uploading {shown_name} failed")),
                });
            }
        }
        // A PUT the server accepted with a Content-Length holds exactly those bytes (HTTP's
        // framing); only a body of unknown length is checked by asking for the stored size.
        let stored = if length.is_some() {
            None
        } else {
            self.client
                .propfind(&staging, false, Depth::Zero)
                .await?
                .and_then(|entries| entries.into_iter().next())
        };
        match stored {
            None if length.is_some() => {}
            None => {
                return Err(Error::retryable(format!(
                    "uploading {shown_name}: the server does not show the uploaded file"
                )));
            }
            Some(entry) if entry.length.is_some_and(|n| n != bytes) => {
                self.delete_quietly(&staging).await;
                return Err(Error::retryable(format!(
                    "uploading {shown_name}: the server stored {} bytes of {bytes}",
                    entry.length.unwrap_or(0)
                )));
            }
            Some(_) => {}
        }
        let token = serde_json::to_string(&Token {
            path: staging,
            size: bytes,
        })
        .map_err(|e| Error::permanent(format!("staging token for {shown_name}: {e}")))?;
        Ok(Uploaded { token, hash: None })
    }

    async fn commit(&self, batch: Vec<(Target, Staged)>) -> Vec<Result<Landed>> {
        futures::stream::iter(batch)
            .map(|(target, staged)| async move { self.place(&target, &staged).await })
            .buffered(COMMIT_CONCURRENCY)
            .collect()
            .await
    }

    async fn find(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        self.look_for(target, staged).await
    }

    async fn discard(&self, staged: &Staged) {
        if let Ok(token) = Token::parse(&staged.token) {
            self.delete_quietly(&token.path).await;
        }
    }

    async fn finish(&self, containers: &[String]) -> Result<()> {
        let mut dirs: HashSet<String> =
            self.staged_in.lock().map(|d| d.clone()).unwrap_or_default();
        dirs.extend(containers.iter().cloned());
        for container in dirs {
            let dir = segments(&container);
            let Some(entries) = self.client.propfind(&dir, true, Depth::One).await? else {
                continue;
            };
            for entry in entries {
                // No item is ever named like this (names::sanitize), so it is ours.
                if !entry.collection && entry.name().starts_with(TEMP_PREFIX) {
                    self.delete_quietly(&child(&dir, entry.name())).await;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_hidden_stable_and_never_part_files() {
        let a = staging_name("clip.mp4");
        assert!(a.starts_with(".ferry-") && a.ends_with(".mp4"), "{a}");
        assert_eq!(a, staging_name("clip.mp4"));
        assert!(!staging_name("x.PART").to_lowercase().ends_with(".part"));
    }

    #[test]
    fn container_ids_are_paths_under_the_server_url() {
        assert_eq!(
            segments("Photos/Photo Transfer/Été"),
            ["Photos", "Photo Transfer", "Été"]
        );
        assert!(segments("").is_empty());
        assert_eq!(
            landed(&child(&segments("a/b"), "c d.jpg"), 3).id,
            "a/b/c d.jpg"
        );
    }
}
