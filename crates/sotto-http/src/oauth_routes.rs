//! API clients at the edge: the OAuth 2.0 token endpoint (client credentials, RFC 6749
//! section 4.4, client authentication by HTTP Basic or form fields) and the check of signed
//! requests (`Authorization: Sotto-HMAC-SHA256 client_id=…, timestamp=…, signature=…`), which
//! reads the body once to check its digest and hands the request on unchanged.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use sotto_app::{App, Principal, TokenError};
use sotto_store::Store;

use crate::error::ApiError;

/// The scheme of a signed request's `Authorization` header.
pub const SIGNED_SCHEME: &str = "Sotto-HMAC-SHA256";

/// A principal already proven by a signed request, for the `Ctx` extractor.
#[derive(Debug, Clone)]
pub(crate) struct SignedPrincipal(pub Principal);

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let decode = |s: &str| form_urlencoded_decode(s);
    Some((decode(id), decode(secret)))
}

fn form_urlencoded_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}")).ok().and_then(|v| v.into_iter().next()).map_or_else(|| s.to_owned(), |(_, v)| v)
}

fn token_error(error: TokenError, basic: bool) -> Response {
    let status = if error == TokenError::InvalidClient { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    let mut response = (status, axum::Json(json!({"error": error.code()}))).into_response();
    if error == TokenError::InvalidClient && basic {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"sotto\""));
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /oauth/token` with `grant_type=client_credentials` and an optional `scope`.
pub(crate) async fn token<S: Store>(State(app): State<Arc<App<S>>>, headers: HeaderMap, body: Bytes) -> Response {
    let form_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let basic = basic_credentials(&headers);
    if !form_type {
        return token_error(TokenError::InvalidRequest, basic.is_some());
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let one = |name: &str| {
        let mut values = fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() { Err(()) } else { Ok(first) }
    };
    let (Ok(grant), Ok(scope), Ok(form_id), Ok(form_secret)) = (one("grant_type"), one("scope"), one("client_id"), one("client_secret")) else {
        return token_error(TokenError::InvalidRequest, basic.is_some());
    };
    let (id, secret) = match (&basic, form_id, form_secret) {
        (Some((id, secret)), None, None) => (id.clone(), secret.clone()),
        (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
        _ => return token_error(if basic.is_some() { TokenError::InvalidRequest } else { TokenError::InvalidClient }, basic.is_some()),
    };
    match app.oauth_token(grant, &id, &secret, scope, jiff::Timestamp::now()).await {
        Ok(grant) => {
            let mut response = axum::Json(json!({"access_token": grant.access_token, "token_type": "Bearer", "expires_in": grant.expires_in, "scope": grant.scope})).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => token_error(e, basic.is_some()),
    }
}

/// The parameters of a signed request's header.
fn signed_parameters(value: &str) -> Option<(String, i64, String)> {
    let rest = value.trim().strip_prefix(SIGNED_SCHEME)?.trim();
    let (mut id, mut timestamp, mut signature) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("client_id", v)) => id = Some(v.trim().to_owned()),
            Some(("timestamp", v)) => timestamp = v.trim().parse::<i64>().ok(),
            Some(("signature", v)) => signature = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    Some((id?, timestamp?, signature?))
}

/// Checks a signed request before its handler: the body (within the limit) is read once, its
/// signature checked, and the request passed on with the same body and the proven principal.
pub(crate) async fn signed<S: Store>(State((app, limit)): State<(Arc<App<S>>, usize)>, request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).filter(|v| v.trim_start().starts_with(SIGNED_SCHEME)).map(str::to_owned) else {
        return next.run(request).await;
    };
    let Some((client, timestamp, signature)) = signed_parameters(&value) else {
        return ApiError::request(StatusCode::UNAUTHORIZED, "invalid_signature", "a signed request's Authorization header is Sotto-HMAC-SHA256 client_id=…, timestamp=…, signature=…").into_response();
    };
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError::request(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is larger than the server accepts").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let signed = sotto_crypto::totp::SignedRequest { method: parts.method.as_str(), path_and_query: &path, timestamp, body: &bytes };
    match app.authenticate_signed(&client, &signature, &signed, jiff::Timestamp::now()).await {
        Ok(principal) => {
            parts.extensions.insert(SignedPrincipal(principal));
            next.run(Request::from_parts(parts, Body::from(bytes))).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
