//! The journal's contract, and the web app's tables', written once and run against both
//! back-ends: every test below is an `async fn(Arc<dyn Both>)` (a [`Store`] that is an
//! [`AppStore`] too, as both back-ends are), and `store_tests!` runs it on a SQLite file and on
//! a fresh PostgreSQL database (from `FERRY_TEST_DATABASE_URL`; `scripts/test` starts a
//! server).

use std::sync::Arc;

use ferry_core::{Album, Container, MediaItem, MediaKind, Scope, Skipped};
use ferry_engine::store::{
    Group, Landing, ListedPage, ListedUnit, Outcome, Place, StagedRow, UnitState,
};
use ferry_engine::{
    AccountRow, AppStore, ArchiveReady, ArchiveRow, ConnectionRow, EngineError, JobSpec, JobState,
    PgStore, SessionRow, SqliteStore, Store, open_store,
};

macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let path = dir.path().join("journal.db");
                    let store = super::open(path.to_str().unwrap()).await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = ferry_testkit::postgres::fresh_database().await;
                    let store = super::open(&url).await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

store_tests!(
    jobs_are_found_by_prefix_and_change_state,
    jobs_belong_to_their_owner,
    pages_are_journalled_once_with_their_cursor,
    units_get_containers_and_names,
    units_move_and_settle,
    siblings_tell_where_an_item_landed,
    connections_are_unique_per_owner,
    accounts_are_unique_by_email,
    sessions_expire_confirm_and_end,
    a_session_needs_its_account,
    each_account_reads_its_own_audit_log_newest_first,
    archives_expire_and_tickets_are_spent_once,
    notices_are_per_account_newest_first,
    a_rerun_finds_what_earlier_jobs_on_its_route_listed_and_landed,
);

/// The journal and the web app's tables of one database (accounts own jobs).
trait Both: Store + AppStore {}

impl<T: Store + AppStore + ?Sized> Both for T {}

async fn open(location: &str) -> Arc<dyn Both> {
    if location.starts_with("postgres://") {
        Arc::new(PgStore::connect(location).await.unwrap())
    } else {
        Arc::new(
            SqliteStore::open(std::path::Path::new(location))
                .await
                .unwrap(),
        )
    }
}

fn spec(destination: &str) -> JobSpec {
    JobSpec {
        sources: vec!["facebook:".into()],
        destination: destination.into(),
        scope: Scope::media(),
        layout: Default::default(),
        albums: None,
    }
}

fn item(id: &str, kind: MediaKind, albums: &[&str]) -> MediaItem {
    MediaItem {
        id: id.into(),
        kind,
        file_name: format!(
            "{id}.{}",
            if kind == MediaKind::Photo {
                "jpg"
            } else {
                "mp4"
            }
        ),
        caption: None,
        mime_type: None,
        size: Some(100),
        taken: None,
        uploaded: None,
        location: None,
        albums: albums.iter().map(|a| a.to_string()).collect(),
        live_photo_of: None,
        revision: None,
    }
}

fn album(id: &str) -> Album {
    Album {
        id: id.into(),
        title: format!("Album {id}"),
        path: Vec::new(),
        description: None,
        created: None,
        location: None,
    }
}

fn account(id: &str, email: &str) -> AccountRow {
    AccountRow {
        id: id.into(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: "2026-11-22T00:00:00Z".into(),
    }
}

fn session(hash: &str, account_id: &str, expires_at: i64) -> SessionRow {
    SessionRow {
        token_hash: hash.into(),
        account_id: account_id.into(),
        created_at: 100,
        expires_at,
        confirmed_at: 100,
    }
}

fn connection(id: &str, owner: &str, name: &str) -> ConnectionRow {
    ConnectionRow {
        id: id.into(),
        owner: owner.into(),
        name: name.into(),
        service: "dropbox".into(),
        account: format!("{owner}@dropbox"),
        settings: "{}".into(),
        sealed_secret: vec![1, 2, 3],
        created_at: String::new(),
    }
}

fn outcome(seq: i64, state: UnitState) -> Outcome {
    Outcome {
        seq,
        state,
        reason: None,
        attempts: 1,
        dest_id: None,
        sha256: None,
        bytes: None,
    }
}

/// A listed page of source 0: `items` as units, none known from earlier jobs.
fn page<'a>(
    albums: &'a [Album],
    items: &'a [MediaItem],
    skipped: &'a [Skipped],
    next: Option<&'a str>,
) -> ListedPage<'a> {
    ListedPage {
        source_index: 0,
        albums,
        units: ListedUnit::all(items).unwrap(),
        skipped,
        records: &[],
        unchanged: (0, 0),
        next,
    }
}

