//! An S3 bucket as a destination: keys `<prefix>/<path>/Photo Transfer/<album>/<name>`.
//!
//! S3 makes an object visible only when its upload completes (PutObject, or
//! CompleteMultipartUpload), all at once; a failed upload is aborted and leaves nothing. So
//! `upload` writes straight to the final key when that key is free, with `If-None-Match: *`
//! so that nothing is ever replaced, and `commit` only confirms (stat: the object is there
//! with the size sent).
//!
//! A key already holding an object of the same size may hold this very item (a re-run with
//! a fresh journal, or a crash between the upload and its journal write): the bytes are then
//! staged beside it under a hidden `.ferry-<hex>.<ext>` key, and `commit` compares (by
//! reading the object and hashing it) before placing the staged copy under the next free
//! name `name (N).ext` (a server-side copy) or dropping it as a duplicate.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use opendal::{ErrorKind as Kind, Operator};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use ferry_core::names::{NameRules, TEMP_PREFIX, with_suffix};
use ferry_core::{
    Capabilities, Container, Content, Destination, Error, Landed, Layout, Result, Staged, Target,
    Uploaded,
};

use super::client::{PART_SIZE, PARTS_IN_FLIGHT, S3Config, key};
use super::error::map_error;
use crate::service::Session;

/// How many staged objects one commit confirms or places at once.
const COMMIT_CONCURRENCY: usize = 8;

pub struct S3Destination {
    operator: Operator,
    bucket: String,
    name: String,
    /// The key prefix everything goes under (the connection's prefix, then the path).
    root: Vec<String>,
    /// Containers this process staged objects in: `finish` sweeps them.
    staged_in: Mutex<HashSet<String>>,
}

/// What the engine journals about an upload: the key written, and whether it is a hidden
/// staging key (placed by `commit`) or the final one (confirmed by `commit`).
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    key: String,
    staging: bool,
}

impl Token {
    fn parse(token: &str) -> Result<Token> {
        serde_json::from_str(token)
            .map_err(|e| Error::permanent(format!("not an S3 staging token ({e})")))
    }
}

/// Where `upload` puts the bytes.
enum Slot {
    /// A free final key, written only if it is still free.
    Final(String),
    /// A hidden key beside a same-size object that may be this item.
    Staging(String),
}

impl S3Destination {
    /// A destination under the connection's prefix and `root` (the path after `NAME:`).
    pub fn new(session: &Session, root: Vec<String>) -> Result<S3Destination> {
        let config = S3Config::from_session(session)?;
        let mut parts: Vec<String> = session
            .settings
            .prefix
            .as_deref()
            .unwrap_or("")
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if parts.iter().any(|p| p == "." || p == "..") {
            return Err(Error::permanent(format!(
                "S3 connection {}: `.` and `..` are not allowed in the prefix",
                session.name
            )));
        }
        parts.extend(root);
        Ok(S3Destination {
            operator: config.operator()?,
            bucket: config.bucket,
            name: session.name.clone(),
            root: parts,
            staged_in: Mutex::new(HashSet::new()),
        })
    }

    fn fail(&self, what: &str, err: &opendal::Error) -> Error {
        map_error(&self.bucket, what, err)
    }

    /// The size of the object at `key`, `None` when there is none.
    async fn size_of(&self, key: &str) -> Result<Option<u64>> {
        match self.operator.stat(key).await {
            Ok(meta) => Ok(Some(meta.content_length())),
            Err(e) if e.kind() == Kind::NotFound => Ok(None),
            Err(e) => Err(self.fail(&format!("looking at {key}"), &e)),
        }
    }

    async fn delete_quietly(&self, key: &str) {
        if let Err(err) = self.operator.delete(key).await {
            tracing::debug!("could not remove {key}: {err}");
        }
    }

