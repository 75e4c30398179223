//! Handlers for the transactional send API, message status, the dispatch kill switch and the
//! development mailbox.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use sotto_app::App;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, Path};
use crate::pages::mailbox_page;

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn send<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, headers: HeaderMap, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        Some(Ok(k)) => Some(k),
        Some(Err(_)) => return Err(ApiError::request(StatusCode::UNPROCESSABLE_ENTITY, "invalid_idempotency_key", "the Idempotency-Key header must be printable ASCII")),
        None => None,
    };
    let (view, created) = app.queue_message(&ctx, key, &body).await?;
    Ok((if created { StatusCode::ACCEPTED } else { StatusCode::OK }, Json(view)))
}

pub(crate) async fn message<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.message(&ctx, &id).await?))
}

pub(crate) async fn requeue<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.requeue(&ctx, &id).await?))
}

pub(crate) async fn dispatch_status<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.dispatch_status(&ctx).await?))
}

pub(crate) async fn pause<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    let reason = body.get("reason").and_then(Value::as_str).unwrap_or("paused by an operator");
    Ok(Json(app.set_paused(&ctx, true, reason).await?))
}

pub(crate) async fn resume<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.set_paused(&ctx, false, "").await?))
}

fn no_mailbox() -> ApiError {
    ApiError::request(StatusCode::NOT_FOUND, "not_found", "the development mailbox is only served when the sink provider is in use (sotto demo)")
}

pub(crate) async fn mailbox<S: Store>(State(app): AppState<S>) -> Result<Response, ApiError> {
    let mailbox = app.dev_mailbox().ok_or_else(no_mailbox)?;
    Ok(mailbox_page(&mailbox.list()))
}

pub(crate) async fn mailbox_json<S: Store>(State(app): AppState<S>) -> Result<Response, ApiError> {
    let mailbox = app.dev_mailbox().ok_or_else(no_mailbox)?;
    Ok(Json(json!({"messages": mailbox.list()})).into_response())
}
