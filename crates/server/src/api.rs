//! The JSON API's handlers (`/api/v1/…`) and the health check.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use ferry_engine::AccountRow;
use serde::{Deserialize, Serialize};

use crate::auth::{self, ClientIp, CurrentSession, Password};
use crate::{ApiError, AppState};

/// What `GET /health` answers: the process serves and its store answers.
pub async fn health(State(state): State<AppState>) -> Response {
    // A lookup that touches the database without depending on any row.
    match state.app().session("", auth::unix_now()).await {
        Ok(_) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: Password,
}

#[derive(Debug, Deserialize)]
pub struct Confirmation {
    pub password: Password,
}

/// Who is signed in, as the API shows it. Never the password hash or the session token.
#[derive(Debug, Serialize)]
pub struct SessionInfo {
    pub account_id: String,
    pub email: String,
    /// Unix seconds.
    pub signed_in_at: i64,
    pub expires_at: i64,
    /// When the password was last entered in this session (Unix seconds).
    pub confirmed_at: i64,
}

fn info(account: &AccountRow, session: &ferry_engine::SessionRow) -> SessionInfo {
    SessionInfo {
        account_id: account.id.clone(),
        email: account.email.clone(),
        signed_in_at: session.created_at,
        expires_at: session.expires_at,
        confirmed_at: session.confirmed_at,
    }
}

/// `Json` that answers a malformed body in the API's own error form. The parser's message is
/// not passed on: it may quote the body, and the body holds a password.
pub fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(value)| value).map_err(|rejection| {
        ApiError::BadRequest(format!(
            "expected a JSON body (application/json) with the documented fields ({})",
            rejection.status()
        ))
    })
}

pub async fn sign_up(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    json: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Credentials { email, password } = body(json)?;
    let (account, session) = auth::sign_up(&state, &email, password, ip).await?;
    let cookie = auth::session_cookie(&state, &session.token);
    Ok((
        StatusCode::CREATED,
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        Json(info(&account, &session.row)),
    )
        .into_response())
}

pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    json: Result<Json<Credentials>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Credentials { email, password } = body(json)?;
    let (account, session) = auth::sign_in(&state, &email, &password, ip).await?;
    let cookie = auth::session_cookie(&state, &session.token);
    Ok((
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        Json(info(&account, &session.row)),
    )
        .into_response())
}

pub async fn who_am_i(current: CurrentSession) -> Json<SessionInfo> {
    Json(info(&current.account, &current.session))
}

pub async fn sign_out(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Response, ApiError> {
    current.sign_out(&state).await?;
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, auth::clear_cookie(&state))]),
    )
        .into_response())
}

/// Re-enters the password, which opens the actions that need a recent confirmation.
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    current: CurrentSession,
    json: Result<Json<Confirmation>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Confirmation { password } = body(json)?;
    current.confirm(&state, &password, ip).await?;
    let mut session = current.session.clone();
    session.confirmed_at = auth::unix_now();
    Ok(Json(info(&current.account, &session)).into_response())
}

/// One line of the audit log, as the API shows it.
#[derive(Debug, Serialize)]
pub struct AuditLine {
    pub at: String,
    pub event: String,
    pub detail: String,
}

/// The newest entries of the signed-in person's own audit log (sign-ups, sign-ins, failed
/// attempts with the address they came from, sign-outs).
pub async fn audit_log(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<AuditLine>>, ApiError> {
    let entries = state.app().audit_log(&current.account.id, 200).await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|entry| AuditLine {
                at: entry.at,
                event: entry.event,
                detail: entry.detail,
            })
            .collect(),
    ))
}

/// One in-app notice, as the API shows it.
#[derive(Debug, Serialize)]
pub struct NoticeLine {
    pub at: String,
    pub text: String,
    /// A path in the web app, or empty.
    pub link: String,
}

/// The signed-in person's newest notices (transfers started and ended, archives ready).
pub async fn notices(
    State(state): State<AppState>,
    current: CurrentSession,
) -> Result<Json<Vec<NoticeLine>>, ApiError> {
    let notices = state.app().notices(&current.account.id, 100).await?;
    Ok(Json(
        notices
            .into_iter()
            .map(|n| NoticeLine {
                at: n.at,
                text: n.text,
                link: n.link,
            })
            .collect(),
    ))
}
