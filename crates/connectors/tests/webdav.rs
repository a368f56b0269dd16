//! WebDAV as a destination, against two servers: the sandbox's Koofr WebDAV and a real
//! `rclone serve webdav` (Debian package `rclone`; the test fails, never skips, without it).
//! The same checks run on both: nested unicode folders, names with spaces, `#`, `%` and emoji,
//! staging then MOVE without replacing, identical vs different content at a name,
//! recognition after a crash, an empty file, a 20 MiB file streamed, and the sweep of
//! leftover staging. Faults and a full account are checked on the sandbox.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use ferry_connectors::auth::Secret;
use ferry_connectors::config::Config;
use ferry_connectors::service::{Session, Settings};
use ferry_core::{
    Container, Content, Destination, ErrorKind, HashingStream, Landed, MediaItem, MediaKind,
    Staged, Target,
};
use ferry_sandbox::faults::FaultConfig;
use ferry_sandbox::{Sandbox, SandboxOptions, Service};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use time::macros::datetime;

/// A WebDAV server under test and a way to see what it stores, independently of the client.
enum Server {
    Sandbox(Sandbox),
    Rclone {
        process: tokio::process::Child,
        dir: tempfile::TempDir,
        url: String,
    },
}

impl Server {
    async fn sandbox(options: SandboxOptions) -> Server {
        let sb = ferry_sandbox::start(SandboxOptions {
            albums: 1,
            photos: 1,
            videos: 0,
            ..options
        })
        .await
        .unwrap();
        Server::Sandbox(sb)
    }

