//! Planning: list every source into the journal, then give every item its place and name.
//!
//! Places and names are decided once, here, from the whole listing in a deterministic order
//! (source, then source id), so that two items never share a name and the same item always
//! gets the same name, on every run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use ferry_core::names::{NameAllocator, NameRules, sanitize};
use ferry_core::{
    Album, Capabilities, Container, Layout, MediaItem, MediaKind, Recall, Record, Source,
};

use crate::job::Job;
use crate::progress::Progress;
use crate::retry::RetryPolicy;
use crate::store::Store;
use crate::{EngineError, Result};

/// Lists the sources from where the journal says listing stopped.
pub(crate) async fn list_sources(
    store: &dyn Store,
    job: &Job,
    sources: &[Arc<dyn Source>],
    retry: &RetryPolicy,
    progress: &Progress,
) -> Result<()> {
    let mut source_index = job.plan_source;
    let mut cursor = job.plan_cursor.clone();
    while source_index < sources.len() {
        let source = &sources[source_index];
        let recall = JournalRecall {
            store,
            job,
            source_index,
        };
        let page = list_page(source.as_ref(), job, cursor.as_deref(), retry, &recall).await?;
        let mut albums = Vec::new();
        let mut items = Vec::new();
        for record in page.records {
            match record {
                Record::Album(album) if job.spec.wants_album(&album.id) => albums.push(album),
                Record::Media(mut item) if job.spec.scope.wants(item.kind.data_type()) => {
                    if let Some(chosen) = &job.spec.albums {
                        // An item goes only to the chosen albums it is in; in none of them, it stays behind.
                        item.albums.retain(|a| chosen.contains(a));
                        if item.albums.is_empty() {
                            continue;
                        }
                    }
                    items.push(item)
                }
                // Text records are for exports; a transfer moves media.
                _ => {}
            }
        }
        Progress::add(&progress.listed, (items.len() + page.skipped.len()) as u64);
        store
            .save_page(
                &job.id,
                source_index,
                &albums,
                &items,
                &page.skipped,
                page.next.as_deref(),
            )
            .await?;
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                source_index += 1;
                cursor = None;
            }
        }
    }
    Ok(())
}

/// What earlier jobs on this job's route listed from one of its sources.
struct JournalRecall<'a> {
    store: &'a dyn Store,
    job: &'a Job,
    source_index: usize,
}

#[async_trait::async_trait]
impl Recall for JournalRecall<'_> {
    async fn recall(&self, ids: &[String]) -> Vec<MediaItem> {
        // Remembering is an optimisation: a journal that cannot answer means listing as usual.
        let recalled = self
            .store
            .earlier_records(&self.job.id, self.source_index, ids)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!("recalling an earlier listing: {err}");
                Vec::new()
            });
        tracing::debug!("recalled {} of {} listed ids", recalled.len(), ids.len());
        recalled
    }
}

async fn list_page(
    source: &dyn Source,
    job: &Job,
    cursor: Option<&str>,
    retry: &RetryPolicy,
    recall: &dyn Recall,
) -> Result<ferry_core::Page> {
    let what = format!("listing {}", source.describe());
    retry
        .run(&what, || {
            source.list_recalling(&job.spec.scope, cursor, recall)
        })
        .await
        .map_err(EngineError::Source)
}

/// Decides every unit's container and name.
pub(crate) async fn assign_places(store: &dyn Store, job: &Job, caps: &Capabilities) -> Result<()> {
    let albums: HashMap<(usize, String), Album> = store
        .albums(&job.id)
        .await?
        .into_iter()
        .map(|(src, a)| ((src, a.id.clone()), a))
        .collect();
    let rules = caps.names;

    match caps.layout {
        Layout::Folders => {
            let folders = album_folders(&albums, &rules);
            let photos_root = sanitize(&job.spec.layout.photos_root, &rules);
            let videos_root = sanitize(&job.spec.layout.videos_root, &rules);
            for group in store.groups(&job.id).await? {
                let mut path = vec![match group.kind {
                    MediaKind::Photo => photos_root.clone(),
                    MediaKind::Video => videos_root.clone(),
                }];
                if let Some(folder) = folders.get(&(group.source_index, group.album_id.clone())) {
                    path.extend(folder.iter().cloned());
                }
                let key = path.join("/");
                store
                    .assign_container(&job.id, &group, &key, &Container::Folder(path))
                    .await?;
            }
        }
        Layout::Albums => {
            for group in store.groups(&job.id).await? {
                let (key, container) =
                    match albums.get(&(group.source_index, group.album_id.clone())) {
                        Some(album) => (
                            format!("album/{}/{}", group.source_index, album.id),
                            Container::Album {
                                title: album.title.clone(),
                                description: album.description.clone(),
                            },
                        ),
                        None => ("library".to_string(), Container::Library),
                    };
                store
                    .assign_container(&job.id, &group, &key, &container)
                    .await?;
            }
            if let Some(max) = caps.max_album_items {
                split_full_albums(store, job, max).await?;
            }
        }
    }

    // Names inside each container; folders that sit in a container take their names first, so
    // that a file never collides with a folder beside it.
    let containers = store.containers(&job.id).await?;
    let mut child_folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, container, _) in &containers {
        if let Container::Folder(path) = container {
            for depth in 1..path.len() {
                child_folders
                    .entry(path[..depth].join("/"))
                    .or_default()
                    .insert(path[depth].clone());
            }
        }
    }
    for (key, _, _) in &containers {
        let mut names = NameAllocator::new(rules);
        for folder in child_folders.get(key).into_iter().flatten() {
            names.allocate(folder);
        }
        let wanted = store.wanted_names(&job.id, key).await?;
        let assigned: Vec<(i64, String)> = wanted
            .into_iter()
            .map(|(seq, name)| (seq, names.allocate(&name)))
            .collect();
        store.set_names(&job.id, &assigned).await?;
    }
    Ok(())
}

