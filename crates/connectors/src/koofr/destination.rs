//! Koofr as a destination: folders on the account's primary storage place.
//!
//! Koofr has no staging API and no chunked upload, so staging is a hidden file beside the
//! final place: `upload` streams the bytes in one POST to `.ferry-<hash of name>.<ext>`
//! (the real extension last, because Koofr derives a file's type from its name, and a
//! moved file keeps the type it was stored with), hashing MD5 on the way and checking it
//! against the `hash` Koofr reports. `commit` moves each staged file to its name; Koofr's
//! move never replaces (409 when the name is taken), and the moved file keeps its metadata,
//! including the `modified` time given at upload. A taken name holding the same MD5 and
//! size is the item; other content moves on to `name (2).ext`, `name (3).ext`, …

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::StreamExt;
use md5::Digest;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::OnceCell;

use ferry_core::names::{NameRules, TEMP_PREFIX, with_suffix};
use ferry_core::{
    Capabilities, Container, Content, Destination, Error, Landed, Layout, Result, Staged, Target,
    Uploaded,
};

use super::client::{Client, FileInfo, Folder, Moved, Put, PutOptions, child, path_of};
use crate::http;
use crate::service::Session;

/// How many staged files one commit moves at once: moves are independent and cheap.
const COMMIT_CONCURRENCY: usize = 4;

pub struct KoofrDestination {
    client: Client,
    root: Vec<String>,
    /// The primary mount's id, looked up once.
    mount: OnceCell<String>,
    /// Folders this process staged files in: `finish` sweeps leftovers from them.
    staged_in: Mutex<HashSet<String>>,
}

/// What the engine journals about a staged file: where it is and what Koofr said it holds.
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    path: String,
    md5: String,
    size: u64,
}

impl Token {
    fn parse(token: &str) -> Result<Token> {
        serde_json::from_str(token)
            .map_err(|e| Error::permanent(format!("not a Koofr staging token ({e})")))
    }

    /// Whether a file holds exactly these bytes (same size, same MD5).
    fn matches(&self, info: &FileInfo) -> bool {
        !info.is_dir()
            && info.size == self.size
            && info
                .hash
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.md5))
    }
}

impl KoofrDestination {
    pub fn new(session: Session, root: Vec<String>) -> Result<KoofrDestination> {
        Ok(KoofrDestination {
            client: Client::new(session),
            root,
            mount: OnceCell::new(),
            staged_in: Mutex::new(HashSet::new()),
        })
    }

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
                Folder::Created => {}
                Folder::Taken => {
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
                Folder::ParentMissing => {
                    return Err(Error::retryable(format!(
                        "creating folder {}: {parent} vanished meanwhile",
                        child(&parent, name)
                    )));
                }
            }
        }
        Ok(())
    }

    async fn remove_quietly(&self, mount: &str, path: &str) {
        if let Err(err) = self.client.remove(mount, path).await {
            tracing::debug!("could not remove {path} from Koofr: {err}");
        }
    }

    /// Moves the staged file to the target's name, or the first free `name (N)`, unless
    /// one of those already holds these bytes.
    async fn place(&self, target: &Target, staged: &Staged) -> Result<Landed> {
        let token = Token::parse(&staged.token)?;
        let mount = self.mount_id().await?;
        let rules = NameRules::default();
        for n in 1..=u32::MAX {
            let candidate = with_suffix(&target.name, n, &rules);
            let to = child(&target.container, &candidate);
            match self.client.move_to(mount, &token.path, &to).await? {
                Moved::Done => return Ok(landed(to, staged.bytes)),
                Moved::Taken => match self.client.info(mount, &to).await? {
                    Some(info) if token.matches(&info) => {
                        self.remove_quietly(mount, &token.path).await;
                        return Ok(landed(to, staged.bytes));
                    }
                    Some(_) => continue,
                    // Nothing there: the move was refused for another reason.
                    None => {
                        if self.client.info(mount, &token.path).await?.is_none() {
                            return self.staged_copy_gone(target, &token).await;
                        }
                        return Err(Error::permanent(format!("Koofr refused to place {to}")));
                    }
                },
                Moved::Missing => return self.staged_copy_gone(target, &token).await,
            }
        }
        Err(Error::permanent(format!(
            "no free name for {} in {}",
            target.name, target.container
        )))
    }

    /// The staged file is gone: an earlier move whose answer was lost may have placed it
    /// already; otherwise it must be uploaded again.
    async fn staged_copy_gone(&self, target: &Target, token: &Token) -> Result<Landed> {
        match self.look_for(target, token).await? {
            Some(found) => Ok(found),
            None => Err(Error::retryable(format!(
                "the staged copy of {} is gone from Koofr; it will be uploaded again",
                child(&target.container, &target.name)
            ))),
        }
    }

    /// The first of `name`, `name (2)`, … holding these bytes, stopping at the first free name.
    async fn look_for(&self, target: &Target, token: &Token) -> Result<Option<Landed>> {
        let mount = self.mount_id().await?;
        let rules = NameRules::default();
        for n in 1..=u32::MAX {
            let candidate = with_suffix(&target.name, n, &rules);
            let path = child(&target.container, &candidate);
            match self.client.info(mount, &path).await? {
                None => return Ok(None),
                Some(info) if token.matches(&info) => return Ok(Some(landed(path, token.size))),
                Some(_) => {}
            }
        }
        Ok(None)
    }
}

fn not_a_folder(path: &str) -> Error {
    Error::permanent(format!("{path} on Koofr is a file, not a folder"))
}

fn landed(path: String, bytes: u64) -> Landed {
    Landed {
        id: path,
        bytes,
        hash: None,
    }
}

