//! stub
use crate::AppState;
use crate::faults::FaultKind;
use axum::Router;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Default)]
pub struct GoogleState {}

impl GoogleState {
    pub fn inspect(&self) -> Value {
        json!({})
    }
}

pub fn injected_error(_k: FaultKind, _retry_after: u64) -> Response {
    http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

pub fn router(_app: Arc<AppState>) -> Router {
    Router::new()
}