    /// Whether the object at `key` holds exactly the staged bytes; `None` when there is none.
    /// Size first, then the bytes themselves, streamed and hashed (S3's ETag is no content
    /// hash for multipart uploads).
    async fn same_content(&self, key: &str, bytes: u64, sha256: &[u8; 32]) -> Result<Option<bool>> {
        match self.size_of(key).await? {
            None => return Ok(None),
            Some(size) if size != bytes => return Ok(Some(false)),
            Some(_) => {}
        }
        let what = format!("reading {key}");
        let reader = match self.operator.reader_with(key).chunk(PART_SIZE).await {
            Ok(reader) => reader,
            Err(e) if e.kind() == Kind::NotFound => return Ok(None),
            Err(e) => return Err(self.fail(&what, &e)),
        };
        let mut stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(|e| self.fail(&what, &e))?;
        let mut hasher = Sha256::new();
        let mut seen = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::io(&what, &e))?;
            seen += chunk.len() as u64;
            if seen > bytes {
                return Ok(Some(false));
            }
            hasher.update(&chunk);
        }
        Ok(Some(
            seen == bytes && <[u8; 32]>::from(hasher.finalize()) == *sha256,
        ))
    }

    /// The first of `name`, `name (2)`, … that is free, unless one on the way holds an object
    /// of the same size (or the size is unknown): then a staging key beside it.
    async fn slot(&self, target: &Target, length: Option<u64>) -> Result<Slot> {
        let rules = NameRules::default();
        for n in 1..=u32::MAX {
            let candidate = key(&[&target.container, &with_suffix(&target.name, n, &rules)]);
            match self.size_of(&candidate).await? {
                None => return Ok(Slot::Final(candidate)),
                Some(size) if length.is_none_or(|l| l == size) => {
                    return Ok(Slot::Staging(key(&[
                        &target.container,
                        &staging_name(&target.name),
                    ])));
                }
                Some(_) => {}
            }
        }
        Err(self.no_free_name(target))
    }

    fn no_free_name(&self, target: &Target) -> Error {
        Error::permanent(format!(
            "no free name for {} in {}",
            target.name, target.container
        ))
    }

    /// Streams `content` to `key` as a multipart upload (one PUT when it fits in a part),
    /// aborted on any error so that nothing is left; returns the bytes sent.
    async fn write(
        &self,
        key: &str,
        target: &Target,
        content: Content,
        only_new: bool,
    ) -> Result<u64> {
        let what = format!("uploading {}", key);
        let content_type = target.item.mime_type.clone().unwrap_or_else(|| {
            mime_guess::from_path(&target.name)
                .first_or_octet_stream()
                .to_string()
        });
        let mut writer = self
            .operator
            .writer_with(key)
            .chunk(PART_SIZE)
            .concurrent(PARTS_IN_FLIGHT)
            .if_not_exists(only_new)
            .content_type(&content_type)
            .await
            .map_err(|e| self.fail(&what, &e))?;
        let length = content.length;
        let mut stream = content.stream;
        let mut sent = 0u64;
        let mut failure: Option<Error> = None;
        while let Some(chunk) = stream.next().await {
            let chunk: Bytes = match chunk {
                Ok(chunk) => chunk,
                Err(source_error) => {
                    failure = Some(source_error);
                    break;
                }
            };
            sent += chunk.len() as u64;
            if let Err(e) = writer.write(chunk).await {
                failure = Some(self.fail(&what, &e));
                break;
            }
        }
        if failure.is_none()
            && let Some(length) = length
            && length != sent
        {
            failure = Some(Error::retryable(format!(
                "{what}: the source sent {sent} of {length} bytes"
            )));
        }
        if let Some(err) = failure {
            // Never `close()` after an error: it would complete a truncated object.
            if let Err(e) = writer.abort().await {
                tracing::debug!("aborting the upload of {key}: {e}");
            }
            return Err(err);
        }
        match writer.close().await {
            Ok(_) => Ok(sent),
            Err(e) if e.kind() == Kind::ConditionNotMatch => Err(Error::retryable(format!(
                "{what}: the name was taken meanwhile; it will be uploaded again"
            ))),
            Err(e) => Err(self.fail(&what, &e)),
        }
    }

    /// Confirms an object written to its final key, or places a staged one.
    async fn place(&self, target: &Target, staged: &Staged) -> Result<Landed> {
        let token = Token::parse(&staged.token)?;
        if !token.staging {
            return match self.size_of(&token.key).await? {
                Some(size) if size == staged.bytes => Ok(landed(&token.key, staged.bytes)),
                Some(size) => Err(Error::retryable(format!(
                    "{}: S3 holds {size} bytes of the {} sent; it will be uploaded again",
                    token.key, staged.bytes
                ))),
                None => Err(Error::retryable(format!(
                    "{} is gone from the bucket; it will be uploaded again",
                    token.key
                ))),
            };
        }
        let rules = NameRules::default();
        for n in 1..=u32::MAX {
            let candidate = key(&[&target.container, &with_suffix(&target.name, n, &rules)]);
            match self
                .same_content(&candidate, staged.bytes, &staged.sha256)
                .await?
            {
                Some(true) => {
                    self.delete_quietly(&token.key).await;
                    return Ok(landed(&candidate, staged.bytes));
                }
                Some(false) => continue,
                None => {}
            }
            match self
                .operator
                .copy_with(&token.key, &candidate)
                .if_not_exists(true)
                .await
            {
                Ok(_) => {}
                // Taken since the look: look at it again.
                Err(e) if e.kind() == Kind::ConditionNotMatch => {
                    return Err(Error::retryable(format!(
                        "placing {candidate}: the name was taken meanwhile"
                    )));
                }
                Err(e) if e.kind() == Kind::NotFound => {
                    return self.staged_copy_gone(target, staged).await;
                }
                Err(e) => return Err(self.fail(&format!("placing {candidate}"), &e)),
            }
            return match self.size_of(&candidate).await? {
                Some(size) if size == staged.bytes => {
                    self.delete_quietly(&token.key).await;
                    Ok(landed(&candidate, staged.bytes))
                }
                _ => Err(Error::retryable(format!(
                    "placing {candidate}: the copy does not hold the {} bytes staged",
                    staged.bytes
                ))),
            };
        }
        Err(self.no_free_name(target))
    }

    /// The staged object is gone: an earlier commit whose answer was lost may have placed it.
    async fn staged_copy_gone(&self, target: &Target, staged: &Staged) -> Result<Landed> {
        match self.look_for(target, staged).await? {
            Some(found) => Ok(found),
            None => Err(Error::retryable(format!(
                "the staged copy of {} is gone from the bucket; it will be uploaded again",
                key(&[&target.container, &target.name])
            ))),
        }
    }

    /// The first of `name`, `name (2)`, … holding these bytes, stopping at the first free name.
    async fn look_for(&self, target: &Target, staged: &Staged) -> Result<Option<Landed>> {
        let rules = NameRules::default();
        for n in 1..=u32::MAX {
            let candidate = key(&[&target.container, &with_suffix(&target.name, n, &rules)]);
            match self
                .same_content(&candidate, staged.bytes, &staged.sha256)
                .await?
            {
                None => return Ok(None),
                Some(true) => return Ok(Some(landed(&candidate, staged.bytes))),
                Some(false) => {}
            }
        }
        Ok(None)
    }
}

