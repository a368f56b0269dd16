//! The headline transfers end to end through the `ferry` binary, against the sandbox started
//! by the test: connections (tokens, the browser flow, sealed at rest, revoked), Facebook →
//! Dropbox, Koofr, Google Photos and WebDAV with every byte checked through the inspection
//! API, `--share-link`, and kill -9 in the middle of a transfer to Dropbox.

mod common;

use common::sandbox::Env;

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_sandbox::SandboxOptions;
use tokio::io::AsyncBufReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_sealed_listed_and_revoked() {
    let env = Env::new(SandboxOptions::default()).await;
    let c = env.sb.credentials();
    let token = c.dropbox.access_token.clone();
    let out = env
        .ok(&["connect", "dropbox", "--name", "dbx", "--token", &token])
        .await;
    assert!(
        common::stdout(&out).contains("connected dbx: Dropbox"),
        "{}",
        common::stdout(&out)
    );

    // Listed without a secret; nothing in the database or the output holds the token.
    let out = env.ok(&["connections", "--json"]).await;
    let text = common::stdout(&out);
    assert!(text.contains("\"dbx\"") && !text.contains(&token), "{text}");
    for entry in std::fs::read_dir(&env.data).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{} holds the token in plaintext",
            path.display()
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.data.join("master.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A name taken by another service is refused; connecting again with credentials the
    // service refuses changes nothing; with good ones it replaces them; an unknown name is named.
    let out = env
        .run(&[
            "connect",
            "koofr",
            "--name",
            "dbx",
            "--user",
            "a",
            "--app-password",
            "b",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("exists already"),
        "{}",
        common::stderr(&out)
    );
    let out = env
        .run(&[
            "connect",
            "dropbox",
            "--name",
            "dbx",
            "--token",
            "not-a-token",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(err.contains("Dropbox refused the credentials"), "{err}");
    assert!(!err.contains("not-a-token"), "{err}");
    let out = env
        .ok(&["connect", "dropbox", "--name", "dbx", "--token", &token])
        .await;
    assert!(
        common::stdout(&out).contains("reconnected dbx"),
        "{}",
        common::stdout(&out)
    );
    let out = env.run(&["transfer", "nope:", "dbx:"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("no connection named 'nope'"),
        "{}",
        common::stderr(&out)
    );

    // The browser flow: a loopback redirect with PKCE, driven here as a browser would.
    let mut child = env
        .ferry()
        .args(["connect", "dropbox", "--name", "dbx2", "--no-browser"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .next_line()
        .await
        .unwrap()
        .expect("the authorization URL");
    assert!(
        url.contains("code_challenge=") && url.contains("token_access_type=offline"),
        "{url}"
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (action, mut fields) = consent_form(&page);
    fields.push(("decision".into(), "approve".into()));
    let answer = browser.post(&action).form(&fields).send().await.unwrap();
    let back = answer.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with("http://127.0.0.1:"), "{back}");
    let done = browser
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("connected"), "{done}");
    let status = child.wait().await.unwrap();
    assert!(status.success());
    let connected = lines.next_line().await.unwrap().unwrap_or_default();
    assert!(connected.contains("connected dbx2"), "{connected}");

    // Disconnecting revokes at Dropbox, then forgets.
    env.ok(&["disconnect", "dbx"]).await;
    let check = reqwest::Client::new()
        .post(format!(
            "{}/2/users/get_current_account",
            env.sb.urls().dropbox.api_url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 401, "the token was revoked");
    let out = env.ok(&["connections"]).await;
    assert!(
        !common::stdout(&out).contains("dbx "),
        "{}",
        common::stdout(&out)
    );
}

/// The hidden inputs of the sandbox's consent form, and its action.
fn consent_form(html: &str) -> (String, Vec<(String, String)>) {
    let between = |s: &str, a: &str, b: &str| -> Option<String> {
        let i = s.find(a)? + a.len();
        let j = s[i..].find(b)? + i;
        Some(s[i..j].to_string())
    };
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let action = between(html, "action=\"", "\"").expect("a form");
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[i + 27..];
        let name = rest[..rest.find('"').unwrap()].to_string();
        let value = between(rest, "value=\"", "\"").unwrap();
        fields.push((unescape(&name), unescape(&value)));
    }
    (unescape(&action), fields)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_to_every_destination_byte_for_byte() {
    let env = Env::new(SandboxOptions {
        albums: 20,
        photos: 1000,
        videos: 10,
        video_size: 50 << 20,
        ..SandboxOptions::default()
    })
    .await;
    env.connect_all().await;
    let originals = env.originals().await;
    assert_eq!(originals.values().sum::<usize>(), 1010);

    for (target, service) in [
        ("dbx:", "dropbox"),
        ("gp:", "google_photos"),
        ("koofr:/Koofr target", "koofr"),
    ] {
        let mut args = vec!["transfer", "fb:", target, "--json", "--concurrency", "8"];
        if service == "dropbox" {
            args.push("--share-link");
        }
        let out = env.ok(&args).await;
        let report = common::json(&out);
        assert_eq!(report["items"]["done"], 1010, "{target}: {report}");
        assert_eq!(report["items"]["failed"], 0, "{target}: {report}");
        if service == "dropbox" {
            let links = report["share_links"].as_array().unwrap();
            assert_eq!(links.len(), 2, "{report}");
        }
        assert_eq!(env.landed(service), originals, "{target}");
    }
    // WebDAV into the same Koofr storage, under another folder: Koofr then holds both.
    let out = env
        .ok(&[
            "transfer",
            "fb:",
            "dav:/Over WebDAV",
            "--json",
            "--concurrency",
            "8",
        ])
        .await;
    assert_eq!(common::json(&out)["items"]["done"], 1010);
    let doubled: BTreeMap<String, usize> =
        originals.iter().map(|(k, v)| (k.clone(), v * 2)).collect();
    assert_eq!(env.landed("koofr"), doubled);

    // Again: nothing new anywhere.
    let out = env.ok(&["transfer", "fb:", "dbx:", "--json"]).await;
    assert_eq!(common::json(&out)["items"]["done"], 1010);
    assert_eq!(env.landed("dropbox"), originals);
}

/// Kills ferry twice with SIGKILL while it moves to `target`, then runs the same command
/// again: every item lands exactly once.
async fn kill_9_then_resume(target: &str, service: &str) {
    let env = Env::new(SandboxOptions {
        albums: 4,
        photos: 300,
        videos: 2,
        latency_ms: 15,
        ..SandboxOptions::default()
    })
    .await;
    env.connect_all().await;
    let originals = env.originals().await;
    for stop_after in [40usize, 160] {
        let mut child = env
            .ferry()
            .args(["transfer", "fb:", target, "--json", "--concurrency", "8"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while env.landed(service).values().sum::<usize>() < stop_after {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{target}: no progress"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
    }
    let out = env.ok(&["transfer", "fb:", target, "--json"]).await;
    let report = common::json(&out);
    assert_eq!(report["items"]["done"], 302, "{target}: {report}");
    assert_eq!(
        env.landed(service),
        originals,
        "{target}: every item exactly once"
    );
    let jobs = env.ok(&["jobs", "--json"]).await;
    assert_eq!(common::json(&jobs).as_array().map(|a| a.len()), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_transfer_to_dropbox_then_resume_moves_each_item_once() {
    kill_9_then_resume("dbx:", "dropbox").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_transfer_to_google_photos_then_resume_moves_each_item_once() {
    kill_9_then_resume("gp:", "google_photos").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_transfer_to_koofr_then_resume_moves_each_item_once() {
    kill_9_then_resume("koofr:", "koofr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_transfer_to_webdav_then_resume_moves_each_item_once() {
    kill_9_then_resume("dav:", "koofr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_facebook_token_and_a_full_dropbox_pause_with_what_to_do() {
    let env = Env::new(SandboxOptions {
        albums: 2,
        photos: 20,
        videos: 1,
        video_size: 4 << 20,
        quota: Some(2 << 20),
        ..SandboxOptions::default()
    })
    .await;
    env.connect_all().await;
    let token = env.sb.credentials().facebook.access_token.clone();

    // Dropbox fills up: the job pauses, says so, and resumes once there is room.
    let out = env.run(&["transfer", "fb:", "dbx:", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let report = common::json(&out);
    assert_eq!(report["state"], "paused", "{report}");
    assert!(
        report["reason"].as_str().unwrap().contains("full"),
        "{report}"
    );

    // Facebook has no refresh token: an expired one pauses the job with how to reconnect.
    let expire = format!(
        "{}/_sandbox/tokens/expire?service=facebook",
        env.sb.base_url()
    );
    reqwest::Client::new().post(expire).send().await.unwrap();
    let job = report["job_id"].as_str().unwrap().to_string();
    let mut faults = env.sb.faults(ferry_sandbox::Service::Dropbox);
    faults.quota_bytes = None;
    env.sb.set_faults(ferry_sandbox::Service::Dropbox, faults);
    let out = env.run(&["resume", &job, "--json"]).await;
    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ferry connect facebook --name fb"), "{text}");
    assert!(!text.contains(&token), "the token leaked: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let env = Env::new(SandboxOptions::default()).await;
    env.connect_all().await;
    // Expire Dropbox's token so that a refresh happens under the log too.
    let expire = format!(
        "{}/_sandbox/tokens/expire?service=dropbox",
        env.sb.base_url()
    );
    reqwest::Client::new().post(expire).send().await.unwrap();
    let out = env
        .ferry()
        .args(["transfer", "fb:", "dbx:", "--json"])
        .env("RUST_LOG", "trace")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let logs = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(
        logs.contains("access token refreshed"),
        "the refresh is logged"
    );
    let c = env.sb.credentials();
    for secret in [
        c.facebook.access_token.as_str(),
        c.dropbox.access_token.as_str(),
        c.dropbox.refresh_token.as_deref().unwrap(),
        c.dropbox.client_secret.as_str(),
        c.facebook.client_secret.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    // Nor the refreshed token, whatever it is: no bearer header value is ever printed.
    assert!(
        !logs.to_lowercase().contains("bearer "),
        "an authorization header was logged"
    );
}

/// A Google Takeout export to Google Photos: each photo lands once, in every album it was
/// in, with its caption as the description; the same export to Dropbox puts a copy in each
/// album's folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeout_export_lands_once_per_photo_in_each_of_its_albums() {
    use sha2::Digest;
    let env = Env::new(SandboxOptions::default()).await;
    env.connect_all().await;
    let tree = env.dir.path().join("takeout");
    let manifest =
        ferry_sandbox::corpus::takeout::write(&tree, ferry_sandbox::corpus::takeout::Era::Json)
            .unwrap();
    let parts = ferry_sandbox::corpus::zip_parts(&tree, &env.dir.path().join("zips"), "takeout", 3)
        .unwrap();
    let mut args: Vec<String> = vec!["transfer".into()];
    args.extend(parts.iter().map(|p| p.to_string_lossy().into_owned()));
    args.extend(["gp:".into(), "--json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.ok(&args).await;
    let report = common::json(&out);
    assert_eq!(report["items"]["failed"], 0, "{report}");

    let state = env.sb.state();
    let gp = &state["google_photos"];
    let titles: BTreeMap<String, String> = gp["albums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let items = gp["media_items"].as_array().unwrap();
    assert_eq!(items.len(), manifest.media.len(), "one item per photo");
    let mut in_several = 0;
    for expected in &manifest.media {
        let bytes = std::fs::read(tree.join(&expected.file)).unwrap();
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        let item = items
            .iter()
            .find(|i| i["sha256"] == sha.as_str())
            .unwrap_or_else(|| panic!("{} did not land", expected.file));
        let mut albums: Vec<String> = item["album_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| titles[id.as_str().unwrap()].clone())
            .collect();
        albums.sort();
        let mut wanted = expected.albums.clone();
        wanted.sort();
        assert_eq!(albums, wanted, "{}", expected.file);
        if wanted.len() > 1 {
            in_several += 1;
        }
        if let Some(caption) = &expected.caption {
            assert_eq!(item["description"], caption.as_str(), "{}", expected.file);
        }
    }
    assert!(in_several > 0, "the corpus has a photo in several albums");
}
