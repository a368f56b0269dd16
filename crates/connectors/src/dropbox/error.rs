//! Dropbox's errors onto ferry's taxonomy.
//!
//! Dropbox answers 400 with plain text (a bad argument: our bug, or a name it refuses), 401 with
//! an `AuthError` union, 403 with an `AccessError`, 409 with the route's own error union
//! (`{"error_summary": "path/conflict/file/..", "error": {".tag": "path", …}}`), 429 with a
//! `RateLimitError` (JSON or plain text, and `Retry-After`), and 5xx with text (apis.md §1.4).
//! Route errors are unions nested several levels deep, so the mapping looks for the tags that
//! decide what to do wherever they sit in the union.

use std::time::Duration;

use serde_json::Value;

use ferry_core::Error;

use crate::http::{Failure, snippet};

/// A route error (HTTP 409) as Dropbox sent it, kept whole so that a caller can act on its
/// tags (a conflict tries the next name, `not_found` is an answer, not a failure).
#[derive(Clone, Debug)]
pub struct RouteError {
    /// What was being done, for the message ("creating folder /Photo Transfer").
    pub what: String,
    /// The `error` union.
    pub error: Value,
    /// `error_summary`, for people: "path/conflict/file/..".
    pub summary: String,
}

impl RouteError {
    pub fn new(what: &str, error: Value, summary: Option<String>) -> RouteError {
        let summary = summary.unwrap_or_else(|| tag_path(&error).join("/"));
        RouteError {
            what: what.to_string(),
            error,
            summary,
        }
    }

    /// Whether `tag` appears anywhere in the union.
    pub fn has(&self, tag: &str) -> bool {
        has_tag(&self.error, tag)
    }

    pub fn to_error(&self) -> Error {
        map_route(&self.what, &self.error, &self.summary)
    }

    /// Whether Dropbox only asks to wait (namespace lock contention): worth sending again.
    pub fn is_busy(&self) -> bool {
        self.has("too_many_write_operations") || self.has("too_many_requests")
    }

    /// `UploadSessionOffsetError.correct_offset` of an `incorrect_offset`, wherever it sits
    /// in the union: how many bytes the session really holds.
    pub fn correct_offset(&self) -> Option<u64> {
        fn find(value: &Value) -> Option<u64> {
            match value {
                Value::Object(fields) => {
                    if fields.get(".tag").and_then(Value::as_str) == Some("incorrect_offset") {
                        return fields.get("correct_offset").and_then(Value::as_u64);
                    }
                    fields.values().find_map(find)
                }
                _ => None,
            }
        }
        find(&self.error)
    }
}

/// Whether a union (or anything nested in it) carries `.tag` = `tag`.
pub fn has_tag(value: &Value, tag: &str) -> bool {
    match value {
        Value::Object(fields) => {
            fields.get(".tag").and_then(Value::as_str) == Some(tag)
                || fields.values().any(|v| has_tag(v, tag))
        }
        // A void member may come in the compact form: a bare string.
        Value::String(s) => s == tag,
        Value::Array(items) => items.iter().any(|v| has_tag(v, tag)),
        _ => false,
    }
}

/// The chain of tags of a union, outermost first: ["path", "conflict", "file"].
pub fn tag_path(value: &Value) -> Vec<String> {
    let mut tags = Vec::new();
    let mut current = value;
    // Unions nest a handful of levels at most; the bound guards against a hostile answer.
    for _ in 0..8 {
        let tag = match current {
            Value::String(s) => {
                tags.push(s.clone());
                break;
            }
            Value::Object(fields) => match fields.get(".tag").and_then(Value::as_str) {
                Some(tag) => tag,
                None => break,
            },
            _ => break,
        };
        tags.push(tag.to_string());
        // The member sits under the tag's own name, or (struct members) beside the tag.
        let next = current.get(tag).filter(|v| is_union(v)).or_else(|| {
            current.as_object().and_then(|fields| {
                fields
                    .iter()
                    .find(|(k, v)| k.as_str() != ".tag" && v.get(".tag").is_some())
                    .map(|(_, v)| v)
            })
        });
        match next {
            Some(v) => current = v,
            None => break,
        }
    }
    tags
}

fn is_union(value: &Value) -> bool {
    value.get(".tag").is_some() || value.is_string()
}

/// Maps a route error union onto the taxonomy.
pub fn map_route(what: &str, error: &Value, summary: &str) -> Error {
    let summary = summary.trim_end_matches('.').trim_end_matches('/');
    let has = |tag: &str| has_tag(error, tag);
    if has("insufficient_space") {
        return Error::DestinationFull(format!("{what}: the Dropbox account is out of space"));
    }
    if has("too_many_write_operations") || has("too_many_requests") {
        // Namespace lock contention: retry_after is not given with this one.
        return Error::RateLimited {
            retry_after: retry_after_of(error),
            message: format!("{what}: Dropbox is busy with other writes to this account"),
        };
    }
    if has("malformed_path") || has("disallowed_name") {
        return Error::Permanent(format!(
            "{what}: Dropbox does not accept this name ({summary})"
        ));
    }
    if has("lookup_failed")
        || has("incorrect_offset")
        || has("closed")
        || has("not_closed")
        || has("internal_error")
    {
        // The upload session is gone or out of step: sending the file again fixes it.
        return Error::Retryable(format!("{what}: the upload session failed ({summary})"));
    }
    if has("too_large") || has("payload_too_large") {
        return Error::Permanent(format!("{what}: the file is too large for Dropbox"));
    }
    if has("no_write_permission") || has("access_denied") || has("team_folder") {
        return Error::Permanent(format!(
            "{what}: Dropbox does not allow writing here ({summary})"
        ));
    }
    Error::Permanent(format!("{what}: Dropbox refused ({summary})"))
}

