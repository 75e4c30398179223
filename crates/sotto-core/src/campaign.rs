//! A campaign's request read into a spec: its name checked like every name staff see,
//! channels in order of preference each with a template, a purpose and topic, the
//! authorization basis, a schedule (an instant, a local time on a date in each patient's
//! zone, or now) that is neither past nor inside a daylight-saving gap, and a throttle.
//! Pure: the time is passed in; whether the segment and templates exist is the caller's.

use std::collections::BTreeMap;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::consent::Topic;
use crate::contact::Channel;
use crate::error::FieldError;
use crate::health_terms;
use crate::purpose::Purpose;

/// When a campaign's messages may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// At launch.
    Now,
    /// From one instant.
    At(Timestamp),
    /// At a local time on a date, in each patient's own zone.
    Local {
        /// The date.
        date: Date,
        /// The local time.
        time: Time,
    },
}

/// What to send to whom and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSpec {
    /// The segment whose members receive it.
    pub segment_id: String,
    /// The channels, in order of preference: each patient gets the first they can receive.
    pub channels: Vec<Channel>,
    /// The template of each channel.
    pub templates: BTreeMap<Channel, String>,
    /// The purpose.
    pub purpose: Purpose,
    /// The preference topic.
    pub topic: Option<String>,
    /// `hipaa_authorization` when each recipient's authorization is the basis.
    pub authorization_basis: Option<String>,
    /// When.
    pub schedule: Schedule,
    /// At most this many messages a minute.
    pub throttle_per_minute: Option<u32>,
    /// The B template of each channel, for an A/B test (recipients split at random).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variant_b: BTreeMap<Channel, String>,
    /// The percent of recipients who get B.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_percent: Option<u8>,
    /// The percent of members held out: sent nothing, measured all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_percent: Option<u8>,
    /// What counts as a conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion: Option<Conversion>,
}

/// An event that counts as a conversion when a recipient records it within the window after
/// launch, such as `appointment_booked` within 14 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    /// The event's name.
    pub event: String,
    /// The window, in days from launch.
    pub within_days: u32,
}

/// Which arm of a campaign a recipient is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arm {
    /// The A template.
    A,
    /// The B template.
    B,
    /// Sent nothing.
    Holdout,
}

impl Arm {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::A => "a",
            Arm::B => "b",
            Arm::Holdout => "holdout",
        }
    }
}

/// A recipient's arm from two uniform draws in 0..100 (from a keyed hash of the campaign and
/// the patient, so the split is random yet the same if computed again).
pub fn arm(spec: &CampaignSpec, holdout_draw: u8, split_draw: u8) -> Arm {
    if holdout_draw < spec.holdout_percent.unwrap_or(0) {
        Arm::Holdout
    } else if !spec.variant_b.is_empty() && split_draw < spec.split_percent.unwrap_or(50) {
        Arm::B
    } else {
        Arm::A
    }
}

/// The fields a campaign request may have.
pub const FIELDS: &[&str] =
    &["name", "segment_id", "template_id", "channels", "purpose", "topic", "authorization_basis", "schedule", "throttle_per_minute", "variant_b", "split_percent", "holdout_percent", "conversion"];

/// The zones a local send time is checked against: every US zone with its own rules.
const US_ZONES: &[&str] = &["America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu"];

/// The instant a local schedule means in `tz`, or `None` in a daylight-saving gap.
pub fn local_instant(date: Date, time: Time, tz: &TimeZone) -> Option<Timestamp> {
    let ambiguous = tz.to_ambiguous_timestamp(DateTime::from_parts(date, time));
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => None,
        _ => ambiguous.compatible().ok(),
    }
}

/// When a campaign's message to a patient whose zone is `tz` (UTC when unknown) is due, for
/// a campaign launched at `launched`: its instant, the local time in the patient's own zone
/// (in a daylight-saving gap, the first moment after it), or at launch; never before launch.
pub fn due_at(schedule: &Schedule, tz: Option<&TimeZone>, launched: Timestamp) -> Timestamp {
    match schedule {
        Schedule::Now => launched,
        Schedule::At(at) => (*at).max(launched),
        Schedule::Local { date, time } => {
            let tz = tz.cloned().unwrap_or(TimeZone::UTC);
            tz.to_ambiguous_timestamp(DateTime::from_parts(*date, *time)).compatible().map_or(launched, |at| at.max(launched))
        }
    }
}

/// The first moment any of a campaign's messages can be due: a local time comes first where
/// clocks are furthest ahead (UTC+14).
pub fn earliest_due(schedule: &Schedule, launched: Timestamp) -> Timestamp {
    match schedule {
        Schedule::Local { .. } => {
            let ahead = jiff::tz::Offset::constant(14).to_time_zone();
            due_at(schedule, Some(&ahead), launched)
        }
        _ => due_at(schedule, None, launched),
    }
}