fn landed(key: &str, bytes: u64) -> Landed {
    Landed {
        id: key.to_string(),
        bytes,
        hash: None,
    }
}

/// The staging name of a target: deterministic (a re-upload replaces the earlier attempt),
/// hidden, and ending in the real extension.
fn staging_name(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let extension = match name.rfind('.') {
        Some(at) if at > 0 && name.len() - at <= 17 => &name[at..],
        _ => "",
    };
    format!("{TEMP_PREFIX}{}{extension}", hex::encode(&digest[..8]))
}

#[async_trait]
impl Destination for S3Destination {
    fn describe(&self) -> String {
        format!(
            "S3 {}: s3://{}/{}",
            self.name,
            self.bucket,
            self.root.join("/")
        )
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            layout: Layout::Folders,
            // S3 keys are case-sensitive, but a bucket is often synced to case-insensitive
            // disks: collisions are resolved ignoring case, as on WebDAV.
            names: NameRules::default(),
            // 10,000 parts of PART_SIZE.
            max_file_size: Some(PART_SIZE as u64 * 10_000),
            max_commit_batch: 32,
            max_album_items: None,
        }
    }

    async fn check(&self) -> Result<()> {
        // Listing says what a stat cannot: HEAD answers carry no error code, so a missing
        // bucket would look like a missing key.
        self.operator
            .list_with(&format!("{}/", key(&[&self.root.join("/")])))
            .limit(1)
            .await
            .map(|_| ())
            .or_else(|e| match e.kind() {
                Kind::NotFound => Ok(()),
                _ => Err(self.fail(&format!("S3 {}", self.name), &e)),
            })
    }

    async fn ensure_container(&self, container: &Container) -> Result<String> {
        // S3 has no folders: a key's prefix is its folder.
        let mut parts = self.root.clone();
        match container {
            Container::Folder(folders) => parts.extend(folders.iter().cloned()),
            Container::Album { title, .. } => parts.push(title.clone()),
            Container::Library => {}
        }
        if parts.iter().any(|p| p.is_empty() || p.contains('/')) {
            return Err(Error::permanent(format!(
                "{}: not a valid folder for S3 keys",
                parts.join("/")
            )));
        }
        Ok(parts.join("/"))
    }

    async fn upload(&self, target: &Target, content: Content) -> Result<Uploaded> {
        let (token, sent) = match self.slot(target, content.length).await? {
            Slot::Final(key) => {
                let sent = self.write(&key, target, content, true).await?;
                let token = Token {
                    key,
                    staging: false,
                };
                (token, sent)
            }
            Slot::Staging(key) => {
                if let Ok(mut dirs) = self.staged_in.lock() {
                    dirs.insert(target.container.clone());
                }
                let sent = self.write(&key, target, content, false).await?;
                (Token { key, staging: true }, sent)
            }
        };
        // Every byte accounted for: what S3 stored is what was sent. The object is ours
        // either way (a staging key, or a final key written only if it was free).
        match self.size_of(&token.key).await? {
            Some(size) if size == sent => {}
            stored => {
                self.delete_quietly(&token.key).await;
                return Err(Error::retryable(format!(
                    "uploading {}: S3 stored {} bytes of the {sent} sent",
                    token.key,
                    stored.unwrap_or(0)
                )));
            }
        }
        let token = serde_json::to_string(&token)
            .map_err(|e| Error::permanent(format!("staging token for {}: {e}", target.name)))?;
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
        // Only staging keys: a final key that `commit` could not confirm may still hold
        // the item, which a later `find` recognises.
        if let Ok(token) = Token::parse(&staged.token)
            && token.staging
        {
            self.delete_quietly(&token.key).await;
        }
    }

    async fn finish(&self, containers: &[String]) -> Result<()> {
        let mut dirs: HashSet<String> =
            self.staged_in.lock().map(|d| d.clone()).unwrap_or_default();
        dirs.extend(containers.iter().cloned());
        for container in dirs {
            let listed = self
                .operator
                .list(&format!("{}/", key(&[&container])))
                .await
                .map_err(|e| self.fail(&format!("listing {container}"), &e))?;
            for entry in listed {
                // No item is ever named like this (names::sanitize), so it is ours.
                if entry.metadata().is_file() && entry.name().starts_with(TEMP_PREFIX) {
                    self.delete_quietly(entry.path()).await;
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
    fn staging_names_are_hidden_and_stable() {
        let a = staging_name("clip.mp4");
        assert!(a.starts_with(".ferry-") && a.ends_with(".mp4"), "{a}");
        assert_eq!(a, staging_name("clip.mp4"));
        assert_ne!(a, staging_name("clip (2).mp4"));
    }

    #[test]
    fn keys_join_parts_without_empty_segments() {
        assert_eq!(
            key(&["backups/ana", "Photo Transfer/Été", "a b.jpg"]),
            "backups/ana/Photo Transfer/Été/a b.jpg"
        );
        assert_eq!(key(&["", "x.jpg"]), "x.jpg");
    }
}