/// Maps any answer that was not a success.
pub fn map_failure(what: &str, failure: &Failure) -> Error {
    let body: Option<Value> = serde_json::from_str(&failure.body).ok();
    let error = body.as_ref().and_then(|b| b.get("error"));
    match failure.status.as_u16() {
        400 => Error::Permanent(format!(
            "{what}: Dropbox refused the request: {}",
            failure.snippet()
        )),
        401 => {
            let tags = error.map(tag_path).unwrap_or_default();
            match tags.first().map(String::as_str) {
                Some("missing_scope") => Error::AuthExpired(format!(
                    "{what}: the connection lacks a permission ({}); reconnect to grant it",
                    error
                        .and_then(|e| e.get("missing_scope"))
                        .and_then(|s| s.get("required_scope"))
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                )),
                Some(tag) => {
                    Error::AuthExpired(format!("{what}: Dropbox refused the token ({tag})"))
                }
                None => Error::AuthExpired(format!("{what}: Dropbox refused the token")),
            }
        }
        403 => {
            let tags = error.map(tag_path).unwrap_or_default().join("/");
            Error::Permanent(format!("{what}: Dropbox denied access ({tags})"))
        }
        409 => match error {
            Some(error) => {
                let summary = body
                    .as_ref()
                    .and_then(|b| b.get("error_summary"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| tag_path(error).join("/"));
                map_route(what, error, &summary)
            }
            None => Error::Permanent(format!(
                "{what}: Dropbox refused: {}",
                snippet(&failure.body)
            )),
        },
        429 => Error::RateLimited {
            retry_after: failure
                .retry_after()
                .or_else(|| error.and_then(retry_after_of)),
            message: format!("{what}: Dropbox asks to slow down"),
        },
        500..=599 => Error::Retryable(format!(
            "{what}: Dropbox had a server error ({})",
            failure.status
        )),
        _ => failure.by_status(what),
    }
}

/// `RateLimitError.retry_after` (seconds), where the error carries one.
fn retry_after_of(error: &Value) -> Option<Duration> {
    error
        .get("retry_after")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;
    use serde_json::json;

    fn failure(status: u16, body: &str, retry_after: Option<&str>) -> Failure {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(r) = retry_after {
            headers.insert(reqwest::header::RETRY_AFTER, r.parse().unwrap());
        }
        Failure {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.to_string(),
        }
    }

    #[test]
    fn tags_are_found_at_any_depth() {
        let e = json!({".tag": "path", "path": {".tag": "conflict", "conflict": {".tag": "file"}}});
        assert_eq!(tag_path(&e), ["path", "conflict", "file"]);
        assert!(has_tag(&e, "conflict") && has_tag(&e, "file") && !has_tag(&e, "folder"));
        let inline = json!({".tag": "path", "reason": {".tag": "insufficient_space"}, "upload_session_id": "x"});
        assert_eq!(tag_path(&inline), ["path", "insufficient_space"]);
        assert_eq!(
            map_route("x", &inline, "path/insufficient_space/..").kind(),
            ErrorKind::DestinationFull
        );
    }

    #[test]
    fn statuses_map_onto_the_taxonomy() {
        let limited = map_failure(
            "finishing",
            &failure(
                429,
                r#"{"error_summary":"too_many_requests/..","error":{"reason":{".tag":"too_many_requests"},"retry_after":300}}"#,
                None,
            ),
        );
        assert!(matches!(
            limited,
            Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(300)
        ));
        let header = map_failure("x", &failure(429, "too many requests", Some("7")));
        assert!(matches!(
            header,
            Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        let busy = map_failure(
            "x",
            &failure(
                409,
                r#"{"error_summary":"too_many_write_operations/..","error":{".tag":"too_many_write_operations"}}"#,
                None,
            ),
        );
        assert_eq!(busy.kind(), ErrorKind::RateLimited);
        assert_eq!(
            map_failure("x", &failure(503, "unavailable", None)).kind(),
            ErrorKind::Retryable
        );
        assert_eq!(
            map_failure("x", &failure(400, "Error in call", None)).kind(),
            ErrorKind::Permanent
        );
        let expired = r#"{"error_summary":"expired_access_token/..","error":{".tag":"expired_access_token"}}"#;
        assert_eq!(
            map_failure("x", &failure(401, expired, None)).kind(),
            ErrorKind::AuthExpired
        );
        let bad_name = r#"{"error_summary":"path/disallowed_name/..","error":{".tag":"path","path":{".tag":"disallowed_name"}}}"#;
        let err = map_failure("writing /a/desktop.ini", &failure(409, bad_name, None));
        assert_eq!(err.kind(), ErrorKind::Permanent);
        assert!(err.to_string().contains("desktop.ini"));
    }
}
