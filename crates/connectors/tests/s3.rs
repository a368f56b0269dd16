//! S3 against moto's server: multipart uploads, credentials, a missing bucket, and uploads
//! killed halfway. (The conformance suite runs the engine against S3 too.)

use std::time::Duration;

use bytes::Bytes;
use ferry_connectors::auth::Secret;
use ferry_connectors::config::Config;
use ferry_connectors::s3::{PART_SIZE, S3Config};
use ferry_connectors::service::{Session, Settings};
use ferry_core::{Container, Content, ErrorKind, MediaItem, MediaKind, Staged, Target, Timestamp};
use ferry_testkit::moto::Moto;
use futures::StreamExt;
use sha2::{Digest, Sha256};

fn session(moto: &Moto, bucket: &str, key_id: &str, secret: &str, prefix: Option<&str>) -> Session {
    Session::new(
        &ferry_connectors::s3::SERVICE,
        "bucket",
        &Config::defaults(),
        Settings {
            url: Some(moto.endpoint()),
            user: Some(key_id.into()),
            bucket: Some(bucket.into()),
            prefix: prefix.map(str::to_string),
            ..Settings::default()
        },
        &Secret::password(secret.into()),
        None,
    )
    .unwrap()
}

fn bytes(seed: u8, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(seed as u64) as u8
        })
        .collect()
}