fn schedule(value: Option<&Value>, now: Timestamp, errors: &mut Vec<FieldError>) -> Option<Schedule> {
    let bad = |code: &'static str, field: &str, message: &str| FieldError::new(code, field, message);
    let Some(obj) = value.and_then(Value::as_object) else {
        errors.push(bad("missing_field", "schedule", "schedule is required: {\"now\": true}, {\"at\": instant} or {\"local_time\": \"10:00\", \"date\": \"2026-12-10\"}"));
        return None;
    };
    if obj.get("now") == Some(&Value::Bool(true)) && obj.len() == 1 {
        return Some(Schedule::Now);
    }
    if let Some(at) = obj.get("at").filter(|_| obj.len() == 1) {
        let Some(at) = at.as_str().and_then(|t| t.parse::<Timestamp>().ok()) else {
            errors.push(bad("invalid_timestamp", "schedule.at", "schedule.at must be an RFC 3339 instant"));
            return None;
        };
        if at < now {
            errors.push(bad("schedule_in_past", "schedule.at", "schedule.at is in the past"));
            return None;
        }
        return Some(Schedule::At(at));
    }
    let (Some(time), Some(date), 2) = (obj.get("local_time").and_then(Value::as_str), obj.get("date").and_then(Value::as_str), obj.len()) else {
        errors.push(bad("invalid_schedule", "schedule", "schedule must be {\"now\": true}, {\"at\": instant} or {\"local_time\": \"HH:MM\", \"date\": \"YYYY-MM-DD\"}"));
        return None;
    };
    let Ok(time) = time.parse::<Time>() else {
        errors.push(bad("invalid_time", "schedule.local_time", "schedule.local_time must be a time such as 10:00"));
        return None;
    };
    let Ok(date) = date.parse::<Date>() else {
        errors.push(bad("invalid_date", "schedule.date", "schedule.date must be a date such as 2026-12-10"));
        return None;
    };
    let mut latest = None;
    for zone in US_ZONES {
        let Ok(tz) = TimeZone::get(zone) else { continue };
        match local_instant(date, time, &tz) {
            Some(at) => latest = latest.max(Some(at)),
            None => {
                errors.push(bad("nonexistent_local_time", "schedule.local_time", "this local time does not exist on that date where clocks move forward for daylight saving time; choose another time"));
                return None;
            }
        }
    }
    // Past everywhere once it is past in the last zone to reach it.
    if latest.is_some_and(|at| at < now) || latest.is_none() && date < now.to_zoned(TimeZone::UTC).date().saturating_sub(1.day()) {
        errors.push(bad("schedule_in_past", "schedule.date", "this local time has passed in every zone"));
        return None;
    }
    Some(Schedule::Local { date, time })
}

