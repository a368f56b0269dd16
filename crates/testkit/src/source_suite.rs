//! The conformance suite every [`Source`] passes.
//!
//! Each service's tests build a fixture (a folder of files, a seeded sandbox account, an
//! export archive), say what it holds, and call [`check_source`]. The checks are what the
//! engine relies on of any source, whatever the service:
//!
//! - every item is listed exactly once, with the albums it names listed no later than itself;
//! - listing resumes from any cursor on a new handle (a restarted process) and loses nothing;
//! - listing with a recall of the earlier listing gives the same records;
//! - the bytes `open` streams are the item's: the length announced, the size listed, the hash;
//! - a scope of one kind lists nothing of another;
//! - an item gone from the service is reported `NotFound`, not as a failure to retry.
//!
//! Every check panics with `source conformance: <check>: <what>` so a failing service says
//! which promise it broke.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use ferry_core::{
    DataType, ErrorKind, MediaItem, MediaKind, NoRecall, Page, Recall, Record, Scope, Source,
};
use futures::StreamExt;
use sha2::{Digest, Sha256};

/// A photo or video a fixture put at the service.
#[derive(Clone, Debug)]
pub struct ExpectedMedia {
    /// The id the source lists it under.
    pub id: String,
    pub kind: MediaKind,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
}

impl ExpectedMedia {
    pub fn new(id: impl Into<String>, kind: MediaKind, content: &[u8]) -> ExpectedMedia {
        ExpectedMedia {
            id: id.into(),
            kind,
            bytes: content.len() as u64,
            sha256: hex::encode(Sha256::digest(content)),
        }
    }
}

/// A service holding known photos and videos, as a test set it up.
#[async_trait]
pub trait SourceFixture: Send + Sync {
    /// A new handle on the source, as a process started afresh would open it: cursors a
    /// former handle gave out must work on it.
    async fn open(&self) -> Arc<dyn Source>;

    /// Every photo and video the source holds.
    fn expected(&self) -> Vec<ExpectedMedia>;

    /// The scope that lists everything the fixture holds.
    fn scope(&self) -> Scope {
        Scope::media()
    }

    /// Takes the item away at the service. `false` where nothing can take an item away (an
    /// archive on disk stays what it is): the check is then passed over, and says so.
    async fn remove(&self, id: &str) -> bool;
}

/// Runs every check against the fixture. The removal check runs last: it changes the fixture.
pub async fn check_source(fixture: &dyn SourceFixture) {
    let first = lists_every_item_once(fixture).await;
    listing_resumes_from_every_cursor(fixture, &first).await;
    recalling_the_last_listing_changes_no_record(fixture, &first).await;
    opened_bytes_are_the_items(fixture, &first).await;
    a_scope_of_one_kind_lists_no_other(fixture).await;
    a_removed_item_is_not_found(fixture, &first).await;
}

/// One listing to its end: the pages, and the cursor each page was asked for with.
pub struct Listing {
    pub pages: Vec<(Option<String>, Page)>,
}

impl Listing {
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.pages.iter().flat_map(|(_, page)| page.records.iter())
    }

    pub fn media(&self) -> impl Iterator<Item = &MediaItem> {
        self.records().filter_map(|record| match record {
            Record::Media(item) => Some(item),
            _ => None,
        })
    }
}

/// Lists from `cursor` to the end; a source that never ends fails the suite.
pub async fn list_to_end(
    source: &dyn Source,
    scope: &Scope,
    mut cursor: Option<String>,
    recall: &dyn Recall,
) -> Listing {
    const MAX_PAGES: usize = 100_000;
    let mut pages = Vec::new();
    loop {
        let page = source
            .list_recalling(scope, cursor.as_deref(), recall)
            .await
            .unwrap_or_else(|err| {
                panic!("source conformance: listing: page after {cursor:?} failed: {err}")
            });
        let next = page.next.clone();
        if next.is_some() && next == cursor {
            panic!("source conformance: listing: cursor {cursor:?} gave itself as the next one");
        }
        pages.push((cursor, page));
        assert!(
            pages.len() < MAX_PAGES,
            "source conformance: listing: no end after {MAX_PAGES} pages"
        );
        match next {
            Some(next) => cursor = Some(next),
            None => return Listing { pages },
        }
    }
}

fn expected_by_id(fixture: &dyn SourceFixture) -> HashMap<String, ExpectedMedia> {
    fixture
        .expected()
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect()
}

async fn lists_every_item_once(fixture: &dyn SourceFixture) -> Listing {
    let source = fixture.open().await;
    let listing = list_to_end(source.as_ref(), &fixture.scope(), None, &NoRecall).await;
    let expected = expected_by_id(fixture);

    let mut seen = HashSet::new();
    let mut albums = HashSet::new();
    for record in listing.records() {
        match record {
            Record::Album(album) => {
                albums.insert(album.id.clone());
            }
            Record::Media(item) => {
                assert!(
                    seen.insert(item.id.clone()),
                    "source conformance: every item once: {} is listed twice",
                    item.id
                );
                for album in &item.albums {
                    assert!(
                        albums.contains(album),
                        "source conformance: every item once: {} names album {album}, not listed before it",
                        item.id
                    );
                }
                let Some(wanted) = expected.get(&item.id) else {
                    panic!(
                        "source conformance: every item once: {} is listed but the fixture holds no such item",
                        item.id
                    );
                };
                assert_eq!(
                    item.kind, wanted.kind,
                    "source conformance: every item once: {} has the wrong kind",
                    item.id
                );
            }
            _ => {}
        }
    }
    let missing: BTreeSet<&String> = expected.keys().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "source conformance: every item once: never listed: {missing:?}"
    );
    listing
}

