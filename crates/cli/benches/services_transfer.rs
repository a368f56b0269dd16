//! Online transfers through the real `ferry` binary: the sandbox's Facebook → its Dropbox, and
//! folder → WebDAV (`rclone serve webdav` on loopback) beside `rclone copy` and a plain loop of
//! keep-alive PUTs, in the same run against the same server. Not a timed test: it measures and
//! writes docs/benchmarks.md.
//!
//!     cargo bench -p ferry-cli --bench services_transfer
//!
//! `FERRY_BENCH_DIR` picks the scratch folder (default /dev/shm/ferry-bench-services where
//! there is a /dev/shm, else target/ferry-bench-services; it needs about 2.5 GB),
//! `FERRY_BENCH_QUICK=1` runs a tenth of the sizes to check the harness. Needs `rclone`.

mod support;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_sandbox::SandboxOptions;
use ferry_sandbox::media::{Mp4, PhotoSpec, VideoSpec, jpeg};

/// Set on the bench's own binary when it runs as a trampoline: it starts the command in its
/// arguments, waits for it, and writes the command's peak RSS (KiB) to this file. Linux
/// carries the high-water mark of a process's memory across fork+exec into the child's
/// figure, and this process holds the sandbox (hundreds of MiB); the trampoline is small.
const RSS_TO: &str = "FERRY_BENCH_RSS_TO";
const ROUNDS: usize = 2;
const MASTER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// ferry's default, and a higher one.
const SANDBOX_CONCURRENCY: [usize; 2] = [4, 8];
/// Connections of every tool in the WebDAV runs.
const DAV_CONNECTIONS: usize = 4;

struct Measured {
    seconds: f64,
    peak_rss_kib: u64,
    stdout: String,
}

fn main() {
    if let Some(out) = std::env::var_os(RSS_TO) {
        trampoline(Path::new(&out));
    }
    let quick = std::env::var_os("FERRY_BENCH_QUICK").is_some();
    let scale = if quick { 10 } else { 1 };
    let root = std::env::var_os("FERRY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            if Path::new("/dev/shm").is_dir() {
                PathBuf::from("/dev/shm/ferry-bench-services")
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ferry-bench-services")
            }
        });
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("scratch folder");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let sandbox_rows = sandbox_bench(&rt, &root, scale);
    let dav_rows = webdav_bench(&rt, &root, scale);
    let _ = std::fs::remove_dir_all(&root);
    write_report(&sandbox_rows, &dav_rows, quick, &root);
}

// ---------------------------------------------------------------------------------------------
// Measuring a command

fn trampoline(out: &Path) -> ! {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let child = Command::new(&args[0])
        .args(&args[1..])
        .env_remove(RSS_TO)
        .spawn()
        .expect("command starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `usage` is a valid out-pointer.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    std::mem::forget(child); // already reaped
    std::fs::write(out, usage.ru_maxrss.to_string()).expect("write peak RSS");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    std::process::exit(code)
}

/// A command run through the trampoline, so that its own peak RSS can be read.
fn measured(program: impl AsRef<std::ffi::OsStr>, rss_file: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("bench binary"));
    cmd.arg(program).env(RSS_TO, rss_file);
    cmd
}

