//! Google's errors onto ferry's taxonomy.
//!
//! A failed call answers `{"error":{"code":400,"message":"…","status":"INVALID_ARGUMENT"}}`;
//! `mediaItems:batchCreate` also reports each item's own google.rpc `Status` (`code` 0 or
//! absent = OK) inside a successful answer. The messages that matter were collected by the
//! Data Transfer Project and other uploaders: "The remaining storage in the user's account is
//! not enough to perform this operation." (HTTP 400 or a per-item status) and "The provided ID
//! does not match any albums." (the album was deleted).

use reqwest::StatusCode;
use serde::Deserialize;

use ferry_core::Error;

use crate::http::{Failure, snippet};

/// The google.rpc error body.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: RpcError,
}

#[derive(Debug, Default, Deserialize)]
pub struct RpcError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
}

/// google.rpc codes that appear in per-item statuses.
mod code {
    pub const OK: i64 = 0;
    pub const CANCELLED: i64 = 1;
    pub const UNKNOWN: i64 = 2;
    pub const DEADLINE_EXCEEDED: i64 = 4;
    pub const NOT_FOUND: i64 = 5;
    pub const PERMISSION_DENIED: i64 = 7;
    pub const RESOURCE_EXHAUSTED: i64 = 8;
    pub const ABORTED: i64 = 10;
    pub const INTERNAL: i64 = 13;
    pub const UNAVAILABLE: i64 = 14;
    pub const UNAUTHENTICATED: i64 = 16;
}

/// Whether a google.rpc code is success.
pub fn is_ok(code: Option<i64>) -> bool {
    code.is_none_or(|c| c == code::OK)
}

fn storage_full(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("remaining storage") || m.contains("storage quota") || m.contains("out of storage")
}

/// "The provided ID does not match any albums": the album is gone.
pub fn album_missing(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("does not match any albums")
}

fn full(what: &str) -> Error {
    Error::DestinationFull(format!(
        "{what}: the Google account's storage is full; free space or buy more, then resume"
    ))
}

/// Maps a failed HTTP call. `what` names the call and its object ("creating album \"Trip\"").
/// A 429 comes back as `RateLimited` with the service's `Retry-After` (the client replaces it
/// with the pacer's delay). A deleted album comes back as `NotFound`, which the destination
/// turns into a clear message: the engine must never skip an item for it.
pub fn map(what: &str, failure: Failure) -> Error {
    let body: ErrorBody = serde_json::from_str(&failure.body).unwrap_or_default();
    let message = if body.error.message.is_empty() {
        failure.snippet()
    } else {
        snippet(&body.error.message)
    };
    let status = failure.status;
    if storage_full(&message) {
        return full(what);
    }
    if album_missing(&message) {
        return Error::NotFound(format!("{what}: {message}"));
    }
    match status {
        StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
            retry_after: failure.retry_after(),
            message: format!("{what}: Google Photos asks to slow down (429 {message})"),
        },
        // Google's consent screen lets a person untick a scope: every call of that kind
        // fails until they connect again and allow it.
        StatusCode::FORBIDDEN if message.to_ascii_lowercase().contains("insufficient") => {
            Error::AuthExpired(format!(
                "{what}: the connection lacks a permission ferry needs ({message}); connect \
                 the account again and allow everything ferry asks for"
            ))
        }
        StatusCode::FORBIDDEN => Error::Permanent(format!(
            "{what}: Google Photos refused (403 {}): {message}",
            body.error.status
        )),
        StatusCode::NOT_FOUND => Error::NotFound(format!("{what}: not found (404 {message})")),
        // A too-large upload is that item's problem, not a full account.
        StatusCode::PAYLOAD_TOO_LARGE => {
            Error::Permanent(format!("{what}: too large for Google Photos ({message})"))
        }
        s if s == StatusCode::REQUEST_TIMEOUT || s.is_server_error() => {
            Error::Retryable(format!("{what}: {} {message}", s.as_u16()))
        }
        s => Error::Permanent(format!("{what}: {} {message}", s.as_u16())),
    }
}

