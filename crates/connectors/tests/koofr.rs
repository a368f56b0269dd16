//! Koofr as a destination, against the sandbox's Koofr emulator: folders, unicode names,
//! staging and commit with the MD5 check, the modified time, identical vs different content
//! at a name, recognition after a crash, the quota, injected faults with a retry loop like
//! the engine's, share links, and the sweep of leftover staging files.

mod common;

use bytes::Bytes;
use ferry_connectors::auth::Secret;
use ferry_connectors::service::{Session, Settings};
use ferry_core::{
    Container, Content, Destination, ErrorKind, HashingStream, Landed, MediaItem, MediaKind,
    Staged, Target,
};
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;

async fn sandbox(options: SandboxOptions) -> Sandbox {
    ferry_sandbox::start(SandboxOptions {
        albums: 1,
        photos: 1,
        videos: 0,
        ..options
    })
    .await
    .unwrap()
}

fn destination(sb: &Sandbox, root: &str) -> Box<dyn Destination> {
    common::session(sb, &ferry_connectors::koofr::SERVICE)
        .destination(root)
        .unwrap()
}

fn bytes_of(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect()
}

fn content(bytes: &[u8]) -> Content {
    let chunks: Vec<Result<Bytes, ferry_core::Error>> = bytes
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Content::new(
        Box::pin(futures::stream::iter(chunks)),
        Some(bytes.len() as u64),
    )
}

fn target(container: &str, name: &str, bytes: &[u8], modified: Option<OffsetDateTime>) -> Target {
    Target {
        container: container.to_string(),
        name: name.to_string(),
        size: Some(bytes.len() as u64),
        modified,
        item: MediaItem {
            id: format!("src-{name}"),
            kind: MediaKind::Photo,
            file_name: name.to_string(),
            caption: None,
            mime_type: Some("image/jpeg".into()),
            size: Some(bytes.len() as u64),
            taken: None,
            uploaded: None,
            location: None,
            albums: vec![],
            live_photo_of: None,
            revision: None,
        },
    }
}

/// Uploads and hands back what the engine would journal as staged.
async fn stage(
    dest: &dyn Destination,
    target: &Target,
    bytes: &[u8],
) -> ferry_core::Result<Staged> {
    let (content, digest) = HashingStream::wrap(content(bytes));
    let uploaded = dest.upload(target, content).await?;
    let digest = digest
        .digest()
        .expect("the destination read the whole stream");
    Ok(Staged {
        token: uploaded.token,
        bytes: digest.bytes,
        sha256: digest.sha256,
    })
}

async fn put(dest: &dyn Destination, target: &Target, bytes: &[u8]) -> ferry_core::Result<Landed> {
    let staged = stage(dest, target, bytes).await?;
    dest.commit(vec![(target.clone(), staged)])
        .await
        .pop()
        .expect("one result per item")
}

fn transient(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Retryable | ErrorKind::RateLimited)
}

/// What the engine does for one item: upload, commit, and after a failure look for the
/// item (`find`) before sending it again.
async fn deliver(dest: &dyn Destination, target: &Target, bytes: &[u8]) -> Landed {
    let mut staged: Option<Staged> = None;
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        if let Some(s) = staged.take() {
            match dest.find(target, &s).await {
                Ok(Some(landed)) => return landed,
                Ok(None) => dest.discard(&s).await,
                Err(e) if transient(e.kind()) => {
                    staged = Some(s);
                    continue;
                }
                Err(e) => panic!("find {}: {e}", target.name),
            }
        }
        let s = match stage(dest, target, bytes).await {
            Ok(s) => s,
            Err(e) if transient(e.kind()) => continue,
            Err(e) => panic!("upload {}: {e}", target.name),
        };
        staged = Some(s.clone());
        match dest.commit(vec![(target.clone(), s.clone())]).await.pop() {
            Some(Ok(landed)) => return landed,
            Some(Err(e)) if transient(e.kind()) => dest.discard(&s).await,
            Some(Err(e)) => panic!("commit {}: {e}", target.name),
            None => panic!("commit gave no result"),
        }
    }
    panic!("{} never arrived", target.name)
}

