//! The server-rendered pages, through plain HTTP as a browser without JavaScript would use
//! them (the browser test in crates/cli/tests/web.rs drives the same flow in Chromium).

mod common;

use std::time::Duration;

use common::start;
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

async fn page(server: &common::Server, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = server.get(cookie, path).await;
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_person_transfers_and_requests_an_archive_through_the_pages() {
    let server = start(common::config()).await;
    let cookie = server.account("ann@example.com", PASSWORD).await;

    // Signed out, every page sends to sign-in.
    for path in ["/", "/transfer", "/jobs", "/archives", "/connections"] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()["location"], "/sign-in");
    }

    let (status, home) = page(&server, &cookie, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("id=\"start-transfer\"") && home.contains("Sandbox"));

    let (_, connections) = page(&server, &cookie, "/connections").await;
    for service in ["facebook", "dropbox", "google-photos", "koofr"] {
        assert!(
            connections.contains(&format!("id=\"connect-{service}\"")),
            "{service}"
        );
    }
    assert!(connections.contains("class=\"sandbox\""));

    // Connecting from the page: off to the service (with PKCE where it takes it), back to
    // where the page asked.
    let response = server.get(&cookie, "/connect/dropbox?next=/transfer").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let authorize = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        authorize.starts_with(&server.sandbox.base_url()),
        "{authorize}"
    );
    assert!(
        authorize.contains("state=") && authorize.contains("code_challenge="),
        "{authorize}"
    );
    let callback = server.approve(&authorize).await;
    let response = server.get_url(&cookie, &callback).await;
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("/transfer?connected="), "{location}");
    assert_eq!(
        server.connect(&cookie, "facebook").await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, connections) = page(&server, &cookie, "/connections").await;
    assert!(connections.contains("data-connection=\"facebook\""));
    assert!(connections.contains("data-connection=\"dropbox\""));

    let (_, transfer) = page(&server, &cookie, "/transfer").await;
    assert!(transfer.contains("<option value=\"facebook\">"));
    assert!(transfer.contains("<option value=\"dropbox\">"));
    let (_, albums) = page(&server, &cookie, "/transfer/albums?source=facebook").await;
    assert!(albums.contains("name=\"album\""), "{albums}");

    let query = "source=facebook&destination=dropbox&types=photos&types=videos&albums=all";
    let (status, review) = page(&server, &cookie, &format!("/transfer/review?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert!(review.contains("id=\"review-items\""));
    assert!(
        review.contains("private folders Photo Transfer/"),
        "{review}"
    );

    // A wrong password: the review again, with the error, and no job.
    let form = format!("{query}&password=wrong");
    let response = server.post_form(&cookie, "/transfer", &form).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("role=\"alert\""));

    let form = format!("{query}&password={}", PASSWORD.replace(' ', "+"));
    let response = server.post_form(&cookie, "/transfer", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let job_path = response.headers()["location"].to_str().unwrap().to_string();
    assert!(job_path.starts_with("/jobs/"));
    let id = job_path.trim_start_matches("/jobs/").to_string();

    // The live part arrives as server-sent events, and the last one says done.
    let events = server.get(&cookie, &format!("{job_path}/events")).await;
    assert_eq!(
        events.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = tokio::time::timeout(Duration::from_secs(60), events.text())
        .await
        .expect("the stream ends with the job")
        .unwrap();
    assert!(body.contains("event: progress"), "{body}");
    assert!(body.contains("id=\"job-state\">done<"), "{body}");

    let (_, job) = page(&server, &cookie, &job_path).await;
    assert!(job.contains("id=\"job-state\">done<"), "{job}");
    assert!(
        !job.contains("sse-connect"),
        "a finished job's page does not listen"
    );
    let (_, jobs) = page(&server, &cookie, "/jobs").await;
    assert!(jobs.contains(&format!("data-job=\"{id}\"")));

    let (_, home) = page(&server, &cookie, "/").await;
    assert!(home.contains("class=\"notice\""), "{home}");
    assert!(home.contains("has finished"), "{home}");

    // Download your information, from the form.
    let (_, download) = page(&server, &cookie, "/download").await;
    assert!(download.contains("value=\"messages\""));
    let response = server
        .post_form(
            &cookie,
            "/download",
            "source=facebook&types=photos&types=posts&since=&until=",
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/archives");
    let (_, archives) = page(&server, &cookie, "/archives").await;
    assert!(archives.contains("data-archive="), "{archives}");

    // A bad date is one clear line on the form.
    let response = server
        .post_form(
            &cookie,
            "/download",
            "source=facebook&types=photos&since=yesterday",
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("is not a date"));
}

#[tokio::test]
async fn the_vendored_scripts_are_served_and_others_are_not() {
    let server = start(common::config()).await;
    let response = server
        .http
        .get(server.url("/static/htmx-2.0.11.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    for path in ["/static/../Cargo.toml", "/static/nope.js"] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
