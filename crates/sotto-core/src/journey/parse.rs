//! Reads a journey request into a definition, reporting every problem with its path.

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use jiff::civil::Time;
use serde_json::Value;

use super::triggers::{event_list, event_name, trigger};
use super::{Condition, Delay, Journey, Step, StepKind};
use crate::contact::Channel;
use crate::error::FieldError;
use crate::health_terms;
use crate::purpose::Purpose;

pub(super) type Errors = Vec<FieldError>;

/// The most steps a journey has (so every walk over them stays shallow).
pub const MAX_STEPS: usize = 200;

/// A duration such as `90m`, `48h` or `2d`, of at most 366 days.
pub fn duration(text: &str) -> Option<SignedDuration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let minutes = match unit {
        "m" => n,
        "h" => n.checked_mul(60)?,
        "d" => n.checked_mul(24 * 60)?,
        _ => return None,
    };
    // At most a year and a day.
    (minutes <= 366 * 24 * 60).then(|| SignedDuration::from_mins(minutes))
}

/// Checks a name staff see, as segment and campaign names are checked.
fn coded_name(name: Option<&str>, errors: &mut Errors) -> Option<String> {
    match name {
        None | Some("") => {
            errors.push(FieldError::new("missing_field", "name", "name is required"));
            None
        }
        Some(n) => health_terms::check_name("journey", n).map_err(|e| errors.push(e)).ok().map(str::to_owned),
    }
}

/// Refuses keys an object of the definition does not take (never repeating them).
pub(super) fn known(obj: &serde_json::Map<String, Value>, allowed: &[&str], at: &str, errors: &mut Errors) {
    if let Some(e) = crate::error::refuse_unknown(obj, allowed, at, if at.is_empty() { "the journey" } else { at }) {
        errors.push(e);
    }
}

/// Refuses a value staff chose (a step id, a compared value, a code) that reveals health
/// information.
fn coded(text: &str, at: &str, errors: &mut Errors) {
    if let Some(category) = health_terms::find(text) {
        errors.push(FieldError::new("health_term_in_definition", at, format!("this value reveals health information ({category}); use a code instead")));
    }
}

