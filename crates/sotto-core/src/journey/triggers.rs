//! What starts a journey's runs, read from its request: an event (with a condition, keyed by
//! one of its properties), entering a segment, or a date trait; and lists of event names.

use jiff::civil::Time;
use serde_json::Value;

use super::Trigger;
use super::parse::{Errors, condition, known, name_like};
use crate::error::FieldError;

pub(super) fn event_name(v: Option<&Value>, at: &str, errors: &mut Errors) -> Option<String> {
    match v.and_then(Value::as_str).filter(|e| name_like(e)) {
        Some(e) => Some(e.to_owned()),
        None => {
            errors.push(FieldError::new("invalid_event", at, "an event name is lowercase letters, digits and underscores"));
            None
        }
    }
}

/// A list of event names, or nothing.
pub(super) fn event_list(value: Option<&Value>, at: &str, errors: &mut Errors) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().enumerate().filter_map(|(i, e)| event_name(Some(e), &format!("{at}[{i}]"), errors)).collect(),
        Some(_) => {
            errors.push(FieldError::new("invalid_events", at, format!("{at} is a list of event names")));
            Vec::new()
        }
    }
}

/// The trigger, `{"event", "condition"?}` with a `run_key`, `{"segment"}` or `{"date", "local_time",
/// "days"?, "yearly"?}`, and the run key (an event trigger's only).
pub(super) fn trigger(value: Option<&Value>, run_key: Option<&Value>, errors: &mut Errors) -> Option<(Trigger, Option<String>)> {
    let Some(t) = value.and_then(Value::as_object) else {
        errors.push(FieldError::new("invalid_trigger", "trigger", "a trigger is {\"event\"}, {\"segment\"} or {\"date\", \"local_time\"}"));
        return None;
    };
    if t.contains_key("segment") {
        known(t, &["segment"], "trigger", errors);
        if run_key.is_some() {
            errors.push(FieldError::new("unexpected_run_key", "run_key", "runs of a segment trigger are keyed by the patient"));
        }
        let Some(id) = t.get("segment").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            errors.push(FieldError::new("invalid_segment", "trigger.segment", "trigger.segment is a segment id"));
            return None;
        };
        return Some((Trigger::Segment(id.to_owned()), None));
    }
    if t.contains_key("date") {
        known(t, &["date", "local_time", "days", "yearly"], "trigger", errors);
        if run_key.is_some() {
            errors.push(FieldError::new("unexpected_run_key", "run_key", "runs of a date trigger are keyed by the patient"));
        }
        let property = t.get("date").and_then(Value::as_str).filter(|p| name_like(p)).map(str::to_owned);
        let local_time = t.get("local_time").and_then(Value::as_str).and_then(|l| l.parse::<Time>().ok());
        let days = match t.get("days") {
            None => Some(0),
            Some(d) => d.as_i64().filter(|d| (-366..=366).contains(d)).map(|d| d as i32),
        };
        let yearly = t.get("yearly").map_or(Some(false), Value::as_bool);
        let (Some(property), Some(local_time), Some(days), Some(yearly)) = (property, local_time, days, yearly) else {
            errors.push(FieldError::new("invalid_trigger", "trigger", "a date trigger names a date trait, a local_time such as \"10:00\", and optional days and yearly"));
            return None;
        };
        return Some((Trigger::Date { property, days, local_time, yearly }, None));
    }
    known(t, &["event", "condition"], "trigger", errors);
    let event = event_name(t.get("event"), "trigger.event", errors);
    let condition = t.get("condition").and_then(|c| condition(c, "trigger.condition", errors));
    let run_key = run_key.and_then(Value::as_str).filter(|k| name_like(k)).map(str::to_owned);
    if run_key.is_none() {
        errors.push(FieldError::new("invalid_run_key", "run_key", "run_key names the event property that keys one run, such as appointment_id"));
    }
    Some((Trigger::Event { event: event?, condition }, Some(run_key?)))
}
