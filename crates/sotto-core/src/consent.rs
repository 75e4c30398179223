//! The consent ledger's records and the current state derived from them. Records are only
//! ever appended; the latest record per channel and topic is the state.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contact::Channel;
use crate::error::FieldError;
use crate::purpose::ConsentKind;

/// A preference topic such as `newsletter` or `wellness`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Topic(String);

impl Topic {
    /// Parses a topic slug: a lowercase letter, then up to 31 lowercase letters, digits or `_`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let mut chars = raw.chars();
        let ok = raw.len() <= 32
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new("invalid_topic", field, format!("{field} must be a lowercase slug such as newsletter")))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Opted in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// The patient agreed.
    OptedIn,
    /// The patient declined or withdrew.
    OptedOut,
}

impl ConsentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::OptedIn => "opted_in",
            ConsentStatus::OptedOut => "opted_out",
        }
    }
}

/// Where the consent came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentSource {
    /// A web form.
    WebForm,
    /// A paper form entered by staff.
    Paper,
    /// An SMS keyword reply.
    SmsKeyword,
    /// An integration.
    Api,
    /// The patient portal.
    Portal,
    /// An email one-click unsubscribe.
    EmailUnsubscribe,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentRecord {
    /// The channel it covers.
    pub channel: Channel,
    /// The topic it covers; `None` is the channel as a whole.
    pub topic: Option<Topic>,
    /// In or out.
    pub status: ConsentStatus,
    /// Express or express written.
    pub kind: ConsentKind,
    /// Where it came from.
    pub source: ConsentSource,
    /// When the patient gave it.
    pub captured_at: Timestamp,
    /// Evidence: form version, consent text version, IP, and the like.
    pub evidence: Value,
}

/// The current consent of one patient: the latest record per channel and topic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsentState {
    current: BTreeMap<(Channel, Option<Topic>), ConsentRecord>,
}

impl ConsentState {
    /// Derives the state from the ledger. Later `captured_at` wins; on a tie, the later
    /// record in ledger order wins.
    pub fn derive<'a>(history: impl IntoIterator<Item = &'a ConsentRecord>) -> Self {
        let mut current: BTreeMap<(Channel, Option<Topic>), ConsentRecord> = BTreeMap::new();
        for record in history {
            let key = (record.channel, record.topic.clone());
            let newer = current.get(&key).is_none_or(|c| record.captured_at >= c.captured_at);
            if newer {
                current.insert(key, record.clone());
            }
        }
        Self { current }
    }

    /// The current record for a channel (`topic = None`) or a channel's topic.
    pub fn get(&self, channel: Channel, topic: Option<&Topic>) -> Option<&ConsentRecord> {
        self.current.get(&(channel, topic.cloned()))
    }

    /// Every current record.
    pub fn iter(&self) -> impl Iterator<Item = &ConsentRecord> {
        self.current.values()
    }
}

/// The keys consent evidence may have; each value is a short string.
pub const EVIDENCE_KEYS: [&str; 9] = ["form_version", "consent_text_version", "ip", "user_agent", "keyword", "url", "method", "note", "request_id"];

/// Checks consent evidence: declared keys only, short strings, an IP address that parses, a
/// URL with a web scheme, and no health information in any value (evidence is stored in the
/// clear and returned with the ledger).
pub fn parse_evidence(map: &serde_json::Map<String, Value>) -> Result<Value, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = crate::error::refuse_unknown(map, &EVIDENCE_KEYS, "evidence", "evidence").into_iter().collect();
    for (key, value) in map.iter().filter(|(k, _)| EVIDENCE_KEYS.contains(&k.as_str())) {
        let field = format!("evidence.{key}");
        let Some(text) = value.as_str() else {
            errors.push(FieldError::new("wrong_type", field, "evidence values are strings"));
            continue;
        };
        let limit = if key == "keyword" { 32 } else { 512 };
        let problem = if text.len() > limit {
            Some(("value_too_long", format!("at most {limit} bytes")))
        } else if key == "ip" && text.parse::<std::net::IpAddr>().is_err() {
            Some(("invalid_ip", "an IPv4 or IPv6 address".to_owned()))
        } else if key == "url" && !(text.starts_with("https://") || text.starts_with("http://")) {
            Some(("invalid_url", "an http:// or https:// address".to_owned()))
        } else {
            crate::health_terms::find(text).map(|category| ("health_term_in_free_text", format!("no health information ({category}); evidence is stored in the clear")))
        };
        if let Some((code, what)) = problem {
            errors.push(FieldError::new(code, field, format!("this evidence value must be {what}")));
        }
    }
    if errors.is_empty() { Ok(Value::Object(map.clone())) } else { Err(errors) }
}

/// Parses a consent posted by a client.
pub fn parse_consent(body: &Value) -> Result<ConsentRecord, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("wrong_type", "", "the body must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let allowed = ["channel", "topic", "status", "kind", "source", "captured_at", "evidence"];
    errors.extend(crate::error::refuse_unknown(obj, &allowed, "", "a consent"));
    let text = |key: &str, errors: &mut Vec<FieldError>| -> Option<String> {
        match obj.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => {
                errors.push(FieldError::new("missing_field", key, format!("{key} is required and must be a string")));
                None
            }
        }
    };
    fn named<T: for<'de> Deserialize<'de>>(raw: Option<String>, field: &str, expected: &str, errors: &mut Vec<FieldError>) -> Option<T> {
        let raw = raw?;
        serde_json::from_value(Value::String(raw)).map_err(|_| errors.push(FieldError::new("invalid_value", field, format!("{field} must be {expected}")))).ok()
    }
    let channel = text("channel", &mut errors).and_then(|c| Channel::parse("channel", &c).map_err(|e| errors.push(e)).ok());
    let topic = match obj.get("topic") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Topic::parse("topic", t).map_err(|e| errors.push(e)).ok(),
        Some(_) => {
            errors.push(FieldError::new("wrong_type", "topic", "topic must be a string"));
            None
        }
    };
    let status = named::<ConsentStatus>(text("status", &mut errors), "status", "opted_in or opted_out", &mut errors);
    let kind = named::<ConsentKind>(text("kind", &mut errors), "kind", "express or express_written", &mut errors);
    let source = named::<ConsentSource>(text("source", &mut errors), "source", "web_form, paper, sms_keyword, api or portal", &mut errors);
    let captured_at = text("captured_at", &mut errors).and_then(|t| {
        t.parse::<Timestamp>()
            .map_err(|_| errors.push(FieldError::new("invalid_timestamp", "captured_at", "captured_at must be an RFC 3339 timestamp")))
            .ok()
    });
    let evidence = match obj.get("evidence") {
        Some(Value::Object(map)) => match parse_evidence(map) {
            Ok(v) => v,
            Err(e) => {
                errors.extend(e);
                Value::Null
            }
        },
        _ => {
            errors.push(FieldError::new("missing_field", "evidence", "evidence is required: an object such as {\"form_version\":\"v3\",\"consent_text_version\":\"2026-01\"}"));
            Value::Null
        }
    };
    match (channel, status, kind, source, captured_at) {
        (Some(channel), Some(status), Some(kind), Some(source), Some(captured_at)) if errors.is_empty() => {
            Ok(ConsentRecord { channel, topic, status, kind, source, captured_at, evidence })
        }
        _ => Err(errors),
    }
}
