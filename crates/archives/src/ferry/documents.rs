//! ferry's archive layout on a destination that holds records as files: a transfer to a
//! folder writes the same `data/*.json` documents and offline viewer as `ferry export`,
//! beside the media where the transfer put them, so that an unpacked archive and a folder
//! transfer read alike.

use std::collections::HashMap;
use std::sync::Arc;

use ferry_core::error::Error;
use ferry_core::model::Record;
use ferry_core::traits::{Document, Documents, LandedMedia};

use super::format::MediaEntry;
use super::viewer;
use super::writer::{Contents, Render, data_files};

/// Makes `data/*.json` and the viewer (`index.html`, `pages/`) from a job's records.
#[derive(Debug)]
pub struct ArchiveDocuments;

impl Documents for ArchiveDocuments {
    fn documents(&self, records: Vec<Record>, media: Vec<LandedMedia>) -> Vec<Document> {
        let contents = Arc::new(Contents::of_records(records, media_entries(media)));
        data_files(&contents)
            .into_iter()
            .chain(viewer::pages(&contents))
            .map(|(path, render)| Document {
                path: path.split('/').map(str::to_owned).collect(),
                render: rendered(render),
            })
            .collect()
    }
}

fn rendered(render: Render) -> Box<dyn FnOnce() -> ferry_core::Result<Vec<u8>> + Send> {
    Box::new(move || {
        let mut bytes = Vec::new();
        render(&mut bytes).map_err(|e| Error::permanent(e.to_string()))?;
        Ok(bytes)
    })
}

/// One entry per item: an item in several albums has a copy in each album's folder; the
/// entry names the copy in its first album.
fn media_entries(media: Vec<LandedMedia>) -> Vec<MediaEntry> {
    let mut entries: Vec<MediaEntry> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for landed in media {
        let first_album = landed.item.albums.first() == Some(&landed.album);
        let entry = MediaEntry {
            path: landed.path.join("/"),
            sha256: landed.sha256,
            item: landed.item,
        };
        match index.get(&entry.item.id) {
            Some(&at) if first_album => entries[at] = entry,
            Some(_) => {}
            None => {
                index.insert(entry.item.id.clone(), entries.len());
                entries.push(entry);
            }
        }
    }
    entries
}
