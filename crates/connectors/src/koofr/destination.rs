//! Koofr as a destination: folders on the account's primary storage place, on the file-store
//! kit ([`crate::file_store`]).
//!
//! Koofr has no staging API and no chunked upload, so staging is a hidden file beside the
//! final place: `upload` streams the bytes in one POST to its staging name
//! (`.ferry-<hash of name>.<ext>`: the real extension last, because Koofr derives a file's type
//! from its name, and a moved file keeps the type it was stored with), hashing MD5 on the way and checking it
//! against the `hash` Koofr reports. `commit` moves each staged file to its name; Koofr's
//! move never replaces (409 when the name is taken), and the moved file keeps its metadata,
//! including the `modified` time given at upload. A taken name holding the same MD5 and
//! size is the item; other content moves on to `name (2).ext`, `name (3).ext`, …

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use ferry_core::{Capabilities, Container, Content, Error, Result, Staged, Target, Uploaded};

use super::client::{Client, FileInfo, Placed, Put, PutOptions, child, path_of};
use crate::file_store::{self, Entry, FileOps, FileStat, FileStoreDestination, Renamed, Staging};
use crate::file_store::{StagingToken, delete_quietly};
use crate::http;
use crate::service::Session;

/// Koofr's file operations, on the primary mount.
pub struct KoofrFiles {
    client: Client,
    root: Vec<String>,
    /// The primary mount's id, looked up once.
    mount: OnceCell<String>,
}

/// Koofr as a destination.
pub type KoofrDestination = FileStoreDestination<KoofrFiles>;

impl KoofrDestination {
    pub fn new(session: Session, root: Vec<String>) -> Result<KoofrDestination> {
        let files = KoofrFiles {
            client: Client::new(session),
            root,
            mount: OnceCell::new(),
        };
        // Moves are independent and cheap.
        Ok(FileStoreDestination::over(files, "Koofr", 4))
    }
}

/// What the engine journals about a staged file: where it is and what Koofr said it holds.
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    path: String,
    md5: String,
    size: u64,
}

impl StagingToken for Token {
    const WHOSE: &'static str = "a Koofr";
}

impl Token {
    /// Whether a file holds exactly these bytes (same size, same MD5).
    fn matches(&self, stat: &FileStat) -> bool {
        stat.is_file
            && stat.size == Some(self.size)
            && stat
                .md5
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.md5))
    }
}

fn stat_of(info: FileInfo) -> FileStat {
    FileStat {
        is_file: !info.is_dir(),
        size: Some(info.size),
        sha256: None,
        md5: info.hash,
    }
}

impl KoofrFiles {
    fn name(&self) -> &str {
        &self.client.session().name
    }

    async fn mount_id(&self) -> Result<&str> {
        let id = self
            .mount
            .get_or_try_init(|| async {
                let mounts = self.client.mounts().await?;
                mounts
                    .into_iter()
                    .find(|m| m.is_primary)
                    .map(|m| m.id)
                    .ok_or_else(|| {
                        Error::permanent(format!(
                            "Koofr {}: the account has no primary storage place",
                            self.name()
                        ))
                    })
            })
            .await?;
        Ok(id)
    }

    /// Makes every missing folder of `parts` (from the mount's root), outermost first.
    async fn make_folders(&self, mount: &str, parts: &[String]) -> Result<()> {
        let full = path_of(parts);
        match self.client.info(mount, &full).await? {
            Some(info) if info.is_dir() => return Ok(()),
            Some(_) => return Err(not_a_folder(&full)),
            None => {}
        }
        for depth in 0..parts.len() {
            let parent = path_of(&parts[..depth]);
            let name = &parts[depth];
            match self.client.create_folder(mount, &parent, name).await? {
                Placed::Done => {}
                Placed::Taken => {
                    let path = child(&parent, name);
                    match self.client.info(mount, &path).await? {
                        Some(info) if info.is_dir() => {}
                        Some(_) => return Err(not_a_folder(&path)),
                        None => {
                            return Err(Error::permanent(format!(
                                "Koofr refused to create folder {path}"
                            )));
                        }
                    }
                }
                Placed::Missing => {
                    return Err(Error::retryable(format!(
                        "creating folder {}: {parent} vanished meanwhile",
                        child(&parent, name)
                    )));
                }
            }
        }
        Ok(())
    }
}

fn not_a_folder(path: &str) -> Error {
    Error::permanent(format!("{path} on Koofr is a file, not a folder"))
}

/// The folder segments of a container id (an absolute path).
fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[async_trait]
impl FileOps for KoofrFiles {
    type Path = String;

    fn describe(&self) -> String {
        format!("Koofr {}:/{}", self.name(), self.root.join("/"))
    }

    fn capabilities(&self) -> Capabilities {
        // Koofr compares names ignoring case (rclone's backend says so too).
        file_store::capabilities(None, 32)
    }

    async fn check(&self) -> Result<()> {
        let mount_id = self.mount_id().await?;
        let mount = self.client.mount(mount_id).await?;
        if mount.can_write == Some(false) {
            return Err(Error::permanent(format!(
                "Koofr {}: the place {} cannot be written to",
                self.name(),
                mount.name
            )));
        }
        let (used, total) = (
            mount.space_used.unwrap_or(0),
            mount.space_total.unwrap_or(0),
        );
        if mount.over_quota == Some(true) || (total > 0 && used >= total) {
            return Err(Error::DestinationFull(format!(
                "Koofr {} is full: {used} of {total} MiB used",
                self.name()
            )));
        }
        if !self.root.is_empty() {
            let root = path_of(&self.root);
            if let Some(info) = self.client.info(mount_id, &root).await?
                && !info.is_dir()
            {
                return Err(not_a_folder(&root));
            }
        }
        Ok(())
    }

