//! Contract tests of the Google Photos emulator, written from the Library API reference
//! (uploads guide, resumable uploads, mediaItems.batchCreate, albums, mediaItems.search,
//! limits and quotas) and Google's OAuth 2.0 documents.

mod common;

use common::*;
use ferry_sandbox::Service;
use serde_json::{Value, json};

struct G {
    c: reqwest::Client,
    api: String,
    tok: String,
}

impl G {
    fn new(sb: &ferry_sandbox::Sandbox) -> G {
        G {
            c: client(),
            api: sb.urls().google_photos.api_url,
            tok: sb.credentials().google_photos.access_token,
        }
    }

    async fn upload_raw(&self, name: &str, bytes: Vec<u8>, sha1: Option<String>) -> (u16, String) {
        let mut r = self
            .c
            .post(format!("{}/v1/uploads", self.api))
            .bearer_auth(&self.tok)
            .header("Content-type", "application/octet-stream")
            .header("X-Goog-Upload-Protocol", "raw")
            .header("X-Goog-Upload-Content-Type", "image/jpeg")
            .header("X-Goog-Upload-File-Name", name);
        if let Some(h) = sha1 {
            r = r.header("X-Goog-Hash", format!("sha1={h}"));
        }
        let r = r.body(bytes).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .c
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.tok)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .c
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.tok)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn sha1_b64(b: &[u8]) -> String {
    use base64::Engine;
    use sha1::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(b))
}

fn assert_rpc_error(v: &Value, code: u64, status: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert_eq!(v["error"]["status"], status, "{v}");
    assert!(v["error"]["message"].is_string());
}

