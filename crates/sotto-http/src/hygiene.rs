//! Response hygiene for every route: errors in the JSON error shape with a stable code even
//! when a framework layer (body limit, timeout, a refused method) answered, over-long URIs
//! refused, and headers that keep browsers and caches from mishandling answers: no MIME
//! sniffing, no framing, no storing (answers may carry PHI), no referrer.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The longest request target accepted (hyper itself refuses targets over 64 KB).
const MAX_URI: usize = 8 * 1024;

/// Answers load nothing and are never framed.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
/// Pages may use their own inline styles and post to Sotto only; no script runs.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The code and message for an error status whose body a framework layer wrote.
fn code_for(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request could not be read; check its syntax"),
        StatusCode::UNAUTHORIZED => ("missing_api_key", "send a valid API key as Authorization: Bearer <key>"),
        StatusCode::NOT_FOUND => ("not_found", "no such route; see the README for the API"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not take that method"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long; retry, or send less at once"),
        StatusCode::PAYLOAD_TOO_LARGE => ("body_too_large", "the request body is larger than the server accepts; split it into smaller requests"),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "the request URI is too long; send data in the body"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "send the body with the content type this route takes"),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_request", "the request was refused"),
        StatusCode::TOO_MANY_REQUESTS => ("too_many_requests", "too many requests; slow down and retry"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "the service is unavailable; retry later"),
        s if s.is_server_error() => ("internal_error", "an internal error occurred; it has been logged"),
        _ => ("invalid_request", "the request was refused"),
    }
}

/// Whether a response body is already one of Sotto's own shapes (JSON, a page, an SMS reply,
/// an HL7 acknowledgement, a FHIR OperationOutcome).
fn is_own_shape(response: &Response) -> bool {
    response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("application/json") || t.starts_with("application/fhir+json") || t.starts_with("x-application/hl7-v2+er7") || t.starts_with("text/html") || t.starts_with("text/xml") || t.starts_with("application/xml")
    })
}

/// The middleware.
pub(crate) async fn harden(request: Request, next: Next) -> Response {
    let target_len = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let mut response = if target_len > MAX_URI {
        let (code, message) = code_for(StatusCode::URI_TOO_LONG);
        ApiError::request(StatusCode::URI_TOO_LONG, code, message).into_response()
    } else {
        next.run(request).await
    };
    let status = response.status();
    if (status.is_client_error() || status.is_server_error()) && !is_own_shape(&response) {
        let (code, message) = code_for(status);
        let mut replaced = ApiError::request(status, code, message).into_response();
        for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
            if let Some(v) = response.headers().get(&name) {
                replaced.headers_mut().insert(name, v.clone());
            }
        }
        response = replaced;
    }
    let is_page = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"));
    let policy = if is_page { PAGE_POLICY } else { API_POLICY };
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(policy));
    response
}