/// The staging name of a target: deterministic, so that a re-upload after a crash replaces
/// the earlier attempt instead of leaving it behind; hidden; ending in the real extension.
fn staging_name(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!(
        "{TEMP_PREFIX}{}{}",
        hex::encode(&digest[..8]),
        extension(name)
    )
}

/// ".jpg" of "photo.jpg"; nothing for names without a short extension.
fn extension(name: &str) -> &str {
    match name.rfind('.') {
        Some(at) if at > 0 && name.len() - at <= 17 => &name[at..],
        _ => "",
    }
}

/// The folder segments of a container id (an absolute path).
fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[async_trait]
impl Destination for KoofrDestination {
    fn describe(&self) -> String {
        format!("Koofr {}:/{}", self.name(), self.root.join("/"))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            layout: Layout::Folders,
            // Koofr compares names ignoring case (rclone's backend says so too).
            names: NameRules::default(),
            max_file_size: None,
            max_commit_batch: 32,
            max_album_items: None,
        }
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
        let mut parts = self.root.clone();
        match container {
            Container::Folder(folders) => parts.extend(folders.iter().cloned()),
            Container::Album { title, .. } => parts.push(title.clone()),
            Container::Library => {}
        }
        let mount = self.mount_id().await?;
        self.make_folders(mount, &parts).await?;
        Ok(path_of(&parts))
    }

    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded> {
        let mount = self.mount_id().await?;
        let dir = &target.container;
        let staging = staging_name(&target.name);
        let staging_path = child(dir, &staging);
        let shown = child(dir, &target.name);
        if let Ok(mut dirs) = self.staged_in.lock() {
            dirs.insert(dir.clone());
        }

        let length = content.length;
        let (body, tally) = http::tallied_body(content, true).await;
        let content_type = target.item.mime_type.clone().unwrap_or_else(|| {
            mime_guess::from_path(&target.name)
                .first_or_octet_stream()
                .to_string()
        });
        let options = PutOptions {
            modified_ms: target
                .modified
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
            content_type: &content_type,
            length,
        };
        let outcome = self.client.put(mount, dir, &staging, options, body).await;
        let (bytes, md5, failure) = http::Tally::take(&tally)?;
        let md5 = md5.unwrap_or_default();

        let info = match (outcome, failure) {
            (Ok(Put::Stored(info)), None) => info,
            (Ok(Put::FolderMissing), _) => {
                // Deleted under a running job: made again, and the engine sends the file again.
                self.make_folders(mount, &segments(dir)).await?;
                return Err(Error::retryable(format!(
                    "uploading {shown}: its folder had vanished; it was made again"
                )));
            }
            (outcome, failure) => {
                self.remove_quietly(mount, &staging_path).await;
                return Err(match (failure, outcome) {
                    (Some(source_error), _) => source_error,
                    (None, Err(err)) => err,
                    (None, Ok(_)) => Error::retryable(format!("uploading {shown} failed")),
                });
            }
        };
        let token = Token {
            path: child(dir, &info.name),
            md5,
            size: bytes,
        };
        if !token.matches(&info) {
            self.remove_quietly(mount, &token.path).await;
            return Err(Error::retryable(format!(
                "uploading {shown}: Koofr stored {} bytes with MD5 {}, but {} bytes with MD5 {} were sent",
                info.size,
                info.hash.as_deref().unwrap_or("(none)"),
                token.size,
                token.md5
            )));
        }
        let token = serde_json::to_string(&token)
            .map_err(|e| Error::permanent(format!("staging token for {shown}: {e}")))?;
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
        // A token from elsewhere says nothing about the content: not recognisable.
        let Ok(token) = Token::parse(&staged.token) else {
            return Ok(None);
        };
        if token.size != staged.bytes {
            return Ok(None);
        }
        self.look_for(target, &token).await
    }

    async fn discard(&self, staged: &Staged) {
        if let (Ok(token), Ok(mount)) = (Token::parse(&staged.token), self.mount_id().await) {
            self.remove_quietly(mount, &token.path).await;
        }
    }

    async fn finish(&self, containers: &[String]) -> Result<()> {
        let mut dirs: HashSet<String> =
            self.staged_in.lock().map(|d| d.clone()).unwrap_or_default();
        dirs.extend(containers.iter().cloned());
        if dirs.is_empty() {
            return Ok(());
        }
        let mount = self.mount_id().await?;
        for dir in dirs {
            let Some(files) = self.client.list(mount, &dir).await? else {
                continue;
            };
            for file in files {
                // No item is ever named like this (names::sanitize), so it is ours.
                if !file.is_dir() && file.name.starts_with(TEMP_PREFIX) {
                    self.remove_quietly(mount, &child(&dir, &file.name)).await;
                }
            }
        }
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_hidden_stable_and_keep_the_extension() {
        let a = staging_name("IMG_0001.JPG");
        assert!(a.starts_with(".ferry-") && a.ends_with(".JPG"), "{a}");
        assert_eq!(a, staging_name("IMG_0001.JPG"));
        assert_ne!(a, staging_name("IMG_0002.JPG"));
        assert_eq!(staging_name("README").len(), ".ferry-".len() + 16);
    }

    #[test]
    fn tokens_round_trip_and_match_by_md5_and_size() {
        let token = Token {
            path: "/a/.ferry-00.jpg".into(),
            md5: "D05374DC381D9B52806446A71C8E79B1".into(),
            size: 5,
        };
        let parsed = Token::parse(&serde_json::to_string(&token).unwrap()).unwrap();
        let info = |size, hash: &str| FileInfo {
            name: "x.jpg".into(),
            kind: "file".into(),
            size,
            hash: Some(hash.into()),
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