/// A job with one listed page: `a` in albums A1 and A2, `b` in none, `c` (a video) in A1,
/// and one skipped entry. Units 1..=4 are media, 5 is skipped.
async fn listed_job(store: &dyn Store) -> String {
    let job = store.create_job("", &spec("dropbox:")).await.unwrap();
    let items = [
        item("a", MediaKind::Photo, &["A1", "A2"]),
        item("b", MediaKind::Photo, &[]),
        item("c", MediaKind::Video, &["A1"]),
    ];
    let skipped = [Skipped {
        id: "s".into(),
        reason: "not a photo".into(),
    }];
    store
        .save_page(
            &job.id,
            page(&[album("A1"), album("A2")], &items, &skipped, None),
        )
        .await
        .unwrap();
    job.id
}

async fn jobs_are_found_by_prefix_and_change_state(store: Arc<dyn Both>) {
    let first = store.create_job("", &spec("dropbox:")).await.unwrap();
    let second = store.create_job("", &spec("koofr:")).await.unwrap();
    assert_eq!(first.state, JobState::Planning);
    assert!(!first.planned && first.finished_at.is_none());
    assert_eq!(first.spec, spec("dropbox:"));

    // The whole id, an unambiguous prefix, and either in capitals.
    assert_eq!(store.job(&first.id).await.unwrap().id, first.id);
    let unique = &second.id[..second.id.len() - 1];
    assert_eq!(store.job(unique).await.unwrap().id, second.id);
    assert_eq!(
        store.job(&first.id.to_uppercase()).await.unwrap().id,
        first.id
    );

    let common: String = first
        .id
        .chars()
        .zip(second.id.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    assert!(!common.is_empty(), "UUID v7s made together share a prefix");
    assert!(matches!(
        store.job(&common).await,
        Err(EngineError::AmbiguousJob(_))
    ));
    for nothing in ["", "%", "zz", "_", "ffffffff-0000"] {
        assert!(
            matches!(store.job(nothing).await, Err(EngineError::NoSuchJob(_))),
            "{nothing:?}"
        );
    }

    let ids: Vec<String> = store
        .jobs("")
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(ids, [second.id.clone(), first.id.clone()], "newest first");

    store
        .set_state(&first.id, JobState::Paused, Some("destination full"))
        .await
        .unwrap();
    let paused = store.job(&first.id).await.unwrap();
    assert_eq!(paused.state, JobState::Paused);
    assert_eq!(paused.reason.as_deref(), Some("destination full"));
    assert!(paused.finished_at.is_none());

    store.mark_planned(&second.id).await.unwrap();
    let running = store.job(&second.id).await.unwrap();
    assert!(running.planned);
    assert_eq!(running.state, JobState::Running);

    let unfinished: Vec<String> = store
        .unfinished_jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        unfinished,
        [first.id.clone(), second.id.clone()],
        "oldest first"
    );
    assert_eq!(
        store
            .unfinished_job("", &spec("dropbox:"))
            .await
            .unwrap()
            .map(|j| j.id),
        Some(first.id.clone())
    );

    store
        .set_state(&first.id, JobState::Done, None)
        .await
        .unwrap();
    let done = store.job(&first.id).await.unwrap();
    assert!(done.finished_at.is_some() && done.reason.is_none());
    assert!(
        store
            .unfinished_job("", &spec("dropbox:"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.unfinished_jobs().await.unwrap().len(), 1);
}

async fn jobs_belong_to_their_owner(store: Arc<dyn Both>) {
    store.create_account(&account("a", "ann@x")).await.unwrap();
    let spec = spec("dropbox:");
    let job_a = store.create_job("a", &spec).await.unwrap();
    assert_eq!(job_a.owner, "a");
    // The same spec under another owner is another job, never a resume of the first.
    assert!(store.unfinished_job("b", &spec).await.unwrap().is_none());
    assert_eq!(
        store.unfinished_job("a", &spec).await.unwrap().unwrap().id,
        job_a.id
    );
    assert_eq!(store.jobs("a").await.unwrap().len(), 1);
    assert!(store.jobs("b").await.unwrap().is_empty());
    store
        .set_state(&job_a.id, JobState::Cancelled, None)
        .await
        .unwrap();
    assert!(
        store.unfinished_job("a", &spec).await.unwrap().is_none(),
        "a cancelled job is never resumed"
    );
    assert!(store.unfinished_jobs().await.unwrap().is_empty());
    assert!(store.job(&job_a.id).await.unwrap().finished_at.is_some());
}

async fn pages_are_journalled_once_with_their_cursor(store: Arc<dyn Both>) {
    let job = store.create_job("", &spec("dropbox:")).await.unwrap();
    let mut motion = item("m", MediaKind::Video, &[]);
    motion.live_photo_of = Some("a".into());
    let items = [item("a", MediaKind::Photo, &["A1", "A2"]), motion];
    let skipped = [Skipped {
        id: "s".into(),
        reason: "not a photo".into(),
    }];
    store
        .save_page(&job.id, page(&[album("A1")], &items, &skipped, Some("c1")))
        .await
        .unwrap();
    let listed = store.job(&job.id).await.unwrap();
    assert_eq!(
        (listed.plan_source, listed.plan_cursor.as_deref()),
        (0, Some("c1"))
    );

    // A page listed again (a crash before its cursor was saved) adds nothing twice.
    store
        .save_page(&job.id, page(&[album("A1")], &items, &skipped, Some("c1")))
        .await
        .unwrap();
    assert_eq!(store.counts(&job.id).await.unwrap().total, 4);

    // The last page of a source moves the plan on to the next source.
    let big: Vec<MediaItem> = (0..300)
        .map(|i| item(&format!("x{i:03}"), MediaKind::Photo, &["A2"]))
        .collect();
    store
        .save_page(&job.id, page(&[album("A2")], &big, &[], None))
        .await
        .unwrap();
    let listed = store.job(&job.id).await.unwrap();
    assert_eq!((listed.plan_source, listed.plan_cursor), (1, None));

    let albums: Vec<(usize, String)> = store
        .albums(&job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(source, album)| (source, album.id))
        .collect();
    assert_eq!(albums, [(0, "A1".into()), (0, "A2".into())]);
    assert_eq!(store.albums(&job.id).await.unwrap()[0].1, album("A1"));

    let counts = store.counts(&job.id).await.unwrap();
    assert_eq!(
        (counts.total, counts.pending, counts.skipped),
        (304, 303, 1)
    );
    assert_eq!(counts.total_bytes, 303 * 100);
    assert_eq!(
        store.skip_reasons(&job.id).await.unwrap(),
        [("not a photo".to_string(), 1)]
    );

    // The motion half of a live photo is grouped with the photos.
    let groups = store.groups(&job.id).await.unwrap();
    let photo = |album: &str| Group {
        source_index: 0,
        album_id: album.into(),
        kind: MediaKind::Photo,
    };
    assert_eq!(groups, [photo(""), photo("A1"), photo("A2")]);

    let units = store.units_to_move(&job.id, 0, 1000).await.unwrap();
    let seqs: Vec<i64> = units.iter().map(|u| u.seq).collect();
    assert_eq!(
        seqs,
        (1..=3).chain(5..=304).collect::<Vec<_>>(),
        "journal order"
    );
    assert_eq!(
        (units[0].item.id.as_str(), units[0].album_id.as_str()),
        ("a", "A1")
    );
    assert_eq!(units[1].album_id, "A2");
    assert_eq!(units[2].item.live_photo_of.as_deref(), Some("a"));
    assert_eq!(units[3].item, big[0]);
    assert!(
        units
            .iter()
            .all(|u| u.state == UnitState::Pending && u.attempts == 0)
    );
    assert_eq!(store.units_to_move(&job.id, 3, 2).await.unwrap()[0].seq, 5);
    assert_eq!(store.units_to_move(&job.id, 3, 2).await.unwrap().len(), 2);
}

async fn units_get_containers_and_names(store: Arc<dyn Both>) {
    let job = listed_job(&*store).await;
    let folder = Container::Folder(vec!["Album A1".into()]);
    let group = Group {
        source_index: 0,
        album_id: "A1".into(),
        kind: MediaKind::Photo,
    };
    store
        .assign_container(&job, &group, "f/A1", &folder)
        .await
        .unwrap();
    let videos = Group {
        kind: MediaKind::Video,
        ..group.clone()
    };
    store
        .assign_container(&job, &videos, "f/A1", &folder)
        .await
        .unwrap();
    let library = Container::Library;
    for album_id in ["", "A2"] {
        let group = Group {
            album_id: album_id.into(),
            ..group.clone()
        };
        store
            .assign_container(&job, &group, "lib", &library)
            .await
            .unwrap();
    }
    assert_eq!(
        store.unnamed_units(&job, "f/A1").await.unwrap(),
        [1, 4],
        "a in A1, c in A1"
    );
    assert_eq!(store.unnamed_units(&job, "lib").await.unwrap(), [2, 3]);

    // Part of a container moves to another (an album split in parts).
    let part = Container::Album {
        title: "Album A1 (2)".into(),
        description: Some("part two".into()),
    };
    store.move_units(&job, &[4], "a/A1-2", &part).await.unwrap();
    assert_eq!(store.unnamed_units(&job, "f/A1").await.unwrap(), [1]);
    assert_eq!(store.unnamed_units(&job, "a/A1-2").await.unwrap(), [4]);

    store
        .set_container_dest(&job, "lib", "dest-lib")
        .await
        .unwrap();
    let containers = store.containers(&job).await.unwrap();
    assert_eq!(
        containers,
        [
            ("a/A1-2".to_string(), part, None),
            ("f/A1".to_string(), folder, None),
            ("lib".to_string(), library, Some("dest-lib".to_string())),
        ]
    );

    // Names are wanted in source order: source, item id, album.
    let wanted = store.wanted_names(&job, "lib").await.unwrap();
    assert_eq!(wanted, [(2, "a.jpg".to_string()), (3, "b.jpg".to_string())]);
    store
        .set_names(&job, &[(2, "a (A2).jpg".into()), (3, "b.jpg".into())])
        .await
        .unwrap();
    store.set_names(&job, &[]).await.unwrap();
    let units = store.units_to_move(&job, 0, 10).await.unwrap();
    let placed: Vec<(i64, &str, &str)> = units
        .iter()
        .map(|u| (u.seq, u.container.as_str(), u.name.as_str()))
        .collect();
    assert_eq!(
        placed,
        [
            (1, "f/A1", ""),
            (2, "lib", "a (A2).jpg"),
            (3, "lib", "b.jpg"),
            (4, "a/A1-2", "")
        ]
    );
}

async fn units_move_and_settle(store: Arc<dyn Both>) {
    let job = listed_job(&*store).await;
    store
        .mark_staged(
            &job,
            &[
                StagedRow {
                    seq: 1,
                    token: "t1".into(),
                    sha256: "h1".into(),
                    bytes: 11,
                },
                StagedRow {
                    seq: 2,
                    token: "t2".into(),
                    sha256: "h2".into(),
                    bytes: 22,
                },
            ],
            None,
        )
        .await
        .unwrap();
    store.mark_staged(&job, &[], None).await.unwrap();
    let units = store.units_to_move(&job, 0, 10).await.unwrap();
    assert_eq!(units.len(), 4, "staged units are still to move");
    assert_eq!(units[0].state, UnitState::Staged);
    assert_eq!(
        (
            units[0].token.as_deref(),
            units[0].sha256.as_deref(),
            units[0].bytes
        ),
        (Some("t1"), Some("h1"), Some(11))
    );

    let done = Outcome {
        dest_id: Some("d1".into()),
        ..outcome(1, UnitState::Done)
    };
    // Still staged after a failed commit: the token stays.
    let still_staged = Outcome {
        attempts: 2,
        ..outcome(2, UnitState::Staged)
    };
    let failed = Outcome {
        reason: Some("HTTP 500".into()),
        attempts: 3,
        ..outcome(3, UnitState::Failed)
    };
    let skipped = Outcome {
        reason: Some("too large".into()),
        ..outcome(4, UnitState::Skipped)
    };
    store
        .record_outcomes(&job, &[done, still_staged, failed, skipped], None)
        .await
        .unwrap();
    store.record_outcomes(&job, &[], None).await.unwrap();

    let left = store.units_to_move(&job, 0, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        (
            left[0].seq,
            left[0].state,
            left[0].attempts,
            left[0].token.as_deref()
        ),
        (2, UnitState::Staged, 2, Some("t2"))
    );

    let counts = store.counts(&job).await.unwrap();
    assert_eq!(
        (
            counts.total,
            counts.done,
            counts.pending,
            counts.failed,
            counts.skipped
        ),
        (5, 1, 1, 1, 2)
    );
    // Done bytes are the bytes moved (11), the others as listed (100 each; none for `s`).
    assert_eq!(
        (counts.bytes, counts.total_bytes),
        (11, 11 + 22 + 100 + 100)
    );
    let failures = store.failures(&job, 10).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].item.as_str(), failures[0].reason.as_str()),
        ("b", "HTTP 500")
    );
    assert_eq!(
        store.skip_reasons(&job).await.unwrap(),
        [("not a photo".to_string(), 1), ("too large".to_string(), 1)]
    );

    assert_eq!(store.retry_failed(&job).await.unwrap(), 1);
    assert_eq!(store.retry_failed(&job).await.unwrap(), 0);
    let retried = store.units_to_move(&job, 2, 10).await.unwrap();
    assert_eq!(
        (retried[0].seq, retried[0].state, retried[0].attempts),
        (3, UnitState::Pending, 0)
    );
    assert!(store.failures(&job, 10).await.unwrap().is_empty());
}

