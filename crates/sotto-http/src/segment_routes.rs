//! Handlers for the code vault and segments.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use sotto_app::App;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, Path, Query};

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn put_code<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.put_code(&ctx, &body).await?)))
}

pub(crate) async fn code<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(code): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.code_meaning(&ctx, &code).await?))
}

pub(crate) async fn create_segment<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_segment(&ctx, &body).await?)))
}

pub(crate) async fn preview<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.segment_preview(&ctx, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CursorQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn members<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, Query(q): Query<CursorQuery>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.segment_members(&ctx, &id, q.cursor.as_deref(), q.limit).await?))
}
