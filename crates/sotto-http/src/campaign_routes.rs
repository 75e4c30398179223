//! Handlers for campaigns: drafts, the checklist, preflight, approval, launch, pause,
//! resume, cancel, progress and its server-sent-events stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::Value;

use sotto_app::App;
use sotto_store::{CampaignControl, Store};

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, Path};

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn create<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_campaign(&ctx, &body).await?)))
}

pub(crate) async fn list<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.list_campaigns(&ctx).await?))
}

pub(crate) async fn get_one<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.get_campaign(&ctx, &id).await?))
}

pub(crate) async fn edit<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.edit_campaign(&ctx, &id, &body).await?))
}

pub(crate) async fn delete<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    app.delete_campaign(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn checklist<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.campaign_checklist(&ctx, &id).await?))
}

pub(crate) async fn preflight<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.campaign_preflight(&ctx, &id).await?))
}

pub(crate) async fn report<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.campaign_report(&ctx, &id).await?))
}

pub(crate) async fn template_report<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.template_report(&ctx, &id).await?))
}

pub(crate) async fn test_send<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.campaign_test_send(&ctx, &id, &body).await?))
}

/// A tracked link: the click is recorded once per message, then the patient goes on.
pub(crate) async fn follow<S: Store>(State(app): AppState<S>, request_id: Option<axum::Extension<crate::request_id::RequestId>>, Path(token): Path<String>) -> Result<axum::response::Redirect, ApiError> {
    let request_id = request_id.map(|r| r.0.0.clone()).unwrap_or_default();
    let target = app.follow_link(&token, jiff::Timestamp::now(), &request_id).await?;
    Ok(axum::response::Redirect::to(&target))
}

pub(crate) async fn progress<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.campaign_progress(&ctx, &id).await?))
}

/// The progress counters as server-sent events (`event: progress`), once a second until every
/// message has ended, the campaign stops (paused, cancelled) or an hour has passed (the key
/// is checked again when the client reconnects); the first comes at once.
pub(crate) async fn progress_stream<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let first = app.campaign_progress(&ctx, &id).await?;
    let until = tokio::time::Instant::now() + Duration::from_secs(3_600);
    let stream = futures_util::stream::unfold((app, ctx, id, Some(first), false), move |(app, ctx, id, ready, ended)| async move {
        if ended || tokio::time::Instant::now() > until {
            return None;
        }
        let value = match ready {
            Some(v) => v,
            None => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                app.campaign_progress(&ctx, &id).await.ok()?
            }
        };
        let finished = value["finished"] == Value::Bool(true) || matches!(value["state"].as_str(), Some("paused" | "cancelled"));
        let event = Event::default().event("progress").data(value.to_string());
        Some((Ok(event), (app, ctx, id, None, finished)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `approve`, `launch`, `pause`, `resume`, `cancel` or `resend`.
pub(crate) async fn step<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path((id, step)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let answer = match step.as_str() {
        "approve" => app.approve_campaign(&ctx, &id).await?,
        "launch" => app.launch_campaign(&ctx, &id).await?,
        "pause" => app.control_campaign(&ctx, &id, CampaignControl::Pause).await?,
        "resume" => app.control_campaign(&ctx, &id, CampaignControl::Resume).await?,
        "cancel" => app.control_campaign(&ctx, &id, CampaignControl::Cancel).await?,
        "resend" => app.control_campaign(&ctx, &id, CampaignControl::Resend).await?,
        _ => return Err(sotto_app::AppError::NotFound("route").into()),
    };
    Ok(Json(answer))
}
