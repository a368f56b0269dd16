//! Dropbox as a destination, against the sandbox's Dropbox emulator: folders with any names,
//! streamed uploads in one request or in chunks, batch commits, never overwriting, recognising
//! an item after a crash, faults, expiring tokens, a full account and shared links.

mod common;

use std::time::Duration;

use bytes::Bytes;
use ferry_connectors::auth::Secret;
use ferry_connectors::dropbox::client::{Client, CommitInfo, header_safe_json};
use ferry_connectors::dropbox::content_hash::content_hash;
use ferry_connectors::dropbox::{DropboxDestination, auth};
use ferry_connectors::service::{Session, Settings};
use ferry_core::{
    Container, Content, Destination, Error, ErrorKind, Landed, MediaItem, MediaKind, Staged,
    Target, Timestamp,
};
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

async fn sandbox(options: SandboxOptions) -> Sandbox {
    ferry_sandbox::start(options).await.unwrap()
}

fn destination(sb: &Sandbox) -> DropboxDestination {
    DropboxDestination::new(
        common::session(sb, &ferry_connectors::dropbox::SERVICE),
        vec![],
    )
    .unwrap()
}

/// Deterministic bytes that differ with `seed`.
fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

/// Content streamed in pieces of `piece` bytes, with or without its length.
fn content(bytes: &[u8], piece: usize, known: bool) -> Content {
    let pieces: Vec<ferry_core::Result<Bytes>> = bytes
        .chunks(piece.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let length = known.then_some(bytes.len() as u64);
    Content::new(Box::pin(futures::stream::iter(pieces)), length)
}

fn target(container: &str, name: &str, size: usize, modified: Option<OffsetDateTime>) -> Target {
    Target {
        container: container.to_string(),
        name: name.to_string(),
        size: Some(size as u64),
        modified,
        item: MediaItem {
            id: name.to_string(),
            kind: MediaKind::Photo,
            file_name: name.to_string(),
            caption: None,
            mime_type: None,
            size: Some(size as u64),
            taken: modified.map(|utc| Timestamp { utc, offset: None }),
            uploaded: None,
            location: None,
            albums: vec![],
            live_photo_of: None,
            revision: None,
        },
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Uploads as the engine does: the stream hashed on the way, the token kept for commit.
async fn stage(dest: &DropboxDestination, target: &Target, bytes: &[u8]) -> Staged {
    let uploaded = dest
        .upload(target, content(bytes, 65_536, true))
        .await
        .unwrap();
    assert!(uploaded.hash.is_none());
    Staged {
        token: uploaded.token,
        bytes: bytes.len() as u64,
        sha256: sha256(bytes),
    }
}

async fn commit_one(dest: &DropboxDestination, target: &Target, staged: &Staged) -> Landed {
    let mut results = dest.commit(vec![(target.clone(), staged.clone())]).await;
    assert_eq!(results.len(), 1);
    results.remove(0).unwrap()
}

/// The emulator's files, by lower-cased path.
fn files(sb: &Sandbox) -> Vec<Value> {
    sb.state()["dropbox"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "file")
        .cloned()
        .collect()
}

fn file(sb: &Sandbox, path_display: &str) -> Value {
    files(sb)
        .into_iter()
        .find(|f| f["path_display"] == path_display)
        .unwrap_or_else(|| panic!("no file {path_display} in {:#?}", files(sb)))
}

/// Requests to a Dropbox route so far, whatever their answer (`route` ends the label).
fn requests(sb: &Sandbox, route: &str) -> u64 {
    sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["service"] == "dropbox" && r["route"].as_str().is_some_and(|l| l.ends_with(route))
        })
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn header_safe_json_escapes_everything_past_ascii() {
    let arg = serde_json::json!({ "field": "some_üñîcødé_and_\u{7f}" });
    assert_eq!(
        header_safe_json(&arg).unwrap(),
        r#"{"field":"some_\u00fc\u00f1\u00eec\u00f8d\u00e9_and_\u007f"}"#
    );
    let emoji = serde_json::json!({ "path": "/🌞" });
    assert_eq!(
        header_safe_json(&emoji).unwrap(),
        r#"{"path":"/\ud83c\udf1e"}"#
    );
}

#[test]
fn content_hash_matches_the_published_vectors() {
    let a = |n: usize| vec![b'A'; n];
    assert_eq!(
        content_hash(&a(0)),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        content_hash(&a(1)),
        "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42"
    );
    assert_eq!(
        content_hash(&a(4_194_304)),
        "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3"
    );
    assert_eq!(
        content_hash(&a(4_194_305)),
        "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92"
    );
    assert_eq!(
        content_hash(&a(8_388_608)),
        "e08b3ba1f538804075c5f939accdeaa9efc7b5c01865c94a41e78ca6550a88e7"
    );
}

#[tokio::test]
async fn small_files_land_in_unicode_folders_with_their_time() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = DropboxDestination::new(
        common::session(&sb, &ferry_connectors::dropbox::SERVICE),
        vec!["Ferry ✈".into()],
    )
    .unwrap();
    assert_eq!(dest.describe(), "Dropbox dropbox:/Ferry ✈");
    let caps = dest.capabilities();
    assert_eq!(caps.max_commit_batch, 1000);
    assert!(caps.names.case_insensitive && caps.names.max_bytes == 255);
    dest.check().await.unwrap();

    let folder = Container::Folder(vec!["Photo Transfer".into(), "Été 🌞 ƒ 2019".into()]);
    let container = dest.ensure_container(&folder).await.unwrap();
    assert_eq!(container, "/Ferry ✈/Photo Transfer/Été 🌞 ƒ 2019");
    // Idempotent: the folder being there already is fine.
    assert_eq!(dest.ensure_container(&folder).await.unwrap(), container);

    let bytes = data(1, 10_000);
    let when = datetime!(2019-07-14 10:11:12 +02:00);
    let beach = target(&container, "plage 🏖 ü.jpg", bytes.len(), Some(when));
    let before = requests(&sb, "/2/files/upload_session/start");
    let staged = stage(&dest, &beach, &bytes).await;
    // One request carries a small file; nothing is visible before the commit.
    assert_eq!(requests(&sb, "/2/files/upload_session/start"), before + 1);
    assert_eq!(requests(&sb, "/2/files/upload_session/append_v2"), 0);
    assert!(files(&sb).is_empty());

    let landed = commit_one(&dest, &beach, &staged).await;
    let path = format!("{container}/plage 🏖 ü.jpg");
    assert_eq!(landed.id, path);
    assert_eq!(landed.bytes, bytes.len() as u64);
    let stored = file(&sb, &path);
    assert_eq!(stored["sha256"], hex::encode(sha256(&bytes)));
    assert_eq!(stored["content_hash"], content_hash(&bytes));
    assert_eq!(stored["client_modified"], "2019-07-14T08:11:12Z");

    // An empty file is a file too.
    let empty = target(&container, "empty.jpg", 0, None);
    let staged = stage(&dest, &empty, &[]).await;
    assert_eq!(commit_one(&dest, &empty, &staged).await.bytes, 0);
    assert_eq!(file(&sb, &format!("{container}/empty.jpg"))["size"], 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn large_files_go_in_chunks_with_or_without_a_length() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb).with_chunk_size(4 << 20).unwrap();
    assert!(destination(&sb).with_chunk_size(5 << 20).is_err());
    let container = dest
        .ensure_container(&Container::Folder(vec!["Video Transfer".into()]))
        .await
        .unwrap();
    let bytes = data(2, (9 << 20) + 123);

    // Known length: start with the first 4 MiB, append 4 MiB, append the rest and close.
    let known = target(&container, "known.mp4", bytes.len(), None);
    let uploaded = dest
        .upload(&known, content(&bytes, 100_003, true))
        .await
        .unwrap();
    assert_eq!(requests(&sb, "/2/files/upload_session/start"), 1);
    assert_eq!(requests(&sb, "/2/files/upload_session/append_v2"), 2);
    let staged = Staged {
        token: uploaded.token,
        bytes: bytes.len() as u64,
        sha256: sha256(&bytes),
    };
    commit_one(&dest, &known, &staged).await;
    let stored = file(&sb, "/Video Transfer/known.mp4");
    assert_eq!(stored["sha256"], hex::encode(sha256(&bytes)));
    assert_eq!(stored["size"], bytes.len() as u64);

    // Unknown length: the end shows only when the source says so.
    let unknown = target(&container, "unknown.mp4", bytes.len(), None);
    let uploaded = dest
        .upload(&unknown, content(&bytes, 65_536, false))
        .await
        .unwrap();
    let staged = Staged {
        token: uploaded.token,
        bytes: bytes.len() as u64,
        sha256: sha256(&bytes),
    };
    commit_one(&dest, &unknown, &staged).await;
    assert_eq!(
        file(&sb, "/Video Transfer/unknown.mp4")["sha256"],
        hex::encode(sha256(&bytes))
    );

    // A source shorter than it announced fails the upload rather than staging a torso.
    let short = Content::new(
        Box::pin(futures::stream::iter(vec![Ok(Bytes::from(vec![
            1u8;
            1000
        ]))])),
        Some(5000),
    );
    let err = dest
        .upload(&target(&container, "short.mp4", 5000, None), short)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    // A source's own error is what the upload reports.
    let broken = Content::new(
        Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from(vec![1u8; 1000])),
            Err(Error::NotFound("the photo was deleted".into())),
        ])),
        Some(5000),
    );
    let err = dest
        .upload(&target(&container, "gone.jpg", 5000, None), broken)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_batch_is_one_finish_batch_call() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb);
    let container = dest
        .ensure_container(&Container::Folder(vec![
            "Photo Transfer".into(),
            "Batch".into(),
        ]))
        .await
        .unwrap();
    let items: Vec<(Target, Vec<u8>)> = (0..40u8)
        .map(|i| {
            let bytes = data(i, 2_000 + i as usize * 37);
            let t = target(&container, &format!("IMG_{i:03}.jpg"), bytes.len(), None);
            (t, bytes)
        })
        .collect();
    let staged = futures::future::join_all(items.iter().map(|(t, b)| stage(&dest, t, b))).await;
    let batch: Vec<(Target, Staged)> = items.iter().map(|(t, _)| t.clone()).zip(staged).collect();
    let results = dest.commit(batch).await;
    assert_eq!(requests(&sb, "/2/files/upload_session/finish_batch_v2"), 1);
    for ((t, bytes), result) in items.iter().zip(results) {
        let landed = result.unwrap();
        assert_eq!(landed.id, format!("{container}/{}", t.name));
        assert_eq!(file(&sb, &landed.id)["sha256"], hex::encode(sha256(bytes)));
    }
    assert_eq!(files(&sb).len(), 40);
    sb.shutdown().await;
}

