//! Where finished export archives wait to be downloaded: this machine's `archive_dir`, or
//! an S3 bucket (`[serve.archive_store]`), so that an archive built by one server process
//! can be downloaded through another.
//!
//! Archives are always built into `archive_dir` first (the zip writer needs a file it can
//! seek in). With S3, the finished file is then uploaded (multipart, streamed from the file)
//! and removed, and the archive's row keeps its key; downloads stream from the bucket.

use std::path::Path;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use ferry_connectors::s3::{PART_SIZE, S3Config, map_error};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use opendal::{ErrorKind, Operator};
use tokio::io::AsyncReadExt;

/// How much of the file one read takes while uploading.
const READ_CHUNK: usize = 1 << 20;

/// An archive's bytes as a download streams them.
pub type ArchiveBytes = BoxStream<'static, std::io::Result<Bytes>>;

#[derive(Clone, Debug, Default)]
pub enum ArchiveStore {
    /// Kept where it was built, in `archive_dir`; the row keeps the file's absolute path.
    #[default]
    Local,
    /// Uploaded to a bucket under `prefix`; the row keeps the object's key.
    S3 {
        operator: Operator,
        bucket: String,
        prefix: String,
    },
}

impl ArchiveStore {
    /// A store in the bucket `config` names, under `prefix` (`a/b`, or empty).
    pub fn s3(config: &S3Config, prefix: &str) -> anyhow::Result<ArchiveStore> {
        let operator = config.operator()?;
        let prefix = prefix
            .split('/')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if prefix.split('/').any(|p| p == "." || p == "..") {
            bail!("[serve.archive_store] prefix: `.` and `..` are not allowed");
        }
        Ok(ArchiveStore::S3 {
            operator,
            bucket: config.bucket.clone(),
            prefix,
        })
    }

    /// For the start-up log.
    pub fn describe(&self, archive_dir: &Path) -> String {
        match self {
            ArchiveStore::Local => archive_dir.display().to_string(),
            ArchiveStore::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// Keeps a finished archive, built at `file`, for archive `id`; returns what its row
    /// records as the path. With S3 the local file is removed once the upload is confirmed.
    pub async fn keep(&self, file: &Path, id: &str) -> anyhow::Result<String> {
        let ArchiveStore::S3 {
            operator,
            bucket,
            prefix,
        } = self
        else {
            return Ok(file.to_string_lossy().into_owned());
        };
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "ferry-export.zip".into());
        // The id is a UUID: nothing from the request reaches the key.
        let key = [prefix.as_str(), id, &name]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        let size = upload(operator, bucket, file, &key).await?;
        let stored = operator
            .stat(&key)
            .await
            .map_err(|e| map_error(bucket, &format!("checking {key}"), &e))?
            .content_length();
        if stored != size {
            let _ = operator.delete(&key).await;
            bail!("uploading the archive: the bucket holds {stored} bytes of {size}");
        }
        if let Some(folder) = file.parent() {
            let _ = tokio::fs::remove_dir_all(folder).await;
        }
        Ok(key)
    }

    /// The archive at `path` (a row's path): its size and its bytes, streamed.
    pub async fn open(&self, path: &str) -> anyhow::Result<(u64, ArchiveBytes)> {
        match self {
            // Absolute paths are local files (archives built before a store was configured).
            ArchiveStore::S3 {
                operator, bucket, ..
            } if !Path::new(path).is_absolute() => {
                let what = format!("reading archive {path}");
                let size = operator
                    .stat(path)
                    .await
                    .map_err(|e| map_error(bucket, &what, &e))?
                    .content_length();
                let reader = operator
                    .reader_with(path)
                    .chunk(READ_CHUNK)
                    .await
                    .map_err(|e| map_error(bucket, &what, &e))?;
                let stream = reader
                    .into_bytes_stream(..)
                    .await
                    .map_err(|e| map_error(bucket, &what, &e))?;
                Ok((size, stream.boxed()))
            }
            _ => {
                let file = tokio::fs::File::open(path)
                    .await
                    .with_context(|| format!("opening archive {path}"))?;
                let size = file.metadata().await?.len();
                let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
                Ok((size, stream.map_err(std::io::Error::other).boxed()))
            }
        }
    }

    /// Deletes the archive at `path`; one that is gone already is fine.
    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        match self {
            ArchiveStore::S3 {
                operator, bucket, ..
            } if !Path::new(path).is_absolute() => match operator.delete(path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(map_error(bucket, &format!("deleting {path}"), &e).into()),
            },
            _ => Ok(()),
        }
    }
}

/// Streams `file` to `key` as a multipart upload, aborted on any error; the bytes sent.
async fn upload(operator: &Operator, bucket: &str, file: &Path, key: &str) -> anyhow::Result<u64> {
    let what = format!("uploading the archive to {key}");
    let mut input = tokio::fs::File::open(file)
        .await
        .with_context(|| format!("opening {}", file.display()))?;
    let mut writer = operator
        .writer_with(key)
        .chunk(PART_SIZE)
        .content_type("application/zip")
        .await
        .map_err(|e| map_error(bucket, &what, &e))?;
    let mut sent = 0u64;
    let failure: anyhow::Error = loop {
        let mut buffer = vec![0u8; READ_CHUNK];
        let n = match input.read(&mut buffer).await {
            Ok(0) => match writer.close().await {
                Ok(_) => return Ok(sent),
                Err(e) => break map_error(bucket, &what, &e).into(),
            },
            Ok(n) => n,
            Err(e) => break anyhow::Error::new(e).context(format!("reading {}", file.display())),
        };
        buffer.truncate(n);
        sent += n as u64;
        if let Err(e) = writer.write(Bytes::from(buffer)).await {
            break map_error(bucket, &what, &e).into();
        }
    };
    // Never `close()` after an error: it would complete a truncated object.
    if let Err(e) = writer.abort().await {
        tracing::debug!("aborting the upload of {key}: {e}");
    }
    Err(failure)
}
