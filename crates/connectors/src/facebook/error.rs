//! Graph API errors onto ferry's taxonomy.
//!
//! Graph answers almost every error with HTTP 400 and a body
//! `{"error":{"message","type","code","error_subcode","is_transient","fbtrace_id"}}`, so the
//! mapping keys on `code` and `error_subcode`, and falls back on the HTTP status only when the
//! body is not a Graph error (a proxy's 502, a CDN's answer).

use std::time::Duration;

use serde::Deserialize;

use ferry_core::Error;

use crate::http::{self, Failure};

use super::throttle;

/// The `error` object of a Graph answer.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub is_transient: Option<bool>,
}

#[derive(Deserialize)]
struct Envelope {
    error: GraphError,
}

impl GraphError {
    /// The Graph error in a failed answer's body, if it is one.
    pub fn parse(body: &str) -> Option<GraphError> {
        serde_json::from_str::<Envelope>(body).ok().map(|e| e.error)
    }

    pub fn code(&self) -> i64 {
        self.code.unwrap_or(0)
    }

    /// A stored paging position that Graph no longer accepts (cursors are invalidated when
    /// the item they point at is deleted): code 100 (invalid parameter) other than a deleted
    /// object, or 2642 (invalid cursors).
    pub fn refuses_cursor(&self) -> bool {
        (self.code() == 100 && self.error_subcode != Some(33)) || self.code() == 2642
    }

    fn describe(&self) -> String {
        let message = http::snippet(&self.message);
        match (self.code, self.error_subcode) {
            (Some(code), Some(sub)) => format!("{message} (code {code}, subcode {sub})"),
            (Some(code), None) => format!("{message} (code {code})"),
            _ => message,
        }
    }
}

/// What the mapping needs to know beyond the answer.
pub struct Context<'a> {
    /// What failed, for the message ("Facebook photo 123").
    pub what: &'a str,
    /// The connection's name, for the reconnect hint.
    pub connection: &'a str,
    /// The wait to announce when Facebook throttles without saying for how long.
    pub throttle_backoff: Duration,
}

impl Context<'_> {
    fn reconnect(&self) -> String {
        format!(
            "reconnect with `ferry connect facebook --name {}`",
            self.connection
        )
    }
}

/// Maps a failed Graph answer; the Graph error comes back too, for callers that treat some
/// codes specially (a refused cursor).
pub fn map(failure: &Failure, context: &Context) -> (Error, Option<GraphError>) {
    match GraphError::parse(&failure.body) {
        Some(graph) => {
            let regain = throttle::usage(&failure.headers).and_then(|u| u.regain_after);
            let error = classify(failure.status.as_u16(), &graph, regain, context);
            (error, Some(graph))
        }
        None => (failure.by_status(context.what), None),
    }
}

/// The kind of a Graph error, from its code and subcode.
pub fn classify(
    status: u16,
    graph: &GraphError,
    regain_after: Option<Duration>,
    context: &Context,
) -> Error {
    let what = context.what;
    let detail = graph.describe();
    let code = graph.code();
    match code {
        // Throttling: app (4), user (17), page (32), custom (613), business use cases.
        4 | 17 | 32 | 613 | 80001..=80014 => Error::RateLimited {
            retry_after: Some(regain_after.unwrap_or(context.throttle_backoff)),
            message: format!("{what}: Facebook is throttling ferry: {detail}"),
        },
        // The token is no longer valid, and Facebook has no refresh token.
        190 | 102 | 2500 => Error::AuthExpired(format!(
            "{what}: Facebook no longer accepts the connection ({}); {}",
            token_reason(code, graph.error_subcode),
            context.reconnect()
        )),
        // A permission the person did not grant (or the app lacks).
        10 | 200..=299 => Error::Permanent(format!(
            "{what}: Facebook refused for want of a permission: {detail}; ferry needs \
             user_photos and user_videos: {} and allow them",
            context.reconnect()
        )),
        100 if graph.error_subcode == Some(33) => Error::NotFound(format!(
            "{what}: no longer on Facebook (deleted, or no longer visible to this account)"
        )),
        1 | 2 => Error::Retryable(format!("{what}: Facebook had a passing fault: {detail}")),
        _ if graph.is_transient == Some(true) || status >= 500 => {
            Error::Retryable(format!("{what}: Facebook had a passing fault: {detail}"))
        }
        _ => Error::Permanent(format!("{what}: Facebook refused: {detail}")),
    }
}

