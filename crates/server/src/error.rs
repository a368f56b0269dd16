//! The API's errors: a status and a short JSON message. Internal causes are logged, never
//! sent to the client.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("not signed in")]
    Unauthorized,
    /// The same message whether the address is unknown or the password wrong, so that
    /// sign-in does not reveal who has an account.
    #[error("wrong e-mail address or password")]
    WrongCredentials,
    #[error("wrong password")]
    WrongPassword,
    #[error("an account with this e-mail address exists already")]
    EmailTaken,
    #[error("too many failed sign-ins; try again later")]
    Throttled { retry_after: Duration },
    #[error("enter your password again to continue")]
    ConfirmationRequired,
    /// Also what another account's jobs, connections and archives look like: their ids are
    /// not confirmed to exist.
    #[error("{0}")]
    NotFound(String),
    /// An expired archive, a spent download ticket.
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::WrongCredentials | ApiError::WrongPassword => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::EmailTaken => StatusCode::CONFLICT,
            ApiError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ConfirmationRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for clients (the message is for people).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::WrongCredentials => "wrong_credentials",
            ApiError::WrongPassword => "wrong_password",
            ApiError::EmailTaken => "email_taken",
            ApiError::Throttled { .. } => "throttled",
            ApiError::ConfirmationRequired => "confirmation_required",
            ApiError::NotFound(_) => "not_found",
            ApiError::Gone(_) => "gone",
            ApiError::Conflict(_) => "conflict",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<ferry_engine::EngineError> for ApiError {
    fn from(err: ferry_engine::EngineError) -> Self {
        ApiError::Internal(err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::Throttled { retry_after } = &self {
            // Round up: a client that waits exactly this long must not be refused again.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
