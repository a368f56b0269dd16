//! One file system over every part of an export.
//!
//! Exports arrive as several zip parts (a JSON file in part 1 can name media in part 3), or
//! unpacked into a folder, or both. [`ArchiveFs`] indexes every entry of every part by its
//! safe relative path ([`crate::safe_entry_path`]) so that readers resolve a `uri` without
//! caring where the bytes are. Entries that cannot be read safely — unsafe names, symbolic
//! links, zip bombs, encrypted entries, every copy of a path given twice in one part or with
//! different bytes in two — are left out and listed in [`ArchiveFs::skipped`] with their
//! reason.
//!
//! Reads are bounded: [`ArchiveFs::read_json`] refuses files over the JSON limit and every
//! entry is read through a [`BoundedReader`], so a header that lies about its size cannot
//! inflate more than it declared.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use ferry_core::content::Content;
use ferry_core::error::Error;
use ferry_core::traits::Skipped;
use futures::StreamExt;
use zip::ZipArchive;

use crate::Refusal;
use crate::entry::{NameDecoding, safe_entry_path};
use crate::limits::{BoundedReader, Limits};

/// Where one part of an export came from.
#[derive(Clone, Debug)]
pub enum PartKind {
    Zip,
    Folder,
}

#[derive(Debug)]
struct Part {
    path: PathBuf,
    kind: PartKind,
    /// How the part is named in the report: a zip's file name, a folder's path.
    label: String,
    zip: Option<ZipArchive<SharedFile>>,
}

/// Where one file's bytes are.
#[derive(Clone, Debug)]
enum Location {
    Zip { index: usize },
    File(PathBuf),
}

/// One file of the export.
#[derive(Clone, Debug)]
pub struct FileEntry {
    /// Index of the part (in the order the parts were given) that holds the bytes.
    pub part: usize,
    /// Uncompressed size as declared (zip) or as on disk (folder).
    pub size: u64,
    /// CRC-32 from the zip header; `None` for folder files.
    pub crc32: Option<u32>,
    /// How the entry name was decoded.
    pub decoding: NameDecoding,
    location: Location,
}

/// Every file of every part of one export, by relative path.
#[derive(Debug)]
pub struct ArchiveFs {
    parts: Vec<Part>,
    files: BTreeMap<String, FileEntry>,
    /// Paths of which every copy was left out (see [`ArchiveFs::insert`]), so that a copy
    /// found later is left out too.
    conflicts: BTreeSet<String>,
    skipped: Vec<Skipped>,
    limits: Limits,
}

/// Reading a part failed as a whole (not a zip, truncated, unreadable).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PartError {
    pub path: PathBuf,
    pub reason: String,
}