async fn listing_resumes_from_every_cursor(fixture: &dyn SourceFixture, first: &Listing) {
    let scope = fixture.scope();
    for (index, (cursor, _)) in first.pages.iter().enumerate().skip(1) {
        // A new handle: the cursor must carry everything needed to go on.
        let source = fixture.open().await;
        let resumed = list_to_end(source.as_ref(), &scope, cursor.clone(), &NoRecall).await;
        let again: HashMap<&str, &MediaItem> = resumed
            .media()
            .map(|item| (item.id.as_str(), item))
            .collect();
        for (_, page) in &first.pages[index..] {
            for record in &page.records {
                let Record::Media(item) = record else {
                    continue;
                };
                match again.get(item.id.as_str()) {
                    Some(listed) => assert_eq!(
                        *listed, item,
                        "source conformance: resuming: {} differs when listed from cursor {cursor:?}",
                        item.id
                    ),
                    None => panic!(
                        "source conformance: resuming: {} is lost when listing resumes from cursor {cursor:?}",
                        item.id
                    ),
                }
            }
        }
    }
}

/// Remembers a listing, the way the engine's journal remembers an earlier job's.
struct Remembered(HashMap<String, MediaItem>);

#[async_trait]
impl Recall for Remembered {
    async fn recall(&self, ids: &[String]) -> Vec<MediaItem> {
        ids.iter()
            .filter_map(|id| self.0.get(id).cloned())
            .collect()
    }
}

async fn recalling_the_last_listing_changes_no_record(
    fixture: &dyn SourceFixture,
    first: &Listing,
) {
    let remembered = Remembered(
        first
            .media()
            .map(|item| (item.id.clone(), item.clone()))
            .collect(),
    );
    let source = fixture.open().await;
    let recalled = list_to_end(source.as_ref(), &fixture.scope(), None, &remembered).await;
    let before: Vec<&Record> = first.records().collect();
    let after: Vec<&Record> = recalled.records().collect();
    assert_eq!(
        before.len(),
        after.len(),
        "source conformance: recall: a listing with recall has another number of records"
    );
    for (before, after) in before.iter().zip(&after) {
        assert_eq!(
            before,
            after,
            "source conformance: recall: {} differs when the earlier listing is recalled",
            before.id()
        );
    }
}

async fn opened_bytes_are_the_items(fixture: &dyn SourceFixture, first: &Listing) {
    let expected = expected_by_id(fixture);
    let source = fixture.open().await;
    for item in first.media() {
        let wanted = &expected[&item.id];
        if let Some(size) = item.size {
            assert_eq!(
                size, wanted.bytes,
                "source conformance: bytes: {} is listed with the wrong size",
                item.id
            );
        }
        let content = source.open(item).await.unwrap_or_else(|err| {
            panic!(
                "source conformance: bytes: {} cannot be opened: {err}",
                item.id
            )
        });
        if let Some(length) = content.length {
            assert_eq!(
                length, wanted.bytes,
                "source conformance: bytes: {} announces the wrong length",
                item.id
            );
        }
        let mut stream = content.stream;
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap_or_else(|err| {
                panic!(
                    "source conformance: bytes: reading {} failed: {err}",
                    item.id
                )
            });
            bytes += chunk.len() as u64;
            hasher.update(&chunk);
        }
        assert_eq!(
            bytes, wanted.bytes,
            "source conformance: bytes: {} streams the wrong number of bytes",
            item.id
        );
        assert_eq!(
            hex::encode(hasher.finalize()),
            wanted.sha256,
            "source conformance: bytes: {} streams other bytes than it holds",
            item.id
        );
    }
}

async fn a_scope_of_one_kind_lists_no_other(fixture: &dyn SourceFixture) {
    let expected = fixture.expected();
    for kind in [DataType::Photos, DataType::Videos] {
        let scope = Scope {
            types: [kind].into(),
            ..fixture.scope()
        };
        let source = fixture.open().await;
        let listing = list_to_end(source.as_ref(), &scope, None, &NoRecall).await;
        for record in listing.records() {
            match record {
                Record::Album(_) => {}
                Record::Media(item) => assert_eq!(
                    item.kind.data_type(),
                    kind,
                    "source conformance: scope: {} is listed for a scope of {kind:?} only",
                    item.id
                ),
                other => panic!(
                    "source conformance: scope: a {} is listed for a scope of {kind:?} only",
                    other.type_name()
                ),
            }
        }
        let listed: BTreeSet<&str> = listing.media().map(|item| item.id.as_str()).collect();
        let wanted: BTreeSet<&str> = expected
            .iter()
            .filter(|e| e.kind.data_type() == kind)
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(
            listed, wanted,
            "source conformance: scope: a scope of {kind:?} lists other items than the fixture's"
        );
    }
}

async fn a_removed_item_is_not_found(fixture: &dyn SourceFixture, first: &Listing) {
    let Some(item) = first.media().next() else {
        return;
    };
    if !fixture.remove(&item.id).await {
        eprintln!("source conformance: removal: passed over, this fixture cannot lose an item");
        return;
    }
    let source = fixture.open().await;
    let outcome = match source.open(item).await {
        Ok(content) => {
            // Some services answer the request and fail the body: read it to the end.
            let mut stream = content.stream;
            let mut failure = None;
            while let Some(chunk) = stream.next().await {
                if let Err(err) = chunk {
                    failure = Some(err);
                    break;
                }
            }
            failure
        }
        Err(err) => Some(err),
    };
    match outcome {
        Some(err) => assert_eq!(
            err.kind(),
            ErrorKind::NotFound,
            "source conformance: removal: a removed item must be NotFound, got: {err}"
        ),
        None => panic!(
            "source conformance: removal: {} still opens after it was removed",
            item.id
        ),
    }
}
