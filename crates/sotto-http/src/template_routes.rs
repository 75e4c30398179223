//! Handlers for templates, their versions, review and preview.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use sotto_app::App;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, Path, malformed_json};

type AppState<S> = State<Arc<App<S>>>;

/// A body that may be left out (`{}` then); when present it must be JSON.
fn optional_json(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| malformed_json(&e))
}

pub(crate) async fn list<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.templates(&ctx).await?))
}

pub(crate) async fn create<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_template(&ctx, &body).await?)))
}

pub(crate) async fn get_one<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.template(&ctx, &id).await?))
}

pub(crate) async fn edit<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.edit_template(&ctx, &id, &body).await?)))
}

pub(crate) async fn step<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path((id, version, step)): Path<(String, String, String)>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let version: i64 = version.parse().map_err(|_| ApiError::request(StatusCode::NOT_FOUND, "not_found", "template version not found: versions are numbered 1, 2, …"))?;
    let body = optional_json(&body)?;
    if step == "preview" {
        return Ok(Json(app.preview_template(&ctx, &id, version, &body).await?));
    }
    Ok(Json(app.review_template(&ctx, &id, version, &step, &body).await?))
}