/// Retries a call that may meet an injected fault.
async fn retrying<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ferry_core::Result<T>>,
{
    for _ in 0..60 {
        match call().await {
            Ok(value) => return value,
            Err(e) if transient(e.kind()) => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("never succeeded")
}

fn files(sb: &Sandbox) -> Vec<Value> {
    sb.state()["koofr"]["files"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn file<'a>(all: &'a [Value], path: &str) -> Option<&'a Value> {
    all.iter()
        .find(|f| f["path"] == path && f["type"] == "file")
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn staging_files(all: &[Value]) -> Vec<String> {
    all.iter()
        .filter_map(|f| f["path"].as_str())
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(".ferry-"))
        })
        .map(str::to_string)
        .collect()
}

fn folder(parts: &[&str]) -> Container {
    Container::Folder(parts.iter().map(|p| p.to_string()).collect())
}

#[tokio::test]
async fn places_files_in_nested_unicode_folders_with_their_time_and_hash() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb, "Backups/ferry");
    dest.check().await.unwrap();
    assert_eq!(dest.describe(), "Koofr koofr:/Backups/ferry");

    let container = dest
        .ensure_container(&folder(&["Photo Transfer", "Voyage à Paris 🗼"]))
        .await
        .unwrap();
    assert_eq!(container, "/Backups/ferry/Photo Transfer/Voyage à Paris 🗼");
    // Idempotent.
    assert_eq!(
        dest.ensure_container(&folder(&["Photo Transfer", "Voyage à Paris 🗼"]))
            .await
            .unwrap(),
        container
    );

    let bytes = bytes_of(1, 300_000);
    let when = datetime!(2019-07-14 10:00:00.123 UTC);
    let name = "Été 🌞 #1 100% sure?.jpg".replace('?', "_");
    let t = target(&container, &name, &bytes, Some(when));
    let staged = stage(dest.as_ref(), &t, &bytes).await.unwrap();
    // Staged, not visible under its name yet.
    let path = format!("{container}/{name}");
    assert!(file(&files(&sb), &path).is_none());
    assert_eq!(staging_files(&files(&sb)).len(), 1);

    let landed = dest
        .commit(vec![(t.clone(), staged.clone())])
        .await
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(landed.id, path);
    assert_eq!(landed.bytes, bytes.len() as u64);

    let all = files(&sb);
    let stored = file(&all, &path).expect("the file is in place");
    assert_eq!(stored["sha256"], sha_hex(&bytes));
    assert_eq!(stored["modified"], 1_563_098_400_123i64);
    assert_eq!(stored["contentType"], "image/jpeg");
    assert!(staging_files(&all).is_empty(), "{:?}", staging_files(&all));

    // After a crash between commit and journal: recognised by content.
    let found = dest.find(&t, &staged).await.unwrap().unwrap();
    assert_eq!(found.id, path);

    // An empty file travels too.
    let empty = target(&container, "empty.jpg", &[], None);
    let landed = put(dest.as_ref(), &empty, &[]).await.unwrap();
    assert_eq!(landed.bytes, 0);
    assert_eq!(file(&files(&sb), &landed.id).unwrap()["size"], 0);

    // The account behind the connection.
    let session = common::session(&sb, &ferry_connectors::koofr::SERVICE);
    assert_eq!(
        session.account().await.unwrap(),
        sb.credentials().koofr.email
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn identical_content_is_the_item_and_different_content_gets_the_next_name() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb, "");
    let container = dest.ensure_container(&folder(&["Album"])).await.unwrap();
    assert_eq!(container, "/Album");

    let a = bytes_of(2, 10_000);
    let b = bytes_of(3, 10_000);
    let t = target(&container, "same.jpg", &a, None);
    assert_eq!(
        put(dest.as_ref(), &t, &a).await.unwrap().id,
        "/Album/same.jpg"
    );
    // A re-run with the same bytes lands on the same file.
    assert_eq!(
        put(dest.as_ref(), &t, &a).await.unwrap().id,
        "/Album/same.jpg"
    );
    // Different bytes under the same name: the next free name, deterministically.
    let staged_b = stage(dest.as_ref(), &t, &b).await.unwrap();
    let landed = dest
        .commit(vec![(t.clone(), staged_b.clone())])
        .await
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(landed.id, "/Album/same (2).jpg");
    assert_eq!(
        dest.find(&t, &staged_b).await.unwrap().unwrap().id,
        "/Album/same (2).jpg"
    );

    // Bytes never sent are not found.
    let c = bytes_of(4, 10_000);
    let staged_c = stage(dest.as_ref(), &t, &c).await.unwrap();
    assert!(dest.find(&t, &staged_c).await.unwrap().is_none());
    dest.discard(&staged_c).await;

    // A commit whose answer was lost: the staged copy is gone but the item is in place.
    assert_eq!(
        dest.commit(vec![(t.clone(), staged_b.clone())])
            .await
            .pop()
            .unwrap()
            .unwrap()
            .id,
        "/Album/same (2).jpg"
    );
    // A staged copy that vanished before its commit: send it again.
    let staged_d = stage(dest.as_ref(), &t, &bytes_of(5, 100)).await.unwrap();
    dest.discard(&staged_d).await;
    let err = dest
        .commit(vec![(t.clone(), staged_d)])
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");

    let all = files(&sb);
    assert_eq!(
        file(&all, "/Album/same.jpg").unwrap()["sha256"],
        sha_hex(&a)
    );
    assert_eq!(
        file(&all, "/Album/same (2).jpg").unwrap()["sha256"],
        sha_hex(&b)
    );
    assert!(file(&all, "/Album/same (3).jpg").is_none());
    assert!(staging_files(&all).is_empty(), "{:?}", staging_files(&all));

    // A batch commits many at once, in order.
    let batch: Vec<(Target, Staged)> = {
        let mut batch = Vec::new();
        for i in 0..6u8 {
            let bytes = bytes_of(10 + i, 2_000 + i as usize);
            let t = target(&container, &format!("batch-{i}.jpg"), &bytes, None);
            let s = stage(dest.as_ref(), &t, &bytes).await.unwrap();
            batch.push((t, s));
        }
        batch
    };
    let results = dest.commit(batch).await;
    let ids: Vec<String> = results.into_iter().map(|r| r.unwrap().id).collect();
    assert_eq!(
        ids,
        (0..6)
            .map(|i| format!("/Album/batch-{i}.jpg"))
            .collect::<Vec<_>>()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_full_account_pauses_the_job() {
    let sb = sandbox(SandboxOptions {
        quota: Some(2 << 20),
        ..SandboxOptions::default()
    })
    .await;
    let dest = destination(&sb, "");
    dest.check().await.unwrap();
    let container = dest.ensure_container(&folder(&["Q"])).await.unwrap();

    let first = bytes_of(6, 1 << 20);
    put(
        dest.as_ref(),
        &target(&container, "a.jpg", &first, None),
        &first,
    )
    .await
    .unwrap();
    let too_big = bytes_of(7, 3 << 19);
    let err = put(
        dest.as_ref(),
        &target(&container, "b.jpg", &too_big, None),
        &too_big,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DestinationFull, "{err}");
    dest.check().await.unwrap();

    let last = bytes_of(8, 1 << 20);
    put(
        dest.as_ref(),
        &target(&container, "c.jpg", &last, None),
        &last,
    )
    .await
    .unwrap();
    let err = dest.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DestinationFull, "{err}");
    assert!(staging_files(&files(&sb)).is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn every_item_arrives_exactly_once_through_injected_faults() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb, "Faulty");
    sb.set_faults(
        Service::Koofr,
        FaultConfig {
            rate_429: 0.06,
            rate_500: 0.06,
            rate_503: 0.06,
            rate_reset: 0.06,
            rate_truncate: 0.06,
            retry_after_secs: 1,
            ..sb.faults(Service::Koofr)
        },
    );
    let faults_folder = folder(&["Photo Transfer", "Faults"]);
    let container = retrying(|| dest.ensure_container(&faults_folder)).await;
    let items: Vec<(Target, Vec<u8>)> = (0..24u8)
        .map(|i| {
            let bytes = bytes_of(20 + i, 5_000 + 997 * i as usize);
            (
                target(&container, &format!("IMG_{i:04}.jpg"), &bytes, None),
                bytes,
            )
        })
        .collect();
    for (t, bytes) in &items {
        let landed = deliver(dest.as_ref(), t, bytes).await;
        assert_eq!(landed.id, format!("{container}/{}", t.name));
    }
    retrying(|| dest.finish(&[])).await;
    sb.set_faults(
        Service::Koofr,
        FaultConfig {
            rate_429: 0.0,
            rate_500: 0.0,
            rate_503: 0.0,
            rate_reset: 0.0,
            rate_truncate: 0.0,
            ..sb.faults(Service::Koofr)
        },
    );
    dest.finish(&[]).await.unwrap();

    let all = files(&sb);
    for (t, bytes) in &items {
        let path = format!("{container}/{}", t.name);
        assert_eq!(
            file(&all, &path).unwrap()["sha256"],
            sha_hex(bytes),
            "{path}"
        );
    }
    let in_folder: Vec<&Value> = all
        .iter()
        .filter(|f| f["type"] == "file")
        .filter(|f| {
            f["path"]
                .as_str()
                .is_some_and(|p| p.starts_with(&container))
        })
        .collect();
    assert_eq!(
        in_folder.len(),
        items.len(),
        "duplicates or leftovers: {in_folder:?}"
    );
    let stats = sb.stats().to_string();
    assert!(
        stats.contains("reset") && stats.contains("truncate"),
        "faults were injected"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn share_links_and_the_sweep_of_leftover_staging() {
    let sb = sandbox(SandboxOptions::default()).await;
    let dest = destination(&sb, "Shared");
    let container = dest
        .ensure_container(&folder(&["Photo Transfer", "Été"]))
        .await
        .unwrap();
    let link = dest
        .share_link(&["Photo Transfer".into(), "Été".into()])
        .await
        .unwrap()
        .expect("Koofr makes links");
    assert!(link.starts_with(&sb.base_url()), "{link}");
    let links = sb.state()["koofr"]["links"].clone();
    assert_eq!(links[0]["path"], "/Shared/Photo Transfer/Été");

    // Uploads a killed process never committed: swept by finish.
    for i in 0..3u8 {
        let bytes = bytes_of(40 + i, 1_000);
        stage(
            dest.as_ref(),
            &target(&container, &format!("left-{i}.jpg"), &bytes, None),
            &bytes,
        )
        .await
        .unwrap();
    }
    assert_eq!(staging_files(&files(&sb)).len(), 3);
    dest.finish(&[]).await.unwrap();
    assert!(staging_files(&files(&sb)).is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn oauth_tokens_work_and_refresh_when_expired() {
    let sb = sandbox(SandboxOptions::default()).await;
    let creds = sb.credentials().koofr.oauth;
    let secret = Secret::tokens(
        creds.access_token.clone(),
        creds.refresh_token.clone(),
        None,
    );
    let session = Session::new(
        &ferry_connectors::koofr::SERVICE,
        "koofr-oauth",
        &common::config(&sb),
        Settings::default(),
        &secret,
        None,
    )
    .unwrap();
    assert_eq!(
        session.account().await.unwrap(),
        sb.credentials().koofr.email
    );

    let expired = reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/tokens/expire?service=koofr",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert!(expired.status().is_success());
    let dest = session.destination("").unwrap();
    let container = dest.ensure_container(&folder(&["OAuth"])).await.unwrap();
    let bytes = bytes_of(50, 4_000);
    let landed = put(
        dest.as_ref(),
        &target(&container, "o.jpg", &bytes, None),
        &bytes,
    )
    .await
    .unwrap();
    assert_eq!(landed.id, "/OAuth/o.jpg");
    sb.shutdown().await;
}
