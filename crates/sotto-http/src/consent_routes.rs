//! Handlers for consent, authorizations, eligibility, decisions, inbound SMS and unsubscribe.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use sotto_app::{App, AppError};
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, LinkCtx};
use crate::pages::{sms_reply, unsubscribe_page};

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn record_consent<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.record_consent(&ctx, &id, &body).await?)))
}

pub(crate) async fn consents<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.consents(&ctx, &id).await?))
}

pub(crate) async fn create_authorization<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok((StatusCode::CREATED, Json(app.create_authorization(&ctx, &id, &body).await?)))
}

pub(crate) async fn revoke_authorization<S: Store>(
    State(app): AppState<S>,
    Ctx(ctx): Ctx,
    Path((id, auth_id)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let body = serde_json::json!({"source": q.get("source")});
    Ok(Json(app.revoke_authorization(&ctx, &id, &auth_id, &body).await?))
}

pub(crate) async fn eligibility<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(app.eligibility(&ctx, &id, &q).await?))
}

#[derive(Debug, Deserialize)]
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

/// The provider's webhook fields; providers send more, which are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct InboundSms {
    #[serde(rename = "From")]
    from: String,
    #[serde(rename = "Body", default)]
    body: String,
}

pub(crate) async fn inbound_sms<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, form: Result<Form<InboundSms>, axum::extract::rejection::FormRejection>) -> Result<Response, ApiError> {
    let Form(sms) = form.map_err(|_| ApiError::request(StatusCode::BAD_REQUEST, "malformed_form", "send the provider's form fields From and Body as application/x-www-form-urlencoded"))?;
    let reply = app.inbound_sms(&ctx, &sms.from, &sms.body).await?;
    Ok(sms_reply(reply.text.as_deref()))
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