#[tokio::test]
async fn never_overwrites_and_recognises_its_own_content() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb);
    let container = dest
        .ensure_container(&Container::Folder(vec!["Photo Transfer".into()]))
        .await
        .unwrap();
    let ours = data(7, 5_000);
    let theirs = data(8, 5_000);
    // Someone's files at the names ferry wants: identical content at a.jpg, other content at
    // b.jpg and at b (2).jpg.
    let put = |name: &str, bytes: &[u8]| {
        let commit = CommitInfo::add(format!("{container}/{name}"), None);
        let body = reqwest::Body::from(bytes.to_vec());
        let len = bytes.len() as u64;
        let client = dest.client().clone();
        async move { client.upload(&commit, body, Some(len)).await.unwrap() }
    };
    put("a.jpg", &ours).await;
    put("B.JPG", &theirs).await;
    put("b (2).jpg", &theirs).await;

    let a = target(&container, "a.jpg", ours.len(), None);
    let b = target(&container, "b.jpg", ours.len(), None);
    let staged_a = stage(&dest, &a, &ours).await;
    let staged_b = stage(&dest, &b, &ours).await;
    // find before commit: a.jpg already holds this content, b.jpg does not.
    assert_eq!(
        dest.find(&a, &staged_a).await.unwrap().unwrap().id,
        "/Photo Transfer/a.jpg"
    );
    assert!(dest.find(&b, &staged_b).await.unwrap().is_none());

    let results = dest
        .commit(vec![
            (a.clone(), staged_a.clone()),
            (b.clone(), staged_b.clone()),
        ])
        .await;
    let landed: Vec<Landed> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(landed[0].id, "/Photo Transfer/a.jpg");
    assert_eq!(landed[1].id, "/Photo Transfer/b (3).jpg");
    assert_eq!(
        file(&sb, "/Photo Transfer/B.JPG")["sha256"],
        hex::encode(sha256(&theirs)),
        "the other file was left alone"
    );
    assert_eq!(
        file(&sb, "/Photo Transfer/b (3).jpg")["sha256"],
        hex::encode(sha256(&ours))
    );
    assert_eq!(files(&sb).len(), 4);

    // After a crash between the commit and the journal: found where it went, by content.
    let found = dest.find(&b, &staged_b).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.bytes),
        ("/Photo Transfer/b (3).jpg", 5_000)
    );
    // A token that is not ours is not recognised (the engine sends the item again).
    let stranger = Staged {
        token: "/tmp/x.part".into(),
        ..staged_b.clone()
    };
    assert!(dest.find(&b, &stranger).await.unwrap().is_none());

    // Committing the same item again (a re-run): the same file, nothing new.
    let again = stage(&dest, &b, &ours).await;
    assert_eq!(
        commit_one(&dest, &b, &again).await.id,
        "/Photo Transfer/b (3).jpg"
    );
    assert_eq!(files(&sb).len(), 4);

    // A staging token that is not Dropbox's fails that item only.
    let results = dest
        .commit(vec![(b.clone(), stranger), (a.clone(), staged_a)])
        .await;
    assert_eq!(
        results[0].as_ref().unwrap_err().kind(),
        ErrorKind::Permanent
    );
    assert!(results[1].is_ok());
    sb.shutdown().await;
}