async fn siblings_tell_where_an_item_landed(store: Arc<dyn Both>) {
    let job = listed_job(&*store).await;
    let units = store.units_to_move(&job, 0, 10).await.unwrap();
    let (a_in_a1, a_in_a2) = (&units[0], &units[1]);
    assert_eq!(
        (a_in_a1.item.id.as_str(), a_in_a2.item.id.as_str()),
        ("a", "a")
    );

    let first = store.sibling_units(&job, a_in_a1).await.unwrap();
    assert_eq!(
        (first.landed.clone(), first.earlier_unsettled),
        (None, false)
    );
    let second = store.sibling_units(&job, a_in_a2).await.unwrap();
    assert!(second.earlier_unsettled, "the A1 unit is still pending");

    let landed = Outcome {
        dest_id: Some("d-a".into()),
        sha256: Some("ha".into()),
        bytes: Some(7),
        ..outcome(a_in_a1.seq, UnitState::Done)
    };
    store.record_outcomes(&job, &[landed], None).await.unwrap();
    let second = store.sibling_units(&job, a_in_a2).await.unwrap();
    assert_eq!(
        second.landed,
        Some(("d-a".to_string(), "ha".to_string(), 7))
    );
    assert!(!second.earlier_unsettled);
    // An item in one album has no siblings.
    let lone = store.sibling_units(&job, &units[2]).await.unwrap();
    assert_eq!((lone.landed, lone.earlier_unsettled), (None, false));
}

