//! Uploaded bytes: in memory by default, or as files in a state folder so that a
//! corpus of many GiB does not live in RAM. Every blob is hashed while it is
//! written, with each hash a service reports or checks (SHA-256, MD5, SHA-1,
//! Dropbox content hash).

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use bytes::Bytes;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Dropbox block size for `content_hash`.
pub const DROPBOX_BLOCK: usize = 4 * 1024 * 1024;

/// Incremental Dropbox `content_hash`: SHA-256 over the concatenated SHA-256 of 4 MiB blocks.
#[derive(Clone, Default)]
pub struct DropboxHasher {
    overall: Sha256,
    block: Sha256,
    in_block: usize,
}

impl DropboxHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let room = DROPBOX_BLOCK - self.in_block;
            let n = room.min(data.len());
            self.block.update(&data[..n]);
            self.in_block += n;
            data = &data[n..];
            if self.in_block == DROPBOX_BLOCK {
                let d = std::mem::take(&mut self.block).finalize();
                self.overall.update(d);
                self.in_block = 0;
            }
        }
    }
    pub fn finish(mut self) -> String {
        if self.in_block > 0 {
            let d = self.block.finalize();
            self.overall.update(d);
        }
        hex::encode(self.overall.finalize())
    }
}

pub fn dropbox_content_hash(data: &[u8]) -> String {
    let mut h = DropboxHasher::default();
    h.update(data);
    h.finish()
}

/// Which hashes a writer computes besides SHA-256 (each costs CPU on every byte, and the
/// sandbox shares its cores with the client under test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hashes {
    pub md5: bool,
    pub sha1: bool,
    pub dropbox: bool,
}

impl Hashes {
    pub const ALL: Hashes = Hashes {
        md5: true,
        sha1: true,
        dropbox: true,
    };
    pub const DROPBOX: Hashes = Hashes {
        md5: false,
        sha1: false,
        dropbox: true,
    };
    pub const KOOFR: Hashes = Hashes {
        md5: true,
        sha1: false,
        dropbox: false,
    };
    pub const GOOGLE: Hashes = Hashes {
        md5: false,
        sha1: true,
        dropbox: false,
    };
}

/// A stored blob and its hashes (those not computed are empty / zero).
#[derive(Clone, Debug)]
pub struct Blob {
    pub id: u64,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
    pub sha1: [u8; 20],
    pub dropbox_hash: String,
}

pub struct BlobStore {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<u64, Bytes>>,
    /// Blobs made of other blobs (finished upload sessions), read as their parts in order,
    /// so that committing a multi-GiB session never copies its bytes.
    composites: Mutex<HashMap<u64, Vec<Blob>>>,
    next: AtomicU64,
}

impl BlobStore {
    pub async fn new(dir: Option<PathBuf>) -> io::Result<BlobStore> {
        if let Some(d) = &dir {
            tokio::fs::create_dir_all(d.join("blobs")).await?;
        }
        Ok(BlobStore {
            dir,
            mem: Mutex::new(HashMap::new()),
            composites: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        })
    }

