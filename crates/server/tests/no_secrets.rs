//! Passwords never reach logs, responses or the database. Its own test binary: it installs a
//! process-wide tracing subscriber at the most verbose level.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::start;
use reqwest::header::COOKIE;
use serde_json::json;

const PASSWORD: &str = "Zebra-Lantern-7731-Quokka";
const WRONG: &str = "Mistaken-Walrus-4410-Oboe";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps a response's headers and body; returns the session cookie it sets, if any.
async fn record(seen: &mut String, response: reqwest::Response) -> Option<String> {
    for (name, value) in response.headers() {
        seen.push_str(&format!("{name}: {value:?}\n"));
    }
    let cookie = common::session_cookie(&response);
    seen.push_str(&response.text().await.unwrap());
    cookie
}

#[tokio::test]
async fn passwords_appear_in_no_log_response_or_stored_row() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let server = start(common::config()).await;
    let mut seen = String::new();
    let cookie = record(&mut seen, server.sign_up("ann@example.org", PASSWORD).await)
        .await
        .unwrap();
    record(&mut seen, server.sign_in("ann@example.org", WRONG).await).await;
    record(&mut seen, server.sign_in("ann@example.org", PASSWORD).await).await;
    record(&mut seen, server.sign_up("ann@example.org", PASSWORD).await).await;
    record(&mut seen, server.sign_up("bad", WRONG).await).await;
    let confirm = |password: &'static str| {
        server
            .http
            .post(server.url("/api/v1/session/confirm"))
            .header(COOKIE, &cookie)
            .json(&json!({ "password": password }))
            .send()
    };
    record(&mut seen, confirm(WRONG).await.unwrap()).await;
    record(&mut seen, confirm(PASSWORD).await.unwrap()).await;
    let form = server
        .http
        .post(server.url("/sign-in"))
        .form(&[("email", "ann@example.org"), ("password", WRONG)])
        .send()
        .await
        .unwrap();
    record(&mut seen, form).await;

    // Connect two services through OAuth, transfer, and download an archive: the tokens the
    // services issue and the download ticket stay out of logs, pages and the database.
    for service in ["facebook", "dropbox"] {
        let response = server.connect(&cookie, service).await;
        assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
        record(&mut seen, response).await;
    }
    let job: serde_json::Value = server
        .post_json(
            &cookie,
            "/api/v1/transfers",
            json!({ "source": "facebook", "destination": "dropbox" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap();
    let job = server
        .wait_job(&cookie, id, std::time::Duration::from_secs(60))
        .await;
    assert_eq!(job["state"], "done", "{job}");
    for path in ["/api/v1/connections", "/connections", "/api/v1/jobs"] {
        record(&mut seen, server.get(&cookie, path).await).await;
    }
    let archive: serde_json::Value = server
        .post_json(&cookie, "/api/v1/archives", json!({ "source": "facebook" }))
        .await
        .json()
        .await
        .unwrap();
    let archive_id = archive["id"].as_str().unwrap();
    server
        .wait_archive(&cookie, archive_id, std::time::Duration::from_secs(60))
        .await;
    server.confirm(&cookie, PASSWORD).await;
    let ticket: serde_json::Value = server
        .post_json(
            &cookie,
            &format!("/api/v1/archives/{archive_id}/ticket"),
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let url = ticket["url"].as_str().unwrap().to_string();
    let ticket_value = url.rsplit_once("ticket=").unwrap().1.to_string();
    assert_eq!(
        server.get(&cookie, &url).await.status(),
        reqwest::StatusCode::OK
    );

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        has_token("Bearer EAABx0123456789abcdefghij", "EAAB"),
        "the check finds tokens"
    );
    // Facebook's tokens start "EAAB", Dropbox's "sl." (the sandbox issues real shapes).
    for (text, what) in [(&logs, "logs"), (&seen, "responses")] {
        assert!(!has_token(text, "EAAB"), "a Facebook token in the {what}");
        assert!(!has_token(text, "sl."), "a Dropbox token in the {what}");
        assert!(
            !text.contains(&ticket_value),
            "a download ticket in the {what}"
        );
    }
    assert!(
        logs.contains("/api/v1/session"),
        "the capture works: {logs}"
    );
    for secret in [PASSWORD, WRONG] {
        assert!(!logs.contains(secret), "a password in the logs");
        assert!(!seen.contains(secret), "a password in a response");
    }

    // The database keeps the argon2id hash only (the WAL holds the recent writes).
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("ferry.db")
        {
            stored.extend(std::fs::read(path).unwrap());
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.contains("$argon2id$"));
    for secret in [PASSWORD, WRONG] {
        assert!(!stored.contains(secret), "a password in the database");
    }
    assert!(
        !has_token(&stored, "EAAB"),
        "a Facebook token in the database"
    );
    assert!(
        !has_token(&stored, "sl."),
        "a Dropbox token in the database"
    );
    assert!(
        !stored.contains(&ticket_value),
        "a download ticket in the database"
    );
}

/// Whether `text` holds `prefix` followed by at least 20 token characters.
fn has_token(text: &str, prefix: &str) -> bool {
    text.match_indices(prefix).any(|(at, _)| {
        text[at + prefix.len()..]
            .chars()
            .take(20)
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .count()
            == 20
    })
}
