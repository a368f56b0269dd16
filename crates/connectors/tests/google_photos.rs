//! Google Photos as a destination, against the sandbox's emulator of the Library API.

mod common;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use ferry_connectors::google_photos::{GooglePhotosDestination, Tuning};
use ferry_core::{
    Container, Content, Destination, Error, ErrorKind, Landed, MediaItem, MediaKind, Staged, Target,
};
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};

/// Small sizes and short waits, so that every path runs in a test's time.
fn tuning() -> Tuning {
    Tuning {
        raw_limit: 1 << 20,
        chunk_size: 512 << 10,
        pacer_step: Duration::from_millis(20),
        pacer_ceiling: Duration::from_millis(200),
        commit_retry: ferry_core::RetryPolicy {
            max_attempts: 5,
            max_rate_limited: 20,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            max_wait: None,
        },
    }
}

async fn sandbox() -> Sandbox {
    ferry_sandbox::start(SandboxOptions::default())
        .await
        .expect("the sandbox starts")
}

fn destination(sb: &Sandbox) -> GooglePhotosDestination {
    let session = common::session(sb, &ferry_connectors::google_photos::SERVICE);
    GooglePhotosDestination::with_tuning(session, tuning()).unwrap()
}

/// Bytes that differ per name, and from any other file of the same length.
fn data(name: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block: [u8; 32] = Sha256::digest(name.as_bytes()).into();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block).into();
    }
    out.truncate(len);
    out
}

struct Item {
    target: Target,
    bytes: Vec<u8>,
}

fn item(container: &str, name: &str, bytes: Vec<u8>, caption: Option<&str>) -> Item {
    let media = MediaItem {
        id: format!("{container}/{name}"),
        kind: if name.ends_with(".mp4") {
            MediaKind::Video
        } else {
            MediaKind::Photo
        },
        file_name: name.into(),
        caption: caption.map(str::to_string),
        mime_type: None,
        size: Some(bytes.len() as u64),
        taken: None,
        uploaded: None,
        location: None,
        albums: vec![],
        live_photo_of: None,
        revision: None,
    };
    Item {
        target: Target {
            container: container.into(),
            name: name.into(),
            size: Some(bytes.len() as u64),
            modified: None,
            item: media,
        },
        bytes,
    }
}

/// The item's bytes as a source hands them out: pieces of 100 kB (not a multiple of anything).
fn content(bytes: &[u8]) -> Content {
    let pieces: Vec<ferry_core::Result<Bytes>> = bytes
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Content::new(
        futures::stream::iter(pieces).boxed(),
        Some(bytes.len() as u64),
    )
}

fn staged(token: String, bytes: &[u8]) -> Staged {
    Staged {
        token,
        bytes: bytes.len() as u64,
        sha256: Sha256::digest(bytes).into(),
    }
}

fn transient(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::Retryable | ErrorKind::RateLimited)
}

/// What the engine does: upload every item (retrying passing failures), commit in batches of
/// the destination's size, and upload again and commit again whatever a commit failed.
async fn transfer(dest: &GooglePhotosDestination, items: &[Item]) -> Vec<Landed> {
    let batch_size = dest.capabilities().max_commit_batch;
    let mut landed: Vec<Option<Landed>> = vec![None; items.len()];
    for round in 0..40 {
        let todo: Vec<usize> = (0..items.len()).filter(|&i| landed[i].is_none()).collect();
        if todo.is_empty() {
            break;
        }
        assert!(
            round < 39,
            "items still not placed after many rounds: {todo:?}"
        );
        let mut ready = Vec::new();
        for i in todo {
            let it = &items[i];
            match dest.upload(&it.target, content(&it.bytes)).await {
                Ok(up) => ready.push((i, staged(up.token, &it.bytes))),
                Err(err) if transient(&err) => pause(&err).await,
                Err(err) => panic!("{}: {err}", it.target.name),
            }
        }
        for chunk in ready.chunks(batch_size) {
            let batch = chunk
                .iter()
                .map(|(i, s)| (items[*i].target.clone(), s.clone()))
                .collect();
            for ((i, _), result) in chunk.iter().zip(dest.commit(batch).await) {
                match result {
                    Ok(l) => landed[*i] = Some(l),
                    Err(err) if transient(&err) => pause(&err).await,
                    Err(err) => panic!("{}: {err}", items[*i].target.name),
                }
            }
        }
    }
    landed.into_iter().map(Option::unwrap).collect()
}

