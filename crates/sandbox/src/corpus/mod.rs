//! Deterministic export-archive corpus: unpacked Instagram, Facebook and Google Takeout trees
//! for every layout era in `archives.md`, each with a [`Manifest`] of what a correct reader
//! must find. Everything here is written by ferry; no file comes from another project.
//!
//! Media bytes come from [`crate::media`]: real JPEGs and MP4s. WebP and HEIC files carry the
//! right magic bytes (RIFF/WEBP, ISO-BMFF `ftypheic`) around a tiny payload; they are for
//! sniffing and indexing, not for decoding.

pub mod facebook;
pub mod instagram;
pub mod takeout;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::media::{Mp4, PhotoSpec, SplitMix, VideoSpec, jpeg};

/// What a media file really holds (sniffed from its bytes, whatever its name says).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jpeg,
    Mp4,
    Webp,
    Heic,
}

/// One media item a reader must find.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaItem {
    /// Path of the bytes, relative to the tree root ('/'-separated).
    pub file: String,
    pub format: Format,
    /// Best date in UTC epoch seconds (taken time when the export has one, else upload time).
    pub taken: Option<i64>,
    /// Caption or description, repaired (proper UTF-8).
    pub caption: Option<String>,
    /// Album titles the item belongs to.
    pub albums: Vec<String>,
    /// Where the export lists it: post, story, profile, dm, album, uncategorized, video, library.
    pub context: String,
    /// Latitude, longitude; `None` when the export has none or says 0/0.
    pub location: Option<(f64, f64)>,
    /// Other paths holding the same bytes (album copies in Takeout): one item, not several.
    pub copies: Vec<String>,
    /// The Takeout sidecar that describes this file; for `-edited` copies and live-photo videos,
    /// which have none of their own, the sidecar of the original.
    pub sidecar: Option<String>,
    /// The other half of a live/motion photo.
    pub live_partner: Option<String>,
}

impl MediaItem {
    fn new(file: impl Into<String>, format: Format, context: &str) -> Self {
        MediaItem {
            file: file.into(),
            format,
            taken: None,
            caption: None,
            albums: Vec::new(),
            context: context.to_string(),
            location: None,
            copies: Vec::new(),
            sidecar: None,
            live_partner: None,
        }
    }
    fn at(mut self, t: i64) -> Self {
        self.taken = Some(t);
        self
    }
    fn caption(mut self, c: &str) -> Self {
        self.caption = Some(c.to_string());
        self
    }
}

/// What a correct reader of one generated tree must find.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub source: String,
    pub era: String,
    /// Set when the reader must refuse the export (e.g. an HTML-format export), with the reason.
    pub refuse: Option<String>,
    /// Counts per data type: posts, stories, threads, messages, albums, check_ins, …
    pub counts: BTreeMap<String, u64>,
    pub media: Vec<MediaItem>,
    /// Repaired strings (captions, messages, localized keys) a reader must surface exactly.
    pub texts: Vec<String>,
    /// References that are links, not files (expired CDN URLs and the like).
    pub links: Vec<String>,
    /// Files a reader must skip without failing (junk, print orders, HTML browsers).
    pub ignored: Vec<String>,
    /// What a file holds that ferry's model has no place for, as `(file, what)`: a reader
    /// must report each (so that `ferry inspect` lists it), naming `what`.
    #[serde(default)]
    pub not_carried: Vec<(String, String)>,
    /// Fields the profile record must hold, in the model's JSON form (`{"gender": "female"}`).
    #[serde(default)]
    pub profile: BTreeMap<String, Value>,
    /// Quirks present in this tree, as short tags (for coverage reports).
    pub quirks: Vec<String>,
    /// Every file written, relative to the root, sorted.
    pub files: Vec<String>,
}

impl Manifest {
    pub fn count(&self, kind: &str) -> u64 {
        self.counts.get(kind).copied().unwrap_or(0)
    }
}

/// Writes files under a root and records them in a manifest.
pub(crate) struct Tree {
    root: PathBuf,
    pub m: Manifest,
}

impl Tree {
    pub(crate) fn new(root: &Path, source: &str, era: &str) -> Self {
        Tree {
            root: root.to_path_buf(),
            m: Manifest {
                source: source.into(),
                era: era.into(),
                ..Manifest::default()
            },
        }
    }