/// Splits albums larger than the destination allows (Google Photos: 20,000 items) into
/// "Title", "Title (2)", … in journal order, so that a re-plan gives the same parts.
async fn split_full_albums(store: &dyn Store, job: &Job, max: usize) -> Result<()> {
    let max = max.max(1);
    for (key, container, _) in store.containers(&job.id).await? {
        let Container::Album { title, description } = container else {
            continue;
        };
        let seqs = store.container_units(&job.id, &key).await?;
        for (index, part) in seqs.chunks(max).enumerate().skip(1) {
            let number = index + 1;
            let part_album = Container::Album {
                title: format!("{title} ({number})"),
                description: description.clone(),
            };
            store
                .move_units(&job.id, part, &format!("{key}#{number}"), &part_album)
                .await?;
        }
    }
    Ok(())
}

/// Safe folder paths for albums: nested albums share their parents' folders, while two
/// different albums with the same name get `Name` and `Name (2)`.
fn album_folders(
    albums: &HashMap<(usize, String), Album>,
    rules: &NameRules,
) -> HashMap<(usize, String), Vec<String>> {
    let mut sorted: Vec<(&(usize, String), &Album)> = albums.iter().collect();
    sorted.sort_by(|a, b| {
        (a.0.0, a.1.folder_path(), &a.0.1).cmp(&(b.0.0, b.1.folder_path(), &b.0.1))
    });

    let mut safe_prefix: HashMap<(usize, Vec<String>), Vec<String>> = HashMap::new();
    let mut claimed: HashSet<(usize, Vec<String>)> = HashSet::new();
    let mut allocators: HashMap<Vec<String>, NameAllocator> = HashMap::new();
    let mut out = HashMap::new();

    for (key, album) in sorted {
        let raw = album.folder_path();
        let mut safe: Vec<String> = Vec::new();
        for depth in 0..raw.len() {
            let prefix = (key.0, raw[..=depth].to_vec());
            let is_leaf = depth + 1 == raw.len();
            let duplicate = is_leaf && claimed.contains(&prefix);
            match safe_prefix.get(&prefix) {
                Some(existing) if !duplicate => safe = existing.clone(),
                _ => {
                    let names = allocators
                        .entry(safe.clone())
                        .or_insert_with(|| NameAllocator::new(*rules));
                    safe.push(names.allocate(&raw[depth]));
                    if !duplicate {
                        safe_prefix.insert(prefix.clone(), safe.clone());
                    }
                }
            }
            if is_leaf {
                claimed.insert(prefix);
            }
        }
        out.insert(key.clone(), safe);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn album(id: &str, title: &str, path: &[&str]) -> Album {
        Album {
            id: id.into(),
            title: title.into(),
            path: path.iter().map(|s| s.to_string()).collect(),
            description: None,
            created: None,
            location: None,
        }
    }

    #[test]
    fn nested_albums_share_parents_and_duplicates_are_numbered() {
        let mut albums = HashMap::new();
        for a in [
            album("2019", "2019", &["2019"]),
            album("2019/Summer", "2019/Summer", &["2019", "Summer"]),
            album("fb1", "Trip: \"Paris\"?", &[]),
            album("fb2", "Trip: \"Paris\"?", &[]),
            album("fb3", "trip_ _paris__", &[]),
        ] {
            albums.insert((0, a.id.clone()), a);
        }
        let folders = album_folders(&albums, &NameRules::default());
        assert_eq!(folders[&(0, "2019".into())], vec!["2019"]);
        assert_eq!(folders[&(0, "2019/Summer".into())], vec!["2019", "Summer"]);
        let mut trips: Vec<String> = ["fb1", "fb2", "fb3"]
            .iter()
            .map(|id| folders[&(0, id.to_string())][0].clone())
            .collect();
        trips.sort();
        assert_eq!(
            trips,
            vec!["Trip_ _Paris__", "Trip_ _Paris__ (2)", "trip_ _paris__ (3)"]
        );
    }
}