    fn path(&self, id: u64) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join("blobs").join(format!("{id:016x}")))
    }

    /// Starts a new blob. Writes are synchronous: request chunks are small and the
    /// folder is local, which keeps the writer usable from any closure.
    pub fn writer(&self) -> io::Result<BlobWriter> {
        self.writer_with(Hashes::ALL)
    }

    pub fn writer_with(&self, hashes: Hashes) -> io::Result<BlobWriter> {
        self.writer_with_storage(hashes, true)
    }

    /// `keep = false`: only hash (for composites, whose bytes live in their parts).
    fn writer_with_storage(&self, hashes: Hashes, keep: bool) -> io::Result<BlobWriter> {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let file = match self.path(id).filter(|_| keep) {
            Some(p) => Some(io::BufWriter::with_capacity(
                256 * 1024,
                std::fs::File::create(p)?,
            )),
            None => None,
        };
        Ok(BlobWriter {
            id,
            file,
            buf: Vec::new(),
            size: 0,
            sha256: Sha256::new(),
            md5: Md5::new(),
            sha1: Sha1::new(),
            dropbox: DropboxHasher::default(),
            hashes,
            keep: true,
        })
    }

    pub fn commit(&self, w: BlobWriter) -> io::Result<Blob> {
        let blob = Blob {
            id: w.id,
            size: w.size,
            sha256: hex::encode(w.sha256.finalize()),
            md5: if w.hashes.md5 {
                hex::encode(w.md5.finalize())
            } else {
                String::new()
            },
            sha1: if w.hashes.sha1 {
                w.sha1.finalize().into()
            } else {
                [0; 20]
            },
            dropbox_hash: if w.hashes.dropbox {
                w.dropbox.finish()
            } else {
                String::new()
            },
        };
        match w.file {
            Some(mut f) => f.flush()?,
            None if w.keep => {
                self.mem.lock().unwrap().insert(w.id, Bytes::from(w.buf));
            }
            None => {}
        }
        Ok(blob)
    }

    /// A new blob with the same bytes and hashes (for copies that must not share storage
    /// with their original, since blobs are removed when their last owner goes).
    pub fn duplicate(&self, b: &Blob) -> io::Result<Blob> {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let parts = self.composites.lock().unwrap().get(&b.id).cloned();
        if let Some(parts) = parts {
            let copies = parts
                .iter()
                .map(|p| self.duplicate(p))
                .collect::<io::Result<Vec<_>>>()?;
            self.composites.lock().unwrap().insert(id, copies);
            return Ok(Blob { id, ..b.clone() });
        }
        match (self.path(b.id), self.path(id)) {
            (Some(from), Some(to)) => {
                std::fs::copy(from, to)?;
            }
            _ => {
                let bytes = self
                    .mem
                    .lock()
                    .unwrap()
                    .get(&b.id)
                    .cloned()
                    .unwrap_or_default();
                self.mem.lock().unwrap().insert(id, bytes);
            }
        }
        Ok(Blob { id, ..b.clone() })
    }

    /// Forgets a blob that is no longer referenced.
    pub fn remove(&self, id: u64) {
        let parts = self.composites.lock().unwrap().remove(&id);
        for p in parts.unwrap_or_default() {
            self.remove(p.id);
        }
        self.mem.lock().unwrap().remove(&id);
        if let Some(p) = self.path(id) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Drops an unfinished writer's bytes.
    pub fn discard(&self, w: BlobWriter) {
        let id = w.id;
        drop(w);
        self.remove(id);
    }

    /// One blob made of `parts` in order (each written and checked on its own first). The
    /// bytes are not copied, only hashed once more as a whole; the parts now belong to it.
    pub async fn concat(&self, parts: &[Blob], hashes: Hashes) -> io::Result<Blob> {
        use futures::StreamExt;
        if parts.len() == 1 {
            return Ok(parts[0].clone());
        }
        let mut w = self.writer_with_storage(hashes, false)?;
        for p in parts {
            if p.size == 0 {
                continue;
            }
            let mut s = self.read(p, 0, p.size - 1).await?.into_data_stream();
            while let Some(c) = s.next().await {
                w.write(&c.map_err(io::Error::other)?)?;
            }
        }
        let b = self.commit(w)?;
        self.composites.lock().unwrap().insert(b.id, parts.to_vec());
        Ok(b)
    }

    /// The bytes `[start, end]` (inclusive) of a blob as a streaming body.
    pub async fn read(&self, blob: &Blob, start: u64, end_incl: u64) -> io::Result<Body> {
        if blob.size == 0 {
            return Ok(Body::empty());
        }
        let parts = self.composites.lock().unwrap().get(&blob.id).cloned();
        if let Some(parts) = parts {
            // The parts overlapping [start, end], each cut to the range.
            let mut bodies = Vec::new();
            let mut pos = 0u64;
            for p in parts {
                let (ps, pe) = (pos, pos + p.size);
                pos = pe;
                if p.size == 0 || pe <= start || ps > end_incl {
                    continue;
                }
                let a = start.saturating_sub(ps);
                let b = end_incl.min(pe - 1) - ps;
                bodies.push(Box::pin(self.read(&p, a, b)).await?.into_data_stream());
            }
            return Ok(Body::from_stream(futures::StreamExt::flatten(
                futures::stream::iter(bodies),
            )));
        }
        match self.path(blob.id) {
            Some(p) => {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut f = tokio::fs::File::open(p).await?;
                f.seek(io::SeekFrom::Start(start)).await?;
                let r = f.take(end_incl + 1 - start);
                Ok(Body::from_stream(
                    tokio_util::io::ReaderStream::with_capacity(r, 64 * 1024),
                ))
            }
            None => {
                let b = self
                    .mem
                    .lock()
                    .unwrap()
                    .get(&blob.id)
                    .cloned()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "blob gone"))?;
                Ok(Body::from(b.slice(start as usize..=end_incl as usize)))
            }
        }
    }
}