/// What the engine does, in short: upload with retries, commit what was staged, and send
/// again what a commit could not place.
async fn transfer_like_the_engine(
    dest: &DropboxDestination,
    items: &[(Target, Vec<u8>)],
) -> Vec<Landed> {
    async fn pause(err: &Error) {
        let wait = match err {
            Error::RateLimited {
                retry_after: Some(d),
                ..
            } => *d,
            _ => Duration::from_millis(20),
        };
        tokio::time::sleep(wait).await;
    }
    let mut landed: Vec<Option<Landed>> = items.iter().map(|_| None).collect();
    for round in 0..30 {
        let mut batch = Vec::new();
        let mut indexes = Vec::new();
        for (i, (t, bytes)) in items.iter().enumerate() {
            if landed[i].is_some() {
                continue;
            }
            let staged = loop {
                match dest.upload(t, content(bytes, 50_000, true)).await {
                    Ok(up) => {
                        break Staged {
                            token: up.token,
                            bytes: bytes.len() as u64,
                            sha256: sha256(bytes),
                        };
                    }
                    Err(err) => {
                        assert!(
                            matches!(err.kind(), ErrorKind::Retryable | ErrorKind::RateLimited),
                            "{err}"
                        );
                        pause(&err).await;
                    }
                }
            };
            batch.push((t.clone(), staged));
            indexes.push(i);
        }
        if batch.is_empty() {
            return landed.into_iter().map(Option::unwrap).collect();
        }
        // Small batches: more commits, so that faults meet them too.
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(3));
            let group = std::mem::replace(&mut batch, rest);
            let rest = indexes.split_off(group.len());
            let group_indexes = std::mem::replace(&mut indexes, rest);
            for (i, result) in group_indexes.into_iter().zip(dest.commit(group).await) {
                match result {
                    Ok(l) => landed[i] = Some(l),
                    Err(err) => {
                        assert!(
                            matches!(err.kind(), ErrorKind::Retryable | ErrorKind::RateLimited),
                            "round {round}: {err}"
                        );
                        pause(&err).await;
                    }
                }
            }
        }
    }
    panic!("items still not placed after 30 rounds: {landed:?}");
}