async fn connections_are_unique_per_owner(store: Arc<dyn Both>) {
    store.create_account(&account("a", "ann@x")).await.unwrap();
    store.create_account(&account("b", "bob@x")).await.unwrap();
    // The same name under two owners: one connection each.
    for (id, owner) in [("1", "a"), ("2", "b"), ("3", "")] {
        store
            .add_connection(&connection(id, owner, "dropbox"))
            .await
            .unwrap();
    }
    let taken = store
        .add_connection(&connection("4", "a", "dropbox"))
        .await
        .unwrap_err();
    assert!(taken.to_string().contains("exists already"), "{taken}");
    store
        .add_connection(&connection("5", "a", "Box"))
        .await
        .unwrap();
    let names: Vec<String> = store
        .connections("a")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Box", "dropbox"], "byte order, capitals first");

    let one = store.connection("a", "dropbox").await.unwrap().unwrap();
    assert_eq!((one.id.as_str(), one.account.as_str()), ("1", "a@dropbox"));
    assert_eq!(one.sealed_secret, [1, 2, 3]);
    assert!(!one.created_at.is_empty());
    assert_eq!(
        store.connection("b", "dropbox").await.unwrap().unwrap().id,
        "2"
    );

    store.update_connection_secret("1", &[9, 9]).await.unwrap();
    assert_eq!(
        store
            .connection("a", "dropbox")
            .await
            .unwrap()
            .unwrap()
            .sealed_secret,
        [9, 9]
    );
    store
        .update_connection("1", "ann@elsewhere", "{\"x\":1}", &[0, 255])
        .await
        .unwrap();
    let again = store.connection("a", "dropbox").await.unwrap().unwrap();
    assert_eq!(
        (
            again.account.as_str(),
            again.settings.as_str(),
            again.sealed_secret.as_slice()
        ),
        ("ann@elsewhere", "{\"x\":1}", [0u8, 255].as_slice())
    );
    assert!(
        !format!("{again:?}").contains("255"),
        "Debug hides the secret"
    );

    assert!(store.delete_connection("a", "dropbox").await.unwrap());
    assert!(!store.delete_connection("a", "dropbox").await.unwrap());
    assert!(store.connection("a", "dropbox").await.unwrap().is_none());
    assert!(store.connection("b", "dropbox").await.unwrap().is_some());
    assert!(store.connection("", "dropbox").await.unwrap().is_some());
}