/// The engine would wait `retry_after`; the pacer inside the client already spaces writes.
async fn pause(err: &Error) {
    let wait = match err {
        Error::RateLimited {
            retry_after: Some(after),
            ..
        } => (*after).min(Duration::from_millis(50)),
        _ => Duration::from_millis(5),
    };
    tokio::time::sleep(wait).await;
}

fn media_items(sb: &Sandbox) -> Vec<Value> {
    sb.state()["google_photos"]["media_items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn albums(sb: &Sandbox) -> Vec<Value> {
    sb.state()["google_photos"]["albums"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many requests a route got (every status, every fault).
fn requests(sb: &Sandbox, method: &str, route: &str) -> u64 {
    sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == method && r["route"] == route)
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

const BATCH_CREATE: &str = "/google/photos/v1/mediaItems:batchCreate";
const UPLOADS: &str = "/google/photos/v1/uploads";

/// Each item exists exactly once, with the bytes that were sent, in the right album.
fn assert_placed(sb: &Sandbox, items: &[Item], landed: &[Landed]) {
    let stored = media_items(sb);
    for (it, l) in items.iter().zip(landed) {
        let matching: Vec<&Value> = stored
            .iter()
            .filter(|m| {
                m["filename"] == it.target.name.as_str()
                    && m["sha256"] == hex::encode(Sha256::digest(&it.bytes)).as_str()
            })
            .collect();
        assert_eq!(matching.len(), 1, "{} is there once", it.target.name);
        let m = matching[0];
        assert_eq!(m["id"], l.id.as_str());
        assert_eq!(l.bytes, it.bytes.len() as u64);
        let album_ids: Vec<&str> = m["album_ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if it.target.container.is_empty() {
            assert!(album_ids.is_empty(), "{} is in no album", it.target.name);
        } else {
            assert_eq!(album_ids, vec![it.target.container.as_str()]);
        }
    }
}

fn album(title: &str) -> Container {
    Container::Album {
        title: title.into(),
        description: Some("about it".into()),
    }
}

#[tokio::test]
async fn albums_library_captions_and_no_duplicates_on_a_rerun() {
    let sb = sandbox().await;
    let dest = destination(&sb);
    dest.check().await.unwrap();
    assert_eq!(dest.describe(), "Google Photos google-photos:");
    let caps = dest.capabilities();
    assert_eq!(caps.max_commit_batch, 50);
    assert_eq!(caps.max_album_items, Some(20_000));

    let trip = dest.ensure_container(&album("Trip")).await.unwrap();
    assert_eq!(dest.ensure_container(&album("Trip")).await.unwrap(), trip);
    assert_eq!(
        dest.ensure_container(&Container::Library).await.unwrap(),
        ""
    );
    // Another app's album of that title is invisible: ferry makes its own.
    let other = dest
        .ensure_container(&album("Not created by this app"))
        .await
        .unwrap();
    assert!(!other.contains("OtherApp"));

    let long_caption = "é".repeat(1500);
    let items = vec![
        item(
            &trip,
            "beach.jpg",
            data("beach", 30_000),
            Some("At the beach"),
        ),
        item(&trip, "long.jpg", data("long", 20_000), Some(&long_caption)),
        item(&trip, "clip.mp4", data("clip", 250_000), None),
        item("", "same.jpg", data("library same", 10_000), Some("  ")),
        // The same name in an album and in the library: two different items.
        item(&trip, "same.jpg", data("album same", 11_000), None),
    ];
    let landed = transfer(&dest, &items).await;
    assert_placed(&sb, &items, &landed);

    let stored = media_items(&sb);
    let by_name = |name: &str, size: usize| {
        stored
            .iter()
            .find(|m| m["filename"] == name && m["size"] == size as u64)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("beach.jpg", 30_000)["description"], "At the beach");
    assert_eq!(
        by_name("long.jpg", 20_000)["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1000
    );
    assert!(
        by_name("clip.mp4", 250_000)["mimeType"]
            .as_str()
            .unwrap()
            .starts_with("video/")
    );
    assert!(by_name("same.jpg", 10_000)["description"].is_null());

    // A second run (a new process: nothing cached) finds the album and every item.
    let created = requests(&sb, "POST", BATCH_CREATE);
    let again = destination(&sb);
    let trip_again = again.ensure_container(&album("Trip")).await.unwrap();
    assert_eq!(trip_again, trip);
    let relanded = transfer(&again, &items).await;
    for (a, b) in landed.iter().zip(&relanded) {
        assert_eq!(a.id, b.id);
    }
    assert_eq!(media_items(&sb).len(), items.len());
    assert_eq!(
        requests(&sb, "POST", BATCH_CREATE),
        created,
        "nothing created twice"
    );
    assert_eq!(
        albums(&sb).iter().filter(|a| a["title"] == "Trip").count(),
        1
    );

    // After a crash between commit and journal, `find` recognises the item by its name.
    let fresh = destination(&sb);
    let found = fresh
        .find(&items[0].target, &staged("old".into(), &items[0].bytes))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, landed[0].id);
    let unknown = item(&trip, "never.jpg", data("never", 10), None);
    assert!(
        fresh
            .find(&unknown.target, &staged("old".into(), &unknown.bytes))
            .await
            .unwrap()
            .is_none()
    );

    let account = ferry_connectors::google_photos::auth::account(&common::session(
        &sb,
        &ferry_connectors::google_photos::SERVICE,
    ))
    .await
    .unwrap();
    assert_eq!(account, "Google Photos (2 albums created by this app)");
    sb.shutdown().await;
}

#[tokio::test]
async fn batches_of_at_most_fifty_serially() {
    let sb = sandbox().await;
    let dest = destination(&sb);
    let album_id = dest.ensure_container(&album("Many")).await.unwrap();
    let items: Vec<Item> = (0..120)
        .map(|i| {
            let name = format!("{i:03}.jpg");
            let bytes = data(&name, 100 + i);
            item(&album_id, &name, bytes, None)
        })
        .collect();
    // One commit call with all of them: the destination splits it.
    let mut batch = Vec::new();
    for it in &items {
        let up = dest.upload(&it.target, content(&it.bytes)).await.unwrap();
        batch.push((it.target.clone(), staged(up.token, &it.bytes)));
    }
    let landed: Vec<Landed> = dest
        .commit(batch)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(requests(&sb, "POST", BATCH_CREATE), 3);
    assert_placed(&sb, &items, &landed);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_large_file_goes_up_in_chunks() {
    let sb = sandbox().await;
    let dest = destination(&sb);
    let bytes = data("big", (2 << 20) + 300_001);
    let items = vec![item("", "big.jpg", bytes, None)];
    let landed = transfer(&dest, &items).await;
    assert_placed(&sb, &items, &landed);
    // Start, then 512 KiB chunks: 4 whole ones and a last one of 300,001 bytes.
    assert_eq!(requests(&sb, "POST", UPLOADS), 6);
    sb.shutdown().await;
}

#[tokio::test]
async fn empty_oversized_and_short_files_are_refused() {
    let sb = sandbox().await;
    let dest = destination(&sb);

    let empty = item("", "empty.jpg", Vec::new(), None);
    let err = dest
        .upload(&empty.target, content(&empty.bytes))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(
        err.to_string().contains("does not accept empty files"),
        "{err}"
    );

    // An empty stream of unknown length is found out after the upload.
    let unknown = Content::new(futures::stream::empty().boxed(), None);
    let mut no_size = item("", "empty2.jpg", Vec::new(), None);
    no_size.target.size = None;
    let err = dest.upload(&no_size.target, unknown).await.unwrap_err();
    assert!(
        err.to_string().contains("does not accept empty files"),
        "{err}"
    );

    let mut huge = item("", "huge.jpg", Vec::new(), None);
    huge.target.size = Some(201_000_000);
    let never_read = Content::new(futures::stream::pending().boxed(), Some(201_000_000));
    let err = dest.upload(&huge.target, never_read).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.to_string().contains("200 MB"), "{err}");

    // A source that ends early fails the upload with the source's own story.
    let short = item("", "short.jpg", data("short", 1000), None);
    let cut = Content::new(
        futures::stream::iter(vec![Ok(Bytes::from(data("short", 500)))]).boxed(),
        Some(1000),
    );
    let err = dest.upload(&short.target, cut).await.unwrap_err();
    assert!(err.to_string().contains("ended 500 bytes before"), "{err}");
    let short_big = item("", "short-big.jpg", data("short", 3 << 20), None);
    let cut = Content::new(
        futures::stream::iter(vec![Ok(Bytes::from(data("short", 1 << 20)))]).boxed(),
        Some(3 << 20),
    );
    let err = dest.upload(&short_big.target, cut).await.unwrap_err();
    assert!(err.to_string().contains("before the length"), "{err}");
    assert!(media_items(&sb).is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn faults_leave_each_item_exactly_once() {
    let sb = sandbox().await;
    let dest = destination(&sb);
    let album_id = dest.ensure_container(&album("Faulty")).await.unwrap();
    let items: Vec<Item> = (0..40)
        .map(|i| {
            let name = format!("f{i:02}.jpg");
            let container = if i % 4 == 0 { "" } else { album_id.as_str() };
            // Two of them large enough for the resumable protocol.
            let len = if i % 20 == 7 {
                (1 << 20) + 5000
            } else {
                5000 + i
            };
            item(container, &name, data(&name, len), Some("caption"))
        })
        .collect();
    sb.set_faults(
        Service::GooglePhotos,
        FaultConfig {
            rate_429: 0.06,
            rate_500: 0.06,
            rate_503: 0.06,
            rate_reset: 0.06,
            rate_truncate: 0.08,
            ..sb.faults(Service::GooglePhotos)
        },
    );
    let landed = transfer(&dest, &items).await;
    sb.set_faults(Service::GooglePhotos, FaultConfig::default());
    assert_placed(&sb, &items, &landed);
    assert_eq!(media_items(&sb).len(), items.len());
    let faults: u64 = sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["fault"].is_null())
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert!(faults >= 5, "faults were injected ({faults})");
    sb.shutdown().await;
}

/// Uploads under 10 % faults of every kind each go up in one `upload` call: a resumable
/// chunk that meets a fault is sent again from what Google Photos says it received (`query`),
/// a raw upload again whole; never the whole item through the engine. The video is 64 chunks
/// of 256 KiB, as many as a 1 GiB video in the default 16 MiB chunks (docs/benchmarks.md has
/// that run).
#[tokio::test]
async fn uploads_go_through_faults_in_one_call() {
    let sb = sandbox().await;
    let session = common::session(&sb, &ferry_connectors::google_photos::SERVICE);
    let tuning = Tuning {
        chunk_size: 256 << 10,
        ..tuning()
    };
    let dest = GooglePhotosDestination::with_tuning(session, tuning).unwrap();
    let mut items = vec![item("", "video.mp4", data("video", 16 << 20), None)];
    items.extend((0..12).map(|i| {
        let name = format!("p{i:02}.jpg");
        item("", &name, data(&name, 40_000 + i), None)
    }));
    sb.set_faults(
        Service::GooglePhotos,
        FaultConfig {
            rate_429: 0.02,
            rate_500: 0.02,
            rate_503: 0.02,
            rate_reset: 0.02,
            rate_truncate: 0.02,
            retry_after_secs: 1,
            ..sb.faults(Service::GooglePhotos)
        },
    );
    let mut ready = Vec::new();
    for it in &items {
        let uploaded = dest
            .upload(&it.target, content(&it.bytes))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{}: one upload call survives the faults: {e}",
                    it.target.name
                )
            });
        ready.push((it.target.clone(), staged(uploaded.token, &it.bytes)));
    }
    let upload_faults: u64 = sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == UPLOADS && !r["fault"].is_null())
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert!(upload_faults > 0, "the faults met the uploads");
    sb.set_faults(Service::GooglePhotos, FaultConfig::default());
    let landed: Vec<Landed> = dest
        .commit(ready)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_placed(&sb, &items, &landed);
    assert_eq!(media_items(&sb).len(), items.len());
    sb.shutdown().await;
}

