//! The one mapping from failures to HTTP: 4xx answers carry a stable code and field errors,
//! 5xx answers are opaque and their cause is logged once. No body ever echoes a refused value.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use sotto_app::AppError;
use sotto_core::FieldError;

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    /// A use case failed.
    App(AppError),
    /// The request itself was unusable before any use case ran.
    Request {
        /// HTTP status.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError::App(e)
    }
}

impl ApiError {
    /// A request-level error.
    pub fn request(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Request { status, code, message: message.into() }
    }
}

fn body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn field_errors(errors: &[FieldError]) -> Value {
    let first = errors.first();
    json!({"error": {
        "code": first.map_or("invalid_request", |e| e.code),
        "message": first.map_or("the request was refused", |e| e.message.as_str()),
        "field": first.map(|e| e.field.as_str()),
        "errors": errors,
    }})
}

fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let app = match self {
            ApiError::Request { status, code, message } => return (status, Json(body(code, &message))).into_response(),
            ApiError::App(app) => app,
        };
        let (status, value) = match &app {
            AppError::Unauthenticated { code, message } => {
                let mut response = (StatusCode::UNAUTHORIZED, Json(body(code, message))).into_response();
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            AppError::Forbidden(scope) => (StatusCode::FORBIDDEN, json!({"error": {"code": "insufficient_scope", "message": app.to_string(), "scope": scope}})),
            AppError::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, field_errors(errors)),
            AppError::IncompleteAuthorization(missing) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": {"code": "incomplete_authorization", "message": "a HIPAA marketing authorization needs every core element and required statement (45 CFR 164.508(c)); add the missing ones", "missing": missing}}),
            ),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, body("not_found", &app.to_string())),
            AppError::RateLimited(seconds) => {
                let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body("rate_limited", &app.to_string()))).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
                return response;
            }
            AppError::Conflict { code, message } => (StatusCode::CONFLICT, body(code, message)),
            AppError::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %chain(e), "storage unavailable");
                let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body("storage_unavailable", "the database is unavailable; retry later"))).into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return response;
            }
            AppError::Store(_) | AppError::Crypto | AppError::Internal(_) | AppError::Checkpoint(_) => {
                tracing::error!(error = %chain(&app), "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, body("internal_error", "an internal error occurred; it has been logged"))
            }
        };
        (status, Json(value)).into_response()
    }
}