    pub(crate) fn file(&mut self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, bytes)?;
        self.m.files.push(rel.to_string());
        Ok(())
    }

    /// Meta-style JSON: pretty, every non-ASCII character written as `\uXXXX`.
    pub(crate) fn meta_json(&mut self, rel: &str, v: &Value) -> io::Result<()> {
        let text = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
        self.file(rel, ascii_escape(&text).as_bytes())
    }

    /// Google-style JSON: pretty, plain UTF-8.
    pub(crate) fn json(&mut self, rel: &str, v: &Value) -> io::Result<()> {
        let text = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
        self.file(rel, text.as_bytes())
    }

    pub(crate) fn media(&mut self, rel: &str, format: Format, seed: u64) -> io::Result<()> {
        self.file(rel, &media_bytes(format, seed))
    }

    pub(crate) fn item(&mut self, item: MediaItem) {
        self.m.media.push(item);
    }

    pub(crate) fn count(&mut self, kind: &str, n: u64) {
        *self.m.counts.entry(kind.to_string()).or_default() += n;
    }

    pub(crate) fn quirk(&mut self, q: &str) {
        self.m.quirks.push(q.to_string());
    }

    pub(crate) fn text(&mut self, t: &str) {
        self.m.texts.push(t.to_string());
    }

    pub(crate) fn not_carried(&mut self, file: &str, what: &str) {
        self.m
            .not_carried
            .push((file.to_string(), what.to_string()));
    }

    pub(crate) fn profile(&mut self, field: &str, value: Value) {
        self.m.profile.insert(field.to_string(), value);
    }

    pub(crate) fn finish(mut self) -> Manifest {
        self.m.files.sort();
        self.m.files.dedup();
        self.m
    }
}

/// The bytes of a small media file of `format`, the same for the same seed on every machine.
pub fn media_bytes(format: Format, seed: u64) -> Vec<u8> {
    match format {
        Format::Jpeg => jpeg(&PhotoSpec::new(seed)),
        Format::Mp4 => {
            let mut spec = VideoSpec::new(seed, 0);
            spec.created = OffsetDateTime::from_unix_timestamp(1_600_000_000 + seed as i64).ok();
            Mp4::new(&spec).to_vec()
        }
        Format::Webp => {
            let payload = noise(seed, 32);
            let mut b = b"RIFF".to_vec();
            b.extend_from_slice(&((4 + 8 + payload.len()) as u32).to_le_bytes());
            b.extend_from_slice(b"WEBPVP8L");
            b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            b.extend_from_slice(&payload);
            b
        }
        Format::Heic => {
            let mut b = 24u32.to_be_bytes().to_vec();
            b.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
            let payload = noise(seed, 32);
            b.extend_from_slice(&((8 + payload.len()) as u32).to_be_bytes());
            b.extend_from_slice(b"mdat");
            b.extend_from_slice(&payload);
            b
        }
    }
}

fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut rng = SplitMix(seed);
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// Meta's mojibake: each UTF-8 byte of `s` becomes its own character U+00XX.
pub fn mojibake(s: &str) -> String {
    s.bytes().map(char::from).collect()
}

/// Writes every non-ASCII character of JSON text as `\uXXXX` (surrogate pairs above U+FFFF).
/// Non-ASCII only occurs inside JSON strings, so this keeps the document equivalent.
fn ascii_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// Zips the tree at `src` into `parts` archives `<stem>-001.zip` … in `out_dir`. Non-media
/// files (JSON, HTML, text) go to part 1; media files are spread round-robin over parts 2..N
/// (all in part 1 when `parts` is 1), so that a manifest and its media sit in different parts.
/// Entry order is sorted, so the output is deterministic.
pub fn zip_parts(src: &Path, out_dir: &Path, stem: &str, parts: usize) -> io::Result<Vec<PathBuf>> {
    use zip::write::SimpleFileOptions;
    let parts = parts.max(1);
    let mut files = Vec::new();
    walk(src, src, &mut files)?;
    files.sort();
    fs::create_dir_all(out_dir)?;
    let paths: Vec<PathBuf> = (1..=parts)
        .map(|i| out_dir.join(format!("{stem}-{i:03}.zip")))
        .collect();
    let mut writers = paths
        .iter()
        .map(|p| fs::File::create(p).map(zip::ZipWriter::new))
        .collect::<io::Result<Vec<_>>>()?;
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut next_media = 0usize;
    for rel in &files {
        let is_meta = [".json", ".html", ".txt"].iter().any(|e| rel.ends_with(e));
        let part = if is_meta || parts == 1 {
            0
        } else {
            let p = 1 + next_media % (parts - 1);
            next_media += 1;
            p
        };
        let w = &mut writers[part];
        w.start_file(rel.as_str(), options)
            .map_err(io::Error::other)?;
        w.write_all(&fs::read(src.join(rel))?)?;
    }
    for w in writers {
        w.finish().map_err(io::Error::other)?;
    }
    Ok(paths)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).map_err(io::Error::other)?;
            let parts: Vec<_> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect();
            out.push(parts.join("/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mojibake_round_trips_through_escaped_json() {
        let v = Value::String(mojibake("København 😂"));
        let text = ascii_escape(&v.to_string());
        assert_eq!(
            text,
            "\"K\\u00c3\\u00b8benhavn \\u00f0\\u009f\\u0098\\u0082\""
        );
        let back: String = serde_json::from_str(&text).unwrap();
        let bytes: Vec<u8> = back.chars().map(|c| c as u32 as u8).collect();
        assert_eq!(String::from_utf8(bytes).unwrap(), "København 😂");
    }
}
