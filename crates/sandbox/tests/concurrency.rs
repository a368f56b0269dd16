//! Many clients at once: no lost writes, no deadlocks, Dropbox's one-batch-at-a-time rule.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_uploads_all_land() {
    let sb = sandbox().await;
    let u = sb.urls();
    let dbx = sb.credentials().dropbox.access_token;
    let k = sb.credentials().koofr;
    let gp = sb.credentials().google_photos.access_token;
    let mut tasks = Vec::new();
    for i in 0..24u32 {
        let (u, dbx, k, gp) = (u.clone(), dbx.clone(), k.clone(), gp.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let body = vec![i as u8; 10_000 + i as usize];
            let r = c
                .post(format!("{}/2/files/upload", u.dropbox.content_url))
                .bearer_auth(&dbx)
                .header(
                    "Dropbox-API-Arg",
                    json!({"path": format!("/p/{i}.bin")}).to_string(),
                )
                .header("Content-Type", "application/octet-stream")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let r = c
                .post(format!(
                    "{}/content/api/v2/mounts/primary/files/put?path=/&filename={i}.bin",
                    u.koofr.base_url
                ))
                .basic_auth(&k.email, Some(&k.app_password))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let r = c
                .post(format!("{}/v1/uploads", u.google_photos.api_url))
                .bearer_auth(&gp)
                .header("X-Goog-Upload-Protocol", "raw")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let st: Value = client()
        .get(format!("{}/state", u.inspect_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let files = st["dropbox"]["entries"].as_array().unwrap();
    assert_eq!(files.iter().filter(|e| e["type"] == "file").count(), 24);
    assert_eq!(st["koofr"]["files"].as_array().unwrap().len(), 24);
    assert_eq!(st["google_photos"]["pending_upload_tokens"], 24);
    sb.shutdown().await;
}