impl ArchiveFs {
    /// Indexes the given parts: zip files, or folders holding an unpacked export (or holding
    /// the zip parts themselves).
    pub fn open(paths: &[PathBuf], limits: Limits) -> Result<ArchiveFs, PartError> {
        let mut fs = ArchiveFs {
            parts: Vec::new(),
            files: BTreeMap::new(),
            conflicts: BTreeSet::new(),
            skipped: Vec::new(),
            limits,
        };
        let mut budget = limits.budget();
        for path in paths {
            let meta = std::fs::metadata(path).map_err(|e| PartError {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            if meta.is_dir() {
                fs.add_folder(path, &mut budget)?;
            } else {
                fs.add_zip(path, &mut budget)?;
            }
        }
        Ok(fs)
    }

    fn add_zip(&mut self, path: &Path, budget: &mut crate::Budget) -> Result<(), PartError> {
        let error = |reason: String| PartError {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| error(e.to_string()))?;
        let shared = if is_age_name(path) {
            SharedFile::sealed(file).map_err(error)?
        } else {
            SharedFile::new(file)
        };
        let archive = ZipArchive::new(shared)
            .map_err(|e| error(format!("not a readable zip archive ({e})")))?;
        let part = self.parts.len();
        let label = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        // The zip crate indexes entries by name and keeps only the last of several with the
        // same name, so those names are found by walking the central directory ourselves.
        let repeated = if archive.has_duplicate_names() {
            repeated_names(&archive)
                .map_err(|e| error(format!("its central directory is unreadable ({e})")))?
        } else {
            HashMap::new()
        };
        self.parts.push(Part {
            path: path.to_path_buf(),
            kind: PartKind::Zip,
            label: label.clone(),
            zip: Some(archive.clone()),
        });
        for index in 0..archive.len() {
            let entry = archive
                .by_index_data(index)
                .map_err(|e| error(format!("entry {index} is unreadable ({e})")))?;
            let raw = entry.name_raw().to_vec();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let skip = |fs: &mut ArchiveFs, reason: String| {
                fs.skipped.push(Skipped {
                    id: format!("{label}:{shown}"),
                    reason,
                })
            };
            if entry.is_dir() {
                continue;
            }
            let name = match safe_entry_path(&raw) {
                Ok(name) => name,
                Err(refusal) => {
                    skip(self, refusal.to_string());
                    continue;
                }
            };
            if let Some(&copies) = repeated.get(&raw) {
                self.refuse_path(name.as_str());
                // One report per copy: the index holds only the last of them.
                for _ in 0..copies {
                    skip(self, Refusal::DuplicatePath.to_string());
                }
                continue;
            }
            if entry.is_symlink() {
                skip(self, "symbolic link entry (never followed)".into());
                continue;
            }
            if entry.encrypted() {
                skip(self, "encrypted zip entry".into());
                continue;
            }
            if let Err(refusal) = budget.admit(entry.compressed_size(), entry.size()) {
                match refusal {
                    crate::Refusal::RatioTooHigh { .. } => {
                        skip(self, refusal.to_string());
                        continue;
                    }
                    // Too many entries or too many bytes in all: the archive as a whole.
                    other => return Err(error(other.to_string())),
                }
            }
            let candidate = FileEntry {
                part,
                size: entry.size(),
                crc32: Some(entry.crc32()),
                decoding: name.decoding(),
                location: Location::Zip { index },
            };
            self.insert(
                name.as_str().to_owned(),
                candidate,
                format!("{label}:{shown}"),
            );
        }
        Ok(())
    }

    fn add_folder(&mut self, root: &Path, budget: &mut crate::Budget) -> Result<(), PartError> {
        let part = self.parts.len();
        let label = root.display().to_string();
        self.parts.push(Part {
            path: root.to_path_buf(),
            kind: PartKind::Folder,
            label: label.clone(),
            zip: None,
        });
        let mut zips = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| PartError {
                path: dir.clone(),
                reason: e.to_string(),
            })?;
            for entry in entries {
                let entry = entry.map_err(|e| PartError {
                    path: dir.clone(),
                    reason: e.to_string(),
                })?;
                let path = entry.path();
                let relative = path.strip_prefix(root).unwrap_or(&path);
                let shown = relative.to_string_lossy().into_owned();
                // The entry's own metadata is a link's, never its target's (and is read
                // relative to the open folder: no walk of the whole path for every file).
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    Err(e) => {
                        self.skipped.push(Skipped {
                            id: shown,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                };
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                if !meta.is_file() {
                    self.skipped.push(Skipped {
                        id: shown,
                        reason: "symbolic link or special file (never followed)".into(),
                    });
                    continue;
                }
                // Zip parts kept next to each other in a folder are parts of the export.
                if dir == root && is_zip_name(&path) {
                    zips.push(path);
                    continue;
                }
                use std::os::unix::ffi::OsStrExt;
                let name = match safe_entry_path(relative.as_os_str().as_bytes()) {
                    Ok(name) => name,
                    Err(refusal) => {
                        self.skipped.push(Skipped {
                            id: shown,
                            reason: refusal.to_string(),
                        });
                        continue;
                    }
                };
                budget
                    .admit(meta.len(), meta.len())
                    .map_err(|r| PartError {
                        path: root.to_path_buf(),
                        reason: r.to_string(),
                    })?;
                let candidate = FileEntry {
                    part,
                    size: meta.len(),
                    crc32: None,
                    decoding: name.decoding(),
                    location: Location::File(path.clone()),
                };
                self.insert(
                    name.as_str().to_owned(),
                    candidate,
                    format!("{label}:{shown}"),
                );
            }
        }
        zips.sort();
        for zip in zips {
            self.add_zip(&zip, budget)?;
        }
        Ok(())
    }

    /// Indexes one copy of a path; `id` names it in the report. Copies in different parts
    /// with the same size and CRC are the same file given twice (Takeout repeats files across
    /// parts) and are read once. Any other second copy — different bytes in another part, or
    /// the same path twice in one part (`a/./b.jpg` next to `a/b.jpg`) — leaves no way to tell
    /// which copy is genuine, and another tool would read another copy than ferry: every copy
    /// is left out and reported, including any found later.
    fn insert(&mut self, path: String, candidate: FileEntry, id: String) {
        let duplicate = match self.files.get(&path) {
            None => self.conflicts.contains(&path),
            Some(first) => {
                first.part == candidate.part
                    || first.size != candidate.size
                    || first
                        .crc32
                        .zip(candidate.crc32)
                        .is_some_and(|(a, b)| a != b)
            }
        };
        if duplicate {
            self.refuse_path(&path);
            self.skipped.push(Skipped {
                id,
                reason: Refusal::DuplicatePath.to_string(),
            });
        } else {
            self.files.entry(path).or_insert(candidate);
        }
    }

    /// Leaves out every copy of `path`: the one indexed so far (reported) and any found later.
    fn refuse_path(&mut self, path: &str) {
        if let Some(first) = self.files.remove(path) {
            self.skipped.push(Skipped {
                id: format!("{}:{path}", self.parts[first.part].label),
                reason: Refusal::DuplicatePath.to_string(),
            });
        }
        self.conflicts.insert(path.to_owned());
    }

    /// The paths and kinds of the parts, in the order given (folders' zip parts after them).
    pub fn parts(&self) -> impl Iterator<Item = (&Path, &PartKind)> {
        self.parts.iter().map(|p| (p.path.as_path(), &p.kind))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Entries that were left out, each with its reason.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Every file, sorted by path.
    pub fn files(&self) -> impl Iterator<Item = (&str, &FileEntry)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Files whose path starts with `prefix` (a folder with its trailing `/`, or ""), sorted.
    pub fn files_under<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a FileEntry)> + 'a {
        self.files
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v))
    }

    pub fn get(&self, path: &str) -> Option<&FileEntry> {
        self.files.get(path)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// A blocking reader over a file's bytes, bounded by its declared size and checked against
    /// its CRC (zip).
    pub fn reader(&self, path: &str) -> io::Result<Box<dyn Read + Send>> {
        let entry = self.files.get(path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{path}: not in the archive"),
            )
        })?;
        match &entry.location {
            Location::File(file) => Ok(Box::new(BoundedReader::new(File::open(file)?, entry.size))),
            Location::Zip { index } => {
                let archive = self
                    .parts
                    .get(entry.part)
                    .and_then(|p| p.zip.clone())
                    .ok_or_else(|| io::Error::other(format!("{path}: its zip part is gone")))?;
                Ok(Box::new(BoundedReader::new(
                    open_zip_entry(archive, *index)?,
                    entry.size,
                )))
            }
        }
    }

    /// Reads a whole file into memory, refusing anything over the JSON limit.
    pub fn read_small(&self, path: &str) -> io::Result<Vec<u8>> {
        let size = self.files.get(path).map_or(0, |e| e.size);
        self.limits
            .check_json(size)
            .map_err(|r| io::Error::new(io::ErrorKind::InvalidData, r))?;
        // The declared size is a claim: reserve no more than a little up front, so that a
        // 100-byte zip declaring 500 MB does not get 500 MB (the Vec grows as bytes arrive).
        let mut buf = Vec::with_capacity(size.min(1 << 20) as usize);
        self.reader(path)?.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Reads a whole file of at most `limit` bytes into memory.
    pub fn read_whole(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let size = self.files.get(path).map_or(0, |e| e.size);
        if size > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{size} bytes is more than the {limit} read into memory"),
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.reader(path)?.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// Parses a JSON file, with the reason as one line on failure.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let bytes = self.read_small(path).map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON ({e})"))
    }

    /// The first bytes of a file (fewer if it is shorter), for recognising its type.
    pub fn head(&self, path: &str, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(n);
        self.reader(path)?.take(n as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// A file's bytes as an async stream, read on a blocking thread.
    pub fn content(self: &Arc<Self>, path: &str) -> Result<Content, Error> {
        let size = self
            .files
            .get(path)
            .map(|e| e.size)
            .ok_or_else(|| Error::NotFound(format!("{path}: not in the archive")))?;
        let fs = Arc::clone(self);
        let path = path.to_owned();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Error>>(4);
        tokio::task::spawn_blocking(move || {
            let mut reader = match fs.reader(&path) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.blocking_send(Err(read_error(&path, e)));
                    return;
                }
            };
            loop {
                let mut buf = vec![0u8; 256 * 1024];
                match read_full(&mut reader, &mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(read_error(&path, e)));
                        return;
                    }
                }
            }
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed();
        Ok(Content::new(stream, Some(size)))
    }
}

