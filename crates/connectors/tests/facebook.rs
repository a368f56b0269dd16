//! The Facebook source against the sandbox's Graph emulator: listing, paging and resuming,
//! the bytes of the originals, expired links, deleted objects, throttling, expired tokens and
//! the code exchange.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::macros::format_description;

use ferry_connectors::facebook::{self, FacebookSource, Tuning};
use ferry_connectors::service::{Session, Settings};
use ferry_core::{
    DataType, Error, ErrorKind, MediaItem, MediaKind, Record, Scope, Skipped, Source, Timestamp,
};
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};
use ferry_testkit::source_suite::{ExpectedMedia, SourceFixture, check_source};

const ALBUMS: usize = 3;
const PHOTOS: usize = 25;
const VIDEOS: usize = 2;

async fn sandbox_with(albums: usize, photos: usize, videos: usize) -> Sandbox {
    ferry_sandbox::start(SandboxOptions {
        albums,
        photos,
        videos,
        video_size: 96 << 10,
        ..SandboxOptions::default()
    })
    .await
    .expect("the sandbox starts")
}

async fn sandbox() -> Sandbox {
    sandbox_with(ALBUMS, PHOTOS, VIDEOS).await
}

/// Small pages (to exercise paging) and short waits (the sandbox throttles on demand).
fn tuning(page_limit: usize) -> Tuning {
    Tuning {
        page_limit,
        throttle_backoff: Duration::from_millis(5),
        max_spacing: Duration::from_millis(5),
        ..Tuning::default()
    }
}

fn source(sb: &Sandbox, page_limit: usize) -> FacebookSource {
    FacebookSource::with_tuning(
        common::session(sb, &ferry_connectors::facebook::SERVICE),
        tuning(page_limit),
    )
}

/// The seeded account as the sandbox reports it.
async fn seeded(sb: &Sandbox) -> Value {
    let url = format!("{}/source", sb.urls().inspect_url);
    let answer: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    answer["facebook"].clone()
}

struct Listing {
    records: Vec<Record>,
    skipped: Vec<Skipped>,
    pages: usize,
}

impl Listing {
    fn media(&self) -> Vec<&MediaItem> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Media(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn album_ids(&self) -> Vec<&str> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Album(a) => Some(a.id.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Lists from `cursor` to the end, checking (from the start) that every album comes before
/// the items that name it.
async fn list_from(source: &FacebookSource, scope: &Scope, mut cursor: Option<String>) -> Listing {
    let mut listing = Listing {
        records: Vec::new(),
        skipped: Vec::new(),
        pages: 0,
    };
    let from_start = cursor.is_none();
    let mut albums_seen = HashSet::new();
    loop {
        let page = source.list(scope, cursor.as_deref()).await.expect("a page");
        listing.pages += 1;
        assert!(listing.pages < 500, "the listing does not end");
        for record in &page.records {
            match record {
                Record::Album(a) => {
                    albums_seen.insert(a.id.clone());
                }
                Record::Media(m) if from_start => {
                    for album in &m.albums {
                        assert!(
                            albums_seen.contains(album),
                            "{} named before its album",
                            m.id
                        );
                    }
                }
                Record::Media(_) => {}
                other => panic!("unexpected record {other:?}"),
            }
        }
        listing.records.extend(page.records);
        listing.skipped.extend(page.skipped);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return listing,
        }
    }
}

fn graph_time(t: &Timestamp) -> String {
    t.utc
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
        ))
        .unwrap()
}

