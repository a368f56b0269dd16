//! The server-rendered pages (askama). For now: sign in, sign up, and a home page that says
//! who is signed in. They use the same account functions as the JSON API.

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
    email: String,
}

#[derive(Debug, Deserialize)]
pub struct CredentialsForm {
    email: String,
    password: Password,
}

pub async fn home(current: Option<CurrentSession>) -> Response {
    match current {
        Some(current) => HomePage {
            email: current.account.email,
        }
        .into_response(),
        None => Redirect::to("/sign-in").into_response(),
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
    Form(form): Form<CredentialsForm>,
) -> Response {
    let CredentialsForm { email, password } = form;
    match auth::sign_up(&state, &email, password).await {
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
