//! An S3 bucket as a destination: keys `<prefix>/<path>/Photo Transfer/<album>/<name>`, on the
//! file-store kit ([`crate::file_store`]).
//!
//! S3 makes an object visible only when its upload completes (PutObject, or
//! CompleteMultipartUpload), all at once; a failed upload is aborted and leaves nothing. So
//! `upload` writes straight to the final key when that key is free, with `If-None-Match: *`
//! so that nothing is ever replaced, and `commit` only confirms (stat: the object is there
//! with the size sent).
//!
//! A key already holding an object of the same size may hold this very item (a re-run with
//! a fresh journal, or a crash between the upload and its journal write): the bytes are then
//! staged beside it under its hidden staging name (`.ferry-<hex>.<ext>`), and `commit` compares (by
//! reading the object and hashing it) before placing the staged copy under the next free
//! name `name (N).ext` (a server-side copy) or dropping it as a duplicate.

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use opendal::{ErrorKind as Kind, Operator};
use serde::{Deserialize, Serialize};

use ferry_core::{Capabilities, Container, Content, Error, Result, Staged, Target, Uploaded};

use super::client::{PART_SIZE, PARTS_IN_FLIGHT, S3Config, key};
use super::error::map_error;
use crate::file_store::{
    ByteStream, Entry, FileOps, FileStat, FileStoreDestination, Renamed, Staging, StagingToken,
    candidates, capabilities, container_parts, content_type, delete_quietly,
};
use crate::service::Session;

/// An S3 bucket as a destination.
pub type S3Destination = FileStoreDestination<S3Files>;

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
        let files = S3Files {
            operator: config.operator()?,
            bucket: config.bucket,
            name: session.name.clone(),
            root: parts,
        };
        Ok(FileStoreDestination::over(files, "the bucket", 8))
    }
}

/// The bucket's object operations, through OpenDAL.
pub struct S3Files {
    operator: Operator,
    bucket: String,
    name: String,
    /// The key prefix everything goes under (the connection's prefix, then the path).
    root: Vec<String>,
}

/// What the engine journals about an upload: the key written, and whether it is a hidden
/// staging key (placed by `commit`) or the final one (confirmed by `commit`).
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    key: String,
    staging: bool,
}

impl StagingToken for Token {
    const WHOSE: &'static str = "an S3";
}

impl S3Files {
    fn fail(&self, what: &str, err: &opendal::Error) -> Error {
        map_error(&self.bucket, what, err)
    }

    /// The size of the object at `key`, `None` when there is none.
    async fn size_of(&self, key: &str) -> Result<Option<u64>> {
        Ok(self
            .stat(&key.to_string())
            .await?
            .and_then(|stat| stat.size))
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
        let content_type = content_type(target);
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
}

#[async_trait]
impl FileOps for S3Files {
    type Path = String;

    fn describe(&self) -> String {
        format!(
            "S3 {}: s3://{}/{}",
            self.name,
            self.bucket,
            self.root.join("/")
        )
    }

    fn capabilities(&self) -> Capabilities {
        // S3 keys are case-sensitive, but a bucket is often synced to case-insensitive
        // disks: collisions are resolved ignoring case, as on WebDAV. At most 10,000 parts.
        capabilities(Some(PART_SIZE as u64 * 10_000), 32)
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
        let parts = container_parts(&self.root, container);
        if parts.iter().any(|p| p.is_empty() || p.contains('/')) {
            return Err(Error::permanent(format!(
                "{}: not a valid folder for S3 keys",
                parts.join("/")
            )));
        }
        Ok(parts.join("/"))
    }

    /// Straight to the first of `name`, `name (2)`, … that is free, unless one on the way
    /// holds an object of the same size (or the size is unknown): then to `staging` beside it.
    async fn put(&self, target: &Target, staging: String, content: Content) -> Result<Uploaded> {
        let mut token = None;
        for candidate in candidates(&target.name) {
            let candidate = key(&[&target.container, &candidate]);
            match self.size_of(&candidate).await? {
                None => {
                    token = Some(Token {
                        key: candidate,
                        staging: false,
                    });
                }
                Some(size) if content.length.is_none_or(|l| l == size) => {
                    token = Some(Token {
                        key: staging,
                        staging: true,
                    });
                }
                Some(_) => continue,
            }
            break;
        }
        let Some(token) = token else {
            return Err(Error::permanent(format!(
                "no free name for {} in {}",
                target.name, target.container
            )));
        };
        let sent = self
            .write(&token.key, target, content, !token.staging)
            .await?;
        // Every byte accounted for: what S3 stored is what was sent. The object is ours
        // either way (a staging key, or a final key written only if it was free).
        match self.size_of(&token.key).await? {
            Some(size) if size == sent => {}
            stored => {
                delete_quietly(self, &token.key).await;
                return Err(Error::retryable(format!(
                    "uploading {}: S3 stored {} bytes of the {sent} sent",
                    token.key,
                    stored.unwrap_or(0)
                )));
            }
        }
        token.uploaded(&target.name)
    }