/// The bytes as 1 MiB chunks of a known length.
fn content(data: &[u8]) -> Content {
    let chunks: Vec<ferry_core::Result<Bytes>> = data
        .chunks(1 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Content::new(
        futures::stream::iter(chunks).boxed(),
        Some(data.len() as u64),
    )
}

fn target(container: &str, name: &str, size: u64) -> Target {
    let taken = Timestamp::from_unix(1_600_000_000);
    Target {
        container: container.into(),
        name: name.into(),
        size: Some(size),
        modified: None,
        item: MediaItem {
            id: name.into(),
            kind: MediaKind::Video,
            file_name: name.into(),
            caption: None,
            mime_type: Some("video/mp4".into()),
            size: Some(size),
            taken,
            uploaded: taken,
            location: None,
            albums: Vec::new(),
            live_photo_of: None,
            revision: None,
        },
    }
}

fn staged(token: String, data: &[u8]) -> Staged {
    Staged {
        token,
        bytes: data.len() as u64,
        sha256: Sha256::digest(data).into(),
    }
}

async fn read(session: &Session, key: &str) -> Option<Vec<u8>> {
    let operator = S3Config::from_session(session).unwrap().operator().unwrap();
    match operator.read(key).await {
        Ok(buffer) => Some(buffer.to_vec()),
        Err(e) if e.kind() == opendal::ErrorKind::NotFound => None,
        Err(e) => panic!("reading {key}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_a_part_goes_up_in_parts_and_is_never_duplicated_or_replaced() {
    let moto = Moto::start();
    moto.create_bucket("photos").unwrap();
    let session = session(&moto, "photos", "test", "test", Some("backups/ana"));
    let dest = session.destination("phone").unwrap();
    dest.check().await.unwrap();
    let container = dest
        .ensure_container(&Container::Folder(vec![
            "Photo Transfer".into(),
            "Été 🗼".into(),
        ]))
        .await
        .unwrap();
    assert_eq!(container, "backups/ana/phone/Photo Transfer/Été 🗼");

    let data = bytes(1, 2 * PART_SIZE + 12_345);
    let t = target(&container, "clip #1?.mp4", data.len() as u64);
    let uploaded = dest.upload(&t, content(&data)).await.unwrap();
    let s = staged(uploaded.token, &data);
    let landed = dest.commit(vec![(t.clone(), s.clone())]).await;
    let landed = landed.into_iter().next().unwrap().unwrap();
    let key = format!("{container}/clip #1?.mp4");
    assert_eq!(landed.id, key);
    assert_eq!(landed.bytes, data.len() as u64);
    assert_eq!(read(&session, &key).await.as_deref(), Some(&data[..]));
    // A multipart upload's ETag ends in "-<parts>".
    let operator = S3Config::from_session(&session)
        .unwrap()
        .operator()
        .unwrap();
    let etag = operator
        .stat(&key)
        .await
        .unwrap()
        .etag()
        .unwrap_or("")
        .to_string();
    assert!(etag.trim_matches('"').ends_with("-3"), "ETag {etag}");

    // Sent again (a re-run with a fresh journal): recognised, nothing new.
    let again = dest.upload(&t, content(&data)).await.unwrap();
    let landed = dest
        .commit(vec![(t.clone(), staged(again.token, &data))])
        .await
        .remove(0)
        .unwrap();
    assert_eq!(landed.id, key);
    assert_eq!(dest.find(&t, &s).await.unwrap().unwrap().id, key);

    // Different bytes of the same size under the same name: the next free name, and the
    // first object untouched.
    let other = bytes(2, data.len());
    let uploaded = dest.upload(&t, content(&other)).await.unwrap();
    let landed = dest
        .commit(vec![(t.clone(), staged(uploaded.token, &other))])
        .await
        .remove(0)
        .unwrap();
    assert_eq!(landed.id, format!("{container}/clip #1? (2).mp4"));
    assert_eq!(read(&session, &key).await.as_deref(), Some(&data[..]));
    assert_eq!(
        read(&session, &landed.id).await.as_deref(),
        Some(&other[..])
    );

    // Different size: straight to the next free name.
    let small = bytes(3, 1000);
    let t_small = target(&container, "clip #1?.mp4", small.len() as u64);
    let uploaded = dest.upload(&t_small, content(&small)).await.unwrap();
    let landed = dest
        .commit(vec![(t_small, staged(uploaded.token, &small))])
        .await
        .remove(0)
        .unwrap();
    assert_eq!(landed.id, format!("{container}/clip #1? (3).mp4"));

    // No staging left behind.
    dest.finish(&[]).await.unwrap();
    let listed = operator.list_with(&format!("{container}/")).await.unwrap();
    let mut names: Vec<&str> = listed.iter().map(|e| e.name()).collect();
    names.sort();
    assert_eq!(
        names,
        ["clip #1? (2).mp4", "clip #1? (3).mp4", "clip #1?.mp4"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_pauses_the_job_as_expired_credentials() {
    let moto = Moto::start();
    moto.create_bucket("photos").unwrap();
    let credentials = moto.require_auth().unwrap();

    // Uploads (PUT, HEAD) are what moto's SigV4 check gets right; it refuses even correctly
    // signed ListObjectsV2 requests, so `check` and `account` are not tested here.
    let data = bytes(4, 1000);
    let t = target("x", "a.jpg", 1000);
    let wrong = session(
        &moto,
        "photos",
        &credentials.access_key_id,
        "not the secret",
        None,
    );
    let err = wrong
        .destination("")
        .unwrap()
        .upload(&t, content(&data))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");
    assert!(!err.to_string().contains("not the secret"), "{err}");

    let unknown = session(
        &moto,
        "photos",
        "AKIANOBODY",
        &credentials.secret_access_key,
        None,
    );
    let err = unknown
        .destination("")
        .unwrap()
        .upload(&t, content(&data))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");

    let right = session(
        &moto,
        "photos",
        &credentials.access_key_id,
        &credentials.secret_access_key,
        None,
    );
    let dest = right.destination("").unwrap();
    let uploaded = dest.upload(&t, content(&data)).await.unwrap();
    let landed = dest
        .commit(vec![(t.clone(), staged(uploaded.token, &data))])
        .await
        .remove(0)
        .unwrap();
    assert_eq!(landed.id, "x/a.jpg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_a_clear_permanent_error() {
    let moto = Moto::start();
    let session = session(&moto, "no-such-bucket", "test", "test", None);
    let dest = session.destination("").unwrap();
    let err = dest.check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(
        err.to_string()
            .contains("the S3 bucket no-such-bucket does not exist"),
        "{err}"
    );
    let data = bytes(5, 1000);
    let err = dest
        .upload(&target("x", "a.jpg", 1000), content(&data))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_killed_halfway_leaves_nothing_and_find_says_so() {
    let moto = Moto::start();
    moto.create_bucket("photos").unwrap();
    let session = session(&moto, "photos", "test", "test", None);
    let data = bytes(6, 3 * PART_SIZE);
    let t = target("Photo Transfer/Trip", "long.mp4", data.len() as u64);
    let key = "Photo Transfer/Trip/long.mp4";

    // Killed: the task is dropped after two parts went up, mid-stream, the way a process
    // dies (no abort, no close).
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::channel::<()>(8);
    let first = data[..2 * PART_SIZE + 1000].to_vec();
    let stream = futures::stream::iter(
        first
            .chunks(1 << 20)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<ferry_core::Result<Bytes>>>(),
    )
    .chain(futures::stream::once(async move {
        let _ = sent_tx.send(()).await;
        futures::future::pending::<ferry_core::Result<Bytes>>().await
    }))
    .boxed();
    let dest = session.destination("").unwrap();
    let t2 = t.clone();
    let upload = tokio::spawn(async move {
        dest.upload(&t2, Content::new(stream, Some(3 * PART_SIZE as u64)))
            .await
    });
    tokio::time::timeout(Duration::from_secs(60), sent_rx.recv())
        .await
        .unwrap();
    upload.abort();
    assert!(upload.await.unwrap_err().is_cancelled());
    assert_eq!(read(&session, key).await, None, "nothing visible");

    // A new process: the journal said staged, but nothing is there.
    let dest = session.destination("").unwrap();
    let token = format!(r#"{{"key":"{key}","staging":false}}"#);
    assert!(
        dest.find(&t, &staged(token.clone(), &data))
            .await
            .unwrap()
            .is_none()
    );

    // Killed after the upload completed, before the journal heard of it: found, once.
    let uploaded = dest.upload(&t, content(&data)).await.unwrap();
    let fresh = session.destination("").unwrap();
    let found = fresh
        .find(&t, &staged(uploaded.token, &data))
        .await
        .unwrap()
        .expect("the completed upload is found");
    assert_eq!(found.id, key);
    assert_eq!(found.bytes, data.len() as u64);
    // The same size with other bytes is not it.
    let other = bytes(7, data.len());
    assert!(
        fresh
            .find(&t, &staged(token, &other))
            .await
            .unwrap()
            .is_none()
    );
}