pub struct BlobWriter {
    id: u64,
    file: Option<io::BufWriter<std::fs::File>>,
    buf: Vec<u8>,
    size: u64,
    sha256: Sha256,
    md5: Md5,
    sha1: Sha1,
    dropbox: DropboxHasher,
    hashes: Hashes,
    /// Whether the bytes are stored (false for hash-only writers).
    keep: bool,
}

impl BlobWriter {
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(data)?,
            None if self.keep => self.buf.extend_from_slice(data),
            None => {}
        }
        self.size += data.len() as u64;
        self.sha256.update(data);
        if self.hashes.md5 {
            self.md5.update(data);
        }
        if self.hashes.sha1 {
            self.sha1.update(data);
        }
        if self.hashes.dropbox {
            self.dropbox.update(data);
        }
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the Dropbox content-hash reference (N bytes of 'A').
    #[test]
    fn dropbox_hash_vectors() {
        let cases: [(usize, &str); 5] = [
            (
                0,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                1,
                "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42",
            ),
            (
                4_194_304,
                "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3",
            ),
            (
                4_194_305,
                "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92",
            ),
            (
                8_388_608,
                "e08b3ba1f538804075c5f939accdeaa9efc7b5c01865c94a41e78ca6550a88e7",
            ),
        ];
        for (n, want) in cases {
            let data = vec![b'A'; n];
            assert_eq!(dropbox_content_hash(&data), want, "n={n}");
            // Same result when fed in odd-sized pieces.
            let mut h = DropboxHasher::default();
            for c in data.chunks(1_000_003) {
                h.update(c);
            }
            assert_eq!(h.finish(), want, "chunked n={n}");
        }
    }

    #[tokio::test]
    async fn composites_read_across_parts_without_copying() {
        for dir in [None, Some(tempfile::tempdir().unwrap())] {
            let s = BlobStore::new(dir.as_ref().map(|d| d.path().to_path_buf()))
                .await
                .unwrap();
            let mut parts = Vec::new();
            for chunk in [&b"hello "[..], b"", b"composite ", b"world"] {
                let mut w = s.writer().unwrap();
                w.write(chunk).unwrap();
                parts.push(s.commit(w).unwrap());
            }
            let b = s.concat(&parts, Hashes::ALL).await.unwrap();
            assert_eq!(b.size, 21);
            assert_eq!(b.md5, hex::encode(Md5::digest(b"hello composite world")));
            let read = |b: Blob, a, e| {
                let s = &s;
                async move {
                    axum::body::to_bytes(s.read(&b, a, e).await.unwrap(), 100)
                        .await
                        .unwrap()
                }
            };
            assert_eq!(&read(b.clone(), 0, 20).await[..], b"hello composite world");
            assert_eq!(&read(b.clone(), 4, 17).await[..], b"o composite wo");
            let copy = s.duplicate(&b).unwrap();
            s.remove(b.id);
            assert_eq!(&read(copy, 6, 14).await[..], b"composite");
            assert!(
                s.read(&parts[0], 0, 1).await.is_err(),
                "parts went with their composite"
            );
        }
    }

    #[tokio::test]
    async fn folder_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::new(Some(dir.path().to_path_buf()))
            .await
            .unwrap();
        let mut w = s.writer().unwrap();
        w.write(b"hello ").unwrap();
        w.write(b"world").unwrap();
        let b = s.commit(w).unwrap();
        assert_eq!(b.size, 11);
        assert_eq!(b.md5, "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let body = s.read(&b, 6, 10).await.unwrap();
        let got = axum::body::to_bytes(body, 100).await.unwrap();
        assert_eq!(&got[..], b"world");
    }
}