/// `batchCreate` made the items but its answer was cut: the commit fails, and the next commit
/// of the same targets (new uploads, as the engine does) lands them on what is there.
#[tokio::test]
async fn a_lost_commit_answer_creates_nothing_twice() {
    let sb = sandbox().await;
    let dest = destination(&sb);
    let album_id = dest.ensure_container(&album("Cut")).await.unwrap();
    let items: Vec<Item> = (0..3)
        .map(|i| {
            let name = format!("cut{i}.jpg");
            item(&album_id, &name, data(&name, 3000), None)
        })
        .collect();
    let mut batch = Vec::new();
    for it in &items {
        let up = dest.upload(&it.target, content(&it.bytes)).await.unwrap();
        batch.push((it.target.clone(), staged(up.token, &it.bytes)));
    }
    // The album's listing is loaded (and not faulted): only `batchCreate` answers are cut.
    assert!(
        dest.find(&items[0].target, &batch[0].1)
            .await
            .unwrap()
            .is_none()
    );
    let calm = sb.faults(Service::GooglePhotos);
    sb.set_faults(
        Service::GooglePhotos,
        FaultConfig {
            rate_truncate: 1.0,
            ..calm.clone()
        },
    );
    for result in dest.commit(batch).await {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Retryable);
    }
    sb.set_faults(Service::GooglePhotos, calm);
    assert_eq!(media_items(&sb).len(), 3, "the cut call made them");
    let created = requests(&sb, "POST", BATCH_CREATE);
    let landed = transfer(&dest, &items).await;
    assert_placed(&sb, &items, &landed);
    assert_eq!(requests(&sb, "POST", BATCH_CREATE), created);

    // A 429 comes back with the pacer's delay, which holds the next write.
    sb.set_faults(
        Service::GooglePhotos,
        FaultConfig {
            rate_429: 1.0,
            retry_after_secs: 1,
            ..sb.faults(Service::GooglePhotos)
        },
    );
    let more = item("", "more.jpg", data("more", 100), None);
    match dest.upload(&more.target, content(&more.bytes)).await {
        Err(Error::RateLimited {
            retry_after: Some(after),
            ..
        }) => assert!(after >= Duration::from_secs(1)),
        other => panic!("not rate limited: {other:?}"),
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_refreshed_mid_way() {
    let sb = sandbox().await;
    let dest = destination(&sb);
    let album_id = dest.ensure_container(&album("Refreshed")).await.unwrap();
    let first = vec![item(&album_id, "a.jpg", data("a", 4000), None)];
    transfer(&dest, &first).await;
    let expired: Value = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/tokens/expire?service=google-photos",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(expired["expired"].as_u64().unwrap() >= 1);
    // An upload's bytes are held in memory: they go again with the fresh token.
    let second = item(&album_id, "b.jpg", data("b", 4000), None);
    dest.upload(&second.target, content(&second.bytes))
        .await
        .unwrap();
    let rest = vec![second, item(&album_id, "c.jpg", data("c", 4000), None)];
    let landed = transfer(&dest, &rest).await;
    assert_placed(&sb, &rest, &landed);

    let expire = || async {
        reqwest::Client::new()
            .post(format!(
                "{}/_sandbox/tokens/expire?service=google-photos",
                sb.base_url()
            ))
            .send()
            .await
            .unwrap();
    };
    // A stream of unknown length goes up streamed, once: it fails as retryable with a fresh
    // token.
    expire().await;
    let unknown = Content::new(
        futures::stream::iter(vec![Ok(Bytes::from(data("d", 4000)))]).boxed(),
        None,
    );
    let mut third = item(&album_id, "d.jpg", Vec::new(), None);
    third.target.size = None;
    let err = dest.upload(&third.target, unknown).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");

    // JSON calls refresh and resend on their own.
    expire().await;
    dest.check().await.unwrap();
    sb.shutdown().await;
}

#[tokio::test]
async fn a_full_account_pauses_the_job() {
    let sb = sandbox().await;
    sb.set_faults(
        Service::GooglePhotos,
        FaultConfig {
            quota_bytes: Some(10_000),
            ..sb.faults(Service::GooglePhotos)
        },
    );
    let dest = destination(&sb);
    let items: Vec<Item> = (0..3)
        .map(|i| {
            let name = format!("q{i}.jpg");
            item("", &name, data(&name, 4000), None)
        })
        .collect();
    let mut batch = Vec::new();
    for it in &items {
        let up = dest.upload(&it.target, content(&it.bytes)).await.unwrap();
        batch.push((it.target.clone(), staged(up.token, &it.bytes)));
    }
    let results = dest.commit(batch).await;
    assert!(results[0].is_ok() && results[1].is_ok());
    let err = results[2].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DestinationFull, "{err}");
    assert!(err.to_string().contains("storage is full"), "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_deleted_album_is_reported_not_skipped() {
    let sb = sandbox().await;
    let dest = destination(&sb);
    let gone = "AF1QipThisAlbumWasDeleted";
    let it = item(gone, "x.jpg", data("x", 1000), None);
    let up = dest.upload(&it.target, content(&it.bytes)).await.unwrap();
    let results = dest
        .commit(vec![(it.target.clone(), staged(up.token, &it.bytes))])
        .await;
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("was deleted"), "{err}");
    // Later items for that album fail at once, without sending their bytes.
    let uploads = requests(&sb, "POST", UPLOADS);
    let err = dest
        .upload(&it.target, content(&it.bytes))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("was deleted"), "{err}");
    assert_eq!(requests(&sb, "POST", UPLOADS), uploads);
    sb.shutdown().await;
}