async fn accounts_are_unique_by_email(store: Arc<dyn Both>) {
    assert!(store.create_account(&account("a", "ann@x")).await.unwrap());
    assert!(!store.create_account(&account("b", "ann@x")).await.unwrap());
    let ann = store.account_by_email("ann@x").await.unwrap().unwrap();
    assert_eq!(
        (ann.id.as_str(), ann.created_at.as_str()),
        ("a", "2026-11-22T00:00:00Z")
    );
    assert_eq!(ann.password_hash, account("a", "ann@x").password_hash);
    assert_eq!(store.account("a").await.unwrap().unwrap().email, "ann@x");
    assert!(store.account("b").await.unwrap().is_none());
    assert!(store.account_by_email("bob@x").await.unwrap().is_none());
}

async fn sessions_expire_confirm_and_end(store: Arc<dyn Both>) {
    store.create_account(&account("a", "ann@x")).await.unwrap();
    store
        .create_session(&session("live", "a", 1000))
        .await
        .unwrap();
    store
        .create_session(&session("old", "a", 200))
        .await
        .unwrap();

    assert_eq!(
        store.session("live", 500).await.unwrap(),
        Some(session("live", "a", 1000))
    );
    assert!(
        store.session("old", 500).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        store.session("live", 1000).await.unwrap().is_none(),
        "expires at its time"
    );

    store.confirm_session("live", 400).await.unwrap();
    assert_eq!(
        store
            .session("live", 500)
            .await
            .unwrap()
            .unwrap()
            .confirmed_at,
        400
    );

    assert_eq!(store.delete_expired_sessions(500).await.unwrap(), 1);
    assert!(store.delete_session("live").await.unwrap());
    assert!(!store.delete_session("live").await.unwrap());
    assert!(store.session("live", 500).await.unwrap().is_none());
}

async fn a_session_needs_its_account(store: Arc<dyn Both>) {
    assert!(
        store
            .create_session(&session("s", "nobody", 1000))
            .await
            .is_err()
    );
}

