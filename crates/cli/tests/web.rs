//! The web UI end to end, in a real browser: starts an SMTP sink (aiosmtpd writing a Maildir)
//! and `ferry serve` with its sandbox services, then runs `e2e/flow.mjs` (playwright-core driving
//! Debian's Chromium) against them. Screenshots of every step are kept in
//! `<target dir>/e2e-screenshots`. Needs node, e2e/node_modules, chromium and aiosmtpd:
//! `scripts/test` installs them.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Longer than the flow's own overall timeout (6 minutes), so the flow reports first.
const FLOW_TIMEOUT: Duration = Duration::from_secs(8 * 60);
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child in its own process group; the group is ended when the child exits or is dropped.
struct Process {
    name: &'static str,
    child: Child,
    status: Option<ExitStatus>,
}

impl Process {
    fn spawn(name: &'static str, command: &mut Command) -> Process {
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            name,
            child,
            status: None,
        }
    }

    /// The exit status once the child has exited. Any process left in its group is killed
    /// before the child is reaped: until then the zombie holds the group id, so the signal
    /// cannot reach an unrelated group that reused it.
    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() && self.leader_exited() {
            self.signal_group(libc::SIGKILL);
            self.status = Some(self.child.wait().expect("wait for a child"));
        }
        self.status
    }

    /// Whether the child has exited, without reaping it (waitid with WNOWAIT).
    fn leader_exited(&self) -> bool {
        // SAFETY: an all-zero siginfo_t is valid; waitid fills it in or leaves si_pid at 0.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid writes only to `info`, which lives for the call.
        let rc = unsafe { libc::waitid(libc::P_PID, self.child.id(), &mut info, flags) };
        // SAFETY: si_pid is the field waitid sets for a child that changed state.
        rc == 0 && unsafe { info.si_pid() } != 0
    }

    /// Panics with `log`'s tail if the process has already exited.
    fn assert_running(&mut self, log: &Path) {
        if let Some(status) = self.poll() {
            panic!("{} exited early ({status}):\n{}", self.name, tail(log, 40));
        }
    }

    fn signal_group(&self, signal: libc::c_int) {
        let group = self.child.id() as libc::pid_t;
        // SAFETY: killpg only sends a signal; ESRCH (the group is gone) is fine to ignore.
        unsafe { libc::killpg(group, signal) };
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.poll().is_some() {
            return;
        }
        // SIGTERM first: ferry shuts down cleanly, playwright closes the browser (which it
        // starts in a process group of its own).
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.poll().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.poll().is_none() {
            self.signal_group(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cli sits two levels below the repository root")
        .to_path_buf()
}

/// `<target dir>/e2e-screenshots`: cargo's tmp dir for integration tests is `<target dir>/tmp`.
fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("e2e-screenshots")
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Everything the flow needs, or a panic that says how to get it (never a silent skip).
fn check_prerequisites(root: &Path, chromium: &Path) {
    let mut missing = Vec::new();
    if !runs("node", &["--version"]) || !runs("npm", &["--version"]) {
        missing.push("node and npm".to_string());
    }
    if !root.join("e2e/node_modules/playwright-core").is_dir() {
        missing.push("e2e/node_modules (npm ci --prefix e2e)".to_string());
    }
    if !chromium.is_file() {
        missing.push(format!("chromium ({})", chromium.display()));
    }
    if !runs("python3", &["-c", "import aiosmtpd"]) {
        missing.push("aiosmtpd (python3 -m aiosmtpd)".to_string());
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}: run scripts/test, which installs them",
        missing.join(", ")
    );
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A log file for a child's stdout and stderr (one file offset shared by both).
fn log_files(path: &Path) -> (File, File) {
    let file =
        File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let clone = file.try_clone().expect("dup a log file");
    (file, clone)
}

fn wait_for_port(process: &mut Process, port: u16, log: &Path) {
    let deadline = Instant::now() + START_TIMEOUT;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        process.assert_running(log);
        assert!(
            Instant::now() < deadline,
            "{} does not listen on {port}:\n{}",
            process.name,
            tail(log, 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The status code of a plain HTTP/1.1 GET, or None when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn wait_for_health(process: &mut Process, port: u16, log: &Path) {
    let deadline = Instant::now() + START_TIMEOUT;
    while http_status(port, "/health") != Some(200) {
        process.assert_running(log);
        assert!(
            Instant::now() < deadline,
            "ferry serve: GET /health is not 200 after {START_TIMEOUT:?}:\n{}",
            tail(log, 40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn web_flow_in_a_browser() {
    let root = repo_root();
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    check_prerequisites(&root, &chromium);

    // Dropped last, after every process is gone (locals drop in reverse order).
    let tmp = tempfile::tempdir().expect("temp dir");
    let maildir = tmp.path().join("maildir");
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir).expect("data dir");
    let screenshots = screenshots_dir();
    // Only this run's screenshots: a stale failure.png would mislead.
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).expect("screenshots dir");

    let smtp_port = free_port();
    let smtp_log = tmp.path().join("aiosmtpd.log");
    let (smtp_out, smtp_err) = log_files(&smtp_log);
    let mut smtp = Process::spawn(
        "aiosmtpd",
        Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{smtp_port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(smtp_out)
            .stderr(smtp_err),
    );
    wait_for_port(&mut smtp, smtp_port, &smtp_log);

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = tmp.path().join("ferry.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\n\
             public_url = \"{base}\"\n\
             archive_dir = \"{archives}\"\n\
             link_lifetime_hours = 96\n\
             \n\
             [serve.mail]\n\
             smtp_host = \"127.0.0.1\"\n\
             smtp_port = {smtp_port}\n\
             security = \"none\"\n\
             from = \"ferry <ferry@localhost>\"\n",
            archives = tmp.path().join("archives").display(),
        ),
    )
    .expect("ferry.toml");

    let ferry_log = tmp.path().join("ferry.log");
    let (ferry_out, ferry_err) = log_files(&ferry_log);
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env("FERRY_DATA_DIR", &data_dir)
        .env("FERRY_CONFIG", &config)
        .stdout(ferry_out)
        .stderr(ferry_err);
    // The data dir's key file and ferry.toml alone decide; nothing from the caller's environment.
    for name in [
        "FERRY_MASTER_KEY",
        "FERRY_LISTEN",
        "FERRY_SECURE_COOKIES",
        "FERRY_PUBLIC_URL",
        "FERRY_SMTP_HOST",
        "FERRY_SMTP_PORT",
        "FERRY_SMTP_SECURITY",
        "FERRY_SMTP_USER",
        "FERRY_SMTP_PASSWORD",
        "FERRY_MAIL_FROM",
        "RUST_LOG",
    ] {
        command.env_remove(name);
    }
    let mut ferry = Process::spawn("ferry serve", &mut command);
    wait_for_health(&mut ferry, port, &ferry_log);

    // Known to the harness so it can look for it in ferry's log; random per run.
    let password = format!("e2e-{}", uuid::Uuid::now_v7().simple());
    let started = Instant::now();
    // Output is inherited: each step shows as it passes, even while the test runs.
    let mut flow = Process::spawn(
        "node e2e/flow.mjs",
        Command::new("node")
            .arg(root.join("e2e/flow.mjs"))
            .current_dir(root.join("e2e"))
            .env("FERRY_URL", &base)
            .env("MAILDIR", &maildir)
            .env("SCREENSHOTS", &screenshots)
            .env("FERRY_E2E_PASSWORD", &password)
            .env("CHROMIUM", &chromium),
    );
    let status = loop {
        if let Some(status) = flow.poll() {
            break status;
        }
        assert!(
            started.elapsed() < FLOW_TIMEOUT,
            "the browser flow did not finish in {FLOW_TIMEOUT:?}; ferry's log:\n{}",
            tail(&ferry_log, 60)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "the browser flow failed ({status}); screenshots in {}; ferry's log:\n{}",
        screenshots.display(),
        tail(&ferry_log, 60)
    );
    ferry.assert_running(&ferry_log);

    let log = std::fs::read_to_string(&ferry_log).expect("ferry's log");
    for secret in [
        "access_token",
        "refresh_token",
        "Bearer ",
        password.as_str(),
    ] {
        assert!(
            !log.contains(secret),
            "ferry's log contains a secret ({})",
            if secret == password {
                "the password"
            } else {
                secret
            }
        );
    }
}