fn read_error(path: &str, e: io::Error) -> Error {
    // A corrupt entry will not get better by retrying: it is the item's own failure.
    Error::Permanent(format!("{path}: {e}"))
}

/// Fills `buf` as far as the reader goes, so chunks are full-sized.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The raw names that more than one record of a zip's central directory carries, with how
/// many records carry each. [`ZipArchive`] indexes the last record of each name only, so the
/// directory is walked here: a record other than the one the index kept is a repeat.
fn repeated_names(archive: &ZipArchive<SharedFile>) -> io::Result<HashMap<Vec<u8>, usize>> {
    const SIGNATURE: u32 = 0x0201_4b50;
    const FIXED: u64 = 46;
    let mut at = archive.central_directory_start();
    let mut file = archive.clone().into_inner();
    file.seek(SeekFrom::Start(at))?;
    let mut reader = BufReader::new(file);
    let mut repeated: HashMap<Vec<u8>, usize> = HashMap::new();
    loop {
        let mut head = [0u8; FIXED as usize];
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        // The records end where the end-of-directory record, with its own signature, starts.
        if u32::from_le_bytes([head[0], head[1], head[2], head[3]]) != SIGNATURE {
            break;
        }
        let field = |i: usize| u64::from(u16::from_le_bytes([head[i], head[i + 1]]));
        let (name_len, rest) = (field(28), field(30) + field(32));
        let mut name = vec![0u8; name_len as usize];
        reader.read_exact(&mut name)?;
        io::copy(&mut (&mut reader).take(rest), &mut io::sink())?;
        let kept = archive
            .index_for_name_raw(&name)
            .and_then(|i| archive.by_index_data(i).ok())
            .map(|e| e.central_header_start());
        if kept != Some(at) {
            // The kept record counts once, each other one more.
            *repeated.entry(name).or_insert(1) += 1;
        }
        at += FIXED + name_len + rest;
    }
    Ok(repeated)
}