async fn each_account_reads_its_own_audit_log_newest_first(store: Arc<dyn Both>) {
    store.create_account(&account("a", "ann@x")).await.unwrap();
    store.create_account(&account("b", "bob@x")).await.unwrap();
    store.audit("a", "sign_up", "").await.unwrap();
    store.audit("b", "sign_up", "").await.unwrap();
    store.audit("a", "sign_in", "127.0.0.1").await.unwrap();

    let log = store.audit_log("a", 10).await.unwrap();
    let events: Vec<_> = log
        .iter()
        .map(|e| (e.event.as_str(), e.detail.as_str()))
        .collect();
    assert_eq!(events, [("sign_in", "127.0.0.1"), ("sign_up", "")]);
    assert!(log[0].seq > log[1].seq && !log[0].at.is_empty());
    assert_eq!(store.audit_log("a", 1).await.unwrap().len(), 1);
    assert_eq!(store.audit_log("b", 10).await.unwrap().len(), 1);
}

async fn archives_expire_and_tickets_are_spent_once(store: Arc<dyn Both>) {
    store.create_account(&account("a", "ann@x")).await.unwrap();
    let row = ArchiveRow {
        id: "arch".into(),
        owner: "a".into(),
        state: "building".into(),
        request: "{}".into(),
        path: None,
        size: None,
        sha256: None,
        summary: None,
        error: None,
        created_at: 10,
        ready_at: None,
        expires_at: None,
    };
    store.create_archive(&row).await.unwrap();
    assert_eq!(
        store.building_archives().await.unwrap(),
        std::slice::from_ref(&row)
    );
    store
        .create_archive(&ArchiveRow {
            id: "broken".into(),
            ..row.clone()
        })
        .await
        .unwrap();
    store.archive_failed("broken", "disk full").await.unwrap();
    let broken = store.archive("broken").await.unwrap().unwrap();
    assert_eq!(
        (broken.state.as_str(), broken.error.as_deref()),
        ("failed", Some("disk full"))
    );

    store
        .archive_ready(
            "arch",
            &ArchiveReady {
                path: "/x/arch.zip".into(),
                size: 42,
                sha256: "ab".into(),
                summary: "{}".into(),
                ready_at: 20,
                expires_at: 100,
            },
        )
        .await
        .unwrap();
    let ready = store.archive("arch").await.unwrap().unwrap();
    assert_eq!((ready.state.as_str(), ready.size), ("ready", Some(42)));
    assert_eq!(
        (ready.ready_at, ready.expires_at, ready.path.as_deref()),
        (Some(20), Some(100), Some("/x/arch.zip"))
    );
    assert!(store.building_archives().await.unwrap().is_empty());
    let ids: Vec<String> = store
        .archives("a")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["broken", "arch"], "newest (greatest id) first");
    assert!(store.archive("nope").await.unwrap().is_none());

    store.create_ticket("t1", "arch", "a", 50).await.unwrap();
    store.create_ticket("t2", "arch", "a", 50).await.unwrap();
    assert_eq!(
        store.spend_ticket("t1", 30).await.unwrap(),
        Some(("arch".into(), "a".into()))
    );
    assert_eq!(store.spend_ticket("t1", 31).await.unwrap(), None, "reused");
    assert_eq!(store.spend_ticket("t2", 50).await.unwrap(), None, "expired");
    assert_eq!(store.spend_ticket("nope", 30).await.unwrap(), None);

    // Many downloads racing on one ticket: exactly one gets it.
    store.create_ticket("t4", "arch", "a", 500).await.unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.spend_ticket("t4", 60).await.unwrap() })
        })
        .collect();
    let mut spent = 0;
    for racer in racers {
        spent += usize::from(racer.await.unwrap().is_some());
    }
    assert_eq!(spent, 1);

    assert!(store.due_archives(99).await.unwrap().is_empty());
    assert_eq!(store.due_archives(100).await.unwrap().len(), 1);
    store.create_ticket("t3", "arch", "a", 500).await.unwrap();
    store.archive_expired("arch").await.unwrap();
    let expired = store.archive("arch").await.unwrap().unwrap();
    assert_eq!((expired.state.as_str(), expired.path), ("expired", None));
    assert_eq!(
        store.spend_ticket("t3", 120).await.unwrap(),
        None,
        "an expired archive's tickets go with it"
    );
    assert!(store.due_archives(1000).await.unwrap().is_empty());
}

async fn notices_are_per_account_newest_first(store: Arc<dyn Both>) {
    store.create_account(&account("a", "ann@x")).await.unwrap();
    store.create_account(&account("b", "bob@x")).await.unwrap();
    store
        .notify("a", "Your archive is ready", "/archives/arch")
        .await
        .unwrap();
    store.notify("a", "Second", "").await.unwrap();
    store.notify("b", "Bob's", "").await.unwrap();
    let notices = store.notices("a", 10).await.unwrap();
    let texts: Vec<(&str, &str)> = notices
        .iter()
        .map(|n| (n.text.as_str(), n.link.as_str()))
        .collect();
    assert_eq!(
        texts,
        [("Second", ""), ("Your archive is ready", "/archives/arch")]
    );
    assert_eq!(store.notices("a", 1).await.unwrap().len(), 1);
    assert_eq!(store.notices("b", 10).await.unwrap().len(), 1);
    assert!(
        store.notify("nobody", "x", "").await.is_err(),
        "needs its account"
    );
}

