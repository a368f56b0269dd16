//! Archives kept in S3 (moto's server): built by one server process, downloaded through
//! another that shares the journal but not the disk, then deleted from the bucket on expiry.

mod common;

use std::time::Duration;

use common::{start_sharing, start_with};
use ferry_connectors::s3::S3Config;
use ferry_server::{ArchiveStore, ServerConfig};
use ferry_testkit::moto::Moto;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PASSWORD: &str = "correct horse battery";

fn config(moto: &Moto, secret: &str) -> ServerConfig {
    let s3 = S3Config {
        bucket: "archives".into(),
        region: None,
        endpoint: Some(moto.endpoint()),
        access_key_id: "test".into(),
        secret_access_key: SecretString::from(secret.to_string()),
    };
    let mut config = common::config();
    config.archive_store = ArchiveStore::s3(&s3, "ferry/exports").unwrap();
    config.link_lifetime = Duration::from_secs(8);
    config
}

async fn objects(moto: &Moto) -> Vec<String> {
    let operator = S3Config {
        bucket: "archives".into(),
        region: None,
        endpoint: Some(moto.endpoint()),
        access_key_id: "test".into(),
        secret_access_key: SecretString::from("test".to_string()),
    }
    .operator()
    .unwrap();
    operator
        .list_with("")
        .recursive(true)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.metadata().is_file())
        .map(|e| e.path().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_built_by_one_server_is_downloaded_through_another() {
    let moto = Moto::start();
    moto.create_bucket("archives").unwrap();

    let sandbox = ferry_sandbox::start(ferry_sandbox::SandboxOptions::default())
        .await
        .unwrap();
    let first = start_with(
        config(&moto, "test"),
        sandbox,
        tempfile::tempdir().unwrap(),
        None,
    )
    .await;
    let cookie = first.account("ann@example.com", PASSWORD).await;
    let response = first.connect(&cookie, "facebook").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let archive: Value = first
        .post_json(
            &cookie,
            "/api/v1/archives",
            json!({ "source": "facebook", "types": ["photos", "posts", "profile"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = archive["id"].as_str().unwrap().to_string();
    let archive = first
        .wait_archive(&cookie, &id, Duration::from_secs(60))
        .await;
    assert_eq!(archive["state"], "ready", "{archive}");

    // In the bucket under the prefix, and no longer on the first server's disk.
    let keys = objects(&moto).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with(&format!("ferry/exports/{id}/ferry-export-")),
        "{keys:?}"
    );
    let built_in = first.dir.path().join("archives").join(&id);
    assert!(!built_in.exists(), "the local copy is removed after upload");

    // A second server: the same journal, its own (empty) disk, the same bucket.
    let other_sandbox = ferry_sandbox::start(ferry_sandbox::SandboxOptions::default())
        .await
        .unwrap();
    let second = start_sharing(
        config(&moto, "test"),
        other_sandbox,
        tempfile::tempdir().unwrap(),
        first.dir.path(),
        None,
    )
    .await;
    assert_eq!(
        second.confirm(&cookie, PASSWORD).await.status(),
        StatusCode::OK
    );
    let ticket: Value = second
        .post_json(&cookie, &format!("/api/v1/archives/{id}/ticket"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let url = ticket["url"].as_str().unwrap().to_string();
    // Without the ticket: refused, as on the local store.
    let no_ticket = second
        .get(&cookie, &format!("/api/v1/archives/{id}/download"))
        .await;
    assert_eq!(no_ticket.status(), StatusCode::GONE);

    let response = second.get(&cookie, &url).await;
    assert_eq!(response.status(), StatusCode::OK);
    let length: u64 = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(Some(length), archive["size"].as_u64());
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, length);
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        archive["sha256"].as_str().unwrap()
    );
    assert!(zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).is_ok());
    // Spent.
    assert_eq!(second.get(&cookie, &url).await.status(), StatusCode::GONE);

    // Expired: gone from the bucket too.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let response = second.get(&cookie, &format!("/api/v1/archives/{id}")).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(
        objects(&moto).await.is_empty(),
        "the expired archive is deleted"
    );
}