#[tokio::test]
async fn every_item_lands_exactly_once_through_faults() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb).with_chunk_size(4 << 20).unwrap();
    // The folder first, before any fault.
    let container = dest
        .ensure_container(&Container::Folder(vec![
            "Photo Transfer".into(),
            "Faults".into(),
        ]))
        .await
        .unwrap();
    sb.set_faults(
        Service::Dropbox,
        FaultConfig {
            rate_429: 0.12,
            rate_500: 0.05,
            rate_503: 0.05,
            rate_reset: 0.07,
            rate_truncate: 0.08,
            retry_after_secs: 1,
            ..sb.faults(Service::Dropbox)
        },
    );
    let items: Vec<(Target, Vec<u8>)> = (0..16u8)
        .map(|i| {
            // One in four is chunked (5 MiB over 4 MiB chunks).
            let len = if i % 4 == 0 {
                5 << 20
            } else {
                3_000 + i as usize
            };
            let bytes = data(100 + i, len);
            (
                target(&container, &format!("f{i}.jpg"), bytes.len(), None),
                bytes,
            )
        })
        .collect();
    let landed = transfer_like_the_engine(&dest, &items).await;
    sb.set_faults(
        Service::Dropbox,
        FaultConfig {
            rate_429: 0.0,
            rate_500: 0.0,
            rate_503: 0.0,
            rate_reset: 0.0,
            rate_truncate: 0.0,
            ..sb.faults(Service::Dropbox)
        },
    );
    let stored = files(&sb);
    assert_eq!(stored.len(), items.len(), "{stored:#?}");
    for ((t, bytes), l) in items.iter().zip(&landed) {
        assert_eq!(l.id, format!("{container}/{}", t.name), "no second copy");
        assert_eq!(file(&sb, &l.id)["sha256"], hex::encode(sha256(bytes)));
    }
    // The faults met the commits too, not only the uploads.
    let commit_faults: u64 = sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["route"] == "/2/files/upload_session/finish_batch_v2" && !r["fault"].is_null()
        })
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert!(commit_faults > 0, "no commit met a fault");
    sb.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_refreshed_on_the_way() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb);
    let container = dest
        .ensure_container(&Container::Folder(vec!["Photo Transfer".into()]))
        .await
        .unwrap();
    let bytes = data(3, 4_000);
    let t = target(&container, "token.jpg", bytes.len(), None);
    let staged = stage(&dest, &t, &bytes).await;
    let expire = || async {
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/_sandbox/tokens/expire?service=dropbox",
                sb.base_url()
            ))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    };
    expire().await;
    // An rpc call refreshes and is sent again.
    commit_one(&dest, &t, &staged).await;
    assert_eq!(requests(&sb, "/oauth2/token"), 1);

    // An upload's chunk is held in memory: it is sent again with the fresh token.
    expire().await;
    let next = target(&container, "token 2.jpg", bytes.len(), None);
    let staged = stage(&dest, &next, &bytes).await;
    commit_one(&dest, &next, &staged).await;
    assert_eq!(requests(&sb, "/oauth2/token"), 2);
    sb.shutdown().await;
}