#[test]
fn an_account_does_not_print_its_hash() {
    assert!(!format!("{:?}", account("a", "ann@x")).contains("argon2"));
}

#[tokio::test]
async fn sqlite_and_postgres_locations_open_their_back_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    open_store(path.to_str().unwrap()).await.unwrap();
    assert!(path.exists(), "a plain path is a SQLite file");

    let url = ferry_testkit::postgres::fresh_database().await;
    let store = open_store(&url.replacen("postgres://", "postgresql://", 1))
        .await
        .unwrap();
    store.create_job("", &spec("dropbox:")).await.unwrap();
    // A second process on the same database finds the schema up to date and the job there.
    let other = PgStore::connect(&url).await.unwrap();
    assert_eq!(other.jobs("").await.unwrap().len(), 1);
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'units'",
    )
    .fetch_one(other.pool())
    .await
    .unwrap();
    assert_eq!(tables, 1);
}

/// The store writes each statement once, with `$N` placeholders: SQLite must bind them by
/// number as PostgreSQL does, out of order and reused.
#[tokio::test]
async fn sqlite_binds_numbered_placeholders_by_number() {
    let store = SqliteStore::in_memory().await.unwrap();
    let row: (i64, String, i64) = sqlx::query_as("SELECT $2, $1, $2 * 10")
        .bind("one")
        .bind(2_i64)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row, (2, "one".to_string(), 20));
}

#[tokio::test]
async fn the_sqlite_journal_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    unsafe { libc::umask(0o022) };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let store = open_store(path.to_str().unwrap()).await.unwrap();
    store.create_job("", &spec("dropbox:")).await.unwrap();
    // SQLite makes these while the journal is open, with the main file's mode.
    for name in ["ferry.db", "ferry.db-wal", "ferry.db-shm"] {
        assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
    }
    drop(store);

    // A journal that an older ferry left readable by others is made private.
    let old = dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    open_store(old.to_str().unwrap()).await.unwrap();
    assert_eq!(mode(&old), 0o600);
}

/// A file of the test cluster's TLS set-up: `scripts/postgres start` makes a CA, a certificate
/// for `localhost` signed by it, and another CA.
fn test_tls(name: &str) -> String {
    let dir = std::env::var("FERRY_TEST_PG_DIR").expect(
        "FERRY_TEST_PG_DIR is not set: the TLS tests need the cluster of scripts/postgres start",
    );
    format!("{dir}/tls/{name}")
}

async fn encrypted(store: &PgStore) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

async fn refused(url: &str) -> String {
    match PgStore::connect(url).await {
        Ok(_) => panic!("connected to {url}"),
        Err(err) => {
            let err = err.to_string();
            assert!(!err.contains('\n'), "{err}");
            err
        }
    }
}

