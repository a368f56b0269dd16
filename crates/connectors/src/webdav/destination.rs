//! A WebDAV server as a destination (Koofr's WebDAV, Nextcloud, ownCloud, `rclone serve
//! webdav`, …): folders under the server URL, on the file-store kit ([`crate::file_store`]).
//!
//! Staging is a hidden file beside the final place: `upload` streams the bytes in one PUT
//! (with `Content-Length` when known) to its staging name (`.ferry-<hash of name>.<ext>`, never
//! `*.part`, which ownCloud and Nextcloud refuse) and checks the size the server reports. `commit`
//! MOVEs it to its name with `Overwrite: F`, so nothing is ever replaced; a name that is
//! taken (412) by the same bytes is the item (compared by size, then by the server's SHA-256
//! checksum when it keeps one, else by reading the file and hashing it); other content moves
//! on to `name (2).ext`, `name (3).ext`, …
//!
//! The modified time goes as `X-OC-Mtime` (applied by ownCloud and Nextcloud and kept through
//! the MOVE; ignored elsewhere): WebDAV has no standard way to set it, and `PROPPATCH` of
//! `getlastmodified` is refused by most servers.

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use ferry_core::{Capabilities, Container, Content, Error, Result, Staged, Target, Uploaded};

use super::client::{Client, Depth, Mkcol, Moved, Put, shown};
use crate::file_store::{
    ByteStream, Entry, FileOps, FileStat, FileStoreDestination, Renamed, Staging, StagingToken,
    capabilities, container_parts, content_type, delete_quietly, settle_put,
};
use crate::http;
use crate::service::Session;

/// A WebDAV server as a destination.
pub type WebdavDestination = FileStoreDestination<WebdavFiles>;

impl WebdavDestination {
    pub fn new(session: Session, root: Vec<String>) -> Result<WebdavDestination> {
        let files = WebdavFiles {
            client: Client::new(&session)?,
            name: session.name.clone(),
            root,
        };
        Ok(FileStoreDestination::over(files, "the server", 8))
    }
}

/// The server's file operations: PROPFIND, PUT, MOVE with `Overwrite: F`, DELETE, GET.
pub struct WebdavFiles {
    client: Client,
    name: String,
    root: Vec<String>,
}

/// What the engine journals about a staged file: its path under the server URL.
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    path: Vec<String>,
    size: u64,
}

impl StagingToken for Token {
    const WHOSE: &'static str = "a WebDAV";
}

impl WebdavFiles {
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
}

fn not_a_folder(parts: &[String]) -> Error {
    Error::permanent(format!(
        "{} on the server is a file, not a folder",
        shown(parts)
    ))
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

#[async_trait]
impl FileOps for WebdavFiles {
    type Path = Vec<String>;

    fn describe(&self) -> String {
        format!("WebDAV {}:/{}", self.name, self.root.join("/"))
    }

    fn capabilities(&self) -> Capabilities {
        // Collisions are resolved ignoring case: safe on case-insensitive servers (Koofr)
        // and harmless on the others.
        capabilities(None, 32)
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
        let parts = container_parts(&self.root, container);
        self.make_folders(&parts).await?;
        Ok(parts.join("/"))
    }

    async fn put(
        &self,
        target: &Target,
        staging: Vec<String>,
        content: Content,
    ) -> Result<Uploaded> {
        let dir = segments(&target.container);
        let shown_name = shown(&child(&dir, &target.name));

        let length = content.length;
        let (body, tally) = http::tallied_body(content, false).await;
        let content_type = content_type(target);
        let mtime = target.modified.map(|t| t.unix_timestamp());
        let outcome = self
            .client
            .put(&staging, body, length, &content_type, mtime)
            .await;
        let (bytes, _, failure) = http::Tally::take(&tally)?;
        let stored = outcome.map(|put| matches!(put, Put::Stored).then_some(()));
        settle_put(self, &staging, &shown_name, (stored, failure), || {
            self.make_folders(&dir)
        })
        .await?;
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
                delete_quietly(self, &staging).await;
                return Err(Error::retryable(format!(
                    "uploading {shown_name}: the server stored {} bytes of {bytes}",
                    entry.length.unwrap_or(0)
                )));
            }
            Some(_) => {}
        }
        let token = Token {
            path: staging,
            size: bytes,
        };
        token.uploaded(&shown_name)
    }

    fn path(&self, dir: &str, name: &str) -> Result<Vec<String>> {
        Ok(child(&segments(dir), name))
    }

    fn id(&self, path: &Vec<String>) -> String {
        path.join("/")
    }

    fn shown(&self, path: &Vec<String>) -> String {
        shown(path)
    }

    fn staged(&self, staged: &Staged) -> Result<Staging<Vec<String>>> {
        Ok(Staging::Hidden(Token::parse(&staged.token)?.path))
    }

    async fn rename_if_free(&self, from: &Vec<String>, to: &Vec<String>) -> Result<Renamed> {
        Ok(match self.client.move_to(from, to).await? {
            Moved::Done => Renamed::Done,
            Moved::Taken => Renamed::Taken,
            Moved::Refused(status) if status.as_u16() == 403 => Renamed::Refused(Error::permanent(
                format!("placing {}: the server refused ({status})", shown(to)),
            )),
            Moved::Refused(status) => Renamed::Refused(Error::retryable(format!(
                "placing {}: its folder is gone ({status})",
                shown(to)
            ))),
        })
    }

    async fn stat(&self, path: &Vec<String>) -> Result<Option<FileStat>> {
        let entries = self.client.propfind(path, false, Depth::Zero).await?;
        Ok(entries
            .and_then(|entries| entries.into_iter().next())
            .map(|entry| FileStat {
                is_file: !entry.collection,
                size: entry.length,
                sha256: entry.sha256,
                md5: None,
            }))
    }

    async fn list(&self, dir: &str) -> Result<Option<Vec<Entry>>> {
        let entries = self
            .client
            .propfind(&segments(dir), true, Depth::One)
            .await?;
        Ok(entries.map(|entries| {
            entries
                .iter()
                .map(|entry| Entry {
                    name: entry.name().to_string(),
                    is_file: !entry.collection,
                })
                .collect()
        }))
    }

    async fn delete(&self, path: &Vec<String>) -> Result<()> {
        self.client.delete(path).await.map(|_| ())
    }

    async fn read_back(&self, path: &Vec<String>) -> Result<Option<ByteStream>> {
        let Some(response) = self.client.get(path).await? else {
            return Ok(None);
        };
        let what = format!("reading {}", shown(path));
        let stream = response
            .bytes_stream()
            .map_err(move |e| http::transport(&what, e));
        Ok(Some(stream.boxed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_paths_under_the_server_url() {
        assert_eq!(
            segments("Photos/Photo Transfer/Été"),
            ["Photos", "Photo Transfer", "Été"]
        );
        assert!(segments("").is_empty());
        assert_eq!(child(&segments("a/b"), "c d.jpg").join("/"), "a/b/c d.jpg");
    }
}