/// Why a token stopped working, from Graph's subcodes (the message may quote more than a
/// person needs).
fn token_reason(code: i64, subcode: Option<i64>) -> &'static str {
    match (code, subcode) {
        (102, _) => "the session is no longer valid",
        (2500, _) => "no valid access token",
        (_, Some(458)) => "the ferry app was removed from the account",
        (_, Some(459)) => "the account is checkpointed; log in on facebook.com first",
        (_, Some(460)) => "the password was changed",
        (_, Some(463)) => "the access token has expired",
        (_, Some(464)) => "the account is not confirmed",
        (_, Some(467)) => "the access token was invalidated (logged out)",
        _ => "the access token is no longer valid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::ErrorKind;

    fn context() -> Context<'static> {
        Context {
            what: "Facebook albums",
            connection: "fb",
            throttle_backoff: Duration::from_secs(60),
        }
    }

    fn graph(code: i64, sub: Option<i64>, transient: Option<bool>) -> GraphError {
        GraphError {
            message: format!("(#{code}) something"),
            kind: "OAuthException".into(),
            code: Some(code),
            error_subcode: sub,
            is_transient: transient,
        }
    }

    fn kind(status: u16, g: GraphError) -> ErrorKind {
        classify(status, &g, None, &context()).kind()
    }

    #[test]
    fn codes_map_onto_kinds() {
        assert_eq!(kind(500, graph(1, None, None)), ErrorKind::Retryable);
        assert_eq!(kind(503, graph(2, None, Some(true))), ErrorKind::Retryable);
        for code in [4, 17, 32, 613, 80001, 80014] {
            assert_eq!(
                kind(400, graph(code, None, Some(true))),
                ErrorKind::RateLimited
            );
        }
        for (code, sub) in [(190, Some(463)), (190, None), (190, Some(460)), (102, None)] {
            assert_eq!(kind(400, graph(code, sub, None)), ErrorKind::AuthExpired);
        }
        for code in [10, 200, 299] {
            assert_eq!(kind(403, graph(code, None, None)), ErrorKind::Permanent);
        }
        assert_eq!(kind(400, graph(100, Some(33), None)), ErrorKind::NotFound);
        assert_eq!(kind(400, graph(100, None, None)), ErrorKind::Permanent);
        assert_eq!(
            kind(400, graph(12345, None, Some(true))),
            ErrorKind::Retryable
        );
        assert_eq!(kind(502, graph(12345, None, None)), ErrorKind::Retryable);
    }

    #[test]
    fn throttling_waits_as_announced_or_long() {
        let g = graph(4, None, Some(true));
        match classify(400, &g, None, &context()) {
            Error::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(60)))
            }
            other => panic!("{other:?}"),
        }
        match classify(400, &g, Some(Duration::from_secs(300)), &context()) {
            Error::RateLimited { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(300)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expired_tokens_say_how_to_reconnect() {
        let message = classify(400, &graph(190, Some(463), None), None, &context()).to_string();
        assert!(message.contains("has expired"), "{message}");
        assert!(
            message.contains("reconnect with `ferry connect facebook --name fb`"),
            "{message}"
        );
    }

    #[test]
    fn bodies_that_are_not_graph_errors_map_by_status() {
        let failure = Failure {
            status: reqwest::StatusCode::BAD_GATEWAY,
            headers: Default::default(),
            body: "<html>bad gateway</html>".into(),
        };
        let (error, graph) = map(&failure, &context());
        assert_eq!(error.kind(), ErrorKind::Retryable);
        assert!(graph.is_none());
    }

    #[test]
    fn refused_cursors_are_recognised() {
        assert!(graph(100, None, None).refuses_cursor());
        assert!(graph(2642, None, None).refuses_cursor());
        assert!(!graph(100, Some(33), None).refuses_cursor());
        assert!(!graph(4, None, None).refuses_cursor());
    }
}
