//! Extractors: the caller's [`RequestCtx`] from the key (Bearer, or Basic as Segment's
//! libraries send it), and JSON bodies parsed into
//! `serde_json::Value` with errors that never quote the body.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde_json::Value;

use sotto_app::{App, RequestCtx};
use sotto_store::Store;

use crate::error::ApiError;
use crate::request_id::RequestId;

/// The authenticated caller of this request.
#[derive(Debug)]
pub struct Ctx(pub RequestCtx);

impl<S: Store> FromRequestParts<Arc<App<S>>> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App<S>>) -> Result<Self, Self::Rejection> {
        let now = jiff::Timestamp::now();
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let source_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        if let Some(crate::oauth_routes::SignedPrincipal(principal)) = parts.extensions.get::<crate::oauth_routes::SignedPrincipal>() {
            return Ok(Ctx(RequestCtx { principal: principal.clone(), request_id, source_ip, now }));
        }
        // The scheme is case-insensitive (RFC 9110 section 11.1). Segment's libraries send the
        // key as HTTP Basic's user with an empty password.
        let credentials = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.trim_start().split_once(' '));
        let key = match credentials {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim().to_owned()),
            Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .and_then(|user_pass| user_pass.split_once(':').filter(|(_, password)| password.is_empty()).map(|(user, _)| user.to_owned()))
            }
            _ => None,
        };
        let principal = app.authenticate(key.as_deref(), now).await?;
        Ok(Ctx(RequestCtx { principal, request_id, source_ip, now }))
    }
}

/// A request context for a caller without an API key (a patient following a link): the
/// actor names the link, and the principal holds no scope.
#[derive(Debug)]
pub struct LinkCtx(pub RequestCtx);

impl<S: Send + Sync> FromRequestParts<S> for LinkCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let source_ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let principal = sotto_app::Principal { actor: "link:unsubscribe".into(), scopes: Vec::new() };
        Ok(LinkCtx(RequestCtx { principal, request_id, source_ip, now: jiff::Timestamp::now() }))
    }
}

/// A JSON request body as a value; typed parsing happens in the core with field paths.
#[derive(Debug)]
pub struct JsonBody(pub Value);

/// The answer to a body that is not JSON, naming where it stops being JSON.
pub(crate) fn malformed_json(e: &serde_json::Error) -> ApiError {
    ApiError::request(StatusCode::BAD_REQUEST, "malformed_json", format!("the body is not valid JSON (line {}, column {})", e.line(), e.column()))
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        if !is_json {
            return Err(ApiError::request(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::request(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is larger than the server accepts; split it into smaller batches")
            } else {
                ApiError::request(StatusCode::BAD_REQUEST, "unreadable_body", "the request body could not be read")
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| malformed_json(&e))
    }
}

/// A JSON body that may be left out: no body at all reads as `null`.
#[derive(Debug)]
pub struct OptionalJsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for OptionalJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req.headers().get(header::CONTENT_TYPE).is_none() && req.headers().get(header::CONTENT_LENGTH).is_none_or(|v| v.as_bytes() == b"0");
        if empty {
            return Ok(OptionalJsonBody(Value::Null));
        }
        JsonBody::from_request(req, state).await.map(|JsonBody(v)| OptionalJsonBody(v))
    }
}

/// Path parameters; a path that does not fit answers 400 `invalid_path` without echoing it.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| ApiError::request(StatusCode::BAD_REQUEST, "invalid_path", "the path is not valid for this route"))
    }
}

/// Query parameters into a type that refuses unknown ones; a query that does not fit
/// answers 400 `invalid_query` without echoing it.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|_| ApiError::request(StatusCode::BAD_REQUEST, "invalid_query", "the query string has a parameter this route does not take, or a value of the wrong type"))
    }
}
