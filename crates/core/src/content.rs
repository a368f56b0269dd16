//! Content moves as a stream of byte chunks with a known or unknown length: nothing holds a
//! whole file in memory. [`HashingStream`] computes SHA-256 and counts bytes on the way, and
//! turns a stream that ends short of (or beyond) its declared length into an error, so that a
//! destination never commits a truncated file.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::{BoxStream, Stream};
use sha2::{Digest, Sha256};

use crate::error::Error;

pub type ByteStream = BoxStream<'static, Result<Bytes, Error>>;

/// An item's bytes as they come from a source.
pub struct Content {
    pub stream: ByteStream,
    /// The length in bytes when the source knows it up front.
    pub length: Option<u64>,
}

impl Content {
    pub fn new(stream: ByteStream, length: Option<u64>) -> Content {
        Content { stream, length }
    }
}

/// What a [`HashingStream`] saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamDigest {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

impl StreamDigest {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

#[derive(Default)]
struct HashState {
    hasher: Sha256,
    bytes: u64,
    digest: Option<StreamDigest>,
}

/// Wraps a stream: hashes and counts every chunk, and checks the declared length at the end.
pub struct HashingStream {
    inner: ByteStream,
    expected: Option<u64>,
    state: Arc<Mutex<HashState>>,
    done: bool,
}

/// The other end of a [`HashingStream`]: read the digest once the stream has ended.
#[derive(Clone)]
pub struct DigestHandle(Arc<Mutex<HashState>>);

impl DigestHandle {
    /// The digest, when the stream ran to its end without error.
    pub fn digest(&self) -> Option<StreamDigest> {
        self.0.lock().ok().and_then(|s| s.digest.clone())
    }

    /// Bytes seen so far (for progress).
    pub fn bytes(&self) -> u64 {
        self.0.lock().map(|s| s.bytes).unwrap_or(0)
    }
}

impl HashingStream {
    pub fn wrap(content: Content) -> (Content, DigestHandle) {
        let state = Arc::new(Mutex::new(HashState::default()));
        let length = content.length;
        let stream = HashingStream {
            inner: content.stream,
            expected: length,
            state: state.clone(),
            done: false,
        };
        (Content::new(Box::pin(stream), length), DigestHandle(state))
    }
}

impl Stream for HashingStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let polled = self.inner.as_mut().poll_next(cx);
        let expected = self.expected;
        let Ok(mut state) = self.state.lock() else {
            return Poll::Ready(Some(Err(Error::permanent("hash state poisoned"))));
        };
        match polled {
            Poll::Ready(Some(Ok(chunk))) => {
                state.hasher.update(&chunk);
                state.bytes += chunk.len() as u64;
                if let Some(expected) = expected
                    && state.bytes > expected
                {
                    drop(state);
                    self.done = true;
                    return Poll::Ready(Some(Err(Error::retryable(format!(
                        "source sent more than the {expected} bytes it announced"
                    )))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(err))) => {
                drop(state);
                self.done = true;
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(None) => {
                let bytes = state.bytes;
                if let Some(expected) = expected
                    && bytes != expected
                {
                    drop(state);
                    self.done = true;
                    return Poll::Ready(Some(Err(Error::retryable(format!(
                        "source ended after {bytes} of {expected} bytes"
                    )))));
                }
                let hasher = std::mem::take(&mut state.hasher);
                state.digest = Some(StreamDigest {
                    bytes,
                    sha256: hasher.finalize().into(),
                });
                drop(state);
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn content(chunks: &[&'static [u8]], length: Option<u64>) -> Content {
        let items: Vec<Result<Bytes, Error>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Content::new(Box::pin(futures::stream::iter(items)), length)
    }

    #[tokio::test]
    async fn hashes_and_counts() {
        let (mut c, handle) = HashingStream::wrap(content(&[b"ab", b"c"], Some(3)));
        while let Some(chunk) = c.stream.next().await {
            chunk.unwrap();
        }
        let digest = handle.digest().unwrap();
        assert_eq!(digest.bytes, 3);
        assert_eq!(
            digest.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn a_short_stream_is_an_error_and_has_no_digest() {
        let (mut c, handle) = HashingStream::wrap(content(&[b"ab"], Some(3)));
        let mut saw_error = false;
        while let Some(chunk) = c.stream.next().await {
            saw_error |= chunk.is_err();
        }
        assert!(saw_error);
        assert!(handle.digest().is_none());
    }

    #[tokio::test]
    async fn a_long_stream_is_an_error() {
        let (mut c, _) = HashingStream::wrap(content(&[b"ab", b"cd"], Some(3)));
        let results: Vec<_> = c.stream.by_ref().collect().await;
        assert!(results.last().unwrap().is_err());
    }
}