/// Requests to a Dropbox route answered in full with `status` (no fault injected).
fn answered(sb: &Sandbox, route: &str, status: u64) -> u64 {
    sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["service"] == "dropbox"
                && r["route"].as_str().is_some_and(|l| l.ends_with(route))
                && r["status"] == status
                && r["fault"].is_null()
        })
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

/// Requests to a Dropbox route that met an injected fault.
fn faulted(sb: &Sandbox, route: &str) -> u64 {
    sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["service"] == "dropbox"
                && r["route"].as_str().is_some_and(|l| l.ends_with(route))
                && !r["fault"].is_null()
        })
        .map(|r| r["count"].as_u64().unwrap())
        .sum()
}

/// A large file under 10 % faults of every kind goes up in one `upload` call and one upload
/// session: a chunk that meets a fault is sent again at its offset (a lost answer is told by
/// `incorrect_offset`), never the whole item. 16 chunks of 4 MiB here; a 1 GiB video is 64
/// chunks of the default 16 MiB, each facing the same odds (docs/benchmarks.md has that run).
#[tokio::test]
async fn a_large_file_goes_up_through_faults_in_one_session() {
    // A seed whose draws put every kind of fault among the chunks (asserted below).
    let sb = sandbox(SandboxOptions {
        seed: 12,
        ..SandboxOptions::default()
    })
    .await;
    let dest = destination(&sb).with_chunk_size(4 << 20).unwrap();
    let container = dest
        .ensure_container(&Container::Folder(vec!["Video Transfer".into()]))
        .await
        .unwrap();
    sb.set_faults(
        Service::Dropbox,
        FaultConfig {
            rate_429: 0.02,
            rate_500: 0.02,
            rate_503: 0.02,
            rate_reset: 0.02,
            rate_truncate: 0.02,
            retry_after_secs: 1,
            ..sb.faults(Service::Dropbox)
        },
    );
    let bytes = data(77, (64 << 20) + 12_345);
    let t = target(&container, "video.mp4", bytes.len(), None);
    let uploaded = dest
        .upload(&t, content(&bytes, 1 << 20, true))
        .await
        .expect("one upload call survives the faults");
    assert!(
        faulted(&sb, "/upload_session/append_v2") >= 3,
        "the faults met the chunks: {:#}",
        sb.stats()
    );
    // A chunk's answer was cut after Dropbox took it: the next try was told
    // `incorrect_offset`, and went on from `correct_offset`.
    assert!(answered(&sb, "/upload_session/append_v2", 409) > 0);
    sb.set_faults(Service::Dropbox, FaultConfig::default());
    let staged = Staged {
        token: uploaded.token,
        bytes: bytes.len() as u64,
        sha256: sha256(&bytes),
    };
    let landed = commit_one(&dest, &t, &staged).await;
    assert_eq!(landed.id, format!("{container}/video.mp4"));
    assert_eq!(file(&sb, &landed.id)["sha256"], hex::encode(sha256(&bytes)));
    // One session held it all: no start was answered but the first.
    assert_eq!(answered(&sb, "/upload_session/start", 200), 1);
    sb.shutdown().await;
}

