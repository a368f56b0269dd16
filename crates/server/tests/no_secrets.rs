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

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
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
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(stored.contains("$argon2id$"));
    for secret in [PASSWORD, WRONG] {
        assert!(!stored.contains(secret), "a password in the database");
    }
}
