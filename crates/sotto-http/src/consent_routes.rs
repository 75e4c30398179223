//! Handlers for consent, authorizations, eligibility, decisions, inbound SMS and unsubscribe.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use sotto_app::{App, AppError};
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, LinkCtx, Path, Query};
use crate::pages::{sms_reply, unsubscribe_page};

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn record_consent<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.record_consent(&ctx, &id, &body).await?)))
}

pub(crate) async fn consents<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.consents(&ctx, &id).await?))
}

pub(crate) async fn create_authorization_form<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_authorization_form(&ctx, &body).await?)))
}

pub(crate) async fn authorization_form<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(version): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.authorization_form(&ctx, &version).await?))
}

pub(crate) async fn create_authorization<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_authorization(&ctx, &id, &body).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceQuery {
    source: Option<String>,
}

pub(crate) async fn revoke_authorization<S: Store>(
    State(app): AppState<S>,
    Ctx(ctx): Ctx,
    Path((id, auth_id)): Path<(String, String)>,
    Query(q): Query<SourceQuery>,
) -> Result<Json<Value>, ApiError> {
    let body = serde_json::json!({"source": q.source});
    Ok(Json(app.revoke_authorization(&ctx, &id, &auth_id, &body).await?))
}

pub(crate) async fn eligibility<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.eligibility(&ctx, &id, &q).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinceQuery {
    since: Option<String>,
}

pub(crate) async fn decision_summary<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Query(q): Query<SinceQuery>) -> Result<Json<Value>, ApiError> {
    let since = match q.since {
        Some(t) => t.parse().map_err(|_| ApiError::request(StatusCode::BAD_REQUEST, "invalid_query", "since must be an RFC 3339 timestamp"))?,
        None => jiff::Timestamp::UNIX_EPOCH,
    };
    Ok(Json(app.decision_summary(&ctx, since).await?))
}

pub(crate) async fn unsubscribe_link<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.unsubscribe_link(&ctx, &id, &body).await?)))
}

/// The provider's webhook: form fields `From` and `Body` (others are ignored), authenticated
/// by the provider's `X-Twilio-Signature` or by an API key with `inbound:write`.
pub(crate) async fn inbound_sms<S: Store>(State(app): AppState<S>, LinkCtx(mut ctx): LinkCtx, headers: HeaderMap, uri: Uri, body: Bytes) -> Result<Response, ApiError> {
    let malformed = || ApiError::request(StatusCode::BAD_REQUEST, "malformed_form", "send the provider's form fields From and Body as application/x-www-form-urlencoded");
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| malformed())?;
    ctx.principal = match headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()) {
        Some(signature) => {
            let path = uri.path_and_query().map_or("/v1/inbound/sms", |p| p.as_str());
            app.authenticate_sms_webhook(signature, path, &params)?
        }
        None => {
            let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
            app.authenticate(bearer, ctx.now).await?
        }
    };
    let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let from = field("From").ok_or_else(malformed)?;
    let reply = app.inbound_sms(&ctx, from, field("Body").unwrap_or_default()).await?;
    Ok(sms_reply(reply.text.as_deref()))
}

/// A provider's delivery status callback (Twilio's form fields `MessageSid`, `MessageStatus`,
/// `ErrorCode`), signed like the inbound webhook; the numbers it also carries are never read.
pub(crate) async fn sms_status<S: Store>(State(app): AppState<S>, LinkCtx(mut ctx): LinkCtx, headers: HeaderMap, uri: Uri, body: Bytes) -> Result<axum::Json<Value>, ApiError> {
    let malformed = || ApiError::request(StatusCode::BAD_REQUEST, "malformed_form", "send the provider's form fields MessageSid and MessageStatus as application/x-www-form-urlencoded");
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| malformed())?;
    ctx.principal = match headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()) {
        Some(signature) => app.authenticate_sms_webhook(signature, uri.path_and_query().map_or("/v1/providers/twilio/status", |p| p.as_str()), &params)?,
        None => {
            let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
            app.authenticate(bearer, ctx.now).await?
        }
    };
    let field = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let sid = field("MessageSid").filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())).ok_or_else(malformed)?;
    let status = field("MessageStatus").and_then(sotto_app::DeliveryStatus::parse).ok_or_else(malformed)?;
    Ok(axum::Json(app.provider_status(&ctx, "twilio", sid, status, field("ErrorCode")).await?))
}

fn describe(target: &sotto_app::UnsubscribeTarget) -> String {
    let channel = match target.channel {
        sotto_core::contact::Channel::Email => "email",
        sotto_core::contact::Channel::Sms => "text messages",
        sotto_core::contact::Channel::Push => "push notifications",
    };
    match &target.topic {
        Some(topic) => format!("{channel} about {}", topic.replace('_', " ")),
        None => channel.to_owned(),
    }
}

fn link_error(e: AppError) -> Response {
    match e {
        AppError::NotFound(_) => unsubscribe_page(StatusCode::NOT_FOUND, "Link not recognised", "This unsubscribe link is not valid. Use the link in your most recent message.", false),
        other => axum::response::IntoResponse::into_response(ApiError::from(other)),
    }
}

/// GET shows what the link would do and never unsubscribes (mail scanners fetch links).
pub(crate) async fn unsubscribe_get<S: Store>(State(app): AppState<S>, Path(token): Path<String>) -> Response {
    match app.unsubscribe_target(&token) {
        Ok(target) => unsubscribe_page(StatusCode::OK, "Unsubscribe", &format!("Press the button to stop receiving {}.", describe(&target)), true),
        Err(e) => link_error(e),
    }
}

/// POST unsubscribes at once (RFC 8058 one-click): no cookies, no redirect.
pub(crate) async fn unsubscribe_post<S: Store>(State(app): AppState<S>, LinkCtx(ctx): LinkCtx, Path(token): Path<String>) -> Response {
    match app.unsubscribe(&ctx, &token).await {
        Ok(target) => unsubscribe_page(StatusCode::OK, "You are unsubscribed", &format!("You will no longer receive {}.", describe(&target)), false),
        Err(e) => link_error(e),
    }
}

