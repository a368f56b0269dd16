//! Sending an item's bytes to `/v1/uploads` for an upload token, streamed: the raw protocol
//! (one request) up to a size, the resumable protocol above it, in chunks cut from the
//! content stream as exact-length streamed bodies. Nothing holds more than the source's own
//! chunk in memory, whatever the file size.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
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
        _ => {
            client
                .upload_raw(what, file, feed.body(length), length)
                .await
        }
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
        let sent = client
            .upload_chunk(
                what,
                &session,
                offset,
                length,
                feed.body(Some(length)),
                last,
            )
            .await;
        match sent {
            Ok(Some(token)) => return Ok(token),
            Ok(None) if !last => offset += length,
            Ok(None) => {
                return Err(Error::retryable(format!(
                    "{what}: Google Photos did not finish the upload"
                )));
            }
            Err(err) => match recover(client, what, &session, feed, offset + length, &err).await {
                Some(UploadState::Final(token)) if last => return Ok(token),
                Some(UploadState::Active(received)) if !last && received == offset + length => {
                    offset += length;
                }
                _ => return Err(err),
            },
        }
    }
}

/// After a chunk failed in transit, asks whether the service got it anyway (the answer was
/// lost). The bytes are gone from the stream, so only a chunk received whole lets the upload
/// go on; anything else is retried by the engine from the start.
async fn recover(
    client: &Client,
    what: &str,
    session: &UploadSession,
    feed: &Feed,
    chunk_end: u64,
    err: &Error,
) -> Option<UploadState> {
    let whole_chunk_sent = feed.failure().is_none() && feed.sent() == chunk_end;
    if !matches!(err, Error::Retryable(_)) || !whole_chunk_sent {
        return None;
    }
    client.query_upload(what, session).await.ok()
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
