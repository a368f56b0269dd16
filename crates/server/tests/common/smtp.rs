//! A real SMTP server for tests: aiosmtpd (Python) storing what it receives in a Maildir.
//! `scripts/test` installs aiosmtpd; without it these tests fail rather than skip.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One e-mail as the server stored it, decoded.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The `To` header.
    pub to: String,
    /// The envelope recipients (`RCPT TO`), as aiosmtpd records them.
    pub envelope_to: String,
    /// The decoded `Subject`.
    pub subject: String,
    /// The decoded text body (transfer encoding and charset undone).
    pub body: String,
    /// Every header as (name, decoded value), in order.
    pub headers: Vec<(String, String)>,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running aiosmtpd on 127.0.0.1; stopped when dropped.
pub struct SmtpServer {
    pub port: u16,
    child: Child,
    maildir: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts aiosmtpd on a free port and returns once it accepts connections.
    pub fn start() -> SmtpServer {
        let import = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(import, Ok(status) if status.success()) {
            panic!(
                "the e-mail tests need aiosmtpd for python3 (a real SMTP server): \
                 run scripts/test, which installs it, or `python3 -m pip install aiosmtpd`"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let log = dir.path().join("aiosmtpd.log");
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("cannot start python3 -m aiosmtpd");
        let mut server = SmtpServer {
            port,
            child,
            maildir,
            log,
            _dir: dir,
        };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "aiosmtpd exited ({status}) before listening: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!("aiosmtpd did not listen on {address} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .map(|entry| entry.unwrap().path())
            .collect();
        // By delivery time (the file's mtime), then by name.
        files.sort_by_key(|path| {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            (modified, path.clone())
        });
        files.iter().map(|path| parse(path)).collect()
    }

    /// Waits for a message matching `predicate`; panics after `timeout`, listing what came.
    pub async fn wait_for(
        &self,
        predicate: impl Fn(&ReceivedMail) -> bool,
        timeout: Duration,
    ) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if let Some(found) = messages.iter().find(|m| predicate(m)) {
                return found.clone();
            }
            if tokio::time::Instant::now() > deadline {
                let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
                panic!(
                    "no matching e-mail within {timeout:?}; received {} with subjects {subjects:?}",
                    messages.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the OS picks it, then it is released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn parse(path: &Path) -> ReceivedMail {
    let raw = std::fs::read(path).unwrap();
    let mail = mailparse::parse_mail(&raw)
        .unwrap_or_else(|e| panic!("{} is not a parsable e-mail: {e}", path.display()));
    let headers: Vec<(String, String)> = mail
        .headers
        .iter()
        .map(|h| (h.get_key(), h.get_value()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    ReceivedMail {
        to: get("To"),
        envelope_to: get("X-RcptTo"),
        subject: get("Subject"),
        body: mail
            .get_body()
            .unwrap_or_else(|e| panic!("cannot decode the body of {}: {e}", path.display())),
        headers,
    }
}
