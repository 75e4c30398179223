//! HL7 v2 over HTTP: the message as the body, its acknowledgement as the answer (200 for AA,
//! 422 for AE and AR, with the NAK's MSA and ERR saying why).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use sotto_app::App;
use sotto_core::hl7::AckCode;
use sotto_store::Store;

use crate::error::ApiError;
use crate::extract::Ctx;

pub(crate) async fn message<S: Store>(State(app): State<Arc<App<S>>>, Ctx(ctx): Ctx, body: Bytes) -> Result<Response, ApiError> {
    let text = String::from_utf8_lossy(&body);
    let answer = app.ingest_hl7(&ctx, &text).await?;
    let status = if answer.code == AckCode::Accept { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, [(header::CONTENT_TYPE, "x-application/hl7-v2+er7; charset=utf-8")], answer.ack).into_response())
}
