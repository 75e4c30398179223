//! Handlers: each parses, calls one use case and maps the result.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use sotto_app::{App, ItemResult, ViewKind};
use sotto_core::ingest::CallType;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, JsonBody, Path, Query};

type AppState<S> = State<Arc<App<S>>>;

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn readyz<S: Store>(State(app): AppState<S>) -> Response {
    match app.store().ping().await {
        Ok(()) => Json(json!({"status": "ready", "tasks": {"ingestion_writer": {"restarts": app.writer_restarts()}}})).into_response(),
        Err(e) => {
            tracing::warn!(unavailable = e.is_unavailable(), "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "error": {"code": "storage_unavailable", "message": "the database is unavailable"}}))).into_response()
        }
    }
}

fn single(result: ItemResult) -> Json<Value> {
    let mut answer = json!({"status": "accepted", "messageId": result.message_id, "duplicate": result.duplicate});
    if !result.dropped.is_empty() {
        answer["dropped"] = json!(result.dropped);
    }
    Json(answer)
}

pub(crate) async fn identify<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    Ok(single(app.ingest_one(&ctx, CallType::Identify, &body).await?))
}

pub(crate) async fn track<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    Ok(single(app.ingest_one(&ctx, CallType::Track, &body).await?))
}

/// A batch answers 200 when every item was accepted. When any was refused it answers 422,
/// so that a client library (which reads a 2xx as success) reports the refusal; the accepted
/// items are stored all the same, and the body says which is which (`results`), with
/// `code` and `message` at the top where Segment's libraries look for them.
pub(crate) async fn batch<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    let results = app.ingest_batch(&ctx, &body).await?;
    let refused = results.iter().filter(|r| r.status == sotto_app::ItemStatus::Rejected).count();
    if refused == 0 {
        return Ok((StatusCode::OK, Json(json!({"results": results}))));
    }
    let message = format!("{refused} of {} calls were refused and not stored; the others were stored (see results)", results.len());
    let answer = json!({"code": "calls_refused", "message": message, "error": {"code": "calls_refused", "message": message}, "results": results});
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(answer)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ViewQuery {
    view: Option<String>,
}

pub(crate) async fn patient<S: Store>(
    State(app): AppState<S>,
    Ctx(ctx): Ctx,
    Path(external_id): Path<String>,
    Query(query): Query<ViewQuery>,
) -> Result<Json<Value>, ApiError> {
    let kind = match query.view.as_deref() {
        None | Some("masked") => ViewKind::Masked,
        Some("full") => ViewKind::Full,
        Some(_) => return Err(ApiError::request(StatusCode::BAD_REQUEST, "invalid_query", "view must be masked or full")),
    };
    let view = app.patient(&ctx, &external_id, kind).await?;
    Ok(Json(serde_json::to_value(view).unwrap_or_default()))
}

pub(crate) async fn lookup<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    let ids = app.lookup(&ctx, &body).await?;
    Ok(Json(json!({"external_ids": ids})))
}

pub(crate) async fn dictionary<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    let fields = app.dictionary(&ctx).await?;
    Ok(Json(json!({"fields": fields})))
}

pub(crate) async fn declare_field<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<(StatusCode, Json<Value>), ApiError> {
    let spec = app.declare_field(&ctx, &body).await?;
    Ok((StatusCode::CREATED, Json(serde_json::to_value(spec).unwrap_or_default())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    after: Option<i64>,
    limit: Option<i64>,
    until: Option<i64>,
}

/// The audit trail: pass `until` from the first answer to page to the head as it was then.
pub(crate) async fn audit<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Query(q): Query<AuditQuery>) -> Result<Json<Value>, ApiError> {
    let page = app.audit_entries(&ctx, q.after.unwrap_or(0), q.limit.unwrap_or(100), q.until).await?;
    Ok(Json(json!({"entries": page.entries, "next_after": page.next_after, "until": page.until})))
}

pub(crate) async fn keys<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"keys": app.list_keys(&ctx).await?})))
}

pub(crate) async fn revoke_key<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    app.revoke_key(&ctx, &id).await?;
    Ok(Json(json!({"id": id, "state": "revoked"})))
}

/// Lints one request object or a list of them, bounded in count and bytes, on the blocking
/// pool so health checks and ingestion stay responsive while it runs.
pub(crate) async fn lint<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, JsonBody(body): JsonBody) -> Result<Json<Value>, ApiError> {
    use sotto_core::lint::{MAX_BATCH, MAX_BATCH_BYTES, answer, parse_request};
    app.require(&ctx, sotto_core::scope::Scope::ContentLint, "lint").await?;
    let (items, many) = match body {
        Value::Array(items) => (items, true),
        other => (vec![other], false),
    };
    let text_bytes: usize = items.iter().filter_map(|i| i.get("text").and_then(Value::as_str)).map(str::len).sum();
    if items.len() > MAX_BATCH || text_bytes > MAX_BATCH_BYTES {
        return Err(ApiError::request(
            StatusCode::PAYLOAD_TOO_LARGE,
            "lint_request_too_large",
            format!("one call may lint at most {MAX_BATCH} texts and {MAX_BATCH_BYTES} bytes of text; split the work into several calls"),
        ));
    }
    let mut requests = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match parse_request(item) {
            Ok(r) => requests.push(r),
            Err(e) => errors.push(if many { e.within(&format!("[{i}]")) } else { e }),
        }
    }
    if !errors.is_empty() {
        return Err(sotto_app::AppError::Invalid(errors).into());
    }
    // As many lint calls run at once as there are cores; the rest wait their turn here.
    let _turn = lint_turns().acquire().await.map_err(|_| sotto_app::AppError::Internal("lint queue closed"))?;
    let answers = tokio::task::spawn_blocking(move || requests.iter().map(answer).collect::<Vec<_>>())
        .await
        .map_err(|_| sotto_app::AppError::Internal("lint failed"))?;
    if many {
        return Ok(Json(json!({"results": answers})));
    }
    Ok(Json(answers.into_iter().next().map(|a| serde_json::to_value(a).unwrap_or_default()).unwrap_or_default()))
}

fn lint_turns() -> &'static tokio::sync::Semaphore {
    static TURNS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    TURNS.get_or_init(|| tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::request(StatusCode::NOT_FOUND, "not_found", "no such route; see the README for the API")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::request(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
}