/// A token that lives 5 s is refreshed at half its life, ahead of expiry: not before every
/// call (two minutes ahead was all of its life), and never after a 401.
#[tokio::test]
async fn a_short_lived_token_is_refreshed_at_half_its_life() {
    let sb = sandbox(SandboxOptions {
        token_ttl: 5,
        ..SandboxOptions::default()
    })
    .await;
    let creds = sb.credentials().dropbox;
    let expires_at = OffsetDateTime::now_utc().unix_timestamp() + 5;
    let secret = Secret::tokens(creds.access_token, creds.refresh_token, Some(expires_at));
    let mut session = Session::new(
        &ferry_connectors::dropbox::SERVICE,
        "dropbox",
        &common::config(&sb),
        Settings::default(),
        &secret,
        None,
    )
    .unwrap();
    session.retry = common::fast_retry();
    let client = Client::new(session);
    // Calls for 3.5 s, one every 20 ms: the token is due at 2.5 s, and again at 5 s.
    let started = std::time::Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_millis(3500) {
        client.get_space_usage().await.unwrap();
        calls += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(calls > 50, "{calls} calls");
    assert_eq!(requests(&sb, "/oauth2/token"), 1, "over {calls} calls");
    assert_eq!(answered(&sb, "/users/get_space_usage", 401), 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_full_account_pauses_the_job() {
    let sb = sandbox(SandboxOptions {
        quota: Some(10_000),
        ..SandboxOptions::default()
    })
    .await;
    let dest = destination(&sb);
    dest.check().await.unwrap();
    let container = dest
        .ensure_container(&Container::Folder(vec!["Photo Transfer".into()]))
        .await
        .unwrap();
    let first = data(4, 6_000);
    let second = data(5, 6_000);
    let t1 = target(&container, "1.jpg", first.len(), None);
    let t2 = target(&container, "2.jpg", second.len(), None);
    let s1 = stage(&dest, &t1, &first).await;
    let s2 = stage(&dest, &t2, &second).await;
    let results = dest.commit(vec![(t1, s1), (t2, s2)]).await;
    assert!(results[0].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DestinationFull, "{err}");

    // Filled to the byte: check says so before a job starts.
    let rest = data(6, 4_000);
    let t3 = target(&container, "3.jpg", rest.len(), None);
    let s3 = stage(&dest, &t3, &rest).await;
    commit_one(&dest, &t3, &s3).await;
    let err = dest.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DestinationFull, "{err}");
    sb.shutdown().await;
}

#[tokio::test]
async fn links_are_made_only_when_asked_and_found_again() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb);
    let folder = vec!["Photo Transfer".to_string(), "Vacances 🌴".to_string()];
    let container = dest
        .ensure_container(&Container::Folder(folder.clone()))
        .await
        .unwrap();
    let bytes = data(9, 1_000);
    let t = target(&container, "a.jpg", bytes.len(), None);
    let staged = stage(&dest, &t, &bytes).await;
    commit_one(&dest, &t, &staged).await;
    // A transfer alone shares nothing.
    assert_eq!(
        requests(&sb, "/2/sharing/create_shared_link_with_settings"),
        0
    );

    let url = dest.share_link(&folder).await.unwrap().unwrap();
    assert!(url.starts_with("http"), "{url}");
    // Asking again gives the link that exists.
    assert_eq!(dest.share_link(&folder).await.unwrap().unwrap(), url);
    assert!(dest.share_link(&[]).await.is_err());
    sb.shutdown().await;
}

