//! Contract tests of the Dropbox emulator, written from the Dropbox API v2 documents
//! (Stone spec: files, sharing, users, auth; content-hash page; OAuth guide).

mod common;

use common::*;
use ferry_sandbox::{Sandbox, Service};
use serde_json::{Value, json};

struct Dbx {
    c: reqwest::Client,
    api: String,
    content: String,
    tok: String,
}

impl Dbx {
    fn new(sb: &Sandbox) -> Dbx {
        Dbx {
            c: client(),
            api: sb.urls().dropbox.api_url,
            content: sb.urls().dropbox.content_url,
            tok: sb.credentials().dropbox.access_token,
        }
    }

    async fn rpc(&self, route: &str, arg: Value) -> (u16, Value) {
        let r = self
            .c
            .post(format!("{}/2/{route}", self.api))
            .bearer_auth(&self.tok)
            .json(&arg)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let t = r.text().await.unwrap();
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    /// An upload-style call with the argument escaped as the docs require.
    async fn upload_raw(&self, route: &str, arg_header: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .c
            .post(format!("{}/2/{route}", self.content))
            .bearer_auth(&self.tok)
            .header(
                "Dropbox-API-Arg",
                reqwest::header::HeaderValue::from_bytes(arg_header.as_bytes()).unwrap(),
            )
            .header("Content-Type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let t = r.text().await.unwrap();
        (s, serde_json::from_str(&t).unwrap_or(Value::String(t)))
    }

    async fn upload(&self, route: &str, arg: Value, body: Vec<u8>) -> (u16, Value) {
        self.upload_raw(route, &header_safe(&arg), body).await
    }
}

/// Header-safe JSON, written here from the docs (not taken from the emulator).
fn header_safe(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap();
    let mut out = String::new();
    for ch in s.chars() {
        if (ch as u32) < 0x7f {
            out.push(ch);
        } else {
            let mut b = [0u16; 2];
            for u in ch.encode_utf16(&mut b) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn content_hash(data: &[u8]) -> String {
    use sha2::Digest;
    let mut all = Vec::new();
    for block in data.chunks(4 * 1024 * 1024) {
        all.extend_from_slice(&sha2::Sha256::digest(block));
    }
    hex::encode(sha2::Sha256::digest(&all))
}

#[tokio::test]
async fn account_and_auth_errors() {
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    let r =
        d.c.post(format!("{}/2/users/get_current_account", d.api))
            .bearer_auth(&d.tok)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["account_id"].as_str().unwrap().starts_with("dbid:"));
    assert_eq!(v["account_type"][".tag"], "basic");
    assert!(v["name"]["display_name"].is_string());

    // No Authorization header: 400 plain text.
    let r =
        d.c.post(format!("{}/2/users/get_current_account", d.api))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );

    // Bad token: 401 invalid_access_token.
    let r =
        d.c.post(format!("{}/2/users/get_current_account", d.api))
            .bearer_auth("sl.nope")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"][".tag"], "invalid_access_token");
    assert!(
        v["error_summary"]
            .as_str()
            .unwrap()
            .starts_with("invalid_access_token/")
    );

    // Expired token: 401 expired_access_token.
    sb.advance_clock(14_401);
    let (s, v) = d.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"][".tag"], "expired_access_token");

    // The refresh token still works, and gives no new refresh token.
    let cred = sb.credentials().dropbox;
    let r =
        d.c.post(format!("{}/oauth2/token", d.api))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", cred.refresh_token.as_deref().unwrap()),
                ("client_id", &cred.client_id),
                ("client_secret", &cred.client_secret),
            ])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "bearer");
    assert!(v.get("refresh_token").is_none());
    let d2 = Dbx {
        tok: v["access_token"].as_str().unwrap().to_string(),
        ..d
    };
    let (s, _) = d2.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(s, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn upload_metadata_hash_and_case_insensitive_paths() {
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    let data = b"hello dropbox".repeat(1000);
    let (s, m) = d
        .upload(
            "files/upload",
            json!({"path": "/Photo Transfer/Été 😀/IMG_0001.jpg", "mode": "add", "client_modified": "2019-05-01T10:20:30Z"}),
            data.clone(),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    assert!(
        m.get(".tag").is_none(),
        "upload returns FileMetadata without .tag"
    );
    assert_eq!(m["name"], "IMG_0001.jpg");
    assert_eq!(m["path_display"], "/Photo Transfer/Été 😀/IMG_0001.jpg");
    assert_eq!(m["path_lower"], "/photo transfer/été 😀/img_0001.jpg");
    assert_eq!(m["size"], data.len());
    assert_eq!(m["content_hash"], content_hash(&data));
    assert_eq!(m["client_modified"], "2019-05-01T10:20:30Z");
    let rev = m["rev"].as_str().unwrap();
    assert!(rev.len() >= 9 && rev.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(m["id"].as_str().unwrap().starts_with("id:"));

    // Case-insensitive lookup keeps path_display.
    let (s, g) = d
        .rpc(
            "files/get_metadata",
            json!({"path": "/PHOTO TRANSFER/été 😀/img_0001.JPG"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(g[".tag"], "file");
    assert_eq!(g["path_display"], m["path_display"]);
    // Parents were created.
    let (_, f) = d
        .rpc("files/get_metadata", json!({"path": "/photo transfer"}))
        .await;
    assert_eq!(f[".tag"], "folder");
    assert_eq!(f["name"], "Photo Transfer");

    // Download: Dropbox-API-Result is header-safe JSON; Range gives 206.
    let r =
        d.c.post(format!("{}/2/files/download", d.content))
            .bearer_auth(&d.tok)
            .header("Dropbox-API-Arg", header_safe(&json!({"path": m["id"]})))
            .header("Range", "bytes=0-4")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 206);
    let res = r.headers()["dropbox-api-result"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(res.is_ascii() && res.contains("\\u00c9t\\u00e9"), "{res}");
    let res: Value = serde_json::from_str(&res).unwrap();
    assert_eq!(res["name"], "IMG_0001.jpg");
    assert_eq!(&r.bytes().await.unwrap()[..], b"hello");

    // Unescaped non-ASCII in Dropbox-API-Arg is rejected with 400 text.
    let raw = serde_json::to_string(&json!({"path": "/Été.jpg"})).unwrap();
    let (s, v) = d.upload_raw("files/upload", &raw, b"x".to_vec()).await;
    assert_eq!(s, 400);
    assert!(v.as_str().unwrap().contains("Dropbox-API-Arg"), "{v}");

    // Wrong content type: 400.
    let r =
        d.c.post(format!("{}/2/files/upload", d.content))
            .bearer_auth(&d.tok)
            .header("Dropbox-API-Arg", r#"{"path":"/a.txt"}"#)
            .header("Content-Type", "application/json")
            .body("x")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn write_modes_conflicts_and_hash_mismatch() {
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    let (s, m1) = d
        .upload("files/upload", json!({"path": "/a/b.jpg"}), b"one".to_vec())
        .await;
    assert_eq!(s, 200);
    // Same content again: no conflict, nothing written.
    let (s, m2) = d
        .upload("files/upload", json!({"path": "/A/B.jpg"}), b"one".to_vec())
        .await;
    assert_eq!(s, 200);
    assert_eq!(m1["rev"], m2["rev"]);
    // Different content, mode add: 409 path/conflict/file.
    let (s, e) = d
        .upload("files/upload", json!({"path": "/a/b.jpg"}), b"two".to_vec())
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"][".tag"], "path");
    assert_eq!(e["error"]["reason"][".tag"], "conflict");
    assert_eq!(e["error"]["reason"]["conflict"][".tag"], "file");
    assert!(
        e["error_summary"]
            .as_str()
            .unwrap()
            .starts_with("path/conflict/file")
    );
    // autorename.
    let (s, m) = d
        .upload(
            "files/upload",
            json!({"path": "/a/b.jpg", "autorename": true}),
            b"two".to_vec(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["name"], "b (2).jpg");
    // overwrite keeps the id, changes the rev.
    let (s, m) = d
        .upload(
            "files/upload",
            json!({"path": "/a/b.jpg", "mode": "overwrite"}),
            b"three".to_vec(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["id"], m1["id"]);
    assert_ne!(m["rev"], m1["rev"]);
    // update with a stale rev conflicts.
    let (s, _) = d
        .upload(
            "files/upload",
            json!({"path": "/a/b.jpg", "mode": {".tag": "update", "update": m1["rev"]}}),
            b"four".to_vec(),
        )
        .await;
    assert_eq!(s, 409);
    // ... and with autorename becomes a conflicted copy.
    let (s, m) = d
        .upload(
            "files/upload",
            json!({"path": "/a/b.jpg", "mode": {".tag": "update", "update": m1["rev"]}, "autorename": true}),
            b"four".to_vec(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["name"], "b (conflicted copy).jpg");
    // A folder in the way is a conflict.
    let (s, e) = d
        .upload("files/upload", json!({"path": "/a"}), b"x".to_vec())
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"]["reason"]["conflict"][".tag"], "folder");
    // content_hash of the request body is checked.
    let (s, e) = d
        .upload(
            "files/upload",
            json!({"path": "/c.jpg", "content_hash": content_hash(b"other")}),
            b"mine".to_vec(),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"][".tag"], "content_hash_mismatch");
    let (s, _) = d
        .upload(
            "files/upload",
            json!({"path": "/c.jpg", "content_hash": content_hash(b"mine")}),
            b"mine".to_vec(),
        )
        .await;
    assert_eq!(s, 200);
    // Malformed JSON argument: 400.
    let (s, _) = d
        .upload_raw("files/upload", "{not json", b"x".to_vec())
        .await;
    assert_eq!(s, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn folders_and_listing_with_continue() {
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    let (s, v) = d
        .rpc("files/create_folder_v2", json!({"path": "/Photos"}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["metadata"]["name"], "Photos");
    assert!(v["metadata"].get(".tag").is_none());
    let (s, e) = d
        .rpc("files/create_folder_v2", json!({"path": "/photos"}))
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        e["error"],
        json!({".tag": "path", "path": {".tag": "conflict", "conflict": {".tag": "folder"}}})
    );
    assert!(
        e["error_summary"]
            .as_str()
            .unwrap()
            .starts_with("path/conflict/folder/")
    );
    let (s, v) = d
        .rpc(
            "files/create_folder_v2",
            json!({"path": "/photos", "autorename": true}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["metadata"]["name"], "photos (2)");

    for i in 0..5 {
        let (s, _) = d
            .upload(
                "files/upload",
                json!({"path": format!("/Photos/{i}.jpg")}),
                vec![i as u8; 10],
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, mut page) = d
        .rpc("files/list_folder", json!({"path": "/photos", "limit": 2}))
        .await;
    assert_eq!(s, 200);
    let mut names = Vec::new();
    loop {
        for e in page["entries"].as_array().unwrap() {
            assert_eq!(e[".tag"], "file");
            names.push(e["name"].as_str().unwrap().to_string());
        }
        if page["has_more"] == false {
            break;
        }
        let (s, p) = d
            .rpc(
                "files/list_folder/continue",
                json!({"cursor": page["cursor"]}),
            )
            .await;
        assert_eq!(s, 200);
        page = p;
    }
    assert_eq!(names, ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "4.jpg"]);
    let (_, root) = d.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(root["entries"].as_array().unwrap().len(), 2);
    let (_, rec) = d
        .rpc("files/list_folder", json!({"path": "", "recursive": true}))
        .await;
    assert_eq!(rec["entries"].as_array().unwrap().len(), 7);

    let (s, e) = d.rpc("files/list_folder", json!({"path": "/nope"})).await;
    assert_eq!(s, 409);
    assert_eq!(
        e["error"],
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );
    let (s, e) = d
        .rpc("files/get_metadata", json!({"path": "/nope.jpg"}))
        .await;
    assert_eq!(s, 409);
    assert!(
        e["error_summary"]
            .as_str()
            .unwrap()
            .starts_with("path/not_found/")
    );
    let (s, _) = d
        .rpc("files/list_folder", json!({"path": "no-slash"}))
        .await;
    assert_eq!(s, 409);
    let (s, _) = d.rpc("files/list_folder", json!({"path": 5})).await;
    assert_eq!(s, 400);
    let (s, v) = d.rpc("files/list_folder", json!({"path": "/"})).await;
    assert_eq!(s, 400, "the root is \"\", not \"/\": {v}");

    // delete_v2 removes a folder with its contents.
    let (s, v) = d.rpc("files/delete_v2", json!({"path": "/PHOTOS"})).await;
    assert_eq!(s, 200);
    assert_eq!(v["metadata"][".tag"], "folder");
    let (_, rec) = d
        .rpc("files/list_folder", json!({"path": "", "recursive": true}))
        .await;
    assert_eq!(rec["entries"].as_array().unwrap().len(), 1);
    let (s, e) = d.rpc("files/delete_v2", json!({"path": "/photos"})).await;
    assert_eq!(s, 409);
    assert_eq!(
        e["error"],
        json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}})
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn upload_sessions_offsets_and_finish_batch() {
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    let part1 = vec![1u8; 1000];
    let part2 = vec![2u8; 500];
    let (s, v) = d
        .upload(
            "files/upload_session/start",
            json!({"close": false}),
            part1.clone(),
        )
        .await;
    assert_eq!(s, 200);
    let sid = v["session_id"].as_str().unwrap().to_string();
    // Wrong offset: incorrect_offset with the right one.
    let (s, e) = d
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 10}, "close": false}),
            part2.clone(),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(
        e["error"],
        json!({".tag": "incorrect_offset", "correct_offset": 1000})
    );
    let (s, v) = d
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 1000}, "close": false}),
            part2.clone(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v, Value::Null);
    let (s, m) = d
        .upload(
            "files/upload_session/finish",
            json!({"cursor": {"session_id": sid, "offset": 1500},
                   "commit": {"path": "/big/video.mp4", "mode": "add"}}),
            Vec::new(),
        )
        .await;
    assert_eq!(s, 200, "{m}");
    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    assert_eq!(m["size"], 1500);
    assert_eq!(m["content_hash"], content_hash(&whole));
    // The committed file reads back across the session's chunks.
    let r =
        d.c.post(format!("{}/2/files/download", d.content))
            .bearer_auth(&d.tok)
            .header("Dropbox-API-Arg", r#"{"path":"/big/video.mp4"}"#)
            .header("Range", "bytes=990-1009")
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &whole[990..1010]);
    // The session is gone.
    let (s, e) = d
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 1500}}),
            vec![0],
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"][".tag"], "not_found");

    // finish_batch_v2: closed sessions commit, an open one fails with not_closed.
    let mut entries = Vec::new();
    for (i, close) in [(0, true), (1, false), (2, true)] {
        let (_, v) = d
            .upload(
                "files/upload_session/start",
                json!({"close": close}),
                vec![i as u8; 100 + i],
            )
            .await;
        entries.push(json!({
            "cursor": {"session_id": v["session_id"], "offset": 100 + i},
            "commit": {"path": format!("/batch/{i}.jpg")},
        }));
    }
    let (s, v) = d
        .rpc(
            "files/upload_session/finish_batch_v2",
            json!({"entries": entries}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let out = v["entries"].as_array().unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(out[0][".tag"], "success");
    assert_eq!(out[0]["name"], "0.jpg");
    assert_eq!(
        out[1],
        json!({".tag": "failure", "failure": {".tag": "lookup_failed", "lookup_failed": {".tag": "not_closed"}}})
    );
    assert_eq!(out[2][".tag"], "success");

    // The inspection API sees the files with their SHA-256.
    let st: Value =
        d.c.get(format!("{}/state", sb.urls().inspect_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let f = st["dropbox"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path_lower"] == "/big/video.mp4")
        .unwrap()
        .clone();
    assert_eq!(f["sha256"], sha256_hex(&whole));
    sb.shutdown().await;
}

#[tokio::test]
async fn per_request_cap_and_quota() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    // A body announced above 150 MiB is refused before it is read.
    let mut s = tokio::net::TcpStream::connect(sb.local_addr())
        .await
        .unwrap();
    let req = format!(
        "POST /dropbox/content/2/files/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Dropbox-API-Arg: {{\"path\":\"/huge.bin\"}}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        d.tok,
        150 * 1024 * 1024 + 1
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 409"), "{head}");
    assert!(head.contains("payload_too_large"), "{head}");

    // Quota: insufficient_space.
    let mut f = sb.faults(Service::Dropbox);
    f.quota_bytes = Some(100);
    sb.set_faults(Service::Dropbox, f);
    let (s, _) = d
        .upload("files/upload", json!({"path": "/fits.bin"}), vec![0; 60])
        .await;
    assert_eq!(s, 200);
    let (s, e) = d
        .upload("files/upload", json!({"path": "/full.bin"}), vec![1; 60])
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"]["reason"][".tag"], "insufficient_space");
    assert!(e["error"]["upload_session_id"].is_string());
    let (_, u) = d.rpc("users/get_space_usage", Value::Null).await;
    assert_eq!(u["used"], 60);
    assert_eq!(u["allocation"]["allocated"], 100);
    sb.shutdown().await;
}

#[tokio::test]
async fn shared_links() {
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    d.upload("files/upload", json!({"path": "/s.jpg"}), b"s".to_vec())
        .await;
    let (s, v) = d
        .rpc(
            "sharing/create_shared_link_with_settings",
            json!({"path": "/S.jpg"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v[".tag"], "file");
    assert!(v["url"].as_str().unwrap().contains("dl=0"));
    assert_eq!(v["path_lower"], "/s.jpg");
    let (s, e) = d
        .rpc(
            "sharing/create_shared_link_with_settings",
            json!({"path": "/s.jpg"}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"][".tag"], "shared_link_already_exists");
    assert_eq!(
        e["error"]["shared_link_already_exists"]["metadata"]["url"],
        v["url"]
    );
    let (s, e) = d
        .rpc(
            "sharing/create_shared_link_with_settings",
            json!({"path": "/missing.jpg"}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"]["path"][".tag"], "not_found");
    sb.shutdown().await;
}

#[tokio::test]
async fn oauth_pkce_offline_refresh_and_revoke() {
    let sb = sandbox().await;
    let c = client();
    let u = sb.urls().dropbox;
    let cred = sb.credentials().dropbox;
    let (verifier, challenge) = pkce();
    let redirect = "http://localhost:53682/";
    let url = format!(
        "{}/oauth2/authorize?client_id={}&response_type=code&token_access_type=offline&redirect_uri={}&state=s1&code_challenge={challenge}&code_challenge_method=S256",
        u.auth_url, cred.client_id, redirect
    );
    let loc = click_through(&c, &url, "approve").await;
    let q = query_of(&loc);
    assert_eq!(param(&q, "state").as_deref(), Some("s1"));
    let code = param(&q, "code").unwrap();
    // A wrong verifier fails (and burns the code).
    let r = c
        .post(format!("{}/oauth2/token", u.api_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cred.client_id),
            ("code_verifier", &format!("{verifier}x")),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");

    let code = param(&query_of(&click_through(&c, &url, "approve").await), "code").unwrap();
    let r = c
        .post(format!("{}/oauth2/token", u.api_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cred.client_id),
            ("code_verifier", &verifier),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 14_400);
    assert!(v["account_id"].as_str().unwrap().starts_with("dbid:"));
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    // PKCE clients refresh without a secret.
    let r = c
        .post(format!("{}/oauth2/token", u.api_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &cred.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let tok = v["access_token"].as_str().unwrap().to_string();
    let d = Dbx {
        tok,
        ..Dbx::new(&sb)
    };
    let (s, _) = d.rpc("users/get_current_account", Value::Null).await;
    assert_eq!(s, 200);
    let (s, v) = d.rpc("auth/token/revoke", Value::Null).await;
    assert_eq!((s, v), (200, Value::Null));
    let (s, v) = d.rpc("users/get_current_account", Value::Null).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"][".tag"], "invalid_access_token");
    sb.shutdown().await;
}

#[tokio::test]
async fn write_lock_contention_and_rate_limits() {
    let sb = sandbox().await;
    let d = Dbx::new(&sb);
    let mut f = sb.faults(Service::Dropbox);
    f.rate_429 = 1.0;
    f.retry_after_secs = 7;
    sb.set_faults(Service::Dropbox, f);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..6 {
        let r =
            d.c.post(format!("{}/2/files/upload", d.content))
                .bearer_auth(&d.tok)
                .header("Dropbox-API-Arg", format!("{{\"path\":\"/w{i}.bin\"}}"))
                .header("Content-Type", "application/octet-stream")
                .body("x")
                .send()
                .await
                .unwrap();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let v: Value = r.json().await.unwrap();
        match status {
            429 => {
                assert_eq!(retry.as_deref(), Some("7"));
                let reason = v["error"]["reason"][".tag"].as_str().unwrap().to_string();
                if reason == "too_many_requests" {
                    assert_eq!(v["error"]["retry_after"], 7);
                }
                seen.insert(format!("429/{reason}"));
            }
            409 => {
                assert_eq!(v["error"]["reason"][".tag"], "too_many_write_operations");
                assert!(
                    v["error_summary"]
                        .as_str()
                        .unwrap()
                        .starts_with("path/too_many_write_operations")
                );
                seen.insert("409/too_many_write_operations".to_string());
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    // Counted under the route's name.
    let stats: Value =
        d.c.get(format!("{}/stats", sb.urls().inspect_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let n: u64 = stats["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == "/2/files/upload")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(n, 6);
    sb.shutdown().await;
}

#[tokio::test]
async fn concurrent_sessions_and_session_expiry() {
    let sb = sandbox_with(ferry_sandbox::SandboxOptions {
        token_ttl: 30 * 86_400,
        ..Default::default()
    })
    .await;
    let d = Dbx::new(&sb);
    const MIB4: usize = 4 * 1024 * 1024;
    let a = vec![b'a'; MIB4];
    let b = vec![b'b'; MIB4];
    let tail = b"tail".to_vec();
    // Concurrent sessions take no data and no close at start.
    let (s, e) = d
        .upload(
            "files/upload_session/start",
            json!({"session_type": "concurrent"}),
            vec![1],
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"][".tag"], "concurrent_session_data_not_allowed");
    let (_, v) = d
        .upload(
            "files/upload_session/start",
            json!({"session_type": {".tag": "concurrent"}}),
            vec![],
        )
        .await;
    let sid = v["session_id"].clone();
    // Offsets must be multiples of 4 MiB; chunks may arrive out of order.
    let (s, e) = d
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 1000}}),
            vec![0; 10],
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"][".tag"], "concurrent_session_invalid_offset");
    for (off, chunk) in [(MIB4, &b), (0, &a)] {
        let (s, e) = d
            .upload(
                "files/upload_session/append_v2",
                json!({"cursor": {"session_id": sid, "offset": off}}),
                chunk.clone(),
            )
            .await;
        assert_eq!(s, 200, "{e}");
    }
    let (s, _) = d
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 2 * MIB4}, "close": true}),
            tail.clone(),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = d
        .rpc(
            "files/upload_session/finish_batch_v2",
            json!({"entries": [{"cursor": {"session_id": sid, "offset": 2 * MIB4 + tail.len()},
                                "commit": {"path": "/concurrent.bin"}}]}),
        )
        .await;
    assert_eq!(s, 200);
    let mut whole = a.clone();
    whole.extend_from_slice(&b);
    whole.extend_from_slice(&tail);
    assert_eq!(v["entries"][0][".tag"], "success", "{v}");
    assert_eq!(v["entries"][0]["content_hash"], content_hash(&whole));

    // Sessions live 7 days.
    let (_, v) = d
        .upload("files/upload_session/start", json!({}), vec![1, 2, 3])
        .await;
    sb.advance_clock(7 * 86_400 + 1);
    let (s, e) = d
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": v["session_id"], "offset": 3}}),
            vec![4],
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(e["error"][".tag"], "not_found");
    sb.shutdown().await;
}

#[tokio::test]
async fn oauth_no_redirect_flow_shows_the_code() {
    let sb = sandbox().await;
    let c = client();
    let u = sb.urls().dropbox;
    let cred = sb.credentials().dropbox;
    let page = c
        .get(format!(
            "{}/oauth2/authorize?client_id={}&response_type=code&token_access_type=offline",
            u.auth_url, cred.client_id
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, mut fields) = consent_form(&page);
    fields.push(("decision".into(), "approve".into()));
    let r = c.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let code = html
        .split("<code id=\"code\">")
        .nth(1)
        .and_then(|s| s.split("</code>").next())
        .unwrap()
        .to_string();
    let r = c
        .post(format!("{}/oauth2/token", u.api_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cred.client_id),
            ("client_secret", &cred.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["refresh_token"].is_string());
    sb.shutdown().await;
}
