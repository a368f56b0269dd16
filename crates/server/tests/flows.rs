//! The server's flows through its JSON API, against the sandbox's emulated services:
//! connecting through OAuth, transferring, following and steering a job, building and
//! downloading an archive; and what must be refused: another account's things, wrong or
//! reused OAuth states, stale password confirmations, spent and expired download links.

mod common;

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, start, start_with};
use ferry_server::Outbox;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

/// Signs up and connects the sandbox's Facebook and Dropbox.
async fn connected_account(server: &Server, email: &str) -> String {
    let cookie = server.account(email, PASSWORD).await;
    for service in ["facebook", "dropbox"] {
        let response = server.connect(&cookie, service).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{service}");
        let location = response.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("/connections?connected="),
            "{location}"
        );
    }
    cookie
}

async fn start_transfer(server: &Server, cookie: &str, body: Value) -> reqwest::Response {
    server.post_json(cookie, "/api/v1/transfers", body).await
}

fn facebook_to_dropbox() -> Value {
    json!({ "source": "facebook", "destination": "dropbox", "types": ["photos", "videos"] })
}

#[tokio::test]
async fn a_transfer_goes_from_connecting_to_done_and_tells_the_person() {
    let server = start(common::config()).await;
    let cookie = connected_account(&server, "ann@example.com").await;

    let connections: Value = server
        .get(&cookie, "/api/v1/connections")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = connections
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dropbox", "facebook"]);
    assert!(
        !connections.to_string().contains("token"),
        "connections never show credentials"
    );

    let review: Value = server
        .get(
            &cookie,
            "/api/v1/transfers/review?source=facebook&destination=dropbox&types=photos&types=videos",
        )
        .await
        .json()
        .await
        .unwrap();
    let items = review["items"].as_u64().unwrap();
    assert!(items > 0, "{review}");
    assert!(
        review["where_text"]
            .as_str()
            .unwrap()
            .contains("Photo Transfer/<album>"),
        "{review}"
    );

    let response = start_transfer(&server, &cookie, facebook_to_dropbox()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let job = server.wait_job(&cookie, &id, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["items_done"].as_u64(), Some(items), "{job}");
    assert_eq!(job["items_failed"].as_u64(), Some(0), "{job}");

    // What landed, as the emulated Dropbox sees it: the photos under "Photo Transfer".
    let files = dropbox_files(&server).await;
    assert!(
        files.iter().any(|p| p.starts_with("/Photo Transfer/")),
        "{files:?}"
    );

    let notices: Value = server
        .get(&cookie, "/api/v1/notices")
        .await
        .json()
        .await
        .unwrap();
    let texts = notices.to_string();
    assert!(texts.contains("has started"), "{texts}");
    assert!(texts.contains("has finished"), "{texts}");

    let audit = server.get(&cookie, "/api/v1/account/audit-log").await;
    let audit = audit.text().await.unwrap();
    for event in ["connected", "transfer_started", "transfer_finished"] {
        assert!(audit.contains(event), "{event} in {audit}");
    }
}

/// Ten transfers started at once by one account share the server's one journal: each ends
/// done, none pauses on a busy database.
#[tokio::test]
async fn ten_transfers_started_at_once_all_finish() {
    let server = start(common::config()).await;
    let cookie = connected_account(&server, "ann@example.com").await;
    let review: Value = server
        .get(
            &cookie,
            "/api/v1/transfers/review?source=facebook&destination=dropbox",
        )
        .await
        .json()
        .await
        .unwrap();
    let albums: Vec<String> = review["inventory"]["albums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(albums.len() >= 2, "{review}");
    // Ten different jobs (the same request twice would continue one job): each album alone
    // and with the next, for photos, videos or both.
    let type_sets = [vec!["photos"], vec!["videos"], vec!["photos", "videos"]];
    let mut bodies = Vec::new();
    'made: for types in &type_sets {
        for (i, album) in albums.iter().enumerate() {
            for chosen in [
                vec![album.clone()],
                vec![album.clone(), albums[(i + 1) % albums.len()].clone()],
            ] {
                bodies.push(json!({
                    "source": "facebook", "destination": "dropbox",
                    "types": types, "albums": chosen,
                }));
                if bodies.len() == 10 {
                    break 'made;
                }
            }
        }
    }
    assert_eq!(bodies.len(), 10);
    let started = futures::future::join_all(
        bodies
            .into_iter()
            .map(|body| start_transfer(&server, &cookie, body)),
    )
    .await;
    let mut ids = Vec::new();
    for response in started {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let job: Value = response.json().await.unwrap();
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "ten distinct jobs");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for id in &ids {
        let job = loop {
            let job: Value = server
                .get(&cookie, &format!("/api/v1/jobs/{id}"))
                .await
                .json()
                .await
                .unwrap();
            let state = job["state"].as_str().unwrap_or_default().to_string();
            if ["done", "paused", "cancelled"].contains(&state.as_str())
                || tokio::time::Instant::now() > deadline
            {
                break job;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(job["state"], "done", "{job}");
        assert_eq!(job["items_failed"].as_u64(), Some(0), "{job}");
    }
}

/// Paths of every file in the sandbox's Dropbox.
async fn dropbox_files(server: &Server) -> Vec<String> {
    let url = format!("{}/state", server.sandbox.urls().inspect_url);
    let state: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    state["dropbox"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "file")
        .filter_map(|e| e["path_display"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn two_accounts_cannot_reach_each_others_jobs_connections_or_archives() {
    let server = start(common::config()).await;
    let ann = connected_account(&server, "ann@example.com").await;
    let bob = server.account("bob@example.com", PASSWORD).await;

    let job: Value = start_transfer(&server, &ann, facebook_to_dropbox())
        .await
        .json()
        .await
        .unwrap();
    let job_id = job["id"].as_str().unwrap().to_string();
    let archive: Value = server
        .post_json(&ann, "/api/v1/archives", json!({ "source": "facebook" }))
        .await
        .json()
        .await
        .unwrap();
    let archive_id = archive["id"].as_str().unwrap().to_string();

    for path in [
        format!("/api/v1/jobs/{job_id}"),
        format!("/api/v1/jobs/{job_id}/events"),
        format!("/api/v1/archives/{archive_id}"),
        format!("/api/v1/archives/{archive_id}/download?ticket=x"),
        format!("/jobs/{job_id}"),
        format!("/archives/{archive_id}"),
    ] {
        let response = server.get(&bob, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // A prefix of another's job id finds nothing either (the CLI's prefix lookup is not
    // the server's).
    let prefix = &job_id[..8];
    let response = server.get(&bob, &format!("/api/v1/jobs/{prefix}")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for action in ["pause", "resume", "cancel"] {
        let response = server
            .post_json(&bob, &format!("/api/v1/jobs/{job_id}/{action}"), json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let response = server
        .post_json(
            &bob,
            &format!("/api/v1/archives/{archive_id}/ticket"),
            json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Bob sees nothing of Ann's, and cannot use or delete her connections by name.
    for path in ["/api/v1/jobs", "/api/v1/archives", "/api/v1/connections"] {
        let list: Value = server.get(&bob, path).await.json().await.unwrap();
        assert_eq!(list, json!([]), "{path}");
    }
    let response = start_transfer(&server, &bob, facebook_to_dropbox()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = server
        .http
        .delete(server.url("/api/v1/connections/facebook"))
        .header(COOKIE, &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let anns: Value = server
        .get(&ann, "/api/v1/connections")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(anns.as_array().unwrap().len(), 2);

    // Ann's own job still finishes.
    let job = server
        .wait_job(&ann, &job_id, Duration::from_secs(60))
        .await;
    assert_eq!(job["state"], "done", "{job}");
}

#[tokio::test]
async fn oauth_callbacks_with_a_wrong_reused_or_foreign_state_are_refused() {
    let server = start(common::config()).await;
    let cookie = server.account("ann@example.com", PASSWORD).await;

    // A state nobody issued.
    let response = server
        .get(&cookie, "/oauth/callback?state=forged&code=whatever")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A real callback works once; the same callback again is refused.
    let authorize = server.authorize_url(&cookie, "dropbox").await;
    let callback = server.approve(&authorize).await;
    let first = server.get_url(&cookie, &callback).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let again = server.get_url(&cookie, &callback).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // A state issued to one session is refused from another, even of the same person.
    let authorize = server.authorize_url(&cookie, "facebook").await;
    let callback = server.approve(&authorize).await;
    let other_session =
        common::session_cookie(&server.sign_in("ann@example.com", PASSWORD).await).unwrap();
    let response = server.get_url(&other_session, &callback).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // … and that attempt spent it.
    let response = server.get_url(&cookie, &callback).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A person who refuses at the service connects nothing.
    let authorize = server.authorize_url(&cookie, "facebook").await;
    let callback = server.decide(&authorize, "deny").await;
    let response = server.get_url(&cookie, &callback).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let connections: Value = server
        .get(&cookie, "/api/v1/connections")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(connections.as_array().unwrap().len(), 1, "{connections}");
}

#[tokio::test]
async fn starting_a_transfer_needs_a_recent_password_and_refuses_a_wrong_one() {
    let mut config = common::config();
    config.confirmation_max_age = Duration::from_secs(1);
    let server = start(config).await;
    let cookie = connected_account(&server, "ann@example.com").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let response = start_transfer(&server, &cookie, facebook_to_dropbox()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "confirmation_required");

    let mut with_wrong = facebook_to_dropbox();
    with_wrong["password"] = json!("not my password");
    let response = start_transfer(&server, &cookie, with_wrong).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let jobs: Value = server
        .get(&cookie, "/api/v1/jobs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jobs, json!([]), "nothing started");

    let mut with_right = facebook_to_dropbox();
    with_right["password"] = json!(PASSWORD);
    let response = start_transfer(&server, &cookie, with_right).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_transfer_pauses_resumes_and_a_stopping_server_leaves_it_resumable() {
    // Slow links: the job runs long enough to be steered.
    let sandbox = ferry_sandbox::start(ferry_sandbox::SandboxOptions {
        photos: 24,
        videos: 4,
        video_size: 2 << 20,
        bandwidth: Some(2 << 20),
        ..ferry_sandbox::SandboxOptions::default()
    })
    .await
    .unwrap();
    let server = start_with(
        common::config(),
        sandbox,
        tempfile::tempdir().unwrap(),
        None,
    )
    .await;
    let cookie = connected_account(&server, "ann@example.com").await;
    let job: Value = start_transfer(&server, &cookie, facebook_to_dropbox())
        .await
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_string();

    wait_for_state(&server, &cookie, &id, "running").await;
    let paused: Value = server
        .post_json(&cookie, &format!("/api/v1/jobs/{id}/pause"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paused["id"], id.as_str());
    let job = wait_for_state(&server, &cookie, &id, "paused").await;
    assert_eq!(job["reason"], "paused by you", "{job}");
    let response = server
        .post_json(&cookie, &format!("/api/v1/jobs/{id}/resume"), json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    wait_for_state(&server, &cookie, &id, "running").await;

    // The server stops mid-transfer: the job is paused, not lost, and a new server on the
    // same journal resumes it by itself.
    let (sandbox, dir) = server.stop_and_keep().await;
    let server = start_with(common::config(), sandbox, dir, None).await;
    let cookie =
        common::session_cookie(&server.sign_in("ann@example.com", PASSWORD).await).unwrap();
    let job = server
        .wait_job(&cookie, &id, Duration::from_secs(120))
        .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["items_failed"].as_u64(), Some(0), "{job}");
    assert_eq!(job["items_done"], job["items_total"], "{job}");
    let files = dropbox_files(&server).await;
    assert_eq!(
        files.len() as u64,
        job["items_total"].as_u64().unwrap(),
        "nothing twice"
    );

    // A finished job cannot be cancelled; a new one can, and stays cancelled.
    let response = server
        .post_json(&cookie, &format!("/api/v1/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

async fn wait_for_state(server: &Server, cookie: &str, id: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = server
            .get(cookie, &format!("/api/v1/jobs/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if job["state"] == state {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job never {state}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Keeps e-mail in memory (the SMTP client has its own test against a real SMTP server).
#[derive(Default)]
struct Mailbox {
    sent: Mutex<Vec<(String, String, String)>>,
}

#[async_trait::async_trait]
impl Outbox for Mailbox {
    async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), String> {
        self.sent
            .lock()
            .unwrap()
            .push((to.into(), subject.into(), text.into()));
        Ok(())
    }
}

#[tokio::test]
async fn an_archive_is_mailed_downloaded_once_per_password_and_expires() {
    // A permissive umask must not make people's archives readable by other users.
    unsafe { libc::umask(0o022) };
    let mailbox = Arc::new(Mailbox::default());
    let mut config = common::config();
    config.confirmation_max_age = Duration::from_secs(1);
    config.link_lifetime = Duration::from_secs(6);
    let sandbox = ferry_sandbox::start(ferry_sandbox::SandboxOptions::default())
        .await
        .unwrap();
    let server = start_with(
        config,
        sandbox,
        tempfile::tempdir().unwrap(),
        Some(mailbox.clone()),
    )
    .await;
    let cookie = connected_account(&server, "ann@example.com").await;
    let archive: Value = server
        .post_json(
            &cookie,
            "/api/v1/archives",
            json!({ "source": "facebook", "types": ["photos", "posts", "profile"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = archive["id"].as_str().unwrap().to_string();
    let archive = server
        .wait_archive(&cookie, &id, Duration::from_secs(60))
        .await;
    assert_eq!(archive["state"], "ready", "{archive}");
    assert!(
        archive["counts"]["media"].as_u64().unwrap() > 0,
        "{archive}"
    );

    // The e-mail: to the owner, with the link to the archive's page.
    let link = server.url(&format!("/archives/{id}"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mail = loop {
        let sent = mailbox.sent.lock().unwrap().clone();
        if let Some(mail) = sent
            .into_iter()
            .find(|(_, subject, _)| subject.contains("archive is ready"))
        {
            break mail;
        }
        assert!(tokio::time::Instant::now() < deadline, "no e-mail");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(mail.0, "ann@example.com");
    assert!(mail.2.contains(&link), "{}", mail.2);

    // A stale confirmation gets no ticket; the password again does.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let ticket_path = format!("/api/v1/archives/{id}/ticket");
    let response = server.post_json(&cookie, &ticket_path, json!({})).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server.confirm(&cookie, "wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.confirm(&cookie, PASSWORD).await.status(),
        StatusCode::OK
    );
    let ticket: Value = server
        .post_json(&cookie, &ticket_path, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let url = ticket["url"].as_str().unwrap().to_string();

    // Only the owner's session can spend it.
    let bob = server.account("bob@example.com", PASSWORD).await;
    assert_eq!(server.get(&bob, &url).await.status(), StatusCode::NOT_FOUND);

    let response = server.get(&cookie, &url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"ferry-export-")
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        archive["sha256"].as_str().unwrap()
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut manifest = String::new();
    zip.by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    assert!(manifest.contains("sha256"));

    // The same link again: spent.
    assert_eq!(server.get(&cookie, &url).await.status(), StatusCode::GONE);

    // After its lifetime the archive is gone, and so is its file.
    let file = server.dir.path().join("archives").join(&id);
    assert!(file.exists());
    let mode = |path: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&server.dir.path().join("archives")), 0o700);
    assert_eq!(mode(&file), 0o700);
    let zips: Vec<_> = std::fs::read_dir(&file)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    assert_eq!(mode(&zips[0]), 0o600, "{}", zips[0].display());
    tokio::time::sleep(Duration::from_secs(6)).await;
    let response = server.get(&cookie, &format!("/api/v1/archives/{id}")).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(!file.exists(), "the expired archive is deleted");
    assert_eq!(
        server
            .post_json(&cookie, &ticket_path, json!({}))
            .await
            .status(),
        StatusCode::GONE
    );
}

#[tokio::test]
async fn cross_site_posts_are_refused_on_the_new_routes() {
    let server = start(common::config()).await;
    let cookie = connected_account(&server, "ann@example.com").await;
    for path in [
        "/api/v1/transfers",
        "/api/v1/archives",
        "/transfer",
        "/download",
    ] {
        let response = server
            .http
            .post(server.url(path))
            .header(COOKIE, &cookie)
            .header("sec-fetch-site", "cross-site")
            .json(&facebook_to_dropbox())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let jobs: Value = server
        .get(&cookie, "/api/v1/jobs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(jobs, json!([]));
}

/// A urlencoded form body.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Submits a connect form.
async fn post_connect(
    server: &Server,
    cookie: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    server.post_form(cookie, path, &form(pairs)).await
}

/// The services without OAuth connect through forms made from their declared options: a
/// WebDAV server (the sandbox's Koofr over WebDAV) and a Koofr app password, sealed like the
/// CLI's; a wrong password is refused without being shown again; a transfer lands there.
#[tokio::test]
async fn a_webdav_server_and_a_koofr_app_password_connect_through_forms() {
    let server = start(common::config()).await;
    let cookie = server.account("ann@example.com", PASSWORD).await;
    let response = server.connect(&cookie, "facebook").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // Every service is offered, the ones without OAuth as forms.
    let page = server
        .get(&cookie, "/connections")
        .await
        .text()
        .await
        .unwrap();
    for form in [
        "connect-webdav-password",
        "connect-koofr-app-password",
        "connect-s3-api-key",
    ] {
        assert!(page.contains(&format!("id=\"{form}\"")), "{form}");
    }
    assert!(page.contains("id=\"connect-dropbox\""));
    let services: Value = server
        .get(&cookie, "/api/v1/services")
        .await
        .json()
        .await
        .unwrap();
    let webdav = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "webdav")
        .unwrap();
    assert_eq!(webdav["methods"][0]["fields"][0]["key"], "url");

    let creds = server.sandbox.credentials();
    let webdav_url = server.sandbox.urls().koofr.webdav_url.clone();

    // A wrong password: refused by the server, the page says so and shows no value back.
    let wrong = "not-the-app-password-4711";
    let response = post_connect(
        &server,
        &cookie,
        "/connect/webdav",
        &[
            ("method", "password"),
            ("url", &webdav_url),
            ("user", &creds.koofr.email),
            ("password", wrong),
            ("name", "dav"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.contains("refused the credentials"), "{text}");
    assert!(!text.contains(wrong));
    // A field the form checks: no user or password inside the URL.
    let response = post_connect(
        &server,
        &cookie,
        "/connect/webdav",
        &[
            ("method", "password"),
            ("url", "http://u:secret@example.com/"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.contains("Server URL: put the user"), "{text}");
    assert!(!text.contains("secret@"));
    // Forms of another site are refused.
    let response = server
        .http
        .post(server.url("/connect/webdav"))
        .header(COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("method", "password"), ("url", &webdav_url)]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // The right ones.
    let response = post_connect(
        &server,
        &cookie,
        "/connect/webdav?next=/transfer",
        &[
            ("method", "password"),
            ("url", &webdav_url),
            ("user", &creds.koofr.email),
            ("password", &creds.koofr.app_password),
            ("name", "dav"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/transfer?connected="), "{location}");
    let response = post_connect(
        &server,
        &cookie,
        "/connect/koofr",
        &[
            ("method", "app-password"),
            ("user", &creds.koofr.email),
            ("app-password", &creds.koofr.app_password),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let connections = server
        .get(&cookie, "/api/v1/connections")
        .await
        .text()
        .await
        .unwrap();
    let list: Value = serde_json::from_str(&connections).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dav", "facebook", "koofr"]);
    assert!(!connections.contains(&creds.koofr.app_password));

    // The WebDAV connection works: a transfer lands there.
    let response = start_transfer(
        &server,
        &cookie,
        json!({ "source": "facebook", "destination": "dav", "types": ["photos"] }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();
    let job = server.wait_job(&cookie, &id, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "done", "{job}");
    assert!(job["items_done"].as_u64().unwrap() > 0, "{job}");
    assert_eq!(job["items_failed"].as_u64(), Some(0), "{job}");
}
