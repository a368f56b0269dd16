//! Sending an item's bytes to `/v1/uploads` for an upload token: the raw protocol (one
//! request) up to a size, the resumable protocol above it, in chunks cut from the content
//! stream. Each request's bytes are held in memory until the service has them (the source
//! cannot be read twice), so that a passing fault sends them again instead of starting the
//! item over: a raw upload as a whole, a chunk from what the service says it has received
//! (`query`). Nothing holds more than one chunk (or one raw file) per item, whatever the file
//! size; only a stream of unknown length goes up streamed, once.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use ferry_core::{ByteStream, Error, Result};

use super::client::{Client, FileInfo, UploadSession, UploadState};

/// The content stream, shared by the chunk bodies cut from it in turn.
#[derive(Clone)]
pub struct Feed(Arc<Mutex<FeedState>>);

struct FeedState {
    stream: ByteStream,
    /// What the last chunk's body did not take of the source's last piece.
    leftover: Bytes,
    /// Bytes handed to request bodies.
    sent: u64,
    /// The source's own failure, which explains a failed request better than the request's
    /// error does (a deleted source file, a short stream).
    failure: Option<Error>,
}

impl Feed {
    pub fn new(stream: ByteStream) -> Feed {
        Feed(Arc::new(Mutex::new(FeedState {
            stream,
            leftover: Bytes::new(),
            sent: 0,
            failure: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request body of exactly `length` bytes from where the previous one stopped (or the
    /// rest of the stream when `None`).
    pub fn body(&self, length: Option<u64>) -> reqwest::Body {
        reqwest::Body::wrap_stream(ChunkBody {
            feed: self.clone(),
            remaining: length,
        })
    }

    /// The next `length` bytes in memory: a chunk to hold until the service has it.
    pub async fn take(&self, length: u64) -> Result<Bytes> {
        let mut body = ChunkBody {
            feed: self.clone(),
            remaining: Some(length),
        };
        let mut chunk = BytesMut::with_capacity(length as usize);
        while let Some(piece) = body.next().await {
            chunk.extend_from_slice(&piece?);
        }
        Ok(chunk.freeze())
    }

    pub fn sent(&self) -> u64 {
        self.lock().sent
    }

    pub fn failure(&self) -> Option<Error> {
        self.lock().failure.clone()
    }

    /// Reads the stream to its end once every byte announced was sent: a source that has
    /// more is an error (the hashing wrapper says how many bytes it announced), and the end
    /// must be seen for the engine's hash to be final.
    pub async fn finish(&self) -> Result<()> {
        let extra = futures::future::poll_fn(|cx| {
            let mut state = self.lock();
            if !state.leftover.is_empty() {
                return Poll::Ready(Some(Ok(state.leftover.clone())));
            }
            state.stream.poll_next_unpin(cx)
        })
        .await;
        match extra {
            None => Ok(()),
            Some(Err(err)) => Err(err),
            Some(Ok(_)) => Err(Error::retryable(
                "the source sent more bytes than it announced",
            )),
        }
    }
}

/// One request body: up to `remaining` bytes of the feed.
struct ChunkBody {
    feed: Feed,
    remaining: Option<u64>,
}

impl Stream for ChunkBody {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == Some(0) {
            return Poll::Ready(None);
        }
        let remaining = self.remaining;
        let feed = self.feed.clone();
        let mut state = feed.lock();
        let mut piece = if state.leftover.is_empty() {
            loop {
                match state.stream.poll_next_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(piece))) if piece.is_empty() => continue,
                    Poll::Ready(Some(Ok(piece))) => break piece,
                    Poll::Ready(Some(Err(err))) => {
                        state.failure = Some(err.clone());
                        return Poll::Ready(Some(Err(err)));
                    }
                    Poll::Ready(None) => match remaining {
                        None => return Poll::Ready(None),
                        Some(missing) => {
                            let err = Error::retryable(format!(
                                "the source ended {missing} bytes before the length it announced"
                            ));
                            state.failure = Some(err.clone());
                            return Poll::Ready(Some(Err(err)));
                        }
                    },
                }
            }
        } else {
            std::mem::take(&mut state.leftover)
        };
        if let Some(remaining) = remaining
            && piece.len() as u64 > remaining
        {
            state.leftover = piece.split_off(remaining as usize);
        }
        state.sent += piece.len() as u64;
        drop(state);
        if let Some(remaining) = &mut self.remaining {
            *remaining -= piece.len() as u64;
        }
        Poll::Ready(Some(Ok(piece)))
    }
}

/// Sizes of the upload protocols.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Files up to this size go in one raw request.
    pub raw_limit: u64,
    /// The resumable protocol's chunk, rounded up to the service's granularity.
    pub chunk: u64,
}

/// Uploads `feed` and returns the upload token. `length` is the announced size, when known:
/// the resumable protocol needs it up front, so a stream of unknown length goes raw.
pub async fn upload(
    client: &Client,
    what: &str,
    file: &FileInfo<'_>,
    feed: &Feed,
    length: Option<u64>,
    sizes: Sizes,
) -> Result<String> {
    let result = match length {
        Some(total) if total > sizes.raw_limit => {
            resumable(client, what, file, feed, total, sizes.chunk).await
        }
        Some(total) => match feed.take(total).await {
            Ok(bytes) => client.upload_raw_bytes(what, file, bytes).await,
            Err(err) => Err(err),
        },
        None => client.upload_raw(what, file, feed.body(None)).await,
    };
    // When the source failed, its error says what happened; the request's does not.
    let token = result.map_err(|err| feed.failure().unwrap_or(err))?;
    feed.finish().await?;
    Ok(token)
}

async fn resumable(
    client: &Client,
    what: &str,
    file: &FileInfo<'_>,
    feed: &Feed,
    total: u64,
    chunk: u64,
) -> Result<String> {
    let session = client.start_resumable(what, file, total).await?;
    let chunk = chunk.max(1).div_ceil(session.granularity) * session.granularity;
    let mut offset = 0;
    loop {
        let length = chunk.min(total - offset);
        let last = offset + length == total;
        let bytes = feed.take(length).await?;
        match send_chunk(client, what, &session, offset, bytes, last).await? {
            Some(token) => return Ok(token),
            None if !last => offset += length,
            None => {
                return Err(Error::retryable(format!(
                    "{what}: Google Photos did not finish the upload"
                )));
            }
        }
    }
}

/// Sends one chunk starting at `offset`. After a passing fault (or a lost answer) it asks the
/// service how much of the upload it has (`query`) and sends the rest of the chunk from
/// there; a finalized upload answers with its token.
async fn send_chunk(
    client: &Client,
    what: &str,
    session: &UploadSession,
    offset: u64,
    bytes: Bytes,
    last: bool,
) -> Result<Option<String>> {
    let end = offset + bytes.len() as u64;
    let tried = AtomicBool::new(false);
    let (tried, bytes) = (&tried, &bytes);
    client
        .retry()
        .run(what, || async move {
            let from = if tried.swap(true, Ordering::Relaxed) {
                match client.query_upload(what, session).await? {
                    UploadState::Final(token) if last => return Ok(Some(token)),
                    UploadState::Active(received) if (offset..=end).contains(&received) => received,
                    UploadState::Final(_) | UploadState::Active(_) => {
                        return Err(Error::retryable(format!(
                            "{what}: Google Photos lost track of the upload"
                        )));
                    }
                }
            } else {
                offset
            };
            if from == end && !last {
                return Ok(None);
            }
            let rest = bytes.slice((from - offset) as usize..);
            client.upload_chunk(what, session, from, rest, last).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    fn feed(pieces: Vec<&'static [u8]>) -> Feed {
        Feed::new(stream::iter(pieces.into_iter().map(|p| Ok(Bytes::from_static(p)))).boxed())
    }

    async fn collect(body: ChunkBody) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut body = Box::pin(body);
        while let Some(piece) = body.next().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn chunks_are_cut_at_exact_lengths() {
        let feed = feed(vec![b"abc", b"", b"defgh", b"ij"]);
        let chunk = |n| ChunkBody {
            feed: feed.clone(),
            remaining: Some(n),
        };
        assert_eq!(collect(chunk(4)).await.unwrap(), b"abcd");
        assert_eq!(collect(chunk(4)).await.unwrap(), b"efgh");
        assert_eq!(collect(chunk(2)).await.unwrap(), b"ij");
        assert_eq!(feed.sent(), 10);
        feed.finish().await.unwrap();
    }

    #[tokio::test]
    async fn a_short_or_long_source_is_an_error() {
        let short = feed(vec![b"abc"]);
        let body = ChunkBody {
            feed: short.clone(),
            remaining: Some(5),
        };
        assert!(collect(body).await.is_err());
        assert!(short.failure().is_some());

        let long = feed(vec![b"abcdef"]);
        let body = ChunkBody {
            feed: long.clone(),
            remaining: Some(4),
        };
        assert_eq!(collect(body).await.unwrap(), b"abcd");
        assert!(long.finish().await.is_err());

        let unbounded = feed(vec![b"abc", b"def"]);
        let body = ChunkBody {
            feed: unbounded.clone(),
            remaining: None,
        };
        assert_eq!(collect(body).await.unwrap(), b"abcdef");
        unbounded.finish().await.unwrap();
    }
}