fn finish(mut cmd: Command, rss_file: &Path) -> Measured {
    let _ = std::fs::remove_file(rss_file);
    let started = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("trampoline starts");
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_rss_kib = std::fs::read_to_string(rss_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Measured {
        seconds,
        peak_rss_kib,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// The `ferry` binary with its own configuration, data folder and master key.
struct Ferry {
    config: PathBuf,
    data: PathBuf,
}

impl Ferry {
    fn new(dir: &Path, toml: &str) -> Ferry {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("ferry.toml");
        std::fs::write(&config, toml).unwrap();
        Ferry {
            config,
            data: dir.join("data"),
        }
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("FERRY_CONFIG", &self.config)
            .env("FERRY_DATA_DIR", &self.data)
            .env("FERRY_MASTER_KEY", MASTER_KEY)
            .env_remove("RUST_LOG");
    }

    fn ok(&self, args: &[&str]) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        self.env(&mut cmd);
        let out = cmd.args(args).output().expect("ferry starts");
        assert!(
            out.status.success(),
            "ferry {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `ferry transfer ARGS --json`, measured; returns the measure and the report.
    fn transfer(&self, args: &[&str], rss_file: &Path) -> (Measured, serde_json::Value) {
        let mut cmd = measured(env!("CARGO_BIN_EXE_ferry"), rss_file);
        self.env(&mut cmd);
        cmd.arg("transfer").args(args).arg("--json");
        let m = finish(cmd, rss_file);
        let report: serde_json::Value =
            serde_json::from_str(m.stdout.trim()).expect("ferry --json prints one JSON object");
        assert_eq!(report["items"]["failed"], 0, "ferry failed items: {report}");
        assert_eq!(report["items"]["pending"], 0, "ferry left items: {report}");
        (m, report)
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Sandbox Facebook → sandbox Dropbox

struct SandboxRow {
    concurrency: usize,
    items: u64,
    bytes: u64,
    seconds: f64,
    peak_rss_kib: u64,
    facebook_requests: u64,
    dropbox_requests: u64,
}

fn sandbox_bench(rt: &tokio::runtime::Runtime, root: &Path, scale: usize) -> Vec<SandboxRow> {
    let options = SandboxOptions {
        albums: 20,
        photos: 1_000 / scale,
        videos: 4,
        video_size: 50 * 1024 * 1024 / scale as u64,
        ..SandboxOptions::default()
    };
    let mut best: [Option<SandboxRow>; 2] = [None, None];
    for round in 0..ROUNDS {
        for (slot, &concurrency) in SANDBOX_CONCURRENCY.iter().enumerate() {
            // A fresh sandbox each round: an empty Dropbox.
            let sb = rt
                .block_on(ferry_sandbox::start(options.clone()))
                .expect("sandbox starts");
            let dir = root.join(format!("sandbox-{round}-{concurrency}"));
            let ferry = Ferry::new(&dir, &sb.ferry_toml());
            let c = sb.credentials();
            ferry.ok(&[
                "connect",
                "facebook",
                "--name",
                "fb",
                "--token",
                &c.facebook.access_token,
            ]);
            ferry.ok(&[
                "connect",
                "dropbox",
                "--name",
                "dbx",
                "--token",
                &c.dropbox.access_token,
                "--refresh-token",
                c.dropbox.refresh_token.as_deref().unwrap(),
            ]);
            let reset = format!("{}/_sandbox/stats/reset", sb.base_url());
            rt.block_on(async { reqwest::Client::new().post(reset).send().await })
                .expect("stats reset");

            let (m, report) = ferry.transfer(
                &["fb:", "dbx:", "--concurrency", &concurrency.to_string()],
                &dir.join("rss"),
            );
            let items = report["items"]["done"].as_u64().unwrap();
            assert_eq!(
                items,
                (options.photos + options.videos) as u64,
                "every photo and video placed: {report}"
            );
            let stored = sb.state()["dropbox"]["used_bytes"].as_u64().unwrap_or(0);
            let bytes = report["bytes"].as_u64().unwrap_or(stored);
            let (mut facebook_requests, mut dropbox_requests) = (0, 0);
            for r in sb.stats()["requests"].as_array().unwrap() {
                let n = r["count"].as_u64().unwrap_or(0);
                match r["service"].as_str() {
                    Some("facebook") => facebook_requests += n,
                    Some("dropbox") => dropbox_requests += n,
                    _ => {}
                }
            }
            eprintln!(
                "bench: facebook → dropbox --concurrency {concurrency}: {:.2}s, {items} items, \
                 {bytes} bytes ({stored} stored), peak RSS {} KiB, requests: facebook \
                 {facebook_requests}, dropbox {dropbox_requests}",
                m.seconds, m.peak_rss_kib
            );
            rt.block_on(sb.shutdown());
            let _ = std::fs::remove_dir_all(&dir);
            let row = SandboxRow {
                concurrency,
                items,
                bytes,
                seconds: m.seconds,
                peak_rss_kib: m.peak_rss_kib,
                facebook_requests,
                dropbox_requests,
            };
            let peak = best[slot]
                .as_ref()
                .map_or(0, |b| b.peak_rss_kib)
                .max(row.peak_rss_kib);
            if best[slot].as_ref().is_none_or(|b| row.seconds < b.seconds) {
                best[slot] = Some(row);
            }
            best[slot].as_mut().unwrap().peak_rss_kib = peak;
        }
    }
    best.into_iter().map(|b| b.expect("rounds ran")).collect()
}

// ---------------------------------------------------------------------------------------------
// 2. Folder → WebDAV (rclone serve webdav), beside rclone copy and a PUT loop

struct FileSet {
    name: String,
    files: usize,
    size: u64,
}

impl FileSet {
    fn new(files: usize, size: u64) -> FileSet {
        let count = if files >= 1000 {
            format!("{},{:03}", files / 1000, files % 1000)
        } else {
            files.to_string()
        };
        let size_label = if size >= 1 << 20 {
            format!("{} MiB", size >> 20)
        } else {
            format!("{} KiB", size >> 10)
        };
        FileSet {
            name: format!("{count} files of {size_label}"),
            files,
            size,
        }
    }
}

#[derive(Default)]
struct Best {
    seconds: Option<f64>,
    peak_rss_kib: u64,
}

impl Best {
    fn add(&mut self, seconds: f64, peak_rss_kib: u64) {
        self.seconds = Some(self.seconds.map_or(seconds, |s| s.min(seconds)));
        self.peak_rss_kib = self.peak_rss_kib.max(peak_rss_kib);
    }
    fn secs(&self) -> f64 {
        self.seconds.expect("rounds ran")
    }
}

struct DavRow {
    set: FileSet,
    ferry: Best,
    rclone: Best,
    put_loop: Best,
}

fn webdav_bench(rt: &tokio::runtime::Runtime, root: &Path, scale: usize) -> Vec<DavRow> {
    let sets = [
        FileSet::new(2_000 / scale, 100 * 1024),
        FileSet::new(10, 100 * 1024 * 1024 / scale as u64),
    ];
    let served = root.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let rclone_conf = root.join("rclone.conf");
    std::fs::write(&rclone_conf, "").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new("rclone")
        .args(["serve", "webdav"])
        .arg(&served)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--user", "u", "--pass", "p"])
        .arg("--config")
        .arg(&rclone_conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rclone serve webdav starts (is rclone installed?)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "rclone serve webdav did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let obscured = Command::new("rclone")
        .args(["obscure", "p"])
        .arg("--config")
        .arg(&rclone_conf)
        .output()
        .expect("rclone obscure");
    let obscured = String::from_utf8_lossy(&obscured.stdout).trim().to_string();
    let client = reqwest::Client::new();

    let mut rows = Vec::new();
    for set in sets {
        let src = root.join("src");
        eprintln!("bench: generating {}", set.name);
        let files = generate(&src, &set);
        let (mut ferry_best, mut rclone_best, mut loop_best) =
            (Best::default(), Best::default(), Best::default());
        for round in 0..ROUNDS {
            // ferry
            rt.block_on(wipe(&client, &base, &served));
            let dir = root.join(format!("ferry-{round}"));
            let ferry = Ferry::new(&dir, "");
            ferry.ok(&[
                "connect",
                "webdav",
                "--name",
                "dav",
                "--url",
                &base,
                "--user",
                "u",
                "--password",
                "p",
            ]);
            let (m, report) = ferry.transfer(
                &[
                    src.to_str().unwrap(),
                    "dav:",
                    "--concurrency",
                    &DAV_CONNECTIONS.to_string(),
                ],
                &dir.join("rss"),
            );
            assert_eq!(report["items"]["done"], set.files, "{report}");
            check_served(&served, &src, set.files);
            eprintln!(
                "bench: {} ferry: {:.2}s, peak RSS {} KiB",
                set.name, m.seconds, m.peak_rss_kib
            );
            ferry_best.add(m.seconds, m.peak_rss_kib);
            let _ = std::fs::remove_dir_all(&dir);

            // rclone copy
            rt.block_on(wipe(&client, &base, &served));
            let rss = root.join("rclone-rss");
            let mut cmd = measured("rclone", &rss);
            cmd.arg("copy")
                .arg(&src)
                .arg(":webdav:rclone")
                .args(["--webdav-url", &base, "--webdav-user", "u"])
                .args(["--webdav-pass", &obscured])
                .args(["--transfers", &DAV_CONNECTIONS.to_string()])
                .arg("--config")
                .arg(&rclone_conf)
                .arg("-q");
            let m = finish(cmd, &rss);
            check_served(&served, &src, set.files);
            eprintln!(
                "bench: {} rclone copy: {:.2}s, peak RSS {} KiB",
                set.name, m.seconds, m.peak_rss_kib
            );
            rclone_best.add(m.seconds, m.peak_rss_kib);

            // The PUT loop
            rt.block_on(wipe(&client, &base, &served));
            let started = Instant::now();
            rt.block_on(put_loop(&client, &base, &src, &files, DAV_CONNECTIONS));
            let seconds = started.elapsed().as_secs_f64();
            check_served(&served, &src, set.files);
            eprintln!("bench: {} PUT loop: {seconds:.2}s", set.name);
            loop_best.add(seconds, 0);
        }
        rt.block_on(wipe(&client, &base, &served));
        let _ = std::fs::remove_dir_all(&src);
        rows.push(DavRow {
            set,
            ferry: ferry_best,
            rclone: rclone_best,
            put_loop: loop_best,
        });
    }
    let _ = server.kill();
    let _ = server.wait();
    rows
}

/// Writes the set under `src` (folders of a hundred files); returns the relative paths.
fn generate(src: &Path, set: &FileSet) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(src);
    let mut made = Vec::new();
    for i in 0..set.files {
        let folder = PathBuf::from(format!("album-{:03}", i / 100));
        std::fs::create_dir_all(src.join(&folder)).unwrap();
        if set.size <= 1024 * 1024 {
            let relative = folder.join(format!("IMG_{i:05}.jpg"));
            let mut spec = PhotoSpec::new(i as u64);
            spec.pad_to = Some(set.size as usize);
            std::fs::write(src.join(&relative), jpeg(&spec)).unwrap();
            made.push(relative);
        } else {
            let relative = folder.join(format!("VID_{i:05}.mp4"));
            let video = Mp4::new(&VideoSpec::new(i as u64, set.size));
            let mut file =
                std::io::BufWriter::new(std::fs::File::create(src.join(&relative)).unwrap());
            for chunk in video.chunks() {
                std::io::Write::write_all(&mut file, &chunk).unwrap();
            }
            std::io::Write::flush(&mut file).unwrap();
            made.push(relative);
        }
    }
    made
}

/// Empties the served folder through the server itself (so that its directory cache agrees),
/// then on disk for anything left.
async fn wipe(client: &reqwest::Client, base: &str, served: &Path) {
    for entry in std::fs::read_dir(served).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().replace(' ', "%20");
        let _ = client
            .delete(format!("{base}/{name}"))
            .basic_auth("u", Some("p"))
            .send()
            .await;
    }
    for entry in std::fs::read_dir(served).unwrap().flatten() {
        let p = entry.path();
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
}

/// Every file arrived whole, and nothing else (no staging name left behind).
fn check_served(served: &Path, src: &Path, files: usize) {
    let placed = walk(served);
    assert_eq!(
        placed.len(),
        files,
        "{} files on the server, expected {files}",
        placed.len()
    );
    let expected: u64 = walk(src).iter().map(|p| p.metadata().unwrap().len()).sum();
    let got: u64 = placed.iter().map(|p| p.metadata().unwrap().len()).sum();
    assert_eq!(got, expected, "bytes on the server");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

/// The baseline: MKCOL the folders, then `connections` tasks pulling paths from one queue, each
/// a streamed PUT with Content-Length on a keep-alive connection. One request per file.
async fn put_loop(
    client: &reqwest::Client,
    base: &str,
    src: &Path,
    files: &[PathBuf],
    connections: usize,
) {
    let top = "loop";
    let mut folders = BTreeSet::new();
    for f in files {
        let mut p = f.parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            folders.insert(d.to_path_buf());
            p = d.parent();
        }
    }
    let mkcol = reqwest::Method::from_bytes(b"MKCOL").unwrap();
    let mut urls = vec![format!("{base}/{top}")];
    urls.extend(
        folders
            .iter()
            .map(|d| format!("{base}/{top}/{}", d.display())),
    );
    for url in urls {
        let status = client
            .request(mkcol.clone(), url)
            .basic_auth("u", Some("p"))
            .send()
            .await
            .expect("MKCOL")
            .status();
        assert!(status.is_success(), "MKCOL: {status}");
    }
    let queue = Arc::new(Mutex::new(files.iter().cloned().collect::<VecDeque<_>>()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (queue, client, base, src) = (
            queue.clone(),
            client.clone(),
            base.to_string(),
            src.to_path_buf(),
        );
        tasks.spawn(async move {
            loop {
                let next = queue.lock().unwrap().pop_front();
                let Some(relative) = next else { break };
                let file = tokio::fs::File::open(src.join(&relative)).await.unwrap();
                let len = file.metadata().await.unwrap().len();
                let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
                    file,
                    256 * 1024,
                ));
                let status = client
                    .put(format!("{base}/{top}/{}", relative.display()))
                    .basic_auth("u", Some("p"))
                    .header(reqwest::header::CONTENT_LENGTH, len)
                    .body(body)
                    .send()
                    .await
                    .expect("PUT")
                    .status();
                assert!(status.is_success(), "PUT {}: {status}", relative.display());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("PUT task");
    }
}

// ---------------------------------------------------------------------------------------------
// The report

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn figures(seconds: f64, items: u64, bytes: u64) -> String {
    format!(
        "{seconds:.2} s · {:.0} items/s · {:.0} MB/s",
        items as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    )
}

fn write_report(sandbox: &[SandboxRow], dav: &[DavRow], quick: bool, scratch: &Path) {
    let machine = support::machine();
    let rclone = Command::new("rclone")
        .arg("version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .unwrap_or_default();

    let base4 = sandbox
        .iter()
        .find(|r| r.concurrency == 4)
        .map(|r| r.seconds);
    let sandbox_rows: Vec<String> = sandbox
        .iter()
        .map(|r| {
            format!(
                "| {} photos + videos, {:.0} MB | {} | {} | {} ({:.1}/item) | {} | {} |",
                r.items,
                r.bytes as f64 / 1e6,
                r.concurrency,
                figures(r.seconds, r.items, r.bytes),
                r.facebook_requests + r.dropbox_requests,
                (r.facebook_requests + r.dropbox_requests) as f64 / r.items as f64,
                mib(r.peak_rss_kib),
                base4.map_or("".into(), |b| format!("{:.2}×", b / r.seconds)),
            )
        })
        .collect();
    let dav_rows: Vec<String> = dav
        .iter()
        .map(|r| {
            let (n, bytes) = (r.set.files as u64, r.set.files as u64 * r.set.size);
            format!(
                "| {} | {} | {} | {} | **{:.2}×** | **{:.2}×** | {} | {} |",
                r.set.name,
                figures(r.ferry.secs(), n, bytes),
                figures(r.rclone.secs(), n, bytes),
                figures(r.put_loop.secs(), n, bytes),
                r.put_loop.secs() / r.ferry.secs(),
                r.rclone.secs() / r.ferry.secs(),
                mib(r.ferry.peak_rss_kib),
                mib(r.rclone.peak_rss_kib),
            )
        })
        .collect();
    let tmpfs = scratch.starts_with("/dev/shm");
    let section = format!(
        "## Online transfers (sandbox and WebDAV)\n\n\
         `cargo bench -p ferry-cli --bench services_transfer` — measured {date} on {machine}{quick}. \
         Everything runs on this one machine over loopback: the services, the server and the \
         tools share the 2 cores, so these figures bound the client's own overhead rather than \
         any real network. Best of {ROUNDS} rounds each (alternating the tools); the destination \
         is emptied before every run. Peak RSS is the tool's own, from `wait4` in a small \
         trampoline process (the bench itself holds the sandbox, and Linux carries a parent's \
         high-water mark across fork+exec); of several rounds, the highest.\n\n\
         ### Sandbox Facebook → sandbox Dropbox\n\n\
         `ferry transfer fb: dbx: --json` against a fresh sandbox each round (started inside the \
         bench process: 20 albums, the photos spread over them, and videos of {video}): listing \
         Facebook, downloading every original from its CDN, uploading to Dropbox (upload \
         sessions for the videos), checking Dropbox's content hash. Requests are the sandbox's \
         count (`/_sandbox/stats`) of every Facebook and Dropbox call of the run. The last \
         column is the speed against `--concurrency 4`.\n\n\
         | library | --concurrency | ferry | requests | ferry peak RSS | vs 4 |\n\
         |---|---|---|---|---|---|\n{sandbox_rows}\n\n\
         ### Folder → WebDAV (`rclone serve webdav` on loopback)\n\n\
         One `rclone serve webdav` ({rclone}) serving a folder{served}, and three clients with \
         {DAV_CONNECTIONS} connections each, in the same run: `ferry transfer SRC dav: --json \
         --concurrency {DAV_CONNECTIONS}`; `rclone copy SRC :webdav:/rclone --transfers \
         {DAV_CONNECTIONS}`; and the baseline of what the server can take, a loop in the bench \
         itself (reqwest, one keep-alive client, {DAV_CONNECTIONS} tasks pulling paths from one \
         queue, MKCOL of the folders first, then one streamed PUT with Content-Length per file). \
         Ratios are the other's time / ferry's time (above 1 means ferry is faster). ferry does \
         more per file than the loop: it MKCOLs its folders, PUTs to a hidden temporary name and \
         MOVEs it into place (two-phase: nothing half-written is ever visible under the real \
         name), so 2 requests per file against the loop's 1, on a server that shares the same \
         2 cores; it also reads and sniffs every file while planning and hashes every byte.\n\n\
         | files | ferry | rclone copy | PUT loop | ferry vs PUT loop | ferry vs rclone | ferry peak RSS | rclone peak RSS |\n\
         |---|---|---|---|---|---|---|---|\n{dav_rows}",
        date = time::OffsetDateTime::now_utc().date(),
        quick = if quick {
            " (QUICK: a tenth of the sizes)"
        } else {
            ""
        },
        video = if quick { "5 MiB" } else { "50 MiB" },
        served = if tmpfs {
            " on tmpfs (the source too), so the disk is not what is measured"
        } else {
            ""
        },
        sandbox_rows = sandbox_rows.join("\n"),
        dav_rows = dav_rows.join("\n"),
    );
    support::write_section("services_transfer", &section);
    println!("{}\n\n{}", sandbox_rows.join("\n"), dav_rows.join("\n"));
}