/// A zip part, plain or encrypted with age (`OUT-1.zip.age`).
pub fn is_zip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        || is_age_name(path)
}

fn is_age_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("age"))
}

/// Opens one zip entry's decompressed bytes on its own handle of the part (a cheap clone that
/// shares the central directory and the file, with its own position). The decoder is ours
/// rather than `zip::read::ZipFile`, which borrows the archive and so cannot be handed to
/// another thread.
fn open_zip_entry(
    mut archive: ZipArchive<SharedFile>,
    index: usize,
) -> io::Result<Box<dyn Read + Send>> {
    let entry = archive.by_index_raw(index).map_err(zip_error)?;
    let method = entry.compression();
    let crc = entry.crc32();
    let compressed = entry.compressed_size();
    let start = entry
        .data_start()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "entry has no data offset"))?;
    drop(entry);
    let mut file = archive.into_inner();
    file.seek(SeekFrom::Start(start))?;
    let raw = file.take(compressed);
    let decoded: Box<dyn Read + Send> = match method {
        zip::CompressionMethod::Stored => Box::new(raw),
        zip::CompressionMethod::Deflated => Box::new(flate2_reader(raw)),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("compression method {other} is not supported"),
            ));
        }
    };
    Ok(Box::new(CrcReader::new(decoded, crc)))
}

