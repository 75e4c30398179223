//! Parsing of Segment-style calls (`identify`, `track`, `page`, `screen`, `group`, `alias`,
//! and `batch`) into checked, typed calls, as Segment's own libraries send them. Parsing goes
//! through the firewall, so a call that parses is a call that may be stored; the envelope
//! parts that can carry identifiers (`context` but its `library`, `anonymousId`,
//! `integrations`, a page's name) are dropped before anything is kept, and named.

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
    /// `page`: a page view, kept as the event `page_viewed`.
    Page,
    /// `screen`: a screen view, kept as the event `screen_viewed`.
    Screen,
    /// `group`: Sotto keeps no groups; accepted and dropped.
    Group,
    /// `alias`: Sotto keeps no anonymous ids to join; accepted and dropped.
    Alias,
}

impl CallType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Identify => "identify",
            CallType::Track => "track",
            CallType::Page => "page",
            CallType::Screen => "screen",
            CallType::Group => "group",
            CallType::Alias => "alias",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [CallType::Identify, CallType::Track, CallType::Page, CallType::Screen, CallType::Group, CallType::Alias].into_iter().find(|t| t.as_str() == name)
    }
}

/// Envelope keys every Segment library may send beside a call's own.
const ENVELOPE: &[&str] = &["type", "userId", "messageId", "timestamp", "context", "integrations", "anonymousId", "sentAt", "receivedAt", "originalTimestamp", "_metadata", "version"];

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

/// A checked call.
#[derive(Debug, Clone)]
pub enum IngestCall {
    /// An identify call.
    Identify(IdentifyCall),
    /// A track call (or a page or screen view).
    Track(TrackCall),
    /// A group or alias call: accepted, nothing kept.
    Dropped(ExternalId),
}

/// A checked call and the envelope paths dropped from it (named, never their values).
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The call.
    pub call: IngestCall,
    /// What was dropped, such as `context.ip` or `anonymousId`.
    pub dropped: Vec<String>,
}

/// The envelope paths a call carries that are never kept: every `context` key but `library`,
/// a non-null `anonymousId`, `integrations`, and for the call types Sotto keeps only in part,
/// their own fields (a page's `name` and `category`, a group's `groupId` and `traits`, an
/// alias's `previousId`).
fn dropped_paths(obj: &Map<String, Value>, call_type: CallType) -> Vec<String> {
    let mut out: Vec<String> = obj.get("context").and_then(Value::as_object).map(|c| c.keys().filter(|k| *k != "library").map(|k| format!("context.{k}")).collect()).unwrap_or_default();
    for key in ["anonymousId", "integrations"] {
        if obj.get(key).is_some_and(|v| !v.is_null()) {
            out.push(key.to_owned());
        }
    }
    let own: &[&str] = match call_type {
        CallType::Page | CallType::Screen => &["name", "category"],
        CallType::Group => &["groupId", "traits"],
        CallType::Alias => &["previousId"],
        _ => &[],
    };
    out.extend(own.iter().filter(|k| obj.get(**k).is_some_and(|v| !v.is_null())).map(|k| (*k).to_owned()));
    out
}

impl IngestCall {
    /// The patient the call is about.
    pub fn external_id(&self) -> &ExternalId {
        match self {
            IngestCall::Identify(c) => &c.external_id,
            IngestCall::Track(c) => &c.external_id,
            IngestCall::Dropped(id) => id,
        }
    }
}

/// Parses one call. `expected` is the endpoint's type; `None` (inside a batch) requires `type`.
pub fn parse_call(firewall: &Firewall<'_>, value: &Value, expected: Option<CallType>) -> Result<Parsed, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new("wrong_type", "", "each call must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let call_type = match (obj.get("type"), expected) {
        (None, Some(t)) => Some(t),
        (Some(Value::String(s)), e) if CallType::parse(s).is_some_and(|t| e.is_none_or(|e| e == t)) => CallType::parse(s),
        _ => {
            let allowed = expected.map_or("identify, track, page, screen, group or alias", CallType::as_str);
            errors.push(FieldError::new("invalid_type", "type", format!("type must be {allowed}")));
            None
        }
    };
    let own: &[&str] = match call_type {
        Some(CallType::Identify) => &["traits"],
        Some(CallType::Track) => &["event", "properties"],
        Some(CallType::Page | CallType::Screen) => &["name", "category", "properties"],
        Some(CallType::Group) => &["groupId", "traits"],
        Some(CallType::Alias) => &["previousId"],
        None => &[],
    };
    if call_type.is_some() {
        let allowed: Vec<&str> = ENVELOPE.iter().chain(own).copied().collect();
        errors.extend(crate::error::refuse_unknown(obj, &allowed, "", "this call"));
        if obj.get("context").is_some_and(|c| !c.is_null() && !c.is_object()) {
            errors.push(FieldError::new("wrong_type", "context", "context must be a JSON object"));
        }
    }
    let external_id = match obj.get("userId") {
        Some(Value::String(s)) => ExternalId::parse("userId", s).map_err(|e| errors.push(e)).ok(),
        Some(Value::Null) | None => {
            errors.push(FieldError::new("missing_field", "userId", "userId is required: Sotto keeps no anonymous profiles"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("wrong_type", "userId", "userId must be a string"));
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
    let track = |event: String, errors: &mut Vec<FieldError>| {
        object_field(obj, "properties", false, errors).map(|props| firewall.check_event(&event, &props, "properties").map(|p| Body::Track(event, p)))
    };
    let body = match call_type {
        Some(CallType::Identify) => object_field(obj, "traits", false, &mut errors).map(|traits| firewall.check_traits(&traits, "traits").map(Body::Identify)),
        Some(CallType::Track) => match obj.get("event") {
            Some(Value::String(s)) if !s.is_empty() => track(s.clone(), &mut errors),
            _ => {
                errors.push(FieldError::new("missing_field", "event", "event must be a non-empty string"));
                None
            }
        },
        Some(CallType::Page) => track("page_viewed".into(), &mut errors),
        Some(CallType::Screen) => track("screen_viewed".into(), &mut errors),
        Some(CallType::Group | CallType::Alias) => Some(Ok(Body::Dropped)),
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
    match (external_id, body, call_type) {
        (Some(external_id), Some(body), Some(call_type)) if errors.is_empty() => {
            let call = match body {
                Body::Identify(changes) => IngestCall::Identify(IdentifyCall { external_id, message_id, timestamp, changes }),
                Body::Track(event, properties) => IngestCall::Track(TrackCall { external_id, message_id, timestamp, event, properties }),
                Body::Dropped => IngestCall::Dropped(external_id),
            };
            Ok(Parsed { call, dropped: dropped_paths(obj, call_type) })
        }
        _ => Err(errors),
    }
}

enum Body {
    Identify(ProfileChanges),
    Track(String, Map<String, Value>),
    Dropped,
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
    // `sentAt` and `writeKey` come with every batch Segment's libraries send; the key is the
    // Basic credential again and is never kept or echoed.
    if let Some(e) = crate::error::refuse_unknown(obj, &["batch", "sentAt", "writeKey", "context", "integrations"], "", "a batch call") {
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
