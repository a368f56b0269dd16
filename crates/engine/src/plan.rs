//! Planning: list every source into the journal, then give every item its place and name.
//!
//! Places and names are decided once, here, from the whole listing in a deterministic order
//! (source, then source id), so that two items never share a name and the same item always
//! gets the same name, on every run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ferry_core::names::{NameAllocator, NameRules, sanitize};
use ferry_core::{
    Album, Capabilities, Container, DataType, Destination, EarlierLanding, Landed, Layout,
    MediaItem, MediaKind, Recall, Record, Scope, Source,
};

use crate::job::Job;
use crate::mover::{decode_sha, target_for};
use crate::progress::Progress;
use crate::retry::RetryPolicy;
use crate::store::{Landing, ListedPage, ListedUnit, Place, Store};
use crate::{EngineError, Result};

/// Lists the sources from where the journal says listing stopped.
///
/// Each listed unit that an earlier job on the route landed, with the same record, and that
/// the destination still holds, is counted as unchanged and not journalled: a re-run of an
/// unchanged transfer writes a few rows, not one per item. One the destination no longer
/// holds goes back to the place it had.
pub(crate) async fn list_sources(
    store: &dyn Store,
    job: &Job,
    sources: &[Arc<dyn Source>],
    dest: &dyn Destination,
    retry: &RetryPolicy,
    progress: &Progress,
) -> Result<()> {
    let scope = job.scope();
    let mut source_index = job.plan_source;
    let mut cursor = job.plan_cursor.clone();
    while source_index < sources.len() {
        let source = &sources[source_index];
        let recall = JournalRecall {
            store,
            job,
            source_index,
            landings: Mutex::default(),
        };
        let page = list_page(source.as_ref(), &scope, cursor.as_deref(), retry, &recall).await?;
        let mut albums = Vec::new();
        let mut items = Vec::new();
        let mut records = Vec::new();
        for record in page.records {
            match record {
                Record::Album(album) if job.spec.wants_album(&album.id) => albums.push(album),
                Record::Media(mut item) if scope.wants(item.kind.data_type()) => {
                    if let Some(chosen) = &job.spec.albums {
                        // An item goes only to the chosen albums it is in; in none of them, it stays behind.
                        item.albums.retain(|a| chosen.contains(a));
                        if item.albums.is_empty() {
                            continue;
                        }
                    }
                    items.push(item)
                }
                Record::Album(_) | Record::Media(_) => {}
                // Posts, messages, …: the scope asked for them, so the destination holds
                // them (as documents made once the media have landed).
                other => {
                    if scope.admits(&other) {
                        records.push(other)
                    }
                }
            }
        }
        Progress::add(
            &progress.listed,
            (items.len() + records.len() + page.skipped.len()) as u64,
        );
        let landings = recall.landings_of(&items).await?;
        let (units, unchanged) = place_known(dest, &items, landings).await?;
        Progress::add(&progress.moved_bytes, unchanged.1);
        store
            .save_page(
                &job.id,
                ListedPage {
                    source_index,
                    albums: &albums,
                    units,
                    skipped: &page.skipped,
                    records: &records,
                    unchanged,
                    next: page.next.as_deref(),
                },
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

/// A page's items as units, one per album each, with what the route knows of them: a unit
/// landed before with the same record and still held by the destination is left out and
/// counted (how many, how many bytes); any other unit landed before goes to the same place
/// again, where `commit` recognises identical content or names a changed item beside it.
async fn place_known<'a>(
    dest: &dyn Destination,
    items: &'a [MediaItem],
    mut landings: HashMap<(String, String), Landing>,
) -> Result<(Vec<ListedUnit<'a>>, (u64, u64))> {
    let mut units = ListedUnit::all(items)?;
    let mut checks = Vec::new();
    let mut checked = Vec::new();
    for (index, unit) in units.iter_mut().enumerate() {
        let Some(landing) = landings.remove(&(unit.item.id.clone(), unit.album_id.to_string()))
        else {
            continue;
        };
        // Only a source that can tell a changed item (a revision) is trusted to say
        // "unchanged" by an equal record.
        if landing.record == unit.record
            && unit.item.revision.is_some()
            && let Some(sha256) = decode_sha(&landing.sha256)
        {
            checks.push(EarlierLanding {
                target: target_for(
                    unit.item,
                    landing.container_id.clone(),
                    landing.name.clone(),
                ),
                landed: Landed {
                    id: landing.dest_id.clone(),
                    bytes: landing.bytes as u64,
                    hash: None,
                },
                sha256,
            });
            checked.push(index);
        }
        unit.place = Some(Place {
            container: landing.container,
            container_spec: landing.container_spec,
            name: landing.name,
        });
    }
    if checks.is_empty() {
        return Ok((units, (0, 0)));
    }
    let held = dest.holds_all(&checks).await;
    let mut unchanged = (0u64, 0u64);
    let mut keep = vec![true; units.len()];
    for ((index, check), held) in checked.into_iter().zip(&checks).zip(held) {
        if held {
            keep[index] = false;
            unchanged.0 += 1;
            unchanged.1 += check.landed.bytes;
        }
    }
    let mut keep = keep.into_iter();
    units.retain(|_| keep.next().unwrap_or(true));
    Ok((units, unchanged))
}

/// What earlier jobs on this job's route landed from one of its sources: the records a
/// source may reuse instead of reading an unchanged item again, and the landings the page's
/// units are checked against. A page asks the journal once.
struct JournalRecall<'a> {
    store: &'a dyn Store,
    job: &'a Job,
    source_index: usize,
    /// What the source's recall fetched for `landings_of`: the ids asked, and the landings
    /// found by (source id, album id).
    landings: Mutex<Fetched>,
}

type Fetched = (HashSet<String>, HashMap<(String, String), Landing>);

impl JournalRecall<'_> {
    async fn fetch(&self, ids: &[String]) -> Result<Vec<Landing>> {
        self.store
            .landings(&self.job.id, self.source_index, ids)
            .await
    }

    /// The landings of these items: those the source's recall fetched, and the rest asked now.
    async fn landings_of(&self, items: &[MediaItem]) -> Result<HashMap<(String, String), Landing>> {
        let (asked, mut found) =
            std::mem::take(&mut *self.landings.lock().unwrap_or_else(|e| e.into_inner()));
        let missing: Vec<String> = items
            .iter()
            .filter(|item| !asked.contains(item.id.as_str()))
            .map(|item| item.id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for landing in self.fetch(&missing).await? {
            found.insert(
                (landing.source_id.clone(), landing.album_id.clone()),
                landing,
            );
        }
        Ok(found)
    }
}

#[async_trait::async_trait]
impl Recall for JournalRecall<'_> {
    async fn recall(&self, ids: &[String]) -> Vec<MediaItem> {
        // Remembering is an optimisation: a journal that cannot answer means listing as usual.
        let landings = self.fetch(ids).await.unwrap_or_else(|err| {
            tracing::warn!("recalling an earlier listing: {err}");
            Vec::new()
        });
        let mut records = HashMap::new();
        for landing in &landings {
            if !records.contains_key(&landing.source_id)
                && let Ok(item) = serde_json::from_str::<MediaItem>(&landing.record)
            {
                records.insert(landing.source_id.clone(), item);
            }
        }
        tracing::debug!("recalled {} of {} listed ids", records.len(), ids.len());
        let mut kept = self.landings.lock().unwrap_or_else(|e| e.into_inner());
        kept.0.extend(ids.iter().cloned());
        for landing in landings {
            kept.1.insert(
                (landing.source_id.clone(), landing.album_id.clone()),
                landing,
            );
        }
        records.into_values().collect()
    }
}