    fn path(&self, dir: &str, name: &str) -> Result<String> {
        Ok(key(&[dir, name]))
    }

    fn id(&self, path: &String) -> String {
        path.clone()
    }

    fn shown(&self, path: &String) -> String {
        path.clone()
    }

    fn staged(&self, staged: &Staged) -> Result<Staging<String>> {
        let token = Token::parse(&staged.token)?;
        Ok(match token.staging {
            true => Staging::Hidden(token.key),
            false => Staging::InPlace(token.key),
        })
    }

    /// A server-side copy written only if the key is free (and looked at first: not every
    /// S3-compatible service honours the condition on a copy), checked for its size, then
    /// the staged object removed.
    async fn rename_if_free(&self, from: &String, to: &String) -> Result<Renamed> {
        if self.size_of(to).await?.is_some() {
            return Ok(Renamed::Taken);
        }
        match self.operator.copy_with(from, to).if_not_exists(true).await {
            Ok(_) => {}
            Err(e) if e.kind() == Kind::ConditionNotMatch => return Ok(Renamed::Taken),
            Err(e) if e.kind() == Kind::NotFound => return Ok(Renamed::SourceGone),
            Err(e) => return Ok(Renamed::Refused(self.fail(&format!("placing {to}"), &e))),
        }
        match (self.size_of(from).await?, self.size_of(to).await?) {
            (Some(staged), Some(copied)) if staged == copied => {
                delete_quietly(self, from).await;
                Ok(Renamed::Done)
            }
            _ => Ok(Renamed::Refused(Error::retryable(format!(
                "placing {to}: the copy does not hold the bytes staged"
            )))),
        }
    }

    async fn stat(&self, path: &String) -> Result<Option<FileStat>> {
        match self.operator.stat(path).await {
            Ok(meta) => Ok(Some(FileStat {
                is_file: !meta.is_dir(),
                size: Some(meta.content_length()),
                ..FileStat::default()
            })),
            Err(e) if e.kind() == Kind::NotFound => Ok(None),
            Err(e) => Err(self.fail(&format!("looking at {path}"), &e)),
        }
    }

    async fn list(&self, dir: &str) -> Result<Option<Vec<Entry>>> {
        let listed = self
            .operator
            .list(&format!("{}/", key(&[dir])))
            .await
            .map_err(|e| self.fail(&format!("listing {dir}"), &e))?;
        Ok(Some(
            listed
                .iter()
                .map(|entry| Entry {
                    name: entry.name().to_string(),
                    is_file: entry.metadata().is_file(),
                })
                .collect(),
        ))
    }

    async fn delete(&self, path: &String) -> Result<()> {
        self.operator
            .delete(path)
            .await
            .map_err(|e| self.fail(&format!("removing {path}"), &e))
    }

    /// Streamed (S3's ETag is no content hash for multipart uploads).
    async fn read_back(&self, path: &String) -> Result<Option<ByteStream>> {
        let what = format!("reading {path}");
        let reader = match self.operator.reader_with(path).chunk(PART_SIZE).await {
            Ok(reader) => reader,
            Err(e) if e.kind() == Kind::NotFound => return Ok(None),
            Err(e) => return Err(self.fail(&what, &e)),
        };
        let stream = reader
            .into_bytes_stream(..)
            .await
            .map_err(|e| self.fail(&what, &e))?;
        Ok(Some(stream.map_err(move |e| Error::io(&what, &e)).boxed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_join_parts_without_empty_segments() {
        assert_eq!(
            key(&["backups/ana", "Photo Transfer/Été", "a b.jpg"]),
            "backups/ana/Photo Transfer/Été/a b.jpg"
        );
        assert_eq!(key(&["", "x.jpg"]), "x.jpg");
    }
}
