//! Contract tests of the Facebook Graph emulator, written from the Graph API documents
//! (results/paging, error handling, rate limiting, access tokens, Photo/Album/Video nodes).

mod common;

use common::*;
use ferry_sandbox::{Service, faults::FaultConfig};
use serde_json::Value;

async fn graph(c: &reqwest::Client, url: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = c.get(url).send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    (s, r.json().await.unwrap(), h)
}

/// Follows `paging.next` to the end, returning every item.
async fn all_pages(c: &reqwest::Client, first: &str) -> (Vec<Value>, usize) {
    let mut url = first.to_string();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let (s, v, _) = graph(c, &url).await;
        assert_eq!(s, 200, "{v}");
        pages += 1;
        items.extend(v["data"].as_array().unwrap().iter().cloned());
        match v["paging"]["next"].as_str() {
            Some(n) => url = n.to_string(),
            None => return (items, pages),
        }
        assert!(pages < 100);
    }
}

#[tokio::test]
async fn me_and_default_fields() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let (s, v, h) = graph(&c, &format!("{g}/v21.0/me?access_token={tok}")).await;
    assert_eq!(s, 200);
    assert!(
        v["id"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit())
    );
    assert_eq!(v["name"], "Zoë Ångström-Nakamura");
    assert!(
        v.get("email").is_none(),
        "only default fields without fields="
    );
    let usage: Value = serde_json::from_str(h["x-app-usage"].to_str().unwrap()).unwrap();
    assert!(usage["call_count"].as_u64().unwrap() < 100);

    // Bearer header works as well as the query parameter; fields= selects.
    let r = c
        .get(format!("{g}/v21.0/me?fields=id,email"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["email"], "zoe@sandbox.example");
    assert!(v.get("name").is_none());
    sb.shutdown().await;
}

#[tokio::test]
async fn albums_paginate_with_cursors_and_nested_fields() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let first = format!(
        "{g}/v21.0/me/albums?fields=id,name,count,created_time,place{{name,location{{city}}}}&limit=1&access_token={tok}"
    );
    let (albums, pages) = all_pages(&c, &first).await;
    assert_eq!(albums.len(), 4);
    assert_eq!(
        pages, 4,
        "limit=1 gives one album per page; the last has no next"
    );
    let names: Vec<&str> = albums.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Trip: \"Paris\"?"), "{names:?}");
    assert!(albums.iter().any(|a| a["count"] == 0), "an empty album");
    for a in &albums {
        if let Some(p) = a.get("place") {
            // Nested selection: only name and location.city (plus id).
            assert!(p["location"].get("latitude").is_none());
            assert!(p["location"]["city"].is_string());
        }
        let t = a["created_time"].as_str().unwrap();
        assert!(t.ends_with("+0000") && t.len() == 24, "{t}");
    }

    // before= walks back; previous is absent on the first page.
    let (_, p1, _) = graph(&c, &first).await;
    assert!(p1["paging"].get("previous").is_none());
    let (_, p2, _) = graph(&c, p1["paging"]["next"].as_str().unwrap()).await;
    let (_, back, _) = graph(&c, p2["paging"]["previous"].as_str().unwrap()).await;
    assert_eq!(back["data"][0]["id"], p1["data"][0]["id"]);
    sb.shutdown().await;
}