#[tokio::test]
async fn the_account_is_named_and_its_token_revoked() {
    let sb = sandbox(SandboxOptions::default()).await;
    let session = common::session(&sb, &ferry_connectors::dropbox::SERVICE);
    let who = auth::account(&session).await.unwrap();
    assert!(who.contains('@'), "{who}");
    let app = auth::oauth_app(&session.config);
    assert!(app.pkce);
    assert!(app.authorize_url.ends_with("/oauth2/authorize"));
    assert!(app.token_url.ends_with("/oauth2/token"));
    assert!(app.extra.contains(&("token_access_type", "offline")));
    auth::revoke(&session).await.unwrap();
    sb.shutdown().await;
}

#[tokio::test]
async fn a_busy_namespace_is_rate_limiting() {
    let sb = sandbox(SandboxOptions::default()).await;
    // A `Retry-After` past `max_wait` is the engine's to wait (it holds every worker); shorter
    // waits, and the lock without one, are tried again in place until the tries run out.
    let mut session = common::session(&sb, &ferry_connectors::dropbox::SERVICE);
    session.retry.max_wait = Some(Duration::from_secs(1));
    let dest = DropboxDestination::new(session, vec![]).unwrap();
    sb.set_faults(
        Service::Dropbox,
        FaultConfig {
            rate_429: 1.0,
            retry_after_secs: 3,
            ..sb.faults(Service::Dropbox)
        },
    );
    // Dropbox's three shapes: 429 too_many_requests with retry_after, 429
    // too_many_write_operations without, and the 409 route error of a locked namespace.
    for _ in 0..3 {
        let err = dest
            .ensure_container(&Container::Folder(vec!["Busy".into()]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    }
    let locked = sb.stats()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["route"] == "/2/files/create_folder_v2" && r["status"] == 409);
    assert!(locked, "{:#}", sb.stats());
    sb.shutdown().await;
}
