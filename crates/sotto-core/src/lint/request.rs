//! One lint request as `sotto lint` and `POST /v1/lint` take it:
//! `{"id"?, "channel": "email"|"sms"|"push", "surface": …, "text"}`.

use serde::Serialize;
use serde_json::Value;

use super::{Finding, Verdict, lint};
use crate::contact::Channel;
use crate::dictionary::Surface;
use crate::error::FieldError;

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
pub struct LintRequest {
    /// The caller's id, echoed back.
    pub id: Value,
    /// Where the text is shown.
    pub surface: Surface,
    /// The text.
    pub text: String,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LintAnswer {
    /// The caller's id (null when none was sent).
    pub id: Value,
    /// Pass, warn or block.
    pub verdict: Verdict,
    /// What was found.
    pub findings: Vec<Finding>,
}

const MAX_TEXT: usize = 65_536;
/// The most requests one call may lint.
pub const MAX_BATCH: usize = 100;
/// The most text, in bytes, one call may ask to lint.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Parses a request object.
pub fn parse_request(value: &Value) -> Result<LintRequest, FieldError> {
    let obj = value.as_object().ok_or_else(|| FieldError::new("wrong_type", "", "each request must be a JSON object"))?;
    if obj.keys().any(|k| !["id", "channel", "surface", "text"].contains(&k.as_str())) {
        return Err(FieldError::new("unknown_field", "", "a lint request has a field it does not take; allowed: id, channel, surface, text"));
    }
    let id = match obj.get("id") {
        None => Value::Null,
        Some(id @ (Value::String(_) | Value::Number(_))) if id.to_string().len() <= 130 => id.clone(),
        Some(_) => return Err(FieldError::new("invalid_id", "id", "id must be a string or number of at most 128 characters")),
    };
    let channel = obj.get("channel").and_then(Value::as_str).ok_or_else(|| FieldError::new("missing_field", "channel", "channel is required: email, sms or push"))?;
    let channel = Channel::parse("channel", channel)?;
    let surface = obj
        .get("surface")
        .and_then(Value::as_str)
        .and_then(Surface::parse)
        .ok_or_else(|| FieldError::new("invalid_surface", "surface", "surface must be email_subject, email_preview, email_body, cta, sms_body, push_title or push_body"))?;
    if !surface.fits(channel) {
        return Err(FieldError::new("invalid_surface", "surface", format!("this surface is not part of the {channel} channel")));
    }
    let text = obj.get("text").and_then(Value::as_str).ok_or_else(|| FieldError::new("missing_field", "text", "text is required and must be a string"))?;
    if text.len() > MAX_TEXT {
        return Err(FieldError::new("value_too_long", "text", "text must be at most 65,536 bytes"));
    }
    Ok(LintRequest { id, surface, text: text.to_owned() })
}

/// Lints a checked request.
pub fn answer(request: &LintRequest) -> LintAnswer {
    let report = lint(&request.text, request.surface);
    LintAnswer { id: request.id.clone(), verdict: report.verdict, findings: report.findings }
}