#[tokio::test]
async fn photos_have_renditions_served_by_the_emulator() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let source: Value = c
        .get(format!("{}/source", sb.urls().inspect_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paris = source["facebook"]["albums"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Trip: \"Paris\"?")
        .unwrap()
        .clone();
    let url = format!(
        "{g}/v21.0/{}/photos?fields=id,name,images,created_time,place,album&access_token={tok}",
        paris["id"].as_str().unwrap()
    );
    let (photos, _) = all_pages(&c, &url).await;
    assert_eq!(photos.len(), paris["photo_ids"].as_array().unwrap().len());
    let same: Vec<&Value> = photos.iter().filter(|p| p["name"] == "IMG_0001").collect();
    assert_eq!(same.len(), 2, "two photos with the same name");
    for p in &photos {
        let images = p["images"].as_array().unwrap();
        assert!(!images.is_empty());
        let w0 = images[0]["width"].as_u64().unwrap();
        assert!(
            images.iter().all(|i| i["width"].as_u64().unwrap() <= w0),
            "largest first"
        );
        let r = c
            .get(images[0]["source"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/jpeg");
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
        assert!(bytes.windows(6).any(|w| w == b"Exif\0\0"));
        let want = source["facebook"]["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == p["id"])
            .unwrap();
        assert_eq!(sha256_hex(&bytes), want["sha256"].as_str().unwrap());
        assert_eq!(p["album"]["id"], paris["id"]);
    }

    // Source URLs expire.
    let src = photos[0]["images"][0]["source"]
        .as_str()
        .unwrap()
        .to_string();
    sb.advance_clock(3601);
    let r = c.get(&src).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // A tampered URL is refused too.
    let r = c.get(src.replace("oh=", "oh=0")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    sb.shutdown().await;
}

#[tokio::test]
async fn uploaded_photos_and_videos() {
    let sb = sandbox_with(ferry_sandbox::SandboxOptions {
        videos: 2,
        video_size: 300_000,
        ..Default::default()
    })
    .await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let (photos, _) = all_pages(
        &c,
        &format!("{g}/v21.0/me/photos?type=uploaded&limit=5&access_token={tok}"),
    )
    .await;
    assert_eq!(photos.len(), 12);
    let (tagged, _) = all_pages(&c, &format!("{g}/v21.0/me/photos?access_token={tok}")).await;
    assert!(tagged.is_empty(), "type defaults to tagged");
    let (s, v, _) = graph(&c, &format!("{g}/v21.0/me/photos?access_token={tok}")).await;
    assert_eq!(s, 200);
    assert!(v.get("paging").is_none());

    let (videos, _) = all_pages(
        &c,
        &format!("{g}/v21.0/me/videos?type=uploaded&fields=id,source,title,description,created_time,length&access_token={tok}"),
    )
    .await;
    assert_eq!(videos.len(), 2);
    let src = videos[0]["source"].as_str().unwrap();
    let r = c.get(src).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp4");
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 300_000);
    assert_eq!(&body[4..8], b"ftyp");
    // Range requests resume downloads.
    let r = c
        .get(src)
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 1000-1999/300000");
    assert_eq!(&r.bytes().await.unwrap()[..], &body[1000..2000]);
    // The DTP path form.
    let (alt, _) = all_pages(
        &c,
        &format!("{g}/v21.0/me/videos/uploaded?fields=source&access_token={tok}"),
    )
    .await;
    assert_eq!(alt.len(), 2);
    sb.shutdown().await;
}

fn err(v: &Value) -> (u64, Option<u64>, &str) {
    let e = &v["error"];
    assert!(e["message"].is_string());
    assert!(e["fbtrace_id"].is_string());
    (
        e["code"].as_u64().unwrap(),
        e["error_subcode"].as_u64(),
        e["type"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn graph_errors_have_the_documented_shape() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;

    let (s, v, _) = graph(&c, &format!("{g}/v21.0/me/albums")).await;
    assert_eq!(s, 400);
    assert_eq!(err(&v), (2500, None, "OAuthException"));

    let (s, v, h) = graph(&c, &format!("{g}/v21.0/me?access_token=EAABnotatoken")).await;
    assert_eq!(s, 400);
    assert_eq!(err(&v), (190, None, "OAuthException"));
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("OAuth \"Facebook Platform\"")
    );

    let (s, v, _) = graph(&c, &format!("{g}/v21.0/123456789?access_token={tok}")).await;
    assert_eq!(s, 400);
    assert_eq!(err(&v), (100, Some(33), "GraphMethodException"));

    let (_, v, _) = graph(
        &c,
        &format!("{g}/v21.0/me?fields=id,nonsense&access_token={tok}"),
    )
    .await;
    assert_eq!(err(&v).0, 100);

    let (_, v, _) = graph(
        &c,
        &format!("{g}/v21.0/me/albums?after=bogus&access_token={tok}"),
    )
    .await;
    assert_eq!(err(&v).0, 100);

    // Expired tokens: 190 with subcode 463.
    sb.advance_clock(14_401);
    let (s, v, _) = graph(&c, &format!("{g}/v21.0/me?access_token={tok}")).await;
    assert_eq!(s, 400);
    assert_eq!(err(&v), (190, Some(463), "OAuthException"));
    sb.shutdown().await;
}

#[tokio::test]
async fn throttling_uses_graph_codes_and_app_usage() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    sb.set_faults(
        Service::Facebook,
        FaultConfig {
            rate_429: 1.0,
            token_ttl_secs: 3600,
            ..FaultConfig::default()
        },
    );
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..8 {
        let (s, v, h) = graph(&c, &format!("{g}/v21.0/me?access_token={tok}")).await;
        assert_eq!(s, 400);
        let (code, _, _) = err(&v);
        assert_eq!(v["error"]["is_transient"], true);
        codes.insert(code);
        let usage: Value = serde_json::from_str(h["x-app-usage"].to_str().unwrap()).unwrap();
        assert_eq!(usage["call_count"], 100);
    }
    assert_eq!(codes.into_iter().collect::<Vec<_>>(), vec![4, 17, 32, 613]);
    sb.shutdown().await;
}

#[tokio::test]
async fn login_dialog_code_exchange_and_long_lived_token() {
    let sb = sandbox().await;
    let c = client();
    let u = sb.urls().facebook;
    let cred = sb.credentials().facebook;
    let redirect = "http://127.0.0.1:9/callback";
    let dialog = format!(
        "{}/v21.0/dialog/oauth?client_id={}&redirect_uri={}&state=xyz%20%C3%A9&scope=user_photos,user_videos&response_type=code",
        u.auth_url, cred.client_id, redirect
    );
    let loc = click_through(&c, &dialog, "approve").await;
    assert!(loc.starts_with(redirect));
    let q = query_of(&loc);
    assert_eq!(param(&q, "state").as_deref(), Some("xyz é"));
    let code = param(&q, "code").unwrap();

    let ex = |code: &str| {
        format!(
            "{}/v21.0/oauth/access_token?client_id={}&redirect_uri={}&client_secret={}&code={}",
            u.graph_url, cred.client_id, redirect, cred.client_secret, code
        )
    };
    let (s, v, _) = graph(&c, &ex(&code)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "bearer");
    let short = v["access_token"].as_str().unwrap().to_string();
    assert!(v["expires_in"].as_u64().unwrap() > 0);
    // Codes are single-use.
    let (s, v, _) = graph(&c, &ex(&code)).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["type"], "OAuthException");

    let (s, _, _) = graph(
        &c,
        &format!("{}/v21.0/me?access_token={short}", u.graph_url),
    )
    .await;
    assert_eq!(s, 200);

    let (s, v, _) = graph(
        &c,
        &format!(
            "{}/v21.0/oauth/access_token?grant_type=fb_exchange_token&client_id={}&client_secret={}&fb_exchange_token={short}",
            u.graph_url, cred.client_id, cred.client_secret
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.get("refresh_token").is_none(),
        "Facebook has no refresh tokens"
    );
    let long = v["access_token"].as_str().unwrap();
    assert_ne!(long, short);
    let (s, _, _) = graph(&c, &format!("{}/v21.0/me?access_token={long}", u.graph_url)).await;
    assert_eq!(s, 200);

    // Denying redirects with error=access_denied.
    let loc = click_through(&c, &dialog, "deny").await;
    assert_eq!(
        param(&query_of(&loc), "error").as_deref(),
        Some("access_denied")
    );

    // Revocation: DELETE /me/permissions.
    let r = c
        .delete(format!(
            "{}/v21.0/me/permissions?access_token={long}",
            u.graph_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, v, _) = graph(&c, &format!("{}/v21.0/me?access_token={long}", u.graph_url)).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], 190);
    sb.shutdown().await;
}

#[tokio::test]
async fn nested_edges_in_fields() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let (s, v, _) = graph(
        &c,
        &format!(
            "{g}/v21.0/me/albums?fields=id,name,photos.limit(2){{images,name}}&access_token={tok}"
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let first = &v["data"].as_array().unwrap()[0];
    let photos = &first["photos"];
    assert!(photos["data"].as_array().unwrap().len() <= 2);
    if let Some(p) = photos["data"].as_array().unwrap().first() {
        assert!(p["images"].is_array());
        assert!(p.get("created_time").is_none());
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn deleted_objects_answer_100_33_and_leave_edges() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let (photos, _) = all_pages(
        &c,
        &format!("{g}/v21.0/me/photos?type=uploaded&fields=id,images&access_token={tok}"),
    )
    .await;
    let victim = photos[0]["id"].as_str().unwrap().to_string();
    let src = photos[0]["images"][0]["source"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .post(format!(
            "{}/facebook/delete?id={victim}",
            sb.urls().inspect_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, v, _) = graph(&c, &format!("{g}/v21.0/{victim}?access_token={tok}")).await;
    assert_eq!(s, 400);
    assert_eq!(err(&v), (100, Some(33), "GraphMethodException"));
    let (after, _) = all_pages(
        &c,
        &format!("{g}/v21.0/me/photos?type=uploaded&access_token={tok}"),
    )
    .await;
    assert_eq!(after.len(), photos.len() - 1);
    assert!(after.iter().all(|p| p["id"] != victim.as_str()));
    assert_eq!(c.get(&src).send().await.unwrap().status(), 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn tokens_can_be_expired_on_demand() {
    let sb = sandbox().await;
    let c = client();
    let g = sb.urls().facebook.graph_url;
    let tok = sb.credentials().facebook.access_token;
    let r = c
        .post(format!(
            "{}/tokens/expire?service=facebook",
            sb.urls().inspect_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, v, _) = graph(&c, &format!("{g}/v21.0/me?access_token={tok}")).await;
    assert_eq!(err(&v), (190, Some(463), "OAuthException"));
    // Other services are untouched.
    let r = c
        .post(format!(
            "{}/2/users/get_current_account",
            sb.urls().dropbox.api_url
        ))
        .bearer_auth(sb.credentials().dropbox.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}
