//! Handlers for journeys: versions, approval (moving running runs when asked), review,
//! pause, resume and archive, run counts, a dry run
//! for one patient, one appointment's timeline, and the development clock.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use sotto_app::App;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, OptionalJsonBody, Path};

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn create<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.write_journey(&ctx, None, &body).await?)))
}

pub(crate) async fn new_version<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.write_journey(&ctx, Some(&id), &body).await?)))
}

pub(crate) async fn list<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.list_journeys(&ctx).await?))
}

pub(crate) async fn get_one<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.get_journey(&ctx, &id).await?))
}

pub(crate) async fn approve<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path((id, version)): Path<(String, i64)>, OptionalJsonBody(body): OptionalJsonBody) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.approve_journey(&ctx, &id, version, &body).await?))
}

pub(crate) async fn submit<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path((id, version)): Path<(String, i64)>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.submit_journey(&ctx, &id, version).await?))
}

pub(crate) async fn archive<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.archive_journey(&ctx, &id).await?))
}

pub(crate) async fn review<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.review_journey(&ctx, &id).await?))
}

pub(crate) async fn pause<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.control_journey(&ctx, &id, true).await?))
}

pub(crate) async fn resume<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.control_journey(&ctx, &id, false).await?))
}

pub(crate) async fn runs<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.journey_runs(&ctx, &id).await?))
}

pub(crate) async fn simulate<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.simulate_journey(&ctx, &id, &body).await?))
}

pub(crate) async fn timeline<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.journey_timeline(&ctx, &body).await?))
}

/// `POST /dev/clock {"advance": "48h"}`: development only.
pub(crate) async fn advance_clock<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    let by = body.get("advance").and_then(Value::as_str).unwrap_or_default();
    let now = app.advance_clock(&ctx, by).await?;
    Ok(Json(serde_json::json!({ "now": now.to_string() })))
}
