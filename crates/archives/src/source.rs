//! An export archive (any service's, or ferry's own) as a [`Source`], so that everything ferry
//! writes to can receive what an export holds.
//!
//! The whole export is read once when the source is opened (the records are small; media
//! bytes stay in the archive until an item is opened). Listing then pages through the
//! catalogue by position: the catalogue of the same parts is always built in the same order,
//! so a cursor written before a crash means the same thing after it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::model::{DataType, Record, Scope};
use ferry_core::traits::{Page, Source};
use ferry_core::{Content, Error, MediaItem, Result};

use crate::catalogue::Catalogue;
use crate::limits::Limits;
use crate::vfs::ArchiveFs;

/// Records per listed page.
const PAGE_RECORDS: usize = 500;

/// JPEGs rewritten with `--write-exif` are read whole into memory; larger ones are passed
/// through unchanged (no phone photo comes near this).
const MAX_EXIF_REWRITE: u64 = 64 << 20;

/// How an export is read as a source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceOptions {
    /// Write the export's date and place into JPEGs that carry no EXIF ([`crate::exif`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub write_exif: bool,
}

pub struct ArchiveSource {
    parts: Vec<PathBuf>,
    fs: Arc<ArchiveFs>,
    catalogue: Catalogue,
    options: SourceOptions,
}

impl ArchiveSource {
    /// Indexes and reads the parts of one export (zip files or folders) on a blocking thread.
    pub async fn open(parts: Vec<PathBuf>) -> Result<ArchiveSource> {
        Self::open_with(parts, SourceOptions::default()).await
    }

    pub async fn open_with(parts: Vec<PathBuf>, options: SourceOptions) -> Result<ArchiveSource> {
        let paths = parts.clone();
        let (fs, catalogue) =
            tokio::task::spawn_blocking(move || crate::read(&paths, Limits::default()))
                .await
                .map_err(|e| Error::permanent(format!("reading the archive stopped: {e}")))?
                .map_err(|e| Error::permanent(e.to_string()))?;
        Ok(ArchiveSource {
            parts,
            fs,
            catalogue,
            options,
        })
    }

    /// Whether `--write-exif` may rewrite this item: a JPEG with a date or place to write.
    fn exif_candidate(&self, item: &MediaItem) -> bool {
        self.options.write_exif
            && item.mime_type.as_deref() == Some("image/jpeg")
            && (item.taken.is_some()
                || item
                    .location
                    .as_ref()
                    .is_some_and(|l| l.coordinates().is_some()))
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn fs(&self) -> &Arc<ArchiveFs> {
        &self.fs
    }
}

/// Whether a scope takes a record. Albums always pass (the engine drops empty ones), and so
/// do threads when messages are wanted.
pub fn in_scope(scope: &Scope, record: &Record) -> bool {
    match record {
        Record::Album(_) => true,
        // An album's date is not the date of what it holds.
        _ => scope.admits(record),
    }
}

#[async_trait]
impl Source for ArchiveSource {
    fn describe(&self) -> String {
        let d = &self.catalogue.detection;
        let first = self
            .parts
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let more = match self.parts.len() {
            0 | 1 => String::new(),
            n => format!(" and {} more parts", n - 1),
        };
        format!("{} export ({} layout) {first}{more}", d.service, d.era)
    }

    fn offers(&self) -> BTreeSet<DataType> {
        self.catalogue
            .records
            .iter()
            .filter_map(Record::data_type)
            .collect()
    }

    async fn list(&self, scope: &Scope, cursor: Option<&str>) -> Result<Page> {
        let start: usize = match cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::permanent(format!("bad archive cursor {c:?}")))?,
        };
        let records = &self.catalogue.records;
        let end = (start + PAGE_RECORDS).min(records.len());
        let page_records = records
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .filter(|r| in_scope(scope, r))
            .cloned()
            .map(|mut record| {
                // A JPEG that gains EXIF grows: its size is known only once it is read.
                if let Record::Media(item) = &mut record
                    && self.exif_candidate(item)
                {
                    item.size = None;
                }
                record
            })
            .collect();
        // What the export could not give is reported once, with the first page.
        let skipped = if start == 0 {
            self.catalogue.problems.clone()
        } else {
            Vec::new()
        };
        Ok(Page {
            records: page_records,
            skipped,
            next: (end < records.len()).then(|| end.to_string()),
        })
    }

    async fn open(&self, item: &MediaItem) -> Result<Content> {
        let path = self
            .catalogue
            .media_paths
            .get(&item.id)
            .ok_or_else(|| Error::NotFound(format!("{}: not in the archive", item.id)))?;
        let small = self
            .fs
            .get(path)
            .is_some_and(|e| e.size <= MAX_EXIF_REWRITE);
        if !(self.exif_candidate(item) && small) {
            return self.fs.content(path);
        }
        let (fs, path, item) = (self.fs.clone(), path.clone(), item.clone());
        let bytes = tokio::task::spawn_blocking(move || {
            let original = fs
                .read_whole(&path, MAX_EXIF_REWRITE)
                .map_err(|e| Error::permanent(format!("{path}: {e}")))?;
            Ok::<_, Error>(
                crate::exif::add_to_jpeg(&original, item.taken.as_ref(), item.location.as_ref())
                    .unwrap_or(original),
            )
        })
        .await
        .map_err(|e| Error::permanent(format!("reading the archive stopped: {e}")))??;
        let length = bytes.len() as u64;
        let stream = futures::stream::once(async move { Ok(bytes::Bytes::from(bytes)) });
        Ok(Content::new(Box::pin(stream), Some(length)))
    }
}