pub(super) fn name_like(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(super) fn condition(value: &Value, at: &str, errors: &mut Errors) -> Option<Condition> {
    let bad = |errors: &mut Errors| {
        errors.push(FieldError::new(
            "invalid_condition",
            at,
            "a condition is {\"property\": name, \"equals\": value}, {\"trait\": name, \"equals\": value}, {\"happened\": event}, or all/any of a list, or not",
        ));
        None
    };
    let Some(obj) = value.as_object() else { return bad(errors) };
    let named = |key: &str| obj.get(key).and_then(Value::as_str).filter(|n| name_like(n)).map(str::to_owned);
    let list = |key: &str, errors: &mut Errors| -> Option<Vec<Condition>> {
        let items = obj.get(key)?.as_array()?;
        let parsed: Vec<Option<Condition>> = items.iter().enumerate().map(|(i, c)| condition(c, &format!("{at}.{key}[{i}]"), errors)).collect();
        parsed.into_iter().collect::<Option<Vec<_>>>().filter(|v| !v.is_empty())
    };
    match (obj.len(), obj.keys().next().map(String::as_str)) {
        (2, _) if obj.contains_key("equals") => {
            let equals = obj["equals"].clone();
            match &equals {
                Value::String(text) => coded(text, &format!("{at}.equals"), errors),
                Value::Bool(_) | Value::Number(_) => {}
                _ => return bad(errors),
            }
            match (named("property"), named("trait")) {
                (Some(name), None) => Some(Condition::Property { name, equals }),
                (None, Some(name)) => Some(Condition::Trait { name, equals }),
                _ => bad(errors),
            }
        }
        (1, Some("happened")) => named("happened").map(Condition::Happened).or_else(|| bad(errors)),
        (1, Some("all")) => list("all", errors).map(Condition::All).or_else(|| bad(errors)),
        (1, Some("any")) => list("any", errors).map(Condition::Any).or_else(|| bad(errors)),
        (1, Some("not")) => condition(&obj["not"], &format!("{at}.not"), errors).map(|c| Condition::Not(Box::new(c))),
        _ => bad(errors),
    }
}

/// A channel → template map from one id (for every channel) or an object.
fn templates(value: Option<&Value>, channels: &[Channel], at: &str, errors: &mut Errors) -> BTreeMap<Channel, String> {
    let mut out = BTreeMap::new();
    match value {
        Some(Value::String(id)) => channels.iter().for_each(|c| drop(out.insert(*c, id.clone()))),
        Some(Value::Object(map)) => {
            for (channel, id) in map {
                match (Channel::parse(&format!("{at}.{channel}"), channel), id.as_str()) {
                    (Ok(c), Some(id)) => drop(out.insert(c, id.to_owned())),
                    (Err(e), _) => errors.push(e),
                    (_, None) => errors.push(FieldError::new("invalid_template", format!("{at}.{channel}"), "a template id is a string")),
                }
            }
        }
        _ => errors.push(FieldError::new("missing_field", at, "a template id, or an object of channel to template id")),
    }
    if let Some(missing) = channels.iter().find(|c| !out.contains_key(c)) {
        errors.push(FieldError::new("channel_without_template", at, format!("the channel {} has no template", missing.as_str())));
    }
    out
}

fn target(step: &serde_json::Map<String, Value>, key: &str, at: &str, required: bool, errors: &mut Errors) -> Option<String> {
    match step.get(key) {
        None | Some(Value::Null) if !required => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => {
            errors.push(FieldError::new("invalid_step_target", format!("{at}.{key}"), format!("{key} names the id of another step")));
            None
        }
    }
}

fn step(value: &Value, at: &str, errors: &mut Errors) -> Option<Step> {
    let Some(obj) = value.as_object() else {
        errors.push(FieldError::new("invalid_step", at, "a step is an object with an id and a type"));
        return None;
    };
    let id = obj.get("id").and_then(Value::as_str).filter(|id| name_like(id)).map(str::to_owned);
    match &id {
        None => errors.push(FieldError::new("invalid_step_id", format!("{at}.id"), "a step id is lowercase letters, digits and underscores")),
        Some(id) => coded(&id.replace('_', " "), &format!("{at}.id"), errors),
    }
    let allowed: &[&str] = match obj.get("type").and_then(Value::as_str) {
        Some("send") => &["id", "type", "channels", "template_id", "by", "choices", "purpose", "next"],
        Some("delay") => &["id", "type", "duration", "until", "next"],
        Some("wait") => &["id", "type", "event", "timeout", "next", "timeout_next"],
        Some("branch") => &["id", "type", "condition", "then", "else"],
        _ => &["id", "type"],
    };
    known(obj, allowed, at, errors);
    let next = target(obj, "next", at, false, errors);
    let kind = match obj.get("type").and_then(Value::as_str) {
        Some("send") => {
            let channels: Vec<Channel> = match obj.get("channels").and_then(Value::as_array) {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| Channel::parse(&format!("{at}.channels[{i}]"), c.as_str().unwrap_or_default()).map_err(|e| errors.push(e)).ok())
                    .collect(),
                _ => {
                    errors.push(FieldError::new("missing_field", format!("{at}.channels"), "channels lists the channels in order of preference"));
                    Vec::new()
                }
            };
            let by = obj.get("by").and_then(Value::as_str).map(str::to_owned);
            let mut choices = BTreeMap::new();
            let plain = if by.is_some() {
                match obj.get("choices").and_then(Value::as_object) {
                    Some(map) if !map.is_empty() => {
                        for (n, (code, t)) in map.iter().enumerate() {
                            // A code is named by its position: it may be anything the sender chose.
                            coded(code, &format!("{at}.choices.#{}", n + 1), errors);
                            choices.insert(code.clone(), templates(Some(t), &channels, &format!("{at}.choices.#{}", n + 1), errors));
                        }
                    }
                    _ => errors.push(FieldError::new("missing_field", format!("{at}.choices"), "a send chosen by a coded property maps each code to a template")),
                }
                BTreeMap::new()
            } else {
                templates(obj.get("template_id"), &channels, &format!("{at}.template_id"), errors)
            };
            let purpose = obj.get("purpose").and_then(|p| Purpose::parse(&format!("{at}.purpose"), p.as_str().unwrap_or_default()).map_err(|e| errors.push(e)).ok());
            StepKind::Send { channels, templates: plain, by, choices, purpose, next }
        }
        Some("delay") => {
            let delay = match (obj.get("duration").and_then(Value::as_str), obj.get("until").and_then(Value::as_object)) {
                (Some(d), None) => duration(d).map(Delay::For),
                (None, Some(until)) => {
                    known(until, &["property", "days", "local_time"], &format!("{at}.until"), errors);
                    let property = until.get("property").and_then(Value::as_str).filter(|p| name_like(p)).map(str::to_owned);
                    let days = until.get("days").and_then(Value::as_i64).filter(|d| (-366..=366).contains(d)).map(|d| d as i32);
                    let time = until.get("local_time").and_then(Value::as_str).and_then(|t| t.parse::<Time>().ok());
                    property.zip(days).zip(time).map(|((property, days), local_time)| Delay::Until { property, days, local_time })
                }
                _ => None,
            };
            let Some(delay) = delay else {
                errors.push(FieldError::new(
                    "invalid_delay",
                    at,
                    "a delay has a duration (\"90m\", \"48h\", \"2d\") or until {\"property\", \"days\", \"local_time\": \"10:00\"}",
                ));
                return None;
            };
            StepKind::Delay { delay, next }
        }
        Some("wait") => {
            let event = obj.get("event").and_then(Value::as_str).filter(|e| name_like(e)).map(str::to_owned);
            let timeout = obj.get("timeout").and_then(Value::as_str).and_then(duration);
            let (Some(event), Some(timeout)) = (event, timeout) else {
                errors.push(FieldError::new("invalid_wait", at, "a wait names an event and a timeout such as \"20h\""));
                return None;
            };
            StepKind::Wait { event, timeout, next, timeout_next: target(obj, "timeout_next", at, false, errors) }
        }
        Some("branch") => {
            let cond = match obj.get("condition") {
                Some(c) => condition(c, &format!("{at}.condition"), errors),
                None => {
                    errors.push(FieldError::new("missing_field", format!("{at}.condition"), "a branch has a condition"));
                    None
                }
            };
            let (then, otherwise) = (target(obj, "then", at, true, errors), target(obj, "else", at, true, errors));
            StepKind::Branch { condition: cond?, then: then?, otherwise: otherwise? }
        }
        Some("exit") => StepKind::Exit,
        _ => {
            errors.push(FieldError::new("invalid_step_type", format!("{at}.type"), "a step's type is send, delay, wait, branch or exit"));
            return None;
        }
    };
    Some(Step { id: id?, kind })
}

