//! The server-rendered pages (askama) shared by every feature: sign in, sign up, the home page
//! with the notices, and the pieces other pages use (who is signed in, error pages). They use
//! the same functions as the JSON API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::{self, ClientIp, CurrentSession, Password};
use crate::{ApiError, AppState};

#[derive(Template, WebTemplate)]
#[template(path = "sign_in.html")]
struct SignInPage {
    sign_up: bool,
    email: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    notices: Vec<ferry_engine::Notice>,
}

/// What every signed-in page shows around its content.
pub struct Nav {
    pub email: String,
    pub sandbox: bool,
}

impl Nav {
    pub fn new(state: &AppState, current: &CurrentSession) -> Nav {
        Nav {
            email: current.account.email.clone(),
            sandbox: state.config().sandbox,
        }
    }
}

/// The signed-in person of a page; anyone else is sent to sign in.
pub struct Page(pub CurrentSession);

impl axum::extract::FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        match <CurrentSession as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            parts, state,
        )
        .await
        {
            Ok(current) => Ok(Page(current)),
            Err(ApiError::Unauthorized) => Err(Redirect::to("/sign-in").into_response()),
            Err(err) => Err(err.into_response()),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    nav: Nav,
    heading: String,
    text: String,
    back: String,
}

/// A page that says what went wrong, with the error's status.
pub fn error_page(
    state: &AppState,
    current: &CurrentSession,
    err: ApiError,
    back: &str,
) -> Response {
    let status = err.status();
    let heading = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::GONE => "No longer available",
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => "Not allowed",
        _ => "Something went wrong",
    };
    let page = MessagePage {
        nav: Nav::new(state, current),
        heading: heading.into(),
        text: err.to_string(),
        back: back.into(),
    };
    if let ApiError::Internal(cause) = &err {
        tracing::error!(%cause, "page failed");
    }
    (status, page).into_response()
}

#[derive(Debug, Deserialize)]
pub struct CredentialsForm {
    email: String,
    password: Password,
}

pub async fn home(State(state): State<AppState>, current: Option<CurrentSession>) -> Response {
    let Some(current) = current else {
        return Redirect::to("/sign-in").into_response();
    };
    match state.app().notices(&current.account.id, 20).await {
        Ok(notices) => HomePage {
            nav: Nav::new(&state, &current),
            notices,
        }
        .into_response(),
        Err(err) => error_page(&state, &current, err.into(), "/"),
    }
}

pub async fn sign_in_page() -> impl IntoResponse {
    SignInPage {
        sign_up: false,
        email: String::new(),
        error: None,
    }
}

pub async fn sign_up_page() -> impl IntoResponse {
    SignInPage {
        sign_up: true,
        email: String::new(),
        error: None,
    }
}

/// Sets the session cookie and goes home (303, so a reload does not post again).
fn signed_in(state: &AppState, token: &str) -> Response {
    (
        AppendHeaders([(header::SET_COOKIE, auth::session_cookie(state, token))]),
        Redirect::to("/"),
    )
        .into_response()
}

/// The form again with the error, keeping the address (never the password).
fn form_error(sign_up: bool, email: String, err: ApiError) -> Response {
    let status = err.status();
    let page = SignInPage {
        sign_up,
        email,
        error: Some(err.to_string()),
    };
    (status, page).into_response()
}

pub async fn sign_in_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<CredentialsForm>,
) -> Response {
    match auth::sign_in(&state, &form.email, &form.password, ip).await {
        Ok((_, session)) => signed_in(&state, &session.token),
        Err(err) => form_error(false, form.email, err),
    }
}

pub async fn sign_up_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Form(form): Form<CredentialsForm>,
) -> Response {
    let CredentialsForm { email, password } = form;
    match auth::sign_up(&state, &email, password, ip).await {
        Ok((_, session)) => signed_in(&state, &session.token),
        Err(err) => form_error(true, email, err),
    }
}

pub async fn sign_out_form(
    State(state): State<AppState>,
    current: Option<CurrentSession>,
) -> Response {
    if let Some(current) = current
        && let Err(err) = current.sign_out(&state).await
    {
        return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response();
    }
    (
        AppendHeaders([(header::SET_COOKIE, auth::clear_cookie(&state))]),
        Redirect::to("/sign-in"),
    )
        .into_response()
}
