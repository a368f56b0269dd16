//! Small helpers the emulators share: the clock, the deterministic RNG, the listener that can
//! reset a connection on purpose, body streaming, query strings and dates.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::serve::{IncomingStream, Listener};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Wall clock plus an offset tests can move forward (so expiry is testable without sleeping).
#[derive(Default)]
pub struct Clock {
    offset: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> time::OffsetDateTime {
        let now = time::OffsetDateTime::now_utc();
        now.checked_add(time::Duration::seconds(self.offset.load(Ordering::SeqCst)))
            .unwrap_or(now)
    }
    pub fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
    pub fn unix_ms(&self) -> i64 {
        (self.now().unix_timestamp_nanos() / 1_000_000) as i64
    }
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::SeqCst);
    }
}

/// SplitMix64: tiny, fast and stable across crate versions, so seeds stay reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Listener whose connections can be reset from inside a request (fault injection).
pub struct ResettableListener(pub TcpListener);

/// Per-connection switch; the fault middleware flips it to reset the connection.
#[derive(Clone, Default)]
pub struct ConnKill(pub Arc<AtomicBool>);

pub struct KillableStream {
    inner: TcpStream,
    kill: ConnKill,
}

impl Listener for ResettableListener {
    type Io = KillableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((s, a)) => {
                    let _ = s.set_nodelay(true);
                    return (
                        KillableStream {
                            inner: s,
                            kill: ConnKill::default(),
                        },
                        a,
                    );
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl axum::extract::connect_info::Connected<IncomingStream<'_, ResettableListener>> for ConnKill {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        stream.io().kill.clone()
    }
}

impl KillableStream {
    fn killed(&self) -> bool {
        if self.kill.0.load(Ordering::SeqCst) {
            // Zero linger makes the close an RST, which is what a client sees on a real reset.
            let _ = self.inner.set_zero_linger();
            true
        } else {
            false
        }
    }
}

fn reset_err() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "injected connection reset")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_err()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(reset_err()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(reset_err()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Error of reading a request body into a blob.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body larger than {0} bytes")]
    TooLarge(u64),
    #[error("reading request body: {0}")]
    Read(String),
    #[error("storing request body: {0}")]
    Io(#[from] io::Error),
}

/// Streams a request body into a writer, stopping as soon as it passes `limit`.
pub async fn pump_body(
    body: Body,
    limit: u64,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, BodyError> {
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
        n += chunk.len() as u64;
        if n > limit {
            return Err(BodyError::TooLarge(limit));
        }
        sink(&chunk)?;
    }
    Ok(n)
}

/// Slows a byte stream down to `bps` bytes per second.
pub fn throttle<S, E>(s: S, bps: u64) -> impl Stream<Item = Result<Bytes, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Send,
{
    let bps = bps.max(1);
    s.flat_map(move |r| {
        // Split big chunks so the pace stays even.
        let pieces: Vec<Result<Bytes, E>> = match r {
            Ok(b) => {
                let step = (bps / 10).clamp(1, 64 * 1024) as usize;
                let mut v = Vec::new();
                let mut off = 0;
                while off < b.len() {
                    let end = (off + step).min(b.len());
                    v.push(Ok(b.slice(off..end)));
                    off = end;
                }
                v
            }
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(pieces)
    })
    .then(move |r| async move {
        if let Ok(b) = &r {
            tokio::time::sleep(Duration::from_secs_f64(b.len() as f64 / bps as f64)).await;
        }
        r
    })
}

/// Percent-decoding-free query parsing into pairs (axum's `Query` rejects with its own shape,
/// which would not be the service's error shape).
pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    match q {
        None => Vec::new(),
        Some(q) => serde_urlencoded_pairs(q),
    }
}

fn serde_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

pub fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded_pairs(&String::from_utf8_lossy(body))
}

pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parses `Range: bytes=a-b` / `bytes=a-` / `bytes=-n` against a length; `None` = whole body,
/// `Some(Err)` = unsatisfiable.
pub fn parse_range(h: Option<&str>, len: u64) -> Option<Result<(u64, u64), ()>> {
    let h = h?.trim();
    let spec = h.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multipart ranges are not emulated; serve the whole body
    }
    let (a, b) = spec.split_once('-')?;
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end: u64 = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(len.saturating_sub(1))
        };
        if start >= len || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(r))
}

pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn unix_to_dt(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
