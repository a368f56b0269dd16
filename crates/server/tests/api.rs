//! The accounts API through real HTTP against a running server.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Server, session_cookie, set_cookie_header, start};
use ferry_server::{ServerConfig, ThrottleConfig};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, ORIGIN, RETRY_AFTER};
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough password";

#[tokio::test]
async fn health_answers_ok() {
    let server = start(common::config()).await;
    let response = server.http.get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
}

#[tokio::test]
async fn sign_up_sign_out_and_sign_in_again() {
    let server = start(common::config()).await;

    let response = server.sign_up(" Ann@Example.org ", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let set_cookie = set_cookie_header(&response);
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    let cookie = session_cookie(&response).unwrap();
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["email"], "ann@example.org");

    let (status, me) = server.who_am_i(Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "ann@example.org");
    assert_eq!(me["account_id"], created["account_id"]);

    let response = server
        .http
        .delete(server.url("/api/v1/session"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie_header(&response).contains("Max-Age=0"));
    // The session ended on the server: the old cookie no longer works.
    assert_eq!(
        server.who_am_i(Some(&cookie)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.who_am_i(None).await.0, StatusCode::UNAUTHORIZED);

    let response = server.sign_in("ann@example.org", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let again = session_cookie(&response).unwrap();
    assert_ne!(again, cookie, "a new session gets a new token");
    let (status, me) = server.who_am_i(Some(&again)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["account_id"], created["account_id"]);
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure_and_host_bound() {
    let server = start(ServerConfig {
        secure_cookies: true,
        ..common::config()
    })
    .await;
    let response = server.sign_up("ann@example.org", PASSWORD).await;
    let set_cookie = set_cookie_header(&response);
    assert!(
        set_cookie.starts_with("__Host-ferry_session="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let cookie = session_cookie(&response).unwrap();
    assert_eq!(server.who_am_i(Some(&cookie)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_and_unknown_address_get_the_same_refusal() {
    let server = start(common::config()).await;
    server.account("ann@example.org", PASSWORD).await;

    let wrong = server.sign_in("ann@example.org", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&wrong).is_none());
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(wrong["error"], "wrong_credentials");

    let unknown = server.sign_in("nobody@example.org", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.json::<Value>().await.unwrap(), wrong);
}

#[tokio::test]
async fn sign_up_refuses_taken_addresses_short_passwords_and_bad_bodies() {
    let server = start(common::config()).await;
    server.account("ann@example.org", PASSWORD).await;

    let taken = server.sign_up("ANN@example.org", "another password").await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert_eq!(
        server.sign_up("bob@example.org", "short").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        server.sign_up("not an address", PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );

    let response = server
        .http
        .post(server.url("/api/v1/accounts"))
        .header("content-type", "application/json")
        .body("{\"email\": 5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "bad_request"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let server = start(ServerConfig {
        throttle: ThrottleConfig {
            account_failures: 3,
            ip_failures: 100,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(900),
            ..ThrottleConfig::default()
        },
        ..common::config()
    })
    .await;
    server.account("ann@example.org", PASSWORD).await;
    server.account("bob@example.org", PASSWORD).await;

    for _ in 0..3 {
        let response = server.sign_in("ann@example.org", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password is refused, and the client is told how long to wait.
    let locked = server.sign_in("ann@example.org", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    assert!(session_cookie(&locked).is_none());
    assert_eq!(locked.json::<Value>().await.unwrap()["error"], "throttled");

    // Another account is not locked by someone guessing at ann's.
    assert_eq!(
        server.sign_in("bob@example.org", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_lock_that_address() {
    let server = start(ServerConfig {
        throttle: ThrottleConfig {
            account_failures: 100,
            ip_failures: 4,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
            ..ThrottleConfig::default()
        },
        ..common::config()
    })
    .await;
    server.account("ann@example.org", PASSWORD).await;
    for n in 0..4 {
        let response = server
            .sign_in(&format!("guess{n}@example.org"), "guess")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = server.sign_in("ann@example.org", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn cross_site_state_changing_requests_are_refused() {
    let server = start(common::config()).await;
    let cookie = server.account("ann@example.org", PASSWORD).await;
    let credentials = json!({ "email": "ann@example.org", "password": PASSWORD });

    // A modern browser on another site says so in Sec-Fetch-Site.
    let response = server
        .http
        .post(server.url("/api/v1/session"))
        .header("sec-fetch-site", "cross-site")
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&response).is_none());
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "cross_site"
    );

    // An older browser only sends Origin, which does not match the host.
    let response = server
        .http
        .delete(server.url("/api/v1/session"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server.who_am_i(Some(&cookie)).await.0,
        StatusCode::OK,
        "still signed in"
    );

    // The HTML forms are covered too.
    let response = server
        .http
        .post(server.url("/sign-in"))
        .header("sec-fetch-site", "same-site")
        .form(&[("email", "ann@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The same requests from the app's own pages pass.
    let response = server
        .http
        .post(server.url("/api/v1/session"))
        .header("sec-fetch-site", "same-origin")
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let host = server.base.trim_start_matches("http://").to_owned();
    let response = server
        .http
        .delete(server.url("/api/v1/session"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn two_accounts_see_only_their_own_session() {
    let server = start(common::config()).await;
    let ann = server.account("ann@example.org", PASSWORD).await;
    let bob = server
        .account("bob@example.org", "bob's own password")
        .await;

    let (_, ann_me) = server.who_am_i(Some(&ann)).await;
    let (_, bob_me) = server.who_am_i(Some(&bob)).await;
    assert_eq!(ann_me["email"], "ann@example.org");
    assert_eq!(bob_me["email"], "bob@example.org");
    assert_ne!(ann_me["account_id"], bob_me["account_id"]);

    // A guessed or altered token is nobody.
    let (name, token) = ann.split_once('=').unwrap();
    let mut altered = token.to_owned();
    let last = if altered.ends_with('A') { 'B' } else { 'A' };
    altered.pop();
    altered.push(last);
    assert_eq!(
        server.who_am_i(Some(&format!("{name}={altered}"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server
            .who_am_i(Some(&format!("{name}=not-a-token")))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Ann signing out ends Ann's session only.
    let response = server
        .http
        .delete(server.url("/api/v1/session"))
        .header(COOKIE, &ann)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        server.who_am_i(Some(&ann)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, me) = server.who_am_i(Some(&bob)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "bob@example.org");
}

#[tokio::test]
async fn confirming_the_password_again() {
    let server = start(common::config()).await;
    let cookie = server.account("ann@example.org", PASSWORD).await;
    let confirm = |password: &str| {
        server
            .http
            .post(server.url("/api/v1/session/confirm"))
            .header(COOKIE, &cookie)
            .json(&json!({ "password": password }))
            .send()
    };
    let wrong = confirm("not it").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "wrong_password"
    );
    let right = confirm(PASSWORD).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    let me: Value = right.json().await.unwrap();
    assert!(me["confirmed_at"].as_i64().unwrap() >= me["signed_in_at"].as_i64().unwrap());

    // Without a session there is nothing to confirm.
    let response = server
        .http
        .post(server.url("/api/v1/session/confirm"))
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_only_those() {
    let server = start(common::config()).await;
    let response = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");

    let served: BTreeSet<(String, String)> = ferry_server::api_route_list()
        .into_iter()
        .map(|(method, path)| (method.as_str().to_lowercase(), path.to_owned()))
        .collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(served, documented);

    // Every listed route is really routed with that method (neither 404 nor 405).
    for (method, path) in &served {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let status = server
            .http
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status}"
        );
    }

    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
    }
}

#[tokio::test]
async fn the_sign_in_page_signs_in_and_out() {
    let server = start(common::config()).await;
    let response = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/sign-in");

    let page = server
        .http
        .get(server.url("/sign-in"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(page.headers()[name], value);
    }
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("action=\"/sign-in\"") && html.contains("type=\"password\""));

    let response = server
        .http
        .post(server.url("/sign-up"))
        .form(&[("email", "ann@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&response).unwrap();
    let home = server
        .http
        .get(server.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("ann@example.org"));

    let response = server
        .http
        .post(server.url("/sign-in"))
        .form(&[("email", "ann@example.org"), ("password", "<b>not it</b>")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let html = response.text().await.unwrap();
    assert!(html.contains("wrong e-mail address or password"));
    assert!(html.contains("value=\"ann@example.org\""));
    assert!(!html.contains("not it"));

    let response = server
        .http
        .post(server.url("/sign-out"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        server.who_am_i(Some(&cookie)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let mut server: Server = start(common::config()).await;
    assert_eq!(
        server
            .http
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.stop().await;
    assert!(server.http.get(server.url("/health")).send().await.is_err());
}

#[tokio::test]
async fn each_account_reads_only_its_own_audit_log() {
    let server = start(common::config()).await;
    let ann = server.account("ann@example.org", PASSWORD).await;
    let bob = server
        .account("bob@example.org", "bob's own password")
        .await;
    server.sign_in("ann@example.org", "a wrong guess").await;
    let log = |cookie: String| {
        let request = server.http.get(server.url("/api/v1/account/audit-log"));
        async move {
            let response = request.header(COOKIE, cookie).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let lines: Vec<Value> = response.json().await.unwrap();
            lines
                .iter()
                .map(|line| line["event"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(log(ann).await, ["sign_in_failed", "sign_up"]);
    assert_eq!(log(bob).await, ["sign_up"]);
    let anonymous = server
        .http
        .get(server.url("/api/v1/account/audit-log"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_ups_from_one_address_are_bounded() {
    let server = start(ServerConfig {
        throttle: ThrottleConfig {
            ip_sign_ups: 3,
            ..ThrottleConfig::default()
        },
        ..common::config()
    })
    .await;
    for n in 0..3 {
        let response = server
            .sign_up(&format!("person{n}@example.com"), "long enough password")
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = server
        .sign_up("person3@example.com", "long enough password")
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(RETRY_AFTER));
    // Signing in is another matter: the people already signed up still can.
    let response = server
        .sign_in("person0@example.com", "long enough password")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
