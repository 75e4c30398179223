//! FHIR R4 over HTTP: `application/fhir+json` in and out, OperationOutcome for every refusal
//! (a body that is not JSON included).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use sotto_app::App;
use sotto_app::fhir::FhirAnswer;
use sotto_core::fhir::{Issue, outcome};
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::{Ctx, Path};

type AppState<S> = State<Arc<App<S>>>;

fn answer(a: FhirAnswer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let mut response = (status, a.body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json; charset=utf-8"));
    if let Some(location) = a.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

type Body = Result<Bytes, BytesRejection>;

/// The body as JSON, or the OperationOutcome that says why not (too large, or not JSON).
fn json_body(body: &Body) -> Result<Value, FhirAnswer> {
    let refuse = |status: u16, code: &'static str, why: &str| FhirAnswer { status, body: outcome(&[Issue::error(code, "", why)]), location: None };
    match body {
        Ok(bytes) => serde_json::from_slice(bytes).map_err(|_| refuse(400, "structure", "the body must be a FHIR resource in JSON")),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(refuse(413, "too-costly", "the body is larger than this server takes; send fewer entries per Bundle")),
        Err(_) => Err(refuse(400, "structure", "the body could not be read")),
    }
}

pub(crate) async fn create_patient<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, body: Body) -> Result<Response, ApiError> {
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(refusal) => return Ok(answer(refusal)),
    };
    Ok(answer(app.fhir_resource(&ctx, "Patient", None, &body).await?))
}

pub(crate) async fn consent<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, body: Body) -> Result<Response, ApiError> {
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(refusal) => return Ok(answer(refusal)),
    };
    Ok(answer(app.fhir_resource(&ctx, "Consent", None, &body).await?))
}

pub(crate) async fn create_appointment<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, body: Body) -> Result<Response, ApiError> {
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(refusal) => return Ok(answer(refusal)),
    };
    Ok(answer(app.fhir_resource(&ctx, "Appointment", None, &body).await?))
}

pub(crate) async fn update_appointment<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, Path(id): Path<String>, body: Body) -> Result<Response, ApiError> {
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(refusal) => return Ok(answer(refusal)),
    };
    Ok(answer(app.fhir_resource(&ctx, "Appointment", Some(&id), &body).await?))
}

pub(crate) async fn bundle<S: Store>(State(app): AppState<S>, Ctx(ctx): Ctx, body: Body) -> Result<Response, ApiError> {
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(refusal) => return Ok(answer(refusal)),
    };
    Ok(answer(app.fhir_bundle(&ctx, &body).await?))
}