    async fn ensure_container(&self, container: &Container) -> Result<String> {
        let parts = file_store::container_parts(&self.root, container);
        let mount = self.mount_id().await?;
        self.make_folders(mount, &parts).await?;
        Ok(path_of(&parts))
    }

    async fn put(
        &self,
        target: &Target,
        staging_path: String,
        content: Content,
    ) -> Result<Uploaded> {
        let mount = self.mount_id().await?;
        let dir = &target.container;
        let staging = staging_path.rsplit('/').next().unwrap_or_default();
        let shown = child(dir, &target.name);

        let length = content.length;
        let (body, tally) = http::tallied_body(content, true).await;
        let content_type = file_store::content_type(target);
        let options = PutOptions {
            modified_ms: target
                .modified
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
            content_type: &content_type,
            length,
        };
        let outcome = self.client.put(mount, dir, staging, options, body).await;
        let (bytes, md5, failure) = http::Tally::take(&tally)?;
        let md5 = md5.unwrap_or_default();

        let stored = outcome.map(|put| match put {
            Put::Stored(info) => Some(info),
            Put::FolderMissing => None,
        });
        let folder = segments(dir);
        let info = file_store::settle_put(self, &staging_path, &shown, (stored, failure), || {
            self.make_folders(mount, &folder)
        })
        .await?;
        let token = Token {
            path: child(dir, &info.name),
            md5,
            size: bytes,
        };
        let (size, hash) = (info.size, info.hash.clone());
        if !token.matches(&stat_of(info)) {
            delete_quietly(self, &token.path).await;
            return Err(Error::retryable(format!(
                "uploading {shown}: Koofr stored {} bytes with MD5 {}, but {} bytes with MD5 {} were sent",
                size,
                hash.as_deref().unwrap_or("(none)"),
                token.size,
                token.md5
            )));
        }
        token.uploaded(&shown)
    }

    async fn share_link(&self, folder: &[String]) -> Result<Option<String>> {
        let mut parts = self.root.clone();
        parts.extend(folder.iter().cloned());
        let path = path_of(&parts);
        let mount = self.mount_id().await?;
        let link = self.client.create_link(mount, &path).await?;
        match link.url.or(link.short_url) {
            Some(url) => Ok(Some(url)),
            None => Err(Error::permanent(format!(
                "Koofr made a link to {path} but gave no address for it"
            ))),
        }
    }

    fn path(&self, dir: &str, name: &str) -> Result<String> {
        Ok(child(dir, name))
    }

    fn id(&self, path: &String) -> String {
        path.clone()
    }

    fn shown(&self, path: &String) -> String {
        path.clone()
    }

    fn staged(&self, staged: &Staged) -> Result<Staging<String>> {
        Ok(Staging::Hidden(Token::parse(&staged.token)?.path))
    }

    /// Koofr's move never replaces (409 when the name is taken), and the moved file keeps its
    /// metadata.
    async fn rename_if_free(&self, from: &String, to: &String) -> Result<Renamed> {
        let mount = self.mount_id().await?;
        Ok(match self.client.move_to(mount, from, to).await? {
            Placed::Done => Renamed::Done,
            Placed::Taken => Renamed::Taken,
            Placed::Missing => Renamed::SourceGone,
        })
    }

    async fn stat(&self, path: &String) -> Result<Option<FileStat>> {
        let mount = self.mount_id().await?;
        Ok(self.client.info(mount, path).await?.map(stat_of))
    }

    async fn list(&self, dir: &str) -> Result<Option<Vec<Entry>>> {
        let mount = self.mount_id().await?;
        let files = self.client.list(mount, dir).await?;
        Ok(files.map(|files| {
            files
                .into_iter()
                .map(|file| Entry {
                    is_file: !file.is_dir(),
                    name: file.name,
                })
                .collect()
        }))
    }

    async fn delete(&self, path: &String) -> Result<()> {
        let mount = self.mount_id().await?;
        self.client.remove(mount, path).await.map(|_| ())
    }

    /// The MD5 and size Koofr keeps against those of the upload, from its token (a token
    /// from elsewhere says nothing about the content: not recognisable).
    fn same_by_metadata(&self, stat: &FileStat, staged: &Staged) -> Option<bool> {
        Some(Token::parse(&staged.token).is_ok_and(|token| token.matches(stat)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_match_by_md5_and_size() {
        let token = Token {
            path: "/a/.ferry-00.jpg".into(),
            md5: "D05374DC381D9B52806446A71C8E79B1".into(),
            size: 5,
        };
        let parsed = Token::parse(&serde_json::to_string(&token).unwrap()).unwrap();
        let info = |size, hash: &str| {
            stat_of(FileInfo {
                name: "x.jpg".into(),
                kind: "file".into(),
                size,
                hash: Some(hash.into()),
            })
        };
        assert!(parsed.matches(&info(5, "d05374dc381d9b52806446a71c8e79b1")));
        assert!(!parsed.matches(&info(6, "d05374dc381d9b52806446a71c8e79b1")));
        assert!(!parsed.matches(&info(5, "00000000000000000000000000000000")));
        assert!(Token::parse("not json").is_err());
    }

    #[test]
    fn container_ids_split_into_folders() {
        assert_eq!(
            segments("/Photo Transfer/Été"),
            vec!["Photo Transfer", "Été"]
        );
        assert!(segments("/").is_empty());
    }
}