    async fn rclone() -> Server {
        if let Err(err) = std::process::Command::new("rclone")
            .arg("version")
            .stdout(Stdio::null())
            .output()
        {
            panic!(
                "these tests need a real WebDAV server, `rclone serve webdav`, and rclone cannot be \
                 run ({err}): install it with `apt-get install -y rclone`"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = tokio::process::Command::new("rclone")
            .arg("serve")
            .arg("webdav")
            .arg(dir.path())
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--user", "u", "--pass", "p"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("rclone starts");
        let url = format!("http://127.0.0.1:{port}/");
        // Wait for it to answer (401 without credentials means it is up).
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if http.get(&url).send().await.is_ok() {
                return Server::Rclone { process, dir, url };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("rclone serve webdav did not answer on {url}");
    }

    fn session(&self) -> Session {
        match self {
            Server::Sandbox(sb) => common::session(sb, &ferry_connectors::webdav::SERVICE),
            Server::Rclone { url, .. } => Session::new(
                &ferry_connectors::webdav::SERVICE,
                "dav",
                &Config::defaults(),
                Settings {
                    url: Some(url.clone()),
                    user: Some("u".into()),
                    ..Settings::default()
                },
                &Secret::password("p".into()),
                None,
            )
            .unwrap(),
        }
    }

    fn account(&self) -> String {
        match self {
            Server::Sandbox(sb) => format!("{}@{}", sb.credentials().koofr.email, sb.local_addr()),
            Server::Rclone { url, .. } => format!(
                "u@{}",
                url.trim_start_matches("http://").trim_end_matches('/')
            ),
        }
    }

    /// SHA-256 of the file at `path` (under the server URL), when there is one.
    fn sha_of(&self, path: &str) -> Option<String> {
        match self {
            Server::Sandbox(sb) => sb.state()["koofr"]["files"]
                .as_array()?
                .iter()
                .find(|f| f["path"] == format!("/{path}") && f["type"] == "file")
                .and_then(|f| f["sha256"].as_str().map(str::to_string)),
            Server::Rclone { dir, .. } => {
                let full = dir.path().join(path);
                full.is_file().then(|| sha_file(&full))
            }
        }
    }

    /// Paths of every file (not folder) under the server URL.
    fn files(&self) -> Vec<String> {
        match self {
            Server::Sandbox(sb) => sb.state()["koofr"]["files"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|f| f["type"] == "file")
                .filter_map(|f| {
                    f["path"]
                        .as_str()
                        .map(|p| p.trim_start_matches('/').to_string())
                })
                .collect(),
            Server::Rclone { dir, .. } => {
                let mut out = Vec::new();
                walk(dir.path(), dir.path(), &mut out);
                out
            }
        }
    }

    fn staging_files(&self) -> Vec<String> {
        self.files()
            .into_iter()
            .filter(|p| {
                p.rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".ferry-"))
            })
            .collect()
    }

    async fn shutdown(self) {
        match self {
            Server::Sandbox(sb) => sb.shutdown().await,
            Server::Rclone {
                mut process, dir, ..
            } => {
                let _ = process.kill().await;
                drop(dir);
            }
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path: PathBuf = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

fn sha_file(path: &Path) -> String {
    use std::io::Read;
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return hex::encode(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

fn bytes_of(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect()
}

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn content(bytes: &[u8]) -> Content {
    let chunks: Vec<ferry_core::Result<Bytes>> = bytes
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Content::new(
        Box::pin(futures::stream::iter(chunks)),
        Some(bytes.len() as u64),
    )
}

/// `len` bytes generated one MiB at a time as they are read: never all in memory.
fn generated(seed: u8, len: usize) -> Content {
    const CHUNK: usize = 1 << 20;
    let stream = futures::stream::iter((0..len).step_by(CHUNK)).map(move |start| {
        let n = CHUNK.min(len - start);
        Ok(Bytes::from(bytes_of(
            seed.wrapping_add((start / CHUNK) as u8),
            n,
        )))
    });
    Content::new(Box::pin(stream), Some(len as u64))
}

fn generated_sha(seed: u8, len: usize) -> String {
    const CHUNK: usize = 1 << 20;
    let mut hasher = Sha256::new();
    for start in (0..len).step_by(CHUNK) {
        hasher.update(bytes_of(
            seed.wrapping_add((start / CHUNK) as u8),
            CHUNK.min(len - start),
        ));
    }
    hex::encode(hasher.finalize())
}

fn target(container: &str, name: &str, len: usize) -> Target {
    Target {
        container: container.to_string(),
        name: name.to_string(),
        size: Some(len as u64),
        modified: Some(datetime!(2019-07-14 10:00:00 UTC)),
        item: MediaItem {
            id: format!("src-{name}"),
            kind: MediaKind::Photo,
            file_name: name.to_string(),
            caption: None,
            mime_type: None,
            size: Some(len as u64),
            taken: None,
            uploaded: None,
            location: None,
            albums: vec![],
            live_photo_of: None,
            revision: None,
        },
    }
}

async fn stage_content(
    dest: &dyn Destination,
    target: &Target,
    content: Content,
) -> ferry_core::Result<Staged> {
    let (content, digest) = HashingStream::wrap(content);
    let uploaded = dest.upload(target, content).await?;
    let digest = digest
        .digest()
        .expect("the destination read the whole stream");
    Ok(Staged {
        token: uploaded.token,
        bytes: digest.bytes,
        sha256: digest.sha256,
    })
}

async fn stage(
    dest: &dyn Destination,
    target: &Target,
    bytes: &[u8],
) -> ferry_core::Result<Staged> {
    stage_content(dest, target, content(bytes)).await
}

async fn commit_one(
    dest: &dyn Destination,
    target: &Target,
    staged: Staged,
) -> ferry_core::Result<Landed> {
    dest.commit(vec![(target.clone(), staged)])
        .await
        .pop()
        .expect("one result per item")
}

async fn put(dest: &dyn Destination, target: &Target, bytes: &[u8]) -> ferry_core::Result<Landed> {
    let staged = stage(dest, target, bytes).await?;
    commit_one(dest, target, staged).await
}

fn folder(parts: &[&str]) -> Container {
    Container::Folder(parts.iter().map(|p| p.to_string()).collect())
}

/// Everything a WebDAV destination must do, on any server.
async fn the_same_checks(server: &Server) {
    let session = server.session();
    assert_eq!(session.account().await.unwrap(), server.account());
    let dest = session.destination("Backups/ferry").unwrap();
    assert!(dest.describe().starts_with("WebDAV "));
    assert!(dest.describe().ends_with(":/Backups/ferry"));
    dest.check().await.unwrap();

    let album = folder(&["Photo Transfer", "Voyage à Paris 🗼", "Jour #1 100%"]);
    let container = dest.ensure_container(&album).await.unwrap();
    assert_eq!(
        container,
        "Backups/ferry/Photo Transfer/Voyage à Paris 🗼/Jour #1 100%"
    );
    assert_eq!(dest.ensure_container(&album).await.unwrap(), container);
    dest.check().await.unwrap();

    // A name with spaces, '#', '%' and an emoji: staged, invisible, then in place.
    let name = "Été 🌞 #1 100% sûr.jpg";
    let a = bytes_of(1, 200_000);
    let t = target(&container, name, a.len());
    let staged = stage(dest.as_ref(), &t, &a).await.unwrap();
    let path = format!("{container}/{name}");
    assert_eq!(server.sha_of(&path), None);
    assert_eq!(server.staging_files().len(), 1, "{:?}", server.files());
    let landed = commit_one(dest.as_ref(), &t, staged.clone()).await.unwrap();
    assert_eq!(landed.id, path);
    assert_eq!(landed.bytes, a.len() as u64);
    assert_eq!(server.sha_of(&path), Some(sha_hex(&a)));
    assert!(server.staging_files().is_empty(), "{:?}", server.files());
    // After a crash between commit and journal: recognised by content.
    assert_eq!(dest.find(&t, &staged).await.unwrap().unwrap().id, path);

    // The same bytes again are the item; different bytes take the next name.
    assert_eq!(put(dest.as_ref(), &t, &a).await.unwrap().id, path);
    let b = bytes_of(2, 200_000);
    let staged_b = stage(dest.as_ref(), &t, &b).await.unwrap();
    let second = format!("{container}/Été 🌞 #1 100% sûr (2).jpg");
    assert_eq!(
        commit_one(dest.as_ref(), &t, staged_b.clone())
            .await
            .unwrap()
            .id,
        second
    );
    assert_eq!(server.sha_of(&second), Some(sha_hex(&b)));
    assert_eq!(server.sha_of(&path), Some(sha_hex(&a)));
    assert_eq!(dest.find(&t, &staged_b).await.unwrap().unwrap().id, second);
    // Bytes never placed are not found.
    let c = bytes_of(3, 200_000);
    let staged_c = stage(dest.as_ref(), &t, &c).await.unwrap();
    assert!(dest.find(&t, &staged_c).await.unwrap().is_none());
    dest.discard(&staged_c).await;
    // A commit whose answer was lost: the staged copy is gone but the item is in place.
    assert_eq!(
        commit_one(dest.as_ref(), &t, staged_b).await.unwrap().id,
        second
    );
    // A staged copy that vanished before its commit: send it again.
    let staged_d = stage(dest.as_ref(), &t, &bytes_of(4, 100)).await.unwrap();
    dest.discard(&staged_d).await;
    let err = commit_one(dest.as_ref(), &t, staged_d).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Retryable, "{err}");
    assert!(
        server
            .sha_of(&format!("{container}/Été 🌞 #1 100% sûr (3).jpg"))
            .is_none()
    );

    // An empty file, and 20 MiB streamed.
    let empty = target(&container, "empty.jpg", 0);
    assert_eq!(put(dest.as_ref(), &empty, &[]).await.unwrap().bytes, 0);
    assert_eq!(
        server.sha_of(&format!("{container}/empty.jpg")),
        Some(sha_hex(&[]))
    );
    let big_len = 20 << 20;
    let big = target(&container, "video clip.mp4", big_len);
    let staged_big = stage_content(dest.as_ref(), &big, generated(9, big_len))
        .await
        .unwrap();
    assert_eq!(staged_big.bytes, big_len as u64);
    let landed = commit_one(dest.as_ref(), &big, staged_big).await.unwrap();
    assert_eq!(
        server.sha_of(&landed.id),
        Some(generated_sha(9, big_len)),
        "{}",
        landed.id
    );

    // A batch, in order.
    let mut batch = Vec::new();
    for i in 0..5u8 {
        let bytes = bytes_of(10 + i, 3_000 + i as usize);
        let t = target(&container, &format!("batch {i}.jpg"), bytes.len());
        let s = stage(dest.as_ref(), &t, &bytes).await.unwrap();
        batch.push((t, s));
    }
    let ids: Vec<String> = dest
        .commit(batch)
        .await
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    assert_eq!(
        ids,
        (0..5)
            .map(|i| format!("{container}/batch {i}.jpg"))
            .collect::<Vec<_>>()
    );

    // Staging a killed process left behind is swept by finish.
    for i in 0..3u8 {
        let bytes = bytes_of(30 + i, 1_000);
        stage(
            dest.as_ref(),
            &target(&container, &format!("left {i}.jpg"), 1_000),
            &bytes,
        )
        .await
        .unwrap();
    }
    assert_eq!(server.staging_files().len(), 3);
    dest.finish(&[]).await.unwrap();
    assert!(server.staging_files().is_empty(), "{:?}", server.files());
    assert_eq!(
        server
            .files()
            .iter()
            .filter(|p| p.starts_with(&container))
            .count(),
        2 + 1 + 1 + 5,
        "{:?}",
        server.files()
    );

    // A path that is a file cannot be a folder.
    let err = dest
        .ensure_container(&folder(&[
            "Photo Transfer",
            "Voyage à Paris 🗼",
            "Jour #1 100%",
            "empty.jpg",
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err}");
}

#[tokio::test]
async fn koofr_webdav_in_the_sandbox() {
    let server = Server::sandbox(SandboxOptions::default()).await;
    the_same_checks(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn rclone_serve_webdav() {
    let server = Server::rclone().await;
    the_same_checks(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn wrong_password_and_missing_url_are_clear_errors() {
    let server = Server::rclone().await;
    let Server::Rclone { url, .. } = &server else {
        unreachable!()
    };
    let session = Session::new(
        &ferry_connectors::webdav::SERVICE,
        "dav",
        &Config::defaults(),
        Settings {
            url: Some(url.clone()),
            user: Some("u".into()),
            ..Settings::default()
        },
        &Secret::password("wrong".into()),
        None,
    )
    .unwrap();
    let err = session.account().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");
    let err = session.destination("").unwrap().check().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthExpired, "{err}");

    let no_url = Session::new(
        &ferry_connectors::webdav::SERVICE,
        "nourl",
        &Config::defaults(),
        Settings::default(),
        &Secret::password("p".into()),
        None,
    )
    .unwrap();
    let err = no_url.destination("").err().expect("no server URL");
    assert!(err.to_string().contains("no server URL"), "{err}");
    server.shutdown().await;
}

fn transient(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Retryable | ErrorKind::RateLimited)
}

/// What the engine does for one item: upload, commit, and after a failure look for the
/// item (`find`) before sending it again.
async fn deliver(dest: &dyn Destination, target: &Target, bytes: &[u8]) -> Landed {
    let mut staged: Option<Staged> = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if let Some(s) = staged.take() {
            match dest.find(target, &s).await {
                Ok(Some(landed)) => return landed,
                Ok(None) => dest.discard(&s).await,
                Err(e) if transient(e.kind()) => {
                    staged = Some(s);
                    continue;
                }
                Err(e) => panic!("find {}: {e}", target.name),
            }
        }
        let s = match stage(dest, target, bytes).await {
            Ok(s) => s,
            Err(e) if transient(e.kind()) => continue,
            Err(e) => panic!("upload {}: {e}", target.name),
        };
        staged = Some(s.clone());
        match commit_one(dest, target, s.clone()).await {
            Ok(landed) => return landed,
            Err(e) if transient(e.kind()) => dest.discard(&s).await,
            Err(e) => panic!("commit {}: {e}", target.name),
        }
    }
    panic!("{} never arrived", target.name)
}

#[tokio::test]
async fn every_item_arrives_exactly_once_through_injected_faults() {
    let server = Server::sandbox(SandboxOptions::default()).await;
    let Server::Sandbox(sb) = &server else {
        unreachable!()
    };
    let dest = server.session().destination("Faulty").unwrap();
    let container = dest
        .ensure_container(&folder(&["Photo Transfer", "Faults"]))
        .await
        .unwrap();
    let calm = sb.faults(Service::Koofr);
    sb.set_faults(
        Service::Koofr,
        FaultConfig {
            rate_429: 0.06,
            rate_500: 0.06,
            rate_503: 0.06,
            rate_reset: 0.06,
            rate_truncate: 0.06,
            retry_after_secs: 1,
            ..calm.clone()
        },
    );
    let items: Vec<(Target, Vec<u8>)> = (0..24u8)
        .map(|i| {
            let bytes = bytes_of(20 + i, 5_000 + 997 * i as usize);
            (
                target(&container, &format!("IMG {i:04}.jpg"), bytes.len()),
                bytes,
            )
        })
        .collect();
    for (t, bytes) in &items {
        let landed = deliver(dest.as_ref(), t, bytes).await;
        assert_eq!(landed.id, format!("{container}/{}", t.name));
    }
    sb.set_faults(Service::Koofr, calm);
    dest.finish(&[]).await.unwrap();
    for (t, bytes) in &items {
        let path = format!("{container}/{}", t.name);
        assert_eq!(server.sha_of(&path), Some(sha_hex(bytes)), "{path}");
    }
    let in_folder: Vec<String> = server
        .files()
        .into_iter()
        .filter(|p| p.starts_with(&container))
        .collect();
    assert_eq!(in_folder.len(), items.len(), "{in_folder:?}");
    let stats = sb.stats().to_string();
    assert!(stats.contains("reset") && stats.contains("truncate"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_server_pauses_the_job() {
    let server = Server::sandbox(SandboxOptions {
        quota: Some(1 << 20),
        ..SandboxOptions::default()
    })
    .await;
    let dest = server.session().destination("").unwrap();
    let container = dest.ensure_container(&folder(&["Q"])).await.unwrap();
    let small = bytes_of(5, 600_000);
    put(
        dest.as_ref(),
        &target(&container, "a.jpg", small.len()),
        &small,
    )
    .await
    .unwrap();
    let err = put(
        dest.as_ref(),
        &target(&container, "b.jpg", small.len()),
        &small,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DestinationFull, "{err}");
    assert!(server.staging_files().is_empty());
    server.shutdown().await;
}
