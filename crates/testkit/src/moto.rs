//! moto's server (PyPI `moto[server]`) as a local S3-compatible store for tests: started on a
//! free loopback port, empty, and killed when dropped.
//!
//! moto accepts any credentials until told otherwise; [`Moto::require_auth`] makes it check
//! SigV4 signatures against an IAM user it creates, so that a wrong secret is refused the way
//! AWS refuses it (403 `SignatureDoesNotMatch`).
//!
//! Everything here is synchronous (plain `std::net` HTTP/1.1 with `Connection: close`), so
//! that it works inside and outside an async runtime.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A running `python3 -m moto.server`.
pub struct Moto {
    child: Child,
    port: u16,
}

/// The credentials of the IAM user made by [`Moto::require_auth`].
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Any signature passes until auth is required; this one names the service moto routes to.
fn fake_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

impl Moto {
    /// Starts moto's server on a free port and waits until it answers (up to 30 s: the first
    /// import of moto is slow). Panics when moto is missing: `bash scripts/test` installs it.
    pub fn start() -> Moto {
        match Moto::try_start() {
            Ok(moto) => moto,
            Err(err) => panic!(
                "moto's server is needed for the S3 tests (pip install 'moto[server]', or run `bash scripts/test`): {err:#}"
            ),
        }
    }

    pub fn try_start() -> anyhow::Result<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting python3 -m moto.server")?;
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                bail!("moto's server exited at start ({status})");
            }
            if let Ok((200, _)) = moto.request("GET", "/moto-api/data.json", &[], b"") {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                bail!("moto's server did not answer within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`, the S3 endpoint (path-style buckets).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (in us-east-1). Call it before [`Moto::require_auth`].
    pub fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let auth = fake_authorization("s3");
        let (status, body) = self.request(
            "PUT",
            &format!("/{bucket}"),
            &[("Authorization", &auth)],
            b"",
        )?;
        if status != 200 {
            bail!("creating bucket {bucket}: {status} {body}");
        }
        Ok(())
    }

    /// Makes an IAM user allowed everything on S3, with an access key, then has moto check
    /// every later request's signature against IAM: unknown keys and wrong secrets are
    /// refused with 403 from then on.
    pub fn require_auth(&self) -> anyhow::Result<Credentials> {
        let iam = |params: &str| -> anyhow::Result<String> {
            let auth = fake_authorization("iam");
            let (status, body) = self.request(
                "POST",
                "/",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                format!("{params}&Version=2010-05-08").as_bytes(),
            )?;
            if status != 200 {
                bail!("IAM {params}: {status} {body}");
            }
            Ok(body)
        };
        iam("Action=CreateUser&UserName=ferry")?;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        iam(&format!(
            "Action=PutUserPolicy&UserName=ferry&PolicyName=s3&PolicyDocument={}",
            form_encode(policy)
        ))?;
        let created = iam("Action=CreateAccessKey&UserName=ferry")?;
        let credentials = Credentials {
            access_key_id: between(&created, "<AccessKeyId>", "</AccessKeyId>")?,
            secret_access_key: between(&created, "<SecretAccessKey>", "</SecretAccessKey>")?,
        };
        let (status, body) = self.request("POST", "/moto-api/reset-auth", &[], b"0")?;
        if status != 200 {
            bail!("enabling moto's auth: {status} {body}");
        }
        Ok(credentials)
    }

    /// One HTTP/1.1 request; the status and the body as text.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .context("moto sent no HTTP status")?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn between(text: &str, open: &str, close: &str) -> anyhow::Result<String> {
    let start = text.find(open).context("missing in moto's answer")? + open.len();
    let end = text[start..]
        .find(close)
        .context("missing in moto's answer")?;
    Ok(text[start..start + end].to_string())
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