async fn list_page(
    source: &dyn Source,
    scope: &Scope,
    cursor: Option<&str>,
    retry: &RetryPolicy,
    recall: &dyn Recall,
) -> Result<ferry_core::Page> {
    let what = format!("listing {}", source.describe());
    retry
        .run(&what, || source.list_recalling(scope, cursor, recall))
        .await
        .map_err(EngineError::Source)
}

/// The types of `scope` that the route cannot carry, each with why: those some source offers
/// and the destination does not hold. (A type no source offers leaves nothing behind.)
///
/// Records that are not files are held as documents (`data/posts.json`): only when the run
/// can make them (`documents`).
pub(crate) fn types_skipped(
    scope: &Scope,
    sources: &[Arc<dyn Source>],
    dest: &dyn Destination,
    documents: bool,
) -> Vec<(DataType, String)> {
    let caps = dest.capabilities();
    let offered: BTreeSet<DataType> = sources.iter().flat_map(|s| s.offers()).collect();
    let holds = |t: DataType| caps.holds(t) && (t.is_media() || documents);
    let held: Vec<&str> = DataType::ALL
        .into_iter()
        .filter(|t| holds(*t))
        .map(DataType::as_str)
        .collect();
    let held = match held.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => "nothing".to_owned(),
    };
    scope
        .types
        .iter()
        .filter(|t| offered.contains(t) && !holds(**t))
        .map(|t| {
            let reason = format!(
                "{} holds {} only; `ferry export` keeps {t} in an archive",
                dest.describe(),
                held
            );
            (*t, reason)
        })
        .collect()
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
        let wanted = store.wanted_names(&job.id, key).await?;
        if wanted.is_empty() {
            continue;
        }
        let mut names = NameAllocator::new(rules);
        for folder in child_folders.get(key).into_iter().flatten() {
            names.allocate(folder);
        }
        // What earlier jobs on the route put there keeps its name: new units take others.
        for landed in store.landed_names(&job.id, key).await? {
            names.allocate(&landed);
        }
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
        let seqs = store.unnamed_units(&job.id, &key).await?;
        // New units join after what earlier jobs on the route put in the album's parts.
        let landed = store.landed_count(&job.id, &key).await? as usize;
        let mut parts: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for (index, seq) in seqs.into_iter().enumerate() {
            parts.entry((landed + index) / max).or_default().push(seq);
        }
        for (index, part) in parts.into_iter().filter(|(index, _)| *index > 0) {
            let number = index + 1;
            let part_album = Container::Album {
                title: format!("{title} ({number})"),
                description: description.clone(),
            };
            store
                .move_units(&job.id, &part, &format!("{key}#{number}"), &part_album)
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