#[tokio::test]
async fn raw_upload_batch_create_album_and_search() {
    let sb = sandbox().await;
    let g = G::new(&sb);
    let (s, album) = g
        .post(
            "/v1/albums",
            json!({"album": {"title": "Trip: \"Paris\"? 😀"}}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(album["mediaItemsCount"], "0", "int64 as a string");
    let album_id = album["id"].as_str().unwrap().to_string();

    let photo = b"\xFF\xD8\xFF fake jpeg bytes".to_vec();
    let (s, tok1) = g
        .upload_raw("IMG_0001.jpg", photo.clone(), Some(sha1_b64(&photo)))
        .await;
    assert_eq!(s, 200);
    assert!(!tok1.trim().is_empty(), "upload token as plain text");
    let (_, tok2) = g.upload_raw("IMG_0001.jpg", b"second".to_vec(), None).await;

    let (s, v) = g
        .post(
            "/v1/mediaItems:batchCreate",
            json!({"albumId": album_id, "newMediaItems": [
                {"description": "Café ☕", "simpleMediaItem": {"uploadToken": tok1, "fileName": "IMG_0001.jpg"}},
                {"simpleMediaItem": {"uploadToken": tok2}},
                {"simpleMediaItem": {"uploadToken": "bogus"}},
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let res = v["newMediaItemResults"].as_array().unwrap();
    assert_eq!(res.len(), 3);
    assert_eq!(res[0]["uploadToken"], tok1);
    assert_eq!(res[0]["status"]["code"].as_i64().unwrap_or(0), 0, "OK");
    assert_eq!(res[0]["mediaItem"]["description"], "Café ☕");
    assert_eq!(res[0]["mediaItem"]["filename"], "IMG_0001.jpg");
    assert_eq!(res[1]["status"]["code"].as_i64().unwrap_or(0), 0);
    assert_ne!(
        res[2]["status"]["code"].as_i64().unwrap_or(0),
        0,
        "bad token fails alone"
    );

    // Tokens are usable once.
    let (_, v) = g
        .post(
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": tok1}}]}),
        )
        .await;
    assert_ne!(
        v["newMediaItemResults"][0]["status"]["code"]
            .as_i64()
            .unwrap_or(0),
        0
    );

    // Album contents via search; baseUrl + "=d" downloads the bytes.
    let (s, v) = g
        .post(
            "/v1/mediaItems:search",
            json!({"albumId": album_id, "pageSize": 1}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["mediaItems"].as_array().unwrap().len(), 1);
    let next = v["nextPageToken"].as_str().unwrap().to_string();
    let base = v["mediaItems"][0]["baseUrl"].as_str().unwrap().to_string();
    let (_, v2) = g
        .post(
            "/v1/mediaItems:search",
            json!({"albumId": album_id, "pageSize": 1, "pageToken": next}),
        )
        .await;
    assert!(v2.get("nextPageToken").is_none());
    let b =
        g.c.get(format!("{base}=d"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    assert_eq!(&b[..], &photo[..]);
    let (s, v) = g
        .post(
            "/v1/mediaItems:search",
            json!({"albumId": album_id, "filters": {}}),
        )
        .await;
    assert_eq!(s, 400);
    assert_rpc_error(&v, 400, "INVALID_ARGUMENT");

    let (s, a) = g.get(&format!("/v1/albums/{album_id}")).await;
    assert_eq!(s, 200);
    assert_eq!(a["mediaItemsCount"], "2");
    let (_, list) = g.get("/v1/albums?pageSize=50").await;
    assert_eq!(
        list["albums"].as_array().unwrap().len(),
        1,
        "only app-created albums"
    );
    let (s, v) = g.get("/v1/albums?pageSize=51").await;
    assert_eq!(s, 400);
    assert_rpc_error(&v, 400, "INVALID_ARGUMENT");
    let (_, items) = g.get("/v1/mediaItems?pageSize=100").await;
    assert_eq!(items["mediaItems"].as_array().unwrap().len(), 2);
    // batchAddMediaItems into a second album.
    let (_, other) = g
        .post("/v1/albums", json!({"album": {"title": "Second"}}))
        .await;
    let ids: Vec<Value> = items["mediaItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].clone())
        .collect();
    let (s, _) = g
        .post(
            &format!(
                "/v1/albums/{}:batchAddMediaItems",
                other["id"].as_str().unwrap()
            ),
            json!({"mediaItemIds": ids}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, a2) = g
        .get(&format!("/v1/albums/{}", other["id"].as_str().unwrap()))
        .await;
    assert_eq!(a2["mediaItemsCount"], "2");
    let (s, v) = g
        .post(
            "/v1/albums/nope:batchAddMediaItems",
            json!({"mediaItemIds": ids}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = g.get("/v1/mediaItems/nope").await;
    assert_eq!(s, 404);
    assert_rpc_error(&v, 404, "NOT_FOUND");
    sb.shutdown().await;
}

#[tokio::test]
async fn limits_checksums_and_expiry() {
    let sb = sandbox().await;
    let g = G::new(&sb);
    // Checksum mismatch: 400.
    let (s, body) = g
        .upload_raw("a.jpg", b"abc".to_vec(), Some(sha1_b64(b"xyz")))
        .await;
    assert_eq!(s, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_rpc_error(&v, 400, "INVALID_ARGUMENT");

    // More than 50 items per batchCreate: 400.
    let many: Vec<Value> = (0..51)
        .map(|_| json!({"simpleMediaItem": {"uploadToken": "t"}}))
        .collect();
    let (s, v) = g
        .post("/v1/mediaItems:batchCreate", json!({"newMediaItems": many}))
        .await;
    assert_eq!(s, 400);
    assert_rpc_error(&v, 400, "INVALID_ARGUMENT");

    // Tokens older than a day are refused.
    let (_, tok) = g.upload_raw("old.jpg", b"old".to_vec(), None).await;
    sb.advance_clock(86_401);
    // (A fresh access token: the seeded one expired with the clock move.)
    let cred = sb.credentials().google_photos;
    let r =
        g.c.post(format!("{}/token", sb.urls().google_photos.token_url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", cred.refresh_token.as_deref().unwrap()),
                ("client_id", &cred.client_id),
                ("client_secret", &cred.client_secret),
            ])
            .send()
            .await
            .unwrap();
    let v: Value = r.json().await.unwrap();
    let g = G {
        tok: v["access_token"].as_str().unwrap().to_string(),
        ..g
    };
    let (_, v) = g
        .post(
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": tok}}]}),
        )
        .await;
    assert_ne!(
        v["newMediaItemResults"][0]["status"]["code"]
            .as_i64()
            .unwrap_or(0),
        0
    );

    // Storage quota: per-item failure with the documented message.
    let mut f = sb.faults(Service::GooglePhotos);
    f.quota_bytes = Some(10);
    sb.set_faults(Service::GooglePhotos, f);
    let (_, tok) = g.upload_raw("big.jpg", vec![7; 20], None).await;
    let (_, v) = g
        .post(
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": tok}}]}),
        )
        .await;
    let st = &v["newMediaItemResults"][0]["status"];
    assert_ne!(st["code"].as_i64().unwrap_or(0), 0);
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("remaining storage")
    );

    // Missing or bad token: 401 UNAUTHENTICATED.
    let r =
        g.c.get(format!("{}/v1/albums", g.api))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_rpc_error(&v, 401, "UNAUTHENTICATED");

    // Injected 429 is RESOURCE_EXHAUSTED.
    let mut f = sb.faults(Service::GooglePhotos);
    f.rate_429 = 1.0;
    sb.set_faults(Service::GooglePhotos, f);
    let (s, v) = g.get("/v1/albums").await;
    assert_eq!(s, 429);
    assert_rpc_error(&v, 429, "RESOURCE_EXHAUSTED");
    sb.shutdown().await;
}

#[tokio::test]
async fn resumable_upload_in_chunks() {
    let sb = sandbox().await;
    let g = G::new(&sb);
    let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let r =
        g.c.post(format!("{}/v1/uploads", g.api))
            .bearer_auth(&g.tok)
            .header("Content-Length", "0")
            .header("X-Goog-Upload-Command", "start")
            .header("X-Goog-Upload-Content-Type", "video/mp4")
            .header("X-Goog-Upload-File-Name", "clip.mp4")
            .header("X-Goog-Upload-Protocol", "resumable")
            .header("X-Goog-Upload-Raw-Size", data.len().to_string())
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let url = r.headers()["x-goog-upload-url"]
        .to_str()
        .unwrap()
        .to_string();
    let gran: usize = r.headers()["x-goog-upload-chunk-granularity"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let send = |cmd: &'static str, off: usize, chunk: Vec<u8>| {
        g.c.post(&url)
            .bearer_auth(&g.tok)
            .header("X-Goog-Upload-Command", cmd)
            .header("X-Goog-Upload-Offset", off.to_string())
            .body(chunk)
            .send()
    };
    let r = send("upload", 0, data[..gran].to_vec()).await.unwrap();
    assert_eq!(r.status(), 200);
    // A chunk that is not a multiple of the granularity is refused unless it is the last.
    let r = send("upload", gran, data[gran..gran + 10].to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Query tells where to resume.
    let r =
        g.c.post(&url)
            .bearer_auth(&g.tok)
            .header("X-Goog-Upload-Command", "query")
            .send()
            .await
            .unwrap();
    assert_eq!(r.headers()["x-goog-upload-status"], "active");
    assert_eq!(
        r.headers()["x-goog-upload-size-received"],
        gran.to_string().as_str()
    );
    let r = send("upload, finalize", gran, data[gran..].to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.text().await.unwrap();
    let (_, v) = g
        .post(
            "/v1/mediaItems:batchCreate",
            json!({"newMediaItems": [{"simpleMediaItem": {"uploadToken": token}}]}),
        )
        .await;
    let item = &v["newMediaItemResults"][0]["mediaItem"];
    assert_eq!(item["mimeType"], "video/mp4");
    assert_eq!(item["filename"], "clip.mp4");
    let st: Value =
        g.c.get(format!("{}/state", sb.urls().inspect_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        st["google_photos"]["media_items"][0]["sha256"],
        sha256_hex(&data)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn oauth_offline_access_with_pkce() {
    let sb = sandbox().await;
    let c = client();
    let u = sb.urls().google_photos;
    let cred = sb.credentials().google_photos;
    let (verifier, challenge) = pkce();
    let redirect = "http://127.0.0.1:8085/";
    let loc = click_through(
        &c,
        &format!(
            "{}/o/oauth2/v2/auth?client_id={}&redirect_uri={redirect}&response_type=code&access_type=offline&prompt=consent&scope=https://www.googleapis.com/auth/photoslibrary.appendonly&state=g&code_challenge={challenge}&code_challenge_method=S256",
            u.auth_url, cred.client_id
        ),
        "approve",
    )
    .await;
    let code = param(&query_of(&loc), "code").unwrap();
    let r = c
        .post(format!("{}/token", u.token_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cred.client_id),
            ("client_secret", &cred.client_secret),
            ("code_verifier", &verifier),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    let access = v["access_token"].as_str().unwrap().to_string();
    // appendonly may upload but not list.
    let g = G {
        tok: access,
        ..G::new(&sb)
    };
    let (s, _) = g.upload_raw("x.jpg", b"x".to_vec(), None).await;
    assert_eq!(s, 200);
    let (s, v) = g.get("/v1/mediaItems").await;
    assert_eq!(s, 403);
    assert_rpc_error(&v, 403, "PERMISSION_DENIED");

    // Revoking the refresh token makes it invalid_grant.
    let r = c
        .post(format!("{}/revoke?token={refresh}", u.token_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(u.token_url.clone())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &cred.client_id),
            ("client_secret", &cred.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");
    sb.shutdown().await;
}
