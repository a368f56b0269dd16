//! Malformed requests get each service's own error shape, and never bring the server down.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test]
async fn odd_requests_get_service_error_shapes() {
    let sb = sandbox().await;
    let c = client();
    let u = sb.urls();
    let fb = sb.credentials().facebook.access_token;
    let dbx = sb.credentials().dropbox.access_token;
    let gp = sb.credentials().google_photos.access_token;
    let k = sb.credentials().koofr;

    // Graph: bad percent-encoding, absurd limits and cursors, unknown versions.
    for path in [
        format!("/v21.0/%FF%FE?access_token={fb}"),
        format!("/v21.0/me/albums?limit=99999999999999999999999&access_token={fb}"),
        format!("/v21.0/me/albums?after=%00%01&access_token={fb}"),
        format!("/v21.0/me/albums?fields=id,,{{{{&access_token={fb}"),
        format!("/v999.0/me?access_token={fb}"),
        format!("/v21.0/me/albums/extra/segments?access_token={fb}"),
    ] {
        let r = c
            .get(format!("{}{path}", u.facebook.graph_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["code"].is_u64(), "{path}: {v}");
    }

    // Dropbox: JSON of the wrong shape, unknown routes, bad args.
    for (route, body) in [
        ("files/list_folder", "[]"),
        ("files/list_folder", "{\"path\": \"\", \"limit\": 0}"),
        ("files/list_folder/continue", "{\"cursor\": \"AAgarbage\"}"),
        ("files/nope", "{}"),
        (
            "files/upload_session/finish_batch_v2",
            "{\"entries\": [{}]}",
        ),
    ] {
        let r = c
            .post(format!("{}/2/{route}", u.dropbox.api_url))
            .bearer_auth(&dbx)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{route} {body}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
    }
    let r = c
        .post(format!("{}/2/files/upload", u.dropbox.content_url))
        .bearer_auth(&dbx)
        .header(
            "Dropbox-API-Arg",
            "{\"path\": \"/x\", \"mode\": {\".tag\": \"sideways\"}}",
        )
        .header("content-type", "application/octet-stream")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Google: bad JSON, bad ids, bad page tokens.
    for (m, path, body) in [
        ("POST", "/v1/mediaItems:batchCreate", "{not json"),
        ("POST", "/v1/albums", "{\"album\": 5}"),
        ("GET", "/v1/mediaItems/%FF", ""),
        ("GET", "/v1/albums?pageToken=zzz", ""),
        ("POST", "/v1/albums/x:frobnicate", "{}"),
    ] {
        let rb = if m == "GET" {
            c.get(format!("{}{path}", u.google_photos.api_url))
        } else {
            c.post(format!("{}{path}", u.google_photos.api_url))
                .body(body)
        };
        let r = rb.bearer_auth(&gp).send().await.unwrap();
        assert!(r.status().is_client_error(), "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["status"].is_string(), "{path}: {v}");
    }

    // Koofr: bad paths and versions.
    for path in [
        "/api/v2/mounts/primary/files/info",
        "/api/v2/mounts/primary/files/info?path=relative",
        "/api/v2/mounts/primary/files/info?path=/../etc",
        "/api/v9/mounts",
        "/api/v2/mounts/%FF/files/list?path=/",
    ] {
        let r = c
            .get(format!("{}{path}", u.koofr.base_url))
            .basic_auth(&k.email, Some(&k.app_password))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{path}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"]["code"].is_string(), "{path}: {v}");
    }

    // Still serving.
    let r = c
        .get(format!(
            "{}/v21.0/me?access_token={fb}",
            u.facebook.graph_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn koofr_multipart_uploads_are_not_capped() {
    let sb = sandbox().await;
    let c = client();
    let k = sb.credentials().koofr;
    let data = vec![42u8; 5 * 1024 * 1024];
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(data.clone()).file_name("dummy"),
    );
    let r = c
        .post(format!(
            "{}/content/api/v2/mounts/primary/files/put?path=/&filename=big.bin&info=true",
            sb.urls().koofr.base_url
        ))
        .basic_auth(&k.email, Some(&k.app_password))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["size"], data.len());
    sb.shutdown().await;
}
