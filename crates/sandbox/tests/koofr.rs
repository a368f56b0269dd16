//! Contract tests of the Koofr emulator, written from Koofr's REST API (v2) as public
//! clients use it: app-password Basic auth, token login, mounts and `primary`, files
//! info/list/folder/put/get/listrecursive, MD5 hashes, millisecond times, 413.

mod common;

use common::*;
use serde_json::{Value, json};

struct K {
    c: reqwest::Client,
    base: String,
    email: String,
    pass: String,
}

impl K {
    fn new(sb: &ferry_sandbox::Sandbox) -> K {
        let k = sb.credentials().koofr;
        K {
            c: client(),
            base: sb.urls().koofr.base_url,
            email: k.email,
            pass: k.app_password,
        }
    }
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.c
            .get(format!("{}{path}", self.base))
            .basic_auth(&self.email, Some(&self.pass))
    }
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.c
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.email, Some(&self.pass))
            .header("X-Koofr-Version", "2.1")
    }
}

fn md5_hex(b: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(b))
}

#[tokio::test]
async fn auth_user_and_mounts() {
    let sb = sandbox().await;
    let k = K::new(&sb);
    let r = k.get("/api/v2/mounts").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let mounts = v["mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["isPrimary"], true);
    let id = mounts[0]["id"].as_str().unwrap();
    let m: Value = k
        .get(&format!("/api/v2/mounts/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["id"], id);
    assert!(m["spaceTotal"].is_u64(), "sizes in MiB");
    let u: Value = k
        .get("/api/v2/user")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["email"], k.email);

    // Wrong password: 401.
    let r =
        k.c.get(format!("{}/api/v2/mounts", k.base))
            .basic_auth(&k.email, Some("wrong"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);
    // Unknown mount: 404.
    assert_eq!(
        k.get("/api/v2/mounts/nope").send().await.unwrap().status(),
        404
    );

    // Token login: POST /token, then `Authorization: Token token=...`.
    let r =
        k.c.post(format!("{}/token", k.base))
            .json(&json!({"email": k.email, "password": k.pass}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-user-id"));
    let t: Value = r.json().await.unwrap();
    let r =
        k.c.get(format!("{}/api/v2/mounts", k.base))
            .header(
                "Authorization",
                format!("Token token={}", t["token"].as_str().unwrap()),
            )
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    // Bearer (OAuth) works too.
    let r =
        k.c.get(format!("{}/api/v2/mounts", k.base))
            .bearer_auth(sb.credentials().koofr.oauth.access_token)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn folders_put_get_and_list() {
    let sb = sandbox().await;
    let k = K::new(&sb);
    let r = k
        .post("/api/v2/mounts/primary/files/folder?path=/")
        .json(&json!({"name": "Photo Transfer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = k
        .post("/api/v2/mounts/primary/files/folder?path=/")
        .json(&json!({"name": "Photo Transfer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "folder exists");
    let r = k
        .post("/api/v2/mounts/primary/files/folder?path=/missing")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Raw body upload with info=true and modified (ms).
    let body = vec![0u8, 1, 2, 3, 4];
    let r = k
        .post("/content/api/v2/mounts/primary/files/put?path=/Photo%20Transfer&filename=image.jpg&info=true&modified=1591868314156")
        .header("Content-Type", "image/jpeg")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["name"].clone(),
            v["type"].clone(),
            v["size"].clone(),
            v["modified"].clone()
        ),
        (
            json!("image.jpg"),
            json!("file"),
            json!(5),
            json!(1591868314156u64)
        )
    );
    assert_eq!(v["hash"], "d05374dc381d9b52806446a71c8e79b1");
    assert_eq!(v["contentType"], "image/jpeg");

    // Multipart upload of the same name: autorenamed.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"second".to_vec()).file_name("dummy"),
    );
    let r = k
        .post("/content/api/v2/mounts/primary/files/put?path=/Photo%20Transfer&filename=image.jpg&info=true&autorename=true")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["name"], "image (1).jpg");
    assert_eq!(v["hash"], md5_hex(b"second"));

    // autorename=false without overwrite: 409; overwrite=true replaces.
    let put = |q: &'static str, b: &'static [u8]| {
        k.post(&format!(
            "/content/api/v2/mounts/primary/files/put?path=/Photo%20Transfer&filename=image.jpg&info=true&{q}"
        ))
        .body(b)
        .send()
    };
    assert_eq!(put("autorename=false", b"x").await.unwrap().status(), 409);
    let r = put("autorename=false&overwrite=true", b"replaced")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["hash"], md5_hex(b"replaced"));

    // info / list.
    let r = k
        .get("/api/v2/mounts/primary/files/info?path=/Photo%20Transfer/image.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = k
        .get("/api/v2/mounts/primary/files/info?path=/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = k
        .get("/api/v2/mounts/primary/files/list?path=/Photo%20Transfer")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["image (1).jpg", "image.jpg"]);

    // get with Range.
    let r = k
        .get("/content/api/v2/mounts/primary/files/get?path=/Photo%20Transfer/image.jpg")
        .header("Range", "bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], b"pla");

    // listrecursive: NDJSON.
    let text = k
        .get("/content/api/v2/mounts/primary/files/listrecursive?path=/")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines.iter().all(|l| l["type"] == "file"));
    assert!(
        lines
            .iter()
            .any(|l| l["path"] == "/Photo Transfer/image.jpg")
    );

    // The inspection API reports SHA-256 and MD5.
    let st: Value =
        k.c.get(format!("{}/state", sb.urls().inspect_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let f = st["koofr"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "/Photo Transfer/image.jpg")
        .unwrap()
        .clone();
    assert_eq!(f["sha256"], sha256_hex(b"replaced"));
    sb.shutdown().await;
}

#[tokio::test]
async fn oauth_code_flow() {
    let sb = sandbox().await;
    let c = client();
    let base = sb.urls().koofr.base_url;
    let cred = sb.credentials().koofr.oauth;
    let redirect = "http://127.0.0.1:9/koofr";
    let loc = click_through(
        &c,
        &format!(
            "{base}/oauth2/auth?client_id={}&redirect_uri={redirect}&response_type=code&scope=files.read%20files.import&state=k",
            cred.client_id
        ),
        "approve",
    )
    .await;
    let code = param(&query_of(&loc), "code").unwrap();
    let r = c
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &cred.client_id),
            ("client_secret", &cred.client_secret),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["refresh_token"].is_string());
    let r = c
        .get(format!("{base}/api/v2/mounts"))
        .bearer_auth(v["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn webdav_shares_the_storage() {
    let sb = sandbox().await;
    let k = K::new(&sb);
    let dav = format!("{}/dav/Koofr", k.base);
    let m = |s: &str| reqwest::Method::from_bytes(s.as_bytes()).unwrap();
    let req = |method: &str, url: String| {
        k.c.request(m(method), url)
            .basic_auth(&k.email, Some(&k.pass))
    };

    let r =
        k.c.request(m("PROPFIND"), format!("{dav}/"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    let r = req("OPTIONS", format!("{dav}/")).send().await.unwrap();
    assert!(r.headers()["dav"].to_str().unwrap().contains('1'));

    assert_eq!(
        req("MKCOL", format!("{dav}/Photo%20Transfer"))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        req("MKCOL", format!("{dav}/Photo%20Transfer"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    assert_eq!(
        req("MKCOL", format!("{dav}/missing/child"))
            .send()
            .await
            .unwrap()
            .status(),
        409
    );

    let url = format!("{dav}/Photo%20Transfer/%C3%89t%C3%A9.jpg");
    let r = req("PUT", url.clone())
        .body("hello webdav")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = req("PUT", url.clone())
        .body("hello again!")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        req("PUT", format!("{dav}/nowhere/x.jpg"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        409
    );

    let r = req("PROPFIND", format!("{dav}/Photo%20Transfer/"))
        .header("Depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 207);
    let xml = r.text().await.unwrap();
    assert!(xml.contains("<d:collection/>"), "{xml}");
    assert!(
        xml.contains("/koofr/dav/Koofr/Photo%20Transfer/%C3%89t%C3%A9.jpg"),
        "{xml}"
    );
    assert!(
        xml.contains("<d:getcontentlength>12</d:getcontentlength>"),
        "{xml}"
    );

    let r = req("GET", url.clone())
        .header("Range", "bytes=6-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.text().await.unwrap(), "again");

    // The REST API sees the same file, with its MD5.
    let v: Value = k
        .get("/api/v2/mounts/primary/files/info?path=/Photo%20Transfer/%C3%89t%C3%A9.jpg")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["hash"], md5_hex(b"hello again!"));

    let r = req("COPY", url.clone())
        .header("Destination", format!("{dav}/Photo%20Transfer/copy.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = req("MOVE", url.clone())
        .header("Destination", format!("{dav}/Photo%20Transfer/moved.jpg"))
        .header("Overwrite", "F")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(req("GET", url.clone()).send().await.unwrap().status(), 404);
    let r = req("GET", format!("{dav}/Photo%20Transfer/copy.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "hello again!");
    assert_eq!(
        req("DELETE", format!("{dav}/Photo%20Transfer"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        req("PROPFIND", format!("{dav}/Photo%20Transfer"))
            .header("Depth", "0")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    sb.shutdown().await;
}