#[tokio::test]
async fn postgres_connections_are_encrypted_and_verified_when_asked() {
    // postgres://postgres@127.0.0.1:PORT/ferry_test_…; the certificate is for localhost.
    let url = ferry_testkit::postgres::fresh_database().await;
    let by_name = url.replacen("@127.0.0.1:", "@localhost:", 1);
    let ca = test_tls("ca.crt");

    let required = PgStore::connect(&format!("{url}?sslmode=require"))
        .await
        .unwrap();
    assert!(encrypted(&required).await, "sslmode=require is encrypted");

    let verified = PgStore::connect(&format!("{by_name}?sslmode=verify-full&sslrootcert={ca}"))
        .await
        .unwrap();
    assert!(encrypted(&verified).await);
    verified.create_job("", &spec("dropbox:")).await.unwrap();
    assert_eq!(required.jobs("").await.unwrap().len(), 1);

    // A certificate issued for another name than the URL's host.
    let err = refused(&format!("{url}?sslmode=verify-full&sslrootcert={ca}")).await;
    assert!(err.contains(r#"not valid for name "127.0.0.1""#), "{err}");
    assert!(err.contains("the URL's host must be a name"), "{err}");
    // A CA we were not told to trust, or none at all: the public roots do not know it.
    let other = test_tls("other-ca.crt");
    let err = refused(&format!(
        "{by_name}?sslmode=verify-full&sslrootcert={other}"
    ))
    .await;
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("name its CA with sslrootcert="), "{err}");
    let err = refused(&format!("{by_name}?sslmode=verify-full")).await;
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn a_postgres_error_is_one_line_without_the_password() {
    // Nothing listens on port 1.
    let err = match PgStore::connect("postgres://ferry:hunter2@127.0.0.1:1/ferry").await {
        Ok(_) => panic!("connected to nothing"),
        Err(err) => err.to_string(),
    };
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    assert!(err.contains("127.0.0.1:1/ferry"), "{err}");
}

/// Two jobs on one route (same owner, same spec) and one on another: what the first landed
/// is remembered for the route when it ends, and the second finds it by source id; a unit it
/// journals at its earlier place keeps that place, and an unchanged one is only counted.
async fn a_rerun_finds_what_earlier_jobs_on_its_route_listed_and_landed(store: Arc<dyn Both>) {
    let versioned = |id: &str, revision: &str| MediaItem {
        revision: Some(revision.into()),
        ..item(id, MediaKind::Photo, &[])
    };
    let first = store.create_job("", &spec("dropbox:")).await.unwrap().id;
    let items = [versioned("a", "1"), versioned("b", "1")];
    store
        .save_page(&first, page(&[], &items, &[], None))
        .await
        .unwrap();
    let group = Group {
        source_index: 0,
        album_id: String::new(),
        kind: MediaKind::Photo,
    };
    store
        .assign_container(&first, &group, "lib", &Container::Library)
        .await
        .unwrap();
    store
        .set_names(&first, &[(1, "a.jpg".into()), (2, "b.jpg".into())])
        .await
        .unwrap();
    store
        .set_container_dest(&first, "lib", "root")
        .await
        .unwrap();
    let landed = |seq: i64| Outcome {
        dest_id: Some(format!("id-{seq}")),
        sha256: Some(format!("sha-{seq}")),
        bytes: Some(100 + seq as u64),
        ..outcome(seq, UnitState::Done)
    };
    store
        .record_outcomes(&first, &[landed(1)], None)
        .await
        .unwrap();
    // Paused with a landed: a is remembered already.
    store
        .set_state(&first, JobState::Paused, None)
        .await
        .unwrap();
    let second = store.create_job("", &spec("dropbox:")).await.unwrap().id;
    let ids: Vec<String> = ["a", "b", "zzz"].iter().map(|s| s.to_string()).collect();
    assert_eq!(store.landings(&second, 0, &ids).await.unwrap().len(), 1);
    store
        .record_outcomes(&first, &[landed(2)], None)
        .await
        .unwrap();
    store.set_state(&first, JobState::Done, None).await.unwrap();
    // Another route: never recalled.
    let elsewhere = store.create_job("", &spec("koofr:")).await.unwrap().id;
    assert!(
        store
            .landings(&elsewhere, 0, &ids)
            .await
            .unwrap()
            .is_empty()
    );
    let other_owner = store.create_job("x", &spec("dropbox:")).await.unwrap().id;
    assert!(
        store
            .landings(&other_owner, 0, &ids)
            .await
            .unwrap()
            .is_empty()
    );

    let found = store.landings(&second, 0, &ids).await.unwrap();
    let record = |item: &MediaItem| serde_json::to_string(item).unwrap();
    assert_eq!(
        found[0],
        Landing {
            source_id: "a".into(),
            album_id: String::new(),
            record: record(&items[0]),
            container: "lib".into(),
            container_spec: found[0].container_spec.clone(),
            container_id: "root".into(),
            name: "a.jpg".into(),
            dest_id: "id-1".into(),
            sha256: "sha-1".into(),
            bytes: 101,
        }
    );
    assert_eq!(found.len(), 2);
    assert!(store.landings(&second, 1, &ids).await.unwrap().is_empty());
    let mut names = store.landed_names(&second, "lib").await.unwrap();
    names.sort();
    assert_eq!(names, ["a.jpg", "b.jpg"]);
    assert_eq!(store.landed_count(&second, "lib").await.unwrap(), 2);
    assert_eq!(store.landed_count(&second, "li").await.unwrap(), 0);

    // The second job: a is unchanged and in place (only counted), b goes back to its place,
    // c is new.
    let now = [versioned("b", "1"), versioned("c", "1")];
    let mut units = ListedUnit::all(&now).unwrap();
    units[0].place = Some(Place {
        container: found[1].container.clone(),
        container_spec: found[1].container_spec.clone(),
        name: found[1].name.clone(),
    });
    store
        .save_page(
            &second,
            ListedPage {
                units,
                unchanged: (1, 101),
                ..page(&[], &[], &[], None)
            },
        )
        .await
        .unwrap();
    let counts = store.counts(&second).await.unwrap();
    assert_eq!(
        (counts.total, counts.done, counts.unchanged, counts.pending),
        (3, 1, 1, 2)
    );
    assert_eq!(counts.bytes, 101);
    // Only c is planned: b has its container and name already.
    assert_eq!(
        store.groups(&second).await.unwrap(),
        std::slice::from_ref(&group)
    );
    store
        .assign_container(&second, &group, "lib", &Container::Library)
        .await
        .unwrap();
    assert_eq!(
        store.wanted_names(&second, "lib").await.unwrap(),
        [(2, "c.jpg".to_string())]
    );
    let containers = store.containers(&second).await.unwrap();
    assert_eq!(containers.len(), 1);
    let units = store.units_to_move(&second, 0, 10).await.unwrap();
    assert_eq!(
        (units[0].container.as_str(), units[0].name.as_str()),
        ("lib", "b.jpg")
    );
}