/// Maps one item's failed status in a `batchCreate` answer. `name` is the item's file name.
pub fn item_status(name: &str, code: i64, message: &str) -> Error {
    let what = format!("adding {name} to Google Photos");
    let message = snippet(message);
    if storage_full(&message) {
        return full(&what);
    }
    if message.to_ascii_lowercase().contains("upload token") {
        // Expired (a day old) or already used: uploading again gives a fresh one.
        return Error::Retryable(format!("{what}: {message}; uploading it again"));
    }
    match code {
        code::RESOURCE_EXHAUSTED => Error::RateLimited {
            retry_after: None,
            message: format!("{what}: Google Photos asks to slow down ({message})"),
        },
        code::CANCELLED
        | code::UNKNOWN
        | code::DEADLINE_EXCEEDED
        | code::ABORTED
        | code::INTERNAL
        | code::UNAVAILABLE => Error::Retryable(format!("{what}: {message}")),
        code::UNAUTHENTICATED => Error::AuthExpired(format!("{what}: {message}")),
        code::NOT_FOUND if album_missing(&message) => Error::NotFound(format!("{what}: {message}")),
        code::PERMISSION_DENIED => {
            Error::Permanent(format!("{what}: Google Photos refused: {message}"))
        }
        _ => Error::Permanent(format!("{what}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;
    use reqwest::header::HeaderMap;

    fn failure(status: u16, body: &str) -> Failure {
        Failure {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    fn rpc(code: u16, status: &str, message: &str) -> String {
        serde_json::json!({"error": {"code": code, "message": message, "status": status}})
            .to_string()
    }

    #[test]
    fn maps_http_failures() {
        let kind = |status, body: &str| map("x", failure(status, body)).kind();
        assert_eq!(
            kind(
                400,
                &rpc(
                    400,
                    "INVALID_ARGUMENT",
                    "The remaining storage in the user's account is not enough to perform this operation."
                )
            ),
            ErrorKind::DestinationFull
        );
        assert_eq!(
            kind(
                400,
                &rpc(
                    400,
                    "INVALID_ARGUMENT",
                    "The provided ID does not match any albums."
                )
            ),
            ErrorKind::NotFound
        );
        assert_eq!(
            kind(429, &rpc(429, "RESOURCE_EXHAUSTED", "Quota exceeded")),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind(
                403,
                &rpc(
                    403,
                    "PERMISSION_DENIED",
                    "Google Photos is disabled for the user"
                )
            ),
            ErrorKind::Permanent
        );
        assert_eq!(kind(503, "<html>"), ErrorKind::Retryable);
        assert_eq!(kind(413, ""), ErrorKind::Permanent);
        assert_eq!(
            kind(400, &rpc(400, "INVALID_ARGUMENT", "Bad")),
            ErrorKind::Permanent
        );
        assert_eq!(
            kind(
                403,
                &rpc(
                    403,
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes."
                )
            ),
            ErrorKind::AuthExpired
        );
        let err = map(
            "creating album \"A\"",
            failure(
                403,
                &rpc(
                    403,
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes.",
                ),
            ),
        );
        assert!(
            err.to_string()
                .contains("insufficient authentication scopes"),
            "{err}"
        );
    }

    #[test]
    fn maps_item_statuses() {
        let kind = |code, message| item_status("a.jpg", code, message).kind();
        assert!(is_ok(None) && is_ok(Some(0)) && !is_ok(Some(3)));
        assert_eq!(
            kind(
                8,
                "The remaining storage in the user's account is not enough to perform this operation."
            ),
            ErrorKind::DestinationFull
        );
        assert_eq!(kind(3, "Invalid upload token."), ErrorKind::Retryable);
        assert_eq!(kind(3, "Upload token has expired."), ErrorKind::Retryable);
        assert_eq!(kind(8, "Too many requests"), ErrorKind::RateLimited);
        assert_eq!(kind(13, "Internal error"), ErrorKind::Retryable);
        assert_eq!(
            kind(3, "Failed: The media item is too large."),
            ErrorKind::Permanent
        );
        assert!(item_status("a.jpg", 3, "x").to_string().contains("a.jpg"));
    }
}
