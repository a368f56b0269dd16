//! A real `ferry serve` on a random local port, with its own SQLite store (or the store a
//! test gives it).

#![allow(dead_code)]

pub mod smtp;

use std::sync::Arc;
use std::time::Duration;

use ferry_engine::SqliteStore;
use ferry_server::{AppState, ServerConfig};
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The emulated services people connect (the server runs as it does without real OAuth
    /// apps configured).
    pub sandbox: ferry_sandbox::Sandbox,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The server's configuration for tests; `start` fills in the URL and folders.
pub fn config() -> ServerConfig {
    let mut config = ServerConfig::new(
        "http://127.0.0.1:1".parse().unwrap(),
        std::path::PathBuf::new(),
    );
    config.sandbox = true;
    config
}

pub async fn start(config: ServerConfig) -> Server {
    let sandbox = ferry_sandbox::start(ferry_sandbox::SandboxOptions::default())
        .await
        .unwrap();
    start_with(config, sandbox, tempfile::tempdir().unwrap(), None).await
}

/// A server on `dir` (its journal, key and archives), with `outbox` sending its e-mail.
pub async fn start_with(
    config: ServerConfig,
    sandbox: ferry_sandbox::Sandbox,
    dir: tempfile::TempDir,
    outbox: Option<Arc<dyn ferry_server::Outbox>>,
) -> Server {
    let data = dir.path().to_path_buf();
    start_sharing(config, sandbox, dir, &data, outbox).await
}

/// A server whose journal and key are in `data` (another server's, to share them) and whose
/// archives are built in `dir`.
pub async fn start_sharing(
    config: ServerConfig,
    sandbox: ferry_sandbox::Sandbox,
    dir: tempfile::TempDir,
    data: &std::path::Path,
    outbox: Option<Arc<dyn ferry_server::Outbox>>,
) -> Server {
    let store = Arc::new(SqliteStore::open(&data.join("ferry.db")).await.unwrap());
    start_on(config, sandbox, dir, data, store, outbox).await
}

/// A server on `store` (a PostgreSQL one, say) whose key is in `data` and whose archives are
/// built in `dir`.
pub async fn start_on<S: ferry_engine::Store + ferry_engine::AppStore + 'static>(
    mut config: ServerConfig,
    sandbox: ferry_sandbox::Sandbox,
    dir: tempfile::TempDir,
    data: &std::path::Path,
    store: Arc<S>,
    outbox: Option<Arc<dyn ferry_server::Outbox>>,
) -> Server {
    let services = ferry_connectors::config::Config::parse(&sandbox.ferry_toml(), None).unwrap();
    let connections = Arc::new(ferry_endpoints::Connections::new(
        store.clone(),
        data.to_path_buf(),
        Ok(services),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    config.public_url = base.parse().unwrap();
    config.archive_dir = dir.path().join("archives");
    // The sandbox and the test servers listen on loopback.
    config.private_endpoints = true;
    let state = AppState::new(store.clone(), store, connections, outbox, config);
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(ferry_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Server {
        base,
        dir,
        http,
        sandbox,
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks the server to stop and waits until it has; returns what it ran on, to start
    /// it again.
    pub async fn stop_and_keep(mut self) -> (ferry_sandbox::Sandbox, tempfile::TempDir) {
        self.stop().await;
        (self.sandbox, self.dir)
    }

    /// Asks the server to stop and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("the server stops within 10 s")
                .unwrap()
                .unwrap();
        }
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Response {
        self.http
            .post(self.url("/api/v1/accounts"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        self.http
            .post(self.url("/api/v1/session"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Signs up and returns the session cookie (`name=value`).
    pub async fn account(&self, email: &str, password: &str) -> String {
        let response = self.sign_up(email, password).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        session_cookie(&response).expect("sign-up sets the session cookie")
    }

    pub async fn who_am_i(&self, cookie: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(self.url("/api/v1/session"));
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The `name=value` of the session cookie a response sets, if any (an empty value clears).
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.contains("ferry_session=") && !pair.ends_with('='))
        .map(str::to_owned)
}

pub fn set_cookie_header(response: &Response) -> String {
    response
        .headers()
        .get(SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl Server {
    pub async fn get(&self, cookie: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, cookie: &str, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .header(COOKIE, cookie)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Starts connecting `service` and returns the URL of the service's consent page.
    pub async fn authorize_url(&self, cookie: &str, service: &str) -> String {
        let response = self
            .post_json(cookie, "/api/v1/connections", json!({ "service": service }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["authorize_url"].as_str().unwrap().to_string()
    }

    /// Approves on the sandbox's consent page (as a person clicking "Allow" would) and
    /// returns where the service sends the browser back to: ferry's callback URL.
    pub async fn approve(&self, authorize_url: &str) -> String {
        self.decide(authorize_url, "approve").await
    }

    /// Answers the sandbox's consent page with `decision` (`approve` or `deny`); returns the
    /// callback URL the service redirects to.
    pub async fn decide(&self, authorize_url: &str, decision: &str) -> String {
        let url = reqwest::Url::parse(authorize_url).unwrap();
        let mut form: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        form.push(("decision".into(), decision.into()));
        let mut action = url.clone();
        action.set_query(None);
        let response = self.http.post(action).form(&form).send().await.unwrap();
        assert!(
            response.status().is_redirection(),
            "the consent page redirects back: {}",
            response.status()
        );
        response.headers()["location"].to_str().unwrap().to_string()
    }

    /// GETs an absolute URL (a callback) with the session cookie.
    pub async fn get_url(&self, cookie: &str, url: &str) -> Response {
        self.http
            .get(url)
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    /// POSTs a urlencoded form body, as a browser submits a form.
    pub async fn post_form(&self, cookie: &str, path: &str, body: &str) -> Response {
        self.http
            .post(self.url(path))
            .header(COOKIE, cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Connects `service` through the whole OAuth flow; returns the callback's response.
    pub async fn connect(&self, cookie: &str, service: &str) -> Response {
        let authorize = self.authorize_url(cookie, service).await;
        let callback = self.approve(&authorize).await;
        self.get_url(cookie, &callback).await
    }

    /// Re-enters the password in this session.
    pub async fn confirm(&self, cookie: &str, password: &str) -> Response {
        self.post_json(
            cookie,
            "/api/v1/session/confirm",
            json!({ "password": password }),
        )
        .await
    }

    /// Polls a job until it is done or cancelled (at most `timeout`); its last view.
    pub async fn wait_job(&self, cookie: &str, id: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let job: Value = self
                .get(cookie, &format!("/api/v1/jobs/{id}"))
                .await
                .json()
                .await
                .unwrap();
            let state = job["state"].as_str().unwrap_or_default().to_string();
            if state == "done" || state == "cancelled" || tokio::time::Instant::now() > deadline {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls an archive until it is no longer building (at most `timeout`).
    pub async fn wait_archive(&self, cookie: &str, id: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let archive: Value = self
                .get(cookie, &format!("/api/v1/archives/{id}"))
                .await
                .json()
                .await
                .unwrap();
            if archive["state"] != "building" || tokio::time::Instant::now() > deadline {
                return archive;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
