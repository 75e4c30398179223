//! Handlers for the transactional send API, message status, secure messages, the dispatch kill switch and the
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

/// Stores a secure message for a patient and queues its nudge (201 with its status).
pub(crate) async fn create_secure_message<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(external_id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_secure_message(&ctx, &external_id, &body).await?)))
}

/// A secure message's status, never its content.
pub(crate) async fn secure_message<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.secure_message_status(&ctx, &id).await?))
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

/// A bounce (RFC 3464) or complaint (ARF) posted as the raw message, as a relay or a mailbox
/// script forwards it.
pub(crate) async fn email_report<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let Some(report) = sotto_core::email_report::parse_report(&body) else {
        return Err(ApiError::request(StatusCode::UNPROCESSABLE_ENTITY, "not_a_report", "the body is not a delivery status notification (RFC 3464) or an abuse report (RFC 5965) about a message Sotto sent"));
    };
    Ok(Json(app.email_report(&ctx, report.kind, &report.message_id, &report.status).await?))
}

fn no_mailbox() -> ApiError {
    ApiError::request(StatusCode::NOT_FOUND, "not_found", "the development mailbox is only served to this machine when the sink provider is in use (sotto demo)")
}

/// What the sink kept, for a client on this machine only; every read is audited.
async fn kept<S: Store>(app: &App<S>, peer: Option<std::net::IpAddr>) -> Result<Vec<sotto_app::deliver::MailboxEntry>, ApiError> {
    if !peer.is_some_and(|ip| ip.is_loopback()) {
        return Err(no_mailbox());
    }
    app.read_dev_mailbox(jiff::Timestamp::now()).await?.ok_or_else(no_mailbox)
}

fn peer(request: &axum::extract::Request) -> Option<std::net::IpAddr> {
    request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

pub(crate) async fn mailbox<S: Store>(State(app): AppState<S>, request: axum::extract::Request) -> Result<Response, ApiError> {
    let peer = peer(&request);
    Ok(mailbox_page(&kept(&app, peer).await?))
}

pub(crate) async fn mailbox_json<S: Store>(State(app): AppState<S>, request: axum::extract::Request) -> Result<Response, ApiError> {
    let peer = peer(&request);
    Ok(Json(json!({"messages": kept(&app, peer).await?})).into_response())
}