#[tokio::test]
async fn revoking_ends_the_grant() {
    let sb = sandbox().await;
    let session = common::session(&sb, &ferry_connectors::google_photos::SERVICE);
    ferry_connectors::google_photos::auth::revoke(&session)
        .await
        .unwrap();
    let status = reqwest::Client::new()
        .get(format!("{}/v1/albums", sb.urls().google_photos.api_url))
        .bearer_auth(sb.credentials().google_photos.access_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    // Revoking again has nothing left to do.
    ferry_connectors::google_photos::auth::revoke(&session)
        .await
        .unwrap();
    sb.shutdown().await;
}

#[test]
fn the_oauth_app_asks_for_offline_access_with_pkce() {
    let config = ferry_connectors::config::Config::defaults();
    let app = ferry_connectors::google_photos::auth::oauth_app(
        config.service(&ferry_connectors::google_photos::SERVICE),
    );
    assert_eq!(
        app.authorize_url,
        "https://accounts.google.com/o/oauth2/v2/auth"
    );
    assert_eq!(app.token_url, "https://oauth2.googleapis.com/token");
    assert!(app.pkce);
    assert!(app.extra.contains(&("access_type", "offline")));
    assert!(app.extra.contains(&("prompt", "consent")));
    assert!(
        app.scopes
            .iter()
            .all(|s| s.starts_with("https://www.googleapis.com/auth/photoslibrary."))
    );
}

/// A minimal HTTP/1.1 server for the one case the sandbox cannot aim at: the answer to the
/// finalizing chunk of a resumable upload is lost, and only that one. It records the upload
/// commands it saw.
async fn lossy_upload_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let session_url = format!("{base}/v1/uploads?upload_id=s1");
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let session_url = session_url.clone();
            tokio::spawn(async move {
                let mut conn = BufReader::new(socket);
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        head.push(line.trim_end().to_ascii_lowercase());
                    }
                    let header = |name: &str| {
                        head.iter()
                            .find_map(|h| h.strip_prefix(&format!("{name}: ")).map(str::to_string))
                    };
                    let length: usize = header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    conn.read_exact(&mut body).await.unwrap();
                    let command = header("x-goog-upload-command").unwrap_or_default();
                    log.lock().unwrap().push(command.clone());
                    let socket = conn.get_mut();
                    let answer = match command.as_str() {
                        "start" => format!(
                            "HTTP/1.1 200 OK\r\nx-goog-upload-url: {session_url}\r\n\
                             x-goog-upload-chunk-granularity: 262144\r\ncontent-length: 0\r\n\r\n"
                        ),
                        "upload" => "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_string(),
                        "upload, finalize" => {
                            // Half the token, then the connection drops.
                            let _ = socket
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nTOKEN")
                                .await;
                            return;
                        }
                        "query" => "HTTP/1.1 200 OK\r\nx-goog-upload-status: final\r\n\
                                    content-length: 12\r\n\r\nTOKEN-OF-ALL"
                            .to_string(),
                        _ => "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n".to_string(),
                    };
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen)
}