fn flate2_reader<R: Read + Send + 'static>(raw: R) -> impl Read + Send {
    flate2::read::DeflateDecoder::new(raw)
}

fn zip_error(e: zip::result::ZipError) -> io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

/// Checks the CRC-32 the zip header declares once the entry has been read to its end.
struct CrcReader<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    expected: u32,
    done: bool,
}

impl<R> CrcReader<R> {
    fn new(inner: R, expected: u32) -> Self {
        CrcReader {
            inner,
            hasher: crc32fast::Hasher::new(),
            expected,
            done: false,
        }
    }
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.done {
            self.done = true;
            let actual = std::mem::take(&mut self.hasher).finalize();
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "CRC-32 mismatch: the archive is corrupt",
                ));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A part shared between readers, each with its own position, so that a zip part is opened
/// once and read by many streams at a time: a plain file read with `pread`, or a part
/// encrypted with age, decrypted through one seekable age reader behind a lock.
#[derive(Clone)]
struct SharedFile {
    source: Shared,
    pos: u64,
}

#[derive(Clone)]
enum Shared {
    Plain(Arc<File>),
    Sealed {
        reader: Arc<std::sync::Mutex<age::stream::StreamReader<File>>>,
        len: u64,
    },
}

impl std::fmt::Debug for SharedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.source {
            Shared::Plain(_) => "plain",
            Shared::Sealed { .. } => "age",
        };
        f.debug_struct("SharedFile")
            .field("kind", &kind)
            .field("pos", &self.pos)
            .finish()
    }
}

impl SharedFile {
    fn new(file: File) -> Self {
        SharedFile {
            source: Shared::Plain(Arc::new(file)),
            pos: 0,
        }
    }

    /// Opens a part encrypted with age (ferry's `--encrypt`), with the keys in the
    /// environment: `FERRY_EXPORT_PASSPHRASE`, or `FERRY_AGE_IDENTITY` naming an identity
    /// file. Keys are read here and never stored, so a journalled job names only the part.
    fn sealed(file: File) -> Result<Self, String> {
        let mut identities: Vec<Box<dyn age::Identity>> = Vec::new();
        if let Ok(passphrase) = std::env::var("FERRY_EXPORT_PASSPHRASE")
            && !passphrase.is_empty()
        {
            identities.push(Box::new(age::scrypt::Identity::new(
                secrecy::SecretString::from(passphrase),
            )));
        }
        if let Some(key_file) = std::env::var_os("FERRY_AGE_IDENTITY") {
            let keys = age::IdentityFile::from_file(key_file.to_string_lossy().into_owned())
                .and_then(|f| f.into_identities().map_err(io::Error::other))
                .map_err(|e| {
                    format!("cannot read the age identity file FERRY_AGE_IDENTITY: {e}")
                })?;
            identities.extend(keys);
        }
        if identities.is_empty() {
            return Err(
                "encrypted with age: set FERRY_EXPORT_PASSPHRASE to its passphrase, \
                        or FERRY_AGE_IDENTITY to the file of its key"
                    .into(),
            );
        }
        let decryptor = age::Decryptor::new(file).map_err(|e| format!("not an age file ({e})"))?;
        let mut reader = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref()))
            .map_err(|e| format!("cannot decrypt it ({e})"))?;
        let len = reader
            .seek(SeekFrom::End(0))
            .map_err(|e| format!("cannot decrypt it ({e})"))?;
        Ok(SharedFile {
            source: Shared::Sealed {
                reader: Arc::new(std::sync::Mutex::new(reader)),
                len,
            },
            pos: 0,
        })
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &self.source {
            Shared::Plain(file) => file.read_at(buf, self.pos)?,
            Shared::Sealed { reader, .. } => {
                let mut reader = reader
                    .lock()
                    .map_err(|_| io::Error::other("the age reader failed earlier"))?;
                reader.seek(SeekFrom::Start(self.pos))?;
                reader.read(buf)?
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let len = || match &self.source {
            Shared::Plain(file) => file.metadata().map(|m| m.len()),
            Shared::Sealed { len, .. } => Ok(*len),
        };
        let next = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => len()?.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = next.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
    }
}
