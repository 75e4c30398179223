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

const MAX_TEXT: usize = 100_000;

/// Parses a request object.
pub fn parse_request(value: &Value) -> Result<LintRequest, FieldError> {
    let obj = value.as_object().ok_or_else(|| FieldError::new("wrong_type", "", "each request must be a JSON object"))?;
    if let Some(key) = obj.keys().find(|k| !["id", "channel", "surface", "text"].contains(&k.as_str())) {
        return Err(FieldError::new("unknown_field", key.as_str(), format!("{key} is not a field of a lint request; allowed: id, channel, surface, text")));
    }
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
        return Err(FieldError::new("value_too_long", "text", "text must be at most 100,000 bytes"));
    }
    Ok(LintRequest { id: obj.get("id").cloned().unwrap_or(Value::Null), surface, text: text.to_owned() })
}

/// Lints a checked request.
pub fn answer(request: &LintRequest) -> LintAnswer {
    let report = lint(&request.text, request.surface);
    LintAnswer { id: request.id.clone(), verdict: report.verdict, findings: report.findings }
}