/// The steps a step goes to without waiting (a delay or a wait breaks a cycle).
fn instant_edges(step: &Step) -> Vec<&str> {
    match &step.kind {
        StepKind::Send { next, .. } => next.iter().map(String::as_str).collect(),
        StepKind::Branch { then, otherwise, .. } => vec![then.as_str(), otherwise.as_str()],
        _ => Vec::new(),
    }
}

fn all_edges(step: &Step) -> Vec<(&'static str, &str)> {
    match &step.kind {
        StepKind::Send { next, .. } | StepKind::Delay { next, .. } => next.iter().map(|n| ("next", n.as_str())).collect(),
        StepKind::Wait { next, timeout_next, .. } => next.iter().map(|n| ("next", n.as_str())).chain(timeout_next.iter().map(|n| ("timeout_next", n.as_str()))).collect(),
        StepKind::Branch { then, otherwise, .. } => vec![("then", then.as_str()), ("else", otherwise.as_str())],
        StepKind::Exit => Vec::new(),
    }
}

fn check_graph(steps: &[Step], errors: &mut Errors) {
    let index: BTreeMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let mut seen = BTreeSet::new();
    for (i, s) in steps.iter().enumerate() {
        if !seen.insert(s.id.as_str()) {
            errors.push(FieldError::new("duplicate_step_id", format!("steps[{i}].id"), "step ids are unique"));
        }
        for (key, to) in all_edges(s) {
            if !index.contains_key(to) {
                errors.push(FieldError::new("unknown_step", format!("steps[{i}].{key}"), "this step points to a step that does not exist"));
            }
        }
    }
    // Depth-first over the edges taken without waiting: 1 on the path, 2 done.
    fn visit(i: usize, steps: &[Step], index: &BTreeMap<&str, usize>, mark: &mut [u8]) -> Option<usize> {
        mark[i] = 1;
        for to in instant_edges(&steps[i]).into_iter().filter_map(|t| index.get(t).copied()) {
            match mark[to] {
                1 => return Some(i),
                0 => {
                    if let Some(found) = visit(to, steps, index, mark) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        mark[i] = 2;
        None
    }
    let mut mark = vec![0u8; steps.len()];
    for i in 0..steps.len() {
        if mark[i] == 0
            && let Some(at) = visit(i, steps, &index, &mut mark)
        {
            errors.push(FieldError::new("cycle_without_delay", format!("steps[{at}]"), "these steps loop without a delay or a wait between them"));
            return;
        }
    }
}

/// Reads a journey request: its name and definition. Every problem is reported.
pub fn parse_journey(body: &Value) -> Result<(String, Journey), Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        return Err(vec![FieldError::new("invalid_body", "", "a journey is a JSON object")]);
    };
    known(obj, &["name", "purpose", "authorization_basis", "topic", "run_key", "trigger", "exit_on", "update_on", "goal", "reentry_after", "steps"], "", &mut errors);
    let name = coded_name(obj.get("name").and_then(Value::as_str), &mut errors);
    let trigger = trigger(obj.get("trigger"), obj.get("run_key"), &mut errors);
    let purpose = Purpose::parse("purpose", obj.get("purpose").and_then(Value::as_str).unwrap_or_default()).map_err(|e| errors.push(e)).ok();
    let topic = match obj.get("topic") {
        None | Some(Value::Null) => None,
        Some(t) => match t.as_str().filter(|t| name_like(t)) {
            Some(t) => Some(t.to_owned()),
            None => {
                errors.push(FieldError::new("invalid_topic", "topic", "a topic is lowercase letters, digits and underscores, such as newsletter"));
                None
            }
        },
    };
    let exit_on = event_list(obj.get("exit_on"), "exit_on", &mut errors);
    let update_on = event_list(obj.get("update_on"), "update_on", &mut errors);
    let goal = obj.get("goal").filter(|g| !g.is_null()).and_then(|g| event_name(Some(g), "goal", &mut errors));
    let reentry_after = match obj.get("reentry_after") {
        None | Some(Value::Null) => None,
        Some(d) => {
            let parsed = d.as_str().and_then(duration);
            if parsed.is_none() {
                errors.push(FieldError::new("invalid_duration", "reentry_after", "reentry_after is a duration such as \"365d\""));
            }
            parsed
        }
    };
    let steps: Vec<Step> = match obj.get("steps").and_then(Value::as_array) {
        Some(list) if list.len() > MAX_STEPS => {
            errors.push(FieldError::new("too_many_steps", "steps", format!("a journey has at most {MAX_STEPS} steps")));
            Vec::new()
        }
        Some(list) if !list.is_empty() => {
            let parsed: Vec<Step> = list.iter().enumerate().filter_map(|(i, s)| step(s, &format!("steps[{i}]"), &mut errors)).collect();
            // Paths name steps by their place, so the graph is checked only when every step was read.
            if parsed.len() == list.len() {
                check_graph(&parsed, &mut errors);
            }
            parsed
        }
        _ => {
            errors.push(FieldError::new("missing_field", "steps", "a journey has at least one step"));
            Vec::new()
        }
    };
    let authorization_basis = match obj.get("authorization_basis") {
        None | Some(Value::Null) => None,
        Some(Value::String(b)) if b == "hipaa_authorization" => Some(b.clone()),
        Some(_) => {
            errors.push(FieldError::new("invalid_authorization_basis", "authorization_basis", "authorization_basis is hipaa_authorization, or left out"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(name), Some((trigger, run_key)), Some(purpose)) = (name, trigger, purpose) else {
        return Err(vec![FieldError::new("invalid_body", "", "the journey is incomplete")]);
    };
    let journey = Journey { trigger, run_key, purpose, authorization_basis, topic, exit_on, update_on, goal, reentry_after, steps };
    // A journey's messages use PHI (its runs follow appointments and traits): marketing needs
    // each recipient's HIPAA authorization, checked by the gate at send.
    if journey.purposes().iter().any(|p| p.is_marketing()) && journey.authorization_basis.is_none() {
        return Err(vec![FieldError::new("authorization_basis_required", "authorization_basis", "marketing in a journey uses PHI: set authorization_basis to hipaa_authorization")]);
    }
    Ok((name, journey))
}
