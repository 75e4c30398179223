//! `/metrics` in Prometheus's text format (scope `metrics:read`), and the middleware that
//! counts every answered request by route template, method and status.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use sotto_app::App;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::Ctx;

pub(crate) async fn metrics<S: Store>(State(app): State<Arc<App<S>>>, Ctx(ctx): Ctx) -> Result<Response, ApiError> {
    let text = app.metrics_text(&ctx).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

/// Counts a request under its route template, never its raw path (which can carry ids).
pub(crate) async fn record<S: Store>(State(app): State<Arc<App<S>>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    // A client may send any method name: only the standard ones become labels.
    let method = request.method();
    let method = if [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD, Method::OPTIONS].contains(method) { method.as_str() } else { "other" }.to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    app.metrics().request(&route, &method, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
