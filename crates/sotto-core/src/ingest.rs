//! Parsing of Segment-style `identify`, `track` and `batch` calls into checked, typed calls.
//! Parsing goes through the firewall, so a call that parses is a call that may be stored.

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::firewall::{Firewall, ProfileChanges};
use crate::ids::{ExternalId, MessageId};

/// The most items one `batch` call may carry.
pub const MAX_BATCH: usize = 1000;

/// Which call an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallType {
    /// `identify`: sets traits on a profile.
    Identify,
    /// `track`: records an event.
    Track,
}

impl CallType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Identify => "identify",
            CallType::Track => "track",
        }
    }
}

/// A checked `identify` call.
#[derive(Debug, Clone)]
pub struct IdentifyCall {
    /// The patient.
    pub external_id: ExternalId,
    /// The client's idempotency key, if it sent one.
    pub message_id: Option<MessageId>,
    /// When the client says the change happened.
    pub timestamp: Option<Timestamp>,
    /// The checked changes to the profile.
    pub changes: ProfileChanges,
}

/// A checked `track` call.
#[derive(Debug, Clone)]
pub struct TrackCall {
    /// The patient.
    pub external_id: ExternalId,
    /// The client's idempotency key, if it sent one.
    pub message_id: Option<MessageId>,
    /// When the event happened, if the client said.
    pub timestamp: Option<Timestamp>,
    /// The declared event name.
    pub event: String,
    /// The checked properties.
    pub properties: Map<String, Value>,
}

/// A checked call of either kind.
#[derive(Debug, Clone)]
pub enum IngestCall {
    /// An identify call.
    Identify(IdentifyCall),
    /// A track call.
    Track(TrackCall),
}

impl IngestCall {
    /// The call's type.
    pub fn call_type(&self) -> CallType {
        match self {
            IngestCall::Identify(_) => CallType::Identify,
            IngestCall::Track(_) => CallType::Track,
        }
    }

    /// The patient the call is about.
    pub fn external_id(&self) -> &ExternalId {
        match self {
            IngestCall::Identify(c) => &c.external_id,
            IngestCall::Track(c) => &c.external_id,
        }
    }
}

/// Parses one call. `expected` is the endpoint's type; `None` (inside a batch) requires `type`.
pub fn parse_call(firewall: &Firewall<'_>, value: &Value, expected: Option<CallType>) -> Result<IngestCall, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new("wrong_type", "", "each call must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let call_type = match (obj.get("type"), expected) {
        (None, Some(t)) => Some(t),
        (Some(Value::String(s)), e) if s == "identify" && e != Some(CallType::Track) => Some(CallType::Identify),
        (Some(Value::String(s)), e) if s == "track" && e != Some(CallType::Identify) => Some(CallType::Track),
        _ => {
            let allowed = expected.map_or("identify or track", CallType::as_str);
            errors.push(FieldError::new("invalid_type", "type", format!("type must be {allowed}")));
            None
        }
    };
    let allowed: &[&str] = match call_type {
        Some(CallType::Identify) => &["type", "userId", "traits", "messageId", "timestamp"],
        Some(CallType::Track) => &["type", "userId", "event", "properties", "messageId", "timestamp"],
        None => &[],
    };
    if call_type.is_some() {
        errors.extend(crate::error::refuse_unknown(obj, allowed, "", "this call"));
    }
    let external_id = match obj.get("userId") {
        Some(Value::String(s)) => ExternalId::parse("userId", s).map_err(|e| errors.push(e)).ok(),
        Some(_) => {
            errors.push(FieldError::new("wrong_type", "userId", "userId must be a string"));
            None
        }
        None => {
            errors.push(FieldError::new("missing_field", "userId", "userId is required"));
            None
        }
    };
    let message_id = match obj.get("messageId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => MessageId::parse("messageId", s).map_err(|e| errors.push(e)).ok(),
        Some(_) => {
            errors.push(FieldError::new("wrong_type", "messageId", "messageId must be a string"));
            None
        }
    };
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => v.as_str().and_then(|s| s.parse::<Timestamp>().ok()).or_else(|| {
            errors.push(FieldError::new("invalid_timestamp", "timestamp", "timestamp must be an RFC 3339 timestamp such as 2026-03-01T15:00:00Z"));
            None
        }),
    };
    let body = match call_type {
        Some(CallType::Identify) => object_field(obj, "traits", false, &mut errors)
            .map(|traits| firewall.check_traits(&traits, "traits").map(Body::Identify)),
        Some(CallType::Track) => {
            let event = match obj.get("event") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => {
                    errors.push(FieldError::new("missing_field", "event", "event must be a non-empty string"));
                    None
                }
            };
            let props = object_field(obj, "properties", false, &mut errors);
            match (event, props) {
                (Some(event), Some(props)) => Some(firewall.check_event(&event, &props, "properties").map(|p| Body::Track(event, p))),
                _ => None,
            }
        }
        None => None,
    };
    let body = match body {
        Some(Ok(body)) => Some(body),
        Some(Err(mut es)) => {
            errors.append(&mut es);
            None
        }
        None => None,
    };
    match (external_id, body) {
        (Some(external_id), Some(body)) if errors.is_empty() => Ok(match body {
            Body::Identify(changes) => IngestCall::Identify(IdentifyCall { external_id, message_id, timestamp, changes }),
            Body::Track(event, properties) => IngestCall::Track(TrackCall { external_id, message_id, timestamp, event, properties }),
        }),
        _ => Err(errors),
    }
}

enum Body {
    Identify(ProfileChanges),
    Track(String, Map<String, Value>),
}

fn object_field(obj: &Map<String, Value>, key: &str, required: bool, errors: &mut Vec<FieldError>) -> Option<Map<String, Value>> {
    match obj.get(key) {
        Some(Value::Object(m)) => Some(m.clone()),
        None | Some(Value::Null) if !required => Some(Map::new()),
        _ => {
            errors.push(FieldError::new("wrong_type", key, format!("{key} must be a JSON object")));
            None
        }
    }
}

/// Splits a `batch` body into its items, refusing a malformed or oversized envelope.
pub fn parse_batch(value: &Value) -> Result<&Vec<Value>, FieldError> {
    let obj = value.as_object().ok_or_else(|| FieldError::new("wrong_type", "", "the body must be a JSON object with a batch list"))?;
    if let Some(e) = crate::error::refuse_unknown(obj, &["batch"], "", "a batch call") {
        return Err(e);
    }
    let items = obj.get("batch").and_then(Value::as_array).ok_or_else(|| FieldError::new("missing_field", "batch", "batch must be a list of calls"))?;
    if items.is_empty() {
        return Err(FieldError::new("empty_batch", "batch", "batch must contain at least one call"));
    }
    if items.len() > MAX_BATCH {
        return Err(FieldError::new("batch_too_large", "batch", format!("batch may contain at most {MAX_BATCH} calls")));
    }
    Ok(items)
}