#[tokio::test]
async fn a_lost_finalize_answer_is_recovered_by_a_query() {
    let (base, seen) = lossy_upload_server().await;
    let config = ferry_connectors::config::Config::parse(
        &format!("[services.google-photos]\napi_url = \"{base}\"\n"),
        None,
    )
    .unwrap();
    let secret = ferry_connectors::auth::Secret::tokens("t".into(), None, None);
    let session = ferry_connectors::service::Session::new(
        &ferry_connectors::google_photos::SERVICE,
        "fake",
        &config,
        Default::default(),
        &secret,
        None,
    )
    .unwrap();
    let dest = GooglePhotosDestination::with_tuning(session, tuning()).unwrap();
    let big = item("", "big.jpg", data("big", (1 << 20) + 10), None);
    let uploaded = dest.upload(&big.target, content(&big.bytes)).await.unwrap();
    assert_eq!(uploaded.token, "TOKEN-OF-ALL");
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["start", "upload", "upload", "upload, finalize", "query"]
    );
}

/// The whole connection: consent with the scopes `oauth_app` asks for (and nothing more),
/// PKCE and offline access, then a transfer with the tokens it gave.
#[tokio::test]
async fn a_connection_with_the_requested_scopes_can_transfer() {
    let sb = sandbox().await;
    let config = common::config(&sb);
    let service = config.service(&ferry_connectors::google_photos::SERVICE);
    let app = ferry_connectors::google_photos::auth::oauth_app(service);
    let pending = app.begin(service).await.unwrap();
    let url = url::Url::parse(&pending.url).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(
        form.iter()
            .any(|(k, v)| k == "code_challenge_method" && v == "S256")
    );
    form.push(("decision".into(), "approve".into()));
    let consent = format!("{}{}", url.origin().ascii_serialization(), url.path());
    let browser = tokio::spawn(async move {
        // Following the redirect is the browser coming back to ferry's loopback listener.
        reqwest::Client::new()
            .post(consent)
            .form(&form)
            .send()
            .await
            .unwrap();
    });
    let (code, verifier, redirect_uri) = pending.wait(Duration::from_secs(10)).await.unwrap();
    browser.await.unwrap();
    let http = reqwest::Client::new();
    let secret = app
        .exchange_standard(&http, service, &redirect_uri, code, verifier)
        .await
        .unwrap();
    assert!(secret.refresh_token.is_some(), "offline access");
    let session = ferry_connectors::service::Session::new(
        &ferry_connectors::google_photos::SERVICE,
        "gp",
        &config,
        Default::default(),
        &secret,
        None,
    )
    .unwrap();
    assert_eq!(
        ferry_connectors::google_photos::auth::account(&session)
            .await
            .unwrap(),
        "Google Photos (0 albums created by this app)"
    );
    let dest = GooglePhotosDestination::with_tuning(session, tuning()).unwrap();
    dest.check().await.unwrap();
    let trip = dest.ensure_container(&album("Trip")).await.unwrap();
    let items = vec![item(&trip, "a.jpg", data("a", 1000), None)];
    let landed = transfer(&dest, &items).await;
    assert_placed(&sb, &items, &landed);
    sb.shutdown().await;
}
