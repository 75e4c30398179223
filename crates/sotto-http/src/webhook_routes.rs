//! Handlers for webhook subscriptions and their deliveries.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use sotto_app::App;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, Path};

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn create<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_webhook(&ctx, &body).await?)))
}

pub(crate) async fn list<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.webhooks(&ctx).await?))
}

pub(crate) async fn disable<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.disable_webhook(&ctx, &id).await?))
}

pub(crate) async fn deliveries<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.webhook_deliveries(&ctx, &id).await?))
}