/// Reads a campaign request: the name and the spec, with the template ids by channel as
/// given (`template_id` is one id, or an object of channel to id). Every problem is reported.
pub fn parse_campaign(body: &Value, now: Timestamp) -> Result<(String, CampaignSpec), Vec<FieldError>> {
    let mut errors = Vec::new();
    let text = |field: &str| body.get(field).and_then(Value::as_str);
    let name = health_terms::check_name("campaign", text("name").unwrap_or_default()).map_err(|e| errors.push(e)).ok().map(str::to_owned);
    let segment_id = text("segment_id").map(str::to_owned);
    if segment_id.is_none() {
        errors.push(FieldError::new("missing_field", "segment_id", "segment_id is required: the id of a segment"));
    }
    let mut channels = Vec::new();
    match body.get("channels").and_then(Value::as_array) {
        Some(list) if !list.is_empty() && list.len() <= 3 => {
            for (i, c) in list.iter().enumerate() {
                match Channel::parse(&format!("channels[{i}]"), c.as_str().unwrap_or_default()) {
                    Ok(c) if channels.contains(&c) => errors.push(FieldError::new("duplicate_channel", format!("channels[{i}]"), "each channel may be named once")),
                    Ok(c) => channels.push(c),
                    Err(e) => errors.push(e),
                }
            }
        }
        _ => errors.push(FieldError::new("missing_field", "channels", "channels is required: one to three of email, sms, push, in order of preference")),
    }
    let mut templates = BTreeMap::new();
    match body.get("template_id") {
        Some(Value::String(id)) if channels.len() == 1 => {
            templates.insert(channels[0], id.clone());
        }
        Some(Value::Object(by_channel)) => {
            for (channel, id) in by_channel {
                match (Channel::parse("template_id", channel), id.as_str()) {
                    (Ok(c), Some(id)) if channels.contains(&c) => {
                        templates.insert(c, id.to_owned());
                    }
                    _ => errors.push(FieldError::new("invalid_template_id", "template_id", "template_id must map each of the campaign's channels to a template id")),
                }
            }
        }
        Some(Value::String(_)) => errors.push(FieldError::new("invalid_template_id", "template_id", "with several channels, template_id must be an object of channel to template id")),
        _ => errors.push(FieldError::new("missing_field", "template_id", "template_id is required: a template id, or an object of channel to template id")),
    }
    if let Some(missing) = channels.iter().find(|c| !templates.contains_key(c)).filter(|_| body.get("template_id").is_some()) {
        errors.push(FieldError::new("missing_template", format!("template_id.{missing}"), "every channel of the campaign needs a template"));
    }
    let purpose = match text("purpose") {
        Some(p) => Purpose::parse("purpose", p).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(FieldError::new("missing_field", "purpose", "purpose is required: treatment, operations, marketing or marketing_remunerated"));
            None
        }
    };
    let topic = match body.get("topic") {
        None | Some(Value::Null) => None,
        Some(t) => Topic::parse("topic", t.as_str().unwrap_or_default()).map_err(|e| errors.push(e)).ok().map(|t| t.as_str().to_owned()),
    };
    let authorization_basis = match body.get("authorization_basis") {
        None | Some(Value::Null) => None,
        Some(Value::String(b)) if b == "hipaa_authorization" => Some(b.clone()),
        Some(_) => {
            errors.push(FieldError::new("invalid_authorization_basis", "authorization_basis", "authorization_basis must be \"hipaa_authorization\" or left out"));
            None
        }
    };
    let throttle_per_minute = match body.get("throttle_per_minute") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|n| (1..=1_000_000).contains(n)) {
            Some(n) => Some(n as u32),
            None => {
                errors.push(FieldError::new("invalid_throttle", "throttle_per_minute", "throttle_per_minute must be a whole number from 1 to 1,000,000"));
                None
            }
        },
    };
    let schedule = schedule(body.get("schedule"), now, &mut errors);
    let variant_b = match body.get("variant_b") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::String(id)) if channels.len() == 1 => BTreeMap::from([(channels[0], id.clone())]),
        Some(Value::Object(by_channel)) => by_channel
            .iter()
            .filter_map(|(c, id)| match (Channel::parse("variant_b", c), id.as_str()) {
                (Ok(c), Some(id)) if channels.contains(&c) => Some((c, id.to_owned())),
                _ => {
                    errors.push(FieldError::new("invalid_template_id", "variant_b", "variant_b must map channels of the campaign to template ids"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            errors.push(FieldError::new("invalid_template_id", "variant_b", "variant_b must be a template id, or an object of channel to template id"));
            BTreeMap::new()
        }
    };
    let percent = |field: &'static str, range: std::ops::RangeInclusive<u64>, errors: &mut Vec<FieldError>| match body.get(field) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|n| range.contains(n)) {
            Some(n) => Some(n as u8),
            None => {
                errors.push(FieldError::new("invalid_percent", field, format!("{field} must be a whole number from {} to {}", range.start(), range.end())));
                None
            }
        },
    };
    let split_percent = percent("split_percent", 1..=99, &mut errors);
    let holdout_percent = percent("holdout_percent", 0..=50, &mut errors);
    if split_percent.is_some() && variant_b.is_empty() {
        errors.push(FieldError::new("missing_field", "variant_b", "split_percent needs variant_b, the B template"));
    }
    let conversion = match body.get("conversion") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let event = v.get("event").and_then(Value::as_str).filter(|e| (1..=64).contains(&e.len()) && e.starts_with(|c: char| c.is_ascii_lowercase()) && e.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            let days = v.get("within_days").and_then(Value::as_u64).filter(|d| (1..=365).contains(d));
            match (event, days) {
                (Some(event), Some(days)) => Some(Conversion { event: event.to_owned(), within_days: days as u32 }),
                _ => {
                    errors.push(FieldError::new("invalid_conversion", "conversion", "conversion must be {\"event\": a declared event name such as appointment_booked, \"within_days\": 1 to 365}"));
                    None
                }
            }
        }
    };
    if let Some(obj) = body.as_object()
        && obj.keys().any(|k| !FIELDS.contains(&k.as_str()))
    {
        errors.push(FieldError::new("unknown_field", "", format!("a campaign takes only: {}", FIELDS.join(", "))));
    }
    match (name, segment_id, purpose, schedule, errors.is_empty()) {
        (Some(name), Some(segment_id), Some(purpose), Some(schedule), true) => {
            Ok((name, CampaignSpec { segment_id, channels, templates, purpose, topic, authorization_basis, schedule, throttle_per_minute, variant_b, split_percent, holdout_percent, conversion }))
        }
        _ => Err(errors),
    }
}
