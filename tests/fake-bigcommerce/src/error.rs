//! Error answers in BigCommerce's shape: `{status, title, type, errors?}`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

const ERROR_TYPE: &str = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub title: String,
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(status: u16, title: impl Into<String>) -> Self {
        ApiError {
            status,
            title: title.into(),
            errors: BTreeMap::new(),
        }
    }
    pub fn not_found() -> Self {
        Self::new(404, "The requested resource was not found.")
    }
    pub fn unprocessable(title: impl Into<String>) -> Self {
        Self::new(422, title)
    }
    pub fn bad_request(title: impl Into<String>) -> Self {
        Self::new(400, title)
    }
    pub fn internal(title: impl Into<String>) -> Self {
        Self::new(500, title)
    }
    pub fn with_error(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.insert(field.into(), message.into());
        self
    }
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({"status": self.status, "title": self.title, "type": ERROR_TYPE});
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

/// v2 errors are a bare array: `[{"status": 404, "message": "..."}]`.
pub fn v2_error(error: ApiError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!([{"status": error.status, "message": error.title}])),
    )
        .into_response()
}