async fn read_all(
    source: &FacebookSource,
    item: &MediaItem,
) -> Result<(Option<u64>, Vec<u8>), Error> {
    let mut content = source.open(item).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = content.stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok((content.length, bytes))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn every_photo_and_video_is_listed_once_with_its_album_and_metadata() {
    let sb = sandbox().await;
    let seeded = seeded(&sb).await;
    let source = source(&sb, 7);
    assert_eq!(source.describe(), "Facebook facebook:");
    let listing = list_from(&source, &Scope::media(), None).await;
    assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
    // 25 photos in pages of 7 over two albums, the uploaded edge, the videos, the albums.
    assert!(listing.pages >= 10, "{} pages", listing.pages);

    let albums = listing.album_ids();
    let seeded_albums = seeded["albums"].as_array().unwrap();
    assert_eq!(albums.len(), seeded_albums.len());
    for album in seeded_albums {
        let id = album["id"].as_str().unwrap();
        let listed = listing
            .records
            .iter()
            .find_map(|r| match r {
                Record::Album(a) if a.id == id => Some(a),
                _ => None,
            })
            .unwrap_or_else(|| panic!("album {id} missing"));
        assert_eq!(listed.title, album["name"].as_str().unwrap());
        assert_eq!(listed.description.as_deref(), album["description"].as_str());
        assert_eq!(
            listed.created.as_ref().map(graph_time).as_deref(),
            album["created_time"].as_str()
        );
    }

    let media = listing.media();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for item in &media {
        *counts.entry(item.id.as_str()).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "listed twice: {counts:?}");
    let by_id: HashMap<&str, &MediaItem> = media.iter().map(|m| (m.id.as_str(), *m)).collect();

    let photos = seeded["photos"].as_array().unwrap();
    assert_eq!(photos.len(), PHOTOS);
    for photo in photos {
        let id = photo["id"].as_str().unwrap();
        let item = by_id
            .get(id)
            .unwrap_or_else(|| panic!("photo {id} missing"));
        assert_eq!(item.kind, MediaKind::Photo);
        assert_eq!(item.file_name, format!("{id}.jpg"));
        assert_eq!(item.mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(item.size, None);
        assert_eq!(
            item.albums,
            vec![photo["album_id"].as_str().unwrap().to_string()]
        );
        assert_eq!(item.caption.as_deref(), photo["name"].as_str());
        let created = photo["created_time"].as_str();
        assert_eq!(item.uploaded.as_ref().map(graph_time).as_deref(), created);
        // No backdated_time on the emulator: taken is the upload time.
        assert_eq!(item.taken.as_ref().map(graph_time).as_deref(), created);
        match photo["place"].as_object() {
            Some(place) => {
                let location = item.location.as_ref().expect("a location");
                assert_eq!(location.name.as_deref(), place["name"].as_str());
                assert_eq!(location.latitude, place["location"]["latitude"].as_f64());
                assert_eq!(location.longitude, place["location"]["longitude"].as_f64());
            }
            None => assert!(item.location.is_none()),
        }
    }

    let videos = seeded["videos"].as_array().unwrap();
    assert_eq!(videos.len(), VIDEOS);
    for video in videos {
        let id = video["id"].as_str().unwrap();
        let item = by_id
            .get(id)
            .unwrap_or_else(|| panic!("video {id} missing"));
        assert_eq!(item.kind, MediaKind::Video);
        // The title names the file, the description is the caption: both are kept.
        let name = match video["title"].as_str() {
            Some(title) => format!("{title}.mp4"),
            None => format!("{id}.mp4"),
        };
        assert_eq!(item.file_name, name);
        assert_eq!(item.mime_type.as_deref(), Some("video/mp4"));
        assert!(item.albums.is_empty());
        let caption = video["description"].as_str().or(video["title"].as_str());
        assert_eq!(item.caption.as_deref(), caption);
        assert_eq!(
            item.uploaded.as_ref().map(graph_time).as_deref(),
            video["created_time"].as_str()
        );
    }
    assert_eq!(media.len(), PHOTOS + VIDEOS);
    sb.shutdown().await;
}

#[tokio::test]
async fn photos_in_no_album_come_from_the_uploaded_edge() {
    let sb = sandbox_with(0, 5, 1).await;
    let listing = list_from(&source(&sb, 2), &Scope::media(), None).await;
    let media = listing.media();
    assert_eq!(listing.album_ids().len(), 0);
    assert_eq!(
        media.iter().filter(|m| m.kind == MediaKind::Photo).count(),
        5
    );
    assert!(media.iter().all(|m| m.albums.is_empty()));
    sb.shutdown().await;
}

#[tokio::test]
async fn the_scope_chooses_types_and_dates() {
    let sb = sandbox().await;
    let source = source(&sb, 100);
    let videos_only = Scope {
        types: [DataType::Videos].into(),
        since: None,
        until: None,
    };
    let listing = list_from(&source, &videos_only, None).await;
    assert!(listing.album_ids().is_empty());
    assert_eq!(listing.media().len(), VIDEOS);
    assert!(listing.media().iter().all(|m| m.kind == MediaKind::Video));

    let everything = list_from(&source, &Scope::media(), None).await;
    let mut dates: Vec<Timestamp> = everything.media().iter().filter_map(|m| m.taken).collect();
    dates.sort_by_key(|t| t.utc);
    let middle = dates[dates.len() / 2];
    let recent = Scope {
        since: Some(middle),
        ..Scope::media()
    };
    let listing = list_from(&source, &recent, None).await;
    let media = listing.media();
    assert!(!media.is_empty() && media.len() < everything.media().len());
    assert!(media.iter().all(|m| m.taken.unwrap().utc >= middle.utc));
    sb.shutdown().await;
}

#[tokio::test]
async fn a_cursor_resumes_in_a_new_process_and_a_refused_one_restarts_its_edge() {
    let sb = sandbox().await;
    let scope = Scope::media();
    let all = list_from(&source(&sb, 4), &scope, None).await;
    let expected: HashSet<String> = all.media().iter().map(|m| m.id.clone()).collect();

    // A few pages with one source (stopping inside an album's photos), the rest with
    // another: nothing lost, nothing twice.
    let first = source(&sb, 4);
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1.. {
        let page = first.list(&scope, cursor.as_deref()).await.unwrap();
        records.extend(page.records);
        cursor = page.next;
        let inside_an_edge = cursor.as_deref().is_some_and(|c| c.contains("after="));
        if pages >= 3 && inside_an_edge {
            break;
        }
        assert!(pages < 20 && cursor.is_some(), "no page with a next link");
    }
    let cursor = cursor.expect("more to list");
    assert!(!cursor.contains(&sb.credentials().facebook.access_token));
    drop(first);
    let rest = list_from(&source(&sb, 4), &scope, Some(cursor.clone())).await;
    records.extend(rest.records);
    let ids: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Media(m) => Some(m.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), expected.len());
    assert_eq!(
        ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>(),
        expected
    );

    // A saved position Graph no longer accepts: that edge starts again, and the listing
    // still reaches everything (the engine drops repeats by id).
    let at = cursor
        .find("after=")
        .expect("the cursor keeps the next page's position")
        + 6;
    let end = cursor[at..]
        .find(['&', '"'])
        .map(|n| at + n)
        .unwrap_or(cursor.len());
    let refused = format!("{}bogus{}", &cursor[..at], &cursor[end..]);
    let again = list_from(&source(&sb, 4), &scope, Some(refused)).await;
    let seen: HashSet<String> = again.media().iter().map(|m| m.id.clone()).collect();
    let after_cut: HashSet<String> = list_from(&source(&sb, 4), &scope, Some(cursor))
        .await
        .media()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    assert!(seen.is_superset(&after_cut));
    assert!(seen.len() > after_cut.len(), "the edge started again");

    let err = source(&sb, 4)
        .list(&scope, Some("garbage"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent);
    sb.shutdown().await;
}

#[tokio::test]
async fn opened_bytes_are_the_originals_even_after_links_expire() {
    let sb = sandbox().await;
    let seeded = seeded(&sb).await;
    let sha: HashMap<String, (String, u64)> = seeded["photos"]
        .as_array()
        .unwrap()
        .iter()
        .chain(seeded["videos"].as_array().unwrap())
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_string(),
                (
                    o["sha256"].as_str().unwrap().to_string(),
                    o["size"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let source = source(&sb, 100);
    let listing = list_from(&source, &Scope::media(), None).await;
    let media = listing.media();
    let (fresh, later) = media.split_at(media.len() / 2);
    for item in fresh {
        let (length, bytes) = read_all(&source, item).await.unwrap();
        let (want, size) = &sha[&item.id];
        assert_eq!(
            &sha256_hex(&bytes),
            want,
            "{} is the largest rendition",
            item.id
        );
        assert_eq!(length, Some(*size));
    }
    // An hour later every link from the listing has expired: open asks for fresh ones.
    sb.advance_clock(3601);
    for item in later {
        let (_, bytes) = read_all(&source, item).await.unwrap();
        assert_eq!(sha256_hex(&bytes), sha[&item.id].0);
    }
    // A new process has no links from a listing at all.
    let another = self::source(&sb, 100);
    let (_, bytes) = read_all(&another, fresh[0]).await.unwrap();
    assert_eq!(sha256_hex(&bytes), sha[&fresh[0].id].0);
    sb.shutdown().await;
}

/// Opening items under 10 % faults (throttling, 5xx, resets) takes one `open` call each: the
/// Graph node fetch (for a fresh link) and the CDN download's opening request are each tried
/// again where they failed, so a passing fault costs the item nothing. (A body cut once it
/// flows is the engine's to retry: the stream cannot be rewound.)
#[tokio::test]
async fn items_open_through_faults_in_one_call() {
    let sb = sandbox().await;
    let seeded = seeded(&sb).await;
    let sha: HashMap<String, String> = seeded["photos"]
        .as_array()
        .unwrap()
        .iter()
        .chain(seeded["videos"].as_array().unwrap())
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_string(),
                o["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // No link from the listing is reused: every open fetches the item's node first.
    let source = FacebookSource::with_tuning(
        common::session(&sb, &ferry_connectors::facebook::SERVICE),
        Tuning {
            link_reuse: Duration::ZERO,
            ..tuning(100)
        },
    );
    let listing = list_from(&source, &Scope::media(), None).await;
    sb.set_faults(
        Service::Facebook,
        FaultConfig {
            rate_429: 0.025,
            rate_500: 0.025,
            rate_503: 0.025,
            rate_reset: 0.025,
            ..sb.faults(Service::Facebook)
        },
    );
    for item in listing.media() {
        let (_, bytes) = read_all(&source, item)
            .await
            .unwrap_or_else(|e| panic!("{} opens in one call: {e}", item.id));
        assert_eq!(sha256_hex(&bytes), sha[&item.id], "{}", item.id);
    }
    let faults = |route: &dyn Fn(&str) -> bool| -> u64 {
        sb.stats()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["service"] == "facebook"
                    && r["route"].as_str().is_some_and(route)
                    && !r["fault"].is_null()
            })
            .map(|r| r["count"].as_u64().unwrap())
            .sum()
    };
    assert!(
        faults(&|r| r == "/{ver}/{id}") > 0,
        "faults met the node fetches"
    );
    assert!(faults(&|r| r.contains("cdn")) > 0, "faults met the CDN");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_deleted_object_is_not_found() {
    let sb = sandbox().await;
    let source = source(&sb, 100);
    let listing = list_from(&source, &Scope::media(), None).await;
    let media = listing.media();
    let photo = media.iter().find(|m| m.kind == MediaKind::Photo).unwrap();
    let video = media.iter().find(|m| m.kind == MediaKind::Video).unwrap();
    let client = reqwest::Client::new();
    for item in [photo, video] {
        let url = format!("{}/facebook/delete?id={}", sb.urls().inspect_url, item.id);
        assert!(client.post(url).send().await.unwrap().status().is_success());
        let err = read_all(&source, item).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains(&item.id), "{err}");
    }
    // Relisting no longer shows them.
    let again = list_from(&source, &Scope::media(), None).await;
    assert!(
        again
            .media()
            .iter()
            .all(|m| m.id != photo.id && m.id != video.id)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn throttling_is_rate_limited_slows_the_pacer_and_a_retrying_listing_completes() {
    let sb = sandbox().await;
    let faults = sb.faults(Service::Facebook);
    sb.set_faults(
        Service::Facebook,
        FaultConfig {
            rate_429: 1.0,
            ..faults.clone()
        },
    );
    let source = source(&sb, 5);
    let mut codes = HashSet::new();
    for _ in 0..8 {
        match source.list(&Scope::media(), None).await {
            Err(Error::RateLimited {
                retry_after,
                message,
            }) => {
                assert_eq!(retry_after, Some(Duration::from_millis(5)));
                let code = ["(code 4)", "(code 17)", "(code 32)", "(code 613)"]
                    .into_iter()
                    .find(|c| message.contains(c))
                    .unwrap_or_else(|| panic!("no throttling code in {message}"));
                codes.insert(code);
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }
    assert_eq!(codes.len(), 4, "{codes:?}");
    // The throttled answers said X-App-Usage 100: calls are now spaced out.
    assert!(source.current_spacing() > Duration::ZERO);

    sb.set_faults(
        Service::Facebook,
        FaultConfig {
            rate_429: 0.3,
            ..faults
        },
    );
    // Short throttles are waited out in place: the listing rarely sees one.
    let mut cursor: Option<String> = None;
    let mut ids = HashSet::new();
    for _ in 0..1000 {
        match source.list(&Scope::media(), cursor.as_deref()).await {
            Ok(page) => {
                for record in page.records {
                    if let Record::Media(m) = record {
                        ids.insert(m.id);
                    }
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Err(err) if err.kind() == ErrorKind::RateLimited => {}
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!(ids.len(), PHOTOS + VIDEOS);
    sb.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_asks_to_reconnect_without_showing_it() {
    let sb = sandbox().await;
    let source = source(&sb, 100);
    let listing = list_from(&source, &Scope::media(), None).await;
    let url = format!("{}/tokens/expire?service=facebook", sb.urls().inspect_url);
    let answer = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(answer.status().is_success());
    let token = sb.credentials().facebook.access_token;

    let err = source.list(&Scope::media(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("reconnect with `ferry connect facebook --name facebook`"),
        "{message}"
    );
    assert!(!message.contains(&token));

    // A fresh process, so that the link from the listing is not tried first.
    let other = self::source(&sb, 100);
    let err = read_all(&other, listing.media()[0]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");
    assert!(!err.to_string().contains(&token));
    sb.shutdown().await;
}

/// The hidden inputs and action of the sandbox's consent form.
fn consent_form(html: &str) -> (String, Vec<(String, String)>) {
    fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
        let i = s.find(a).unwrap() + a.len();
        let j = s[i..].find(b).unwrap() + i;
        &s[i..j]
    }
    fn unescape(s: &str) -> String {
        s.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }
    let action = unescape(between(html, "action=\"", "\""));
    let mut fields = Vec::new();
    let mut rest = html;
    let marker = "<input type=\"hidden\" name=\"";
    while let Some(i) = rest.find(marker) {
        rest = &rest[i + marker.len()..];
        let name = unescape(&rest[..rest.find('"').unwrap()]);
        fields.push((name, unescape(between(rest, "value=\"", "\""))));
    }
    (action, fields)
}

#[tokio::test]
async fn the_code_exchange_gives_a_long_lived_token_that_works() {
    let sb = sandbox().await;
    let config = common::config(&sb);
    let service = config.service(&ferry_connectors::facebook::SERVICE);
    let app = facebook::auth::oauth_app(service);
    let redirect = "http://127.0.0.1:9/callback";
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let dialog = reqwest::Url::parse_with_params(
        &app.authorize_url,
        &[
            ("client_id", service.client_id.clone().unwrap()),
            ("redirect_uri", redirect.to_string()),
            ("state", "s1".to_string()),
            ("scope", app.scopes.join(app.scope_separator)),
            ("response_type", "code".to_string()),
        ],
    )
    .unwrap();
    let page = browser.get(dialog).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let (action, mut fields) = consent_form(&page.text().await.unwrap());
    fields.push(("decision".into(), "approve".into()));
    let answer = browser.post(action).form(&fields).send().await.unwrap();
    assert!(answer.status().is_redirection());
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(redirect));
    let code = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");

    let http = ferry_connectors::http::client();
    let secret = facebook::auth::exchange(&http, service, redirect, &code)
        .await
        .unwrap();
    assert!(
        secret.refresh_token.is_none(),
        "Facebook has no refresh token"
    );
    let expires_at = secret.expires_at.expect("an expiry");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(expires_at > now + 3600, "long-lived, not the short token");

    // The code is single-use: a second exchange is refused as an authorization to redo.
    let err = facebook::auth::exchange(&http, service, redirect, &code)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");
    assert!(!err.to_string().contains(&code));
    assert!(
        !err.to_string()
            .contains(&sb.credentials().facebook.client_secret)
    );

    let session = Session::new(
        &ferry_connectors::facebook::SERVICE,
        "fb",
        &config,
        Settings::default(),
        &secret,
        None,
    )
    .unwrap();
    let seeded = seeded(&sb).await;
    assert_eq!(
        session.account().await.unwrap(),
        seeded["user"]["name"].as_str().unwrap()
    );
    let listing = list_from(&FacebookSource::new(session.clone()), &Scope::media(), None).await;
    assert_eq!(listing.media().len(), PHOTOS + VIDEOS);

    session.revoke().await.unwrap();
    let err = session.account().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");
    assert!(err.to_string().contains("--name fb"), "{err}");
    sb.shutdown().await;
}

/// A stand-in for graph.facebook.com that answers by path and records each request's head,
/// for what the sandbox does not check (the proof, the header) or cannot produce.
async fn fake_graph(
    answer: fn(&str) -> &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            seen.lock().unwrap().push(head);
            let body = answer(path.split('?').next().unwrap_or(""));
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (base, heads)
}

fn fake_session(graph_url: &str) -> Session {
    let config = ferry_connectors::config::Config::parse(
        &format!(
            "[services.facebook]\ngraph_url = \"{graph_url}\"\nclient_id = \"app\"\nclient_secret = \"s3cret\"\n"
        ),
        None,
    )
    .unwrap();
    let secret = ferry_connectors::auth::Secret::tokens("EAAtoken".into(), None, None);
    Session::new(
        &ferry_connectors::facebook::SERVICE,
        "fb",
        &config,
        Settings::default(),
        &secret,
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn graph_calls_carry_the_bearer_token_and_the_appsecret_proof() {
    let (base, heads) = fake_graph(|_| r#"{"id":"1","name":"Zoë"}"#).await;
    let session = fake_session(&base);
    assert_eq!(session.account().await.unwrap(), "Zoë");
    let head = heads.lock().unwrap()[0].clone();
    // hex(HMAC-SHA256(key = "s3cret", message = "EAAtoken")).
    let proof = {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"EAAtoken");
        hex::encode(mac.finalize().into_bytes())
    };
    let request_line = head.lines().next().unwrap();
    assert_eq!(
        request_line,
        format!("GET /v21.0/me?fields=name&appsecret_proof={proof} HTTP/1.1")
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nauthorization: bearer eaatoken\r\n"),
        "{head}"
    );
    assert!(!request_line.contains("EAAtoken"));
}

#[tokio::test]
async fn items_without_a_download_link_are_skipped_with_the_reason() {
    let (base, _) = fake_graph(|path| match path {
        "/v21.0/me/albums" => r#"{"data":[]}"#,
        "/v21.0/me/photos" => {
            r#"{"data":[{"id":"11","created_time":"2020-01-02T03:04:05+0000","images":[]},
                        {"id":"12","created_time":"2020-01-02T03:04:05+0000","backdated_time":"2010-06-01T10:00:00+0000",
                         "images":[{"width":10,"height":10,"source":"http://127.0.0.1:9/a.jpg"}]}]}"#
        }
        "/v21.0/me/videos" => r#"{"data":[{"id":"21","title":"Processing","created_time":"2020-01-02T03:04:05+0000"}]}"#,
        _ => r#"{"error":{"message":"unknown","type":"GraphMethodException","code":100}}"#,
    })
    .await;
    let source = FacebookSource::with_tuning(fake_session(&base), tuning(100));
    let listing = list_from(&source, &Scope::media(), None).await;
    let media = listing.media();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].id, "12");
    assert_eq!(
        media[0].taken.as_ref().map(graph_time).as_deref(),
        Some("2010-06-01T10:00:00+0000"),
        "backdated_time is when it was taken"
    );
    assert_eq!(
        media[0].uploaded.as_ref().map(graph_time).as_deref(),
        Some("2020-01-02T03:04:05+0000")
    );
    let skipped: HashMap<&str, &str> = listing
        .skipped
        .iter()
        .map(|s| (s.id.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped["11"].contains("no image"), "{skipped:?}");
    assert!(skipped["21"].contains("no download link"), "{skipped:?}");
}

#[tokio::test]
async fn passing_faults_are_retryable_and_no_message_quotes_a_secret() {
    let sb = sandbox().await;
    let seeded = seeded(&sb).await;
    let token = sb.credentials().facebook.access_token;
    let faults = sb.faults(Service::Facebook);
    sb.set_faults(
        Service::Facebook,
        FaultConfig {
            rate_500: 0.1,
            rate_503: 0.1,
            rate_reset: 0.1,
            rate_truncate: 0.2,
            ..faults
        },
    );
    let check = |err: &Error| {
        let message = err.to_string();
        assert!(
            matches!(err.kind(), ErrorKind::Retryable | ErrorKind::RateLimited),
            "{message}"
        );
        assert!(!message.contains(&token), "{message}");
        assert!(!message.contains("oh="), "a signed link in {message}");
    };
    let source = source(&sb, 5);
    let mut cursor: Option<String> = None;
    let mut media = Vec::new();
    let mut faults_seen = 0;
    for _ in 0..1000 {
        match source.list(&Scope::media(), cursor.as_deref()).await {
            Ok(page) => {
                media.extend(page.records.into_iter().filter_map(|r| match r {
                    Record::Media(m) => Some(m),
                    _ => None,
                }));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            Err(err) => {
                check(&err);
                faults_seen += 1;
            }
        }
    }
    assert_eq!(media.len(), PHOTOS + VIDEOS);
    let sha: HashMap<&str, &str> = seeded["photos"]
        .as_array()
        .unwrap()
        .iter()
        .chain(seeded["videos"].as_array().unwrap())
        .map(|o| (o["id"].as_str().unwrap(), o["sha256"].as_str().unwrap()))
        .collect();
    for item in media.iter().take(8) {
        let bytes = loop {
            match read_all(&source, item).await {
                Ok((_, bytes)) => break bytes,
                Err(err) => {
                    check(&err);
                    faults_seen += 1;
                }
            }
        };
        assert_eq!(sha256_hex(&bytes), sha[item.id.as_str()]);
    }
    assert!(faults_seen > 0);
    sb.shutdown().await;
}

/// A seeded sandbox account for the Source conformance suite, listed in small pages.
struct FacebookFixture {
    sb: Sandbox,
    expected: Vec<ExpectedMedia>,
}

impl FacebookFixture {
    async fn new() -> FacebookFixture {
        let sb = sandbox_with(2, 9, 2).await;
        let seeded = seeded(&sb).await;
        let mut expected = Vec::new();
        for (list, kind) in [("photos", MediaKind::Photo), ("videos", MediaKind::Video)] {
            for item in seeded[list].as_array().unwrap() {
                expected.push(ExpectedMedia {
                    id: item["id"].as_str().unwrap().to_string(),
                    kind,
                    bytes: item["size"].as_u64().unwrap(),
                    sha256: item["sha256"].as_str().unwrap().to_string(),
                });
            }
        }
        FacebookFixture { sb, expected }
    }
}

#[async_trait::async_trait]
impl SourceFixture for FacebookFixture {
    async fn open(&self) -> std::sync::Arc<dyn Source> {
        std::sync::Arc::new(source(&self.sb, 4))
    }

    fn expected(&self) -> Vec<ExpectedMedia> {
        self.expected.clone()
    }

    async fn remove(&self, id: &str) -> bool {
        let url = format!("{}/facebook/delete?id={id}", self.sb.urls().inspect_url);
        let answer = reqwest::Client::new().post(url).send().await.unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        true
    }
}

#[tokio::test]
async fn the_facebook_source_passes_the_source_conformance_suite() {
    check_source(&FacebookFixture::new().await).await;
}
