//! A run moved as far as it goes at one instant: sends queued on the way, delays and waits
//! started or ended, branches taken. Pure: `now`, the patient's zone and what happened on
//! the run's key are passed in, so a test controls every clock.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::{Delay, Journey, StepKind, Trigger};
use crate::contact::Channel;
use crate::purpose::Purpose;

/// What a run knows when it moves.
#[derive(Debug, Clone, Copy)]
pub struct RunFacts<'a> {
    /// The event properties of its trigger, updated by later events on its key.
    pub properties: &'a Map<String, Value>,
    /// The patient's traits.
    pub traits: &'a Map<String, Value>,
    /// Events that happened on its key since it started.
    pub happened: &'a BTreeSet<String>,
    /// The patient's zone (UTC when unknown).
    pub timezone: Option<&'a TimeZone>,
}

/// A message a step queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAction {
    /// The step.
    pub step: String,
    /// Channels in order of preference.
    pub channels: Vec<Channel>,
    /// The template of each channel.
    pub templates: BTreeMap<Channel, String>,
    /// Why it is sent.
    pub purpose: Purpose,
}

/// Where a run is after it moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// At a step until `wake_at` (a delay's end, a wait's timeout).
    Waiting {
        /// The step.
        step: String,
        /// When it moves again unless an event wakes it first.
        wake_at: Timestamp,
    },
    /// Ended: `completed` (no step after) or `exit_step`.
    Done {
        /// Why.
        reason: &'static str,
    },
}

/// How a run moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    /// Messages to queue, in order.
    pub sends: Vec<SendAction>,
    /// Send steps passed without sending, their moment having passed.
    pub skipped: Vec<String>,
    /// Where it is now.
    pub position: Position,
    /// The steps it passed through, in order.
    pub path: Vec<String>,
}

/// The date a property names: an RFC 3339 instant read in `tz`, or a plain date.
fn date_of(value: Option<&Value>, tz: &TimeZone) -> Option<Date> {
    let text = value?.as_str()?;
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at.to_zoned(tz.clone()).date());
    }
    text.parse::<Date>().ok()
}

/// When a delay that starts at `now` ends; `None` when its date property is missing.
fn delay_end(delay: &Delay, facts: &RunFacts<'_>, now: Timestamp) -> Option<Timestamp> {
    match delay {
        Delay::For(d) => now.checked_add(*d).ok(),
        Delay::Until { property, days, local_time } => {
            let tz = facts.timezone.cloned().unwrap_or(TimeZone::UTC);
            let day = date_of(facts.properties.get(property), &tz)?.checked_add(jiff::Span::new().days(*days)).ok()?;
            tz.to_ambiguous_timestamp(day.to_datetime(*local_time)).compatible().ok()
        }
    }
}

/// When a date trigger starts a run for a patient whose date trait holds `value`: `days`
/// from the date at the local time in the patient's zone (UTC when unknown), every year on
/// its month and day when yearly (29 February on the 28th in other years). The first such
/// moment no more than a day before `from`, so a scan shortly after it still starts the run;
/// `None` when the value is not a date or a one-time date has passed.
pub fn occurrence(trigger: &Trigger, value: Option<&Value>, tz: Option<&TimeZone>, from: Timestamp) -> Option<Timestamp> {
    let Trigger::Date { days, local_time, yearly, .. } = trigger else { return None };
    let tz = tz.cloned().unwrap_or(TimeZone::UTC);
    let date = date_of(value, &tz)?;
    let earliest = from.checked_sub(jiff::SignedDuration::from_hours(24)).ok()?;
    let at = |d: Date| -> Option<Timestamp> {
        let day = d.checked_add(jiff::Span::new().days(*days)).ok()?;
        tz.to_ambiguous_timestamp(day.to_datetime(*local_time)).compatible().ok()
    };
    if !*yearly {
        return at(date).filter(|t| *t >= earliest);
    }
    let year = from.to_zoned(tz.clone()).year();
    (year - 1..=year + 1).find_map(|y| {
        let d = Date::new(y, date.month(), date.day()).or_else(|_| Date::new(y, date.month(), date.day() - 1)).ok()?;
        at(d).filter(|t| *t >= earliest)
    })
}

/// When a run waiting at `step` should wake after its properties changed (a rescheduled
/// appointment moves every relative delay): the delay's new end, at once when that has
/// passed; `None` when the step is not a relative delay.
pub fn rewake(journey: &Journey, step: &str, facts: &RunFacts<'_>, now: Timestamp) -> Option<Timestamp> {
    match &journey.step(step)?.kind {
        StepKind::Delay { delay: delay @ Delay::Until { .. }, .. } => Some(delay_end(delay, facts, now).map_or(now, |end| end.max(now))),
        _ => None,
    }
}

/// How long after a delay's moment a run that only now reaches it still does what follows.
pub const LATE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Moves a run from `step` (where it already waits when `waiting`) as far as it goes at
/// `now`. A run that reaches a delay whose moment passed more than [`LATE_GRACE`] ago (a
/// booking made after "two days before") skips that moment: the messages up to the next
/// delay or wait are not sent (they are listed in `skipped`). A wait goes on when its event
/// happened and to `timeout_next` when woken without it.
pub fn advance(journey: &Journey, step: &str, waiting: bool, facts: &RunFacts<'_>, now: Timestamp) -> Advance {
    let mut out = Advance { sends: Vec::new(), skipped: Vec::new(), position: Position::Done { reason: "completed" }, path: Vec::new() };
    let mut current = Some(step.to_owned());
    let mut waiting = waiting;
    let mut past_moment = false;
    let late = now.checked_sub(LATE_GRACE).unwrap_or(now);
    // The definition has no cycle without a delay or a wait; a loop through delays whose
    // moments have all passed stops here instead of spinning.
    for _ in 0..=journey.steps.len() * 2 {
        let Some(id) = current.take() else { return out };
        let Some(step) = journey.step(&id) else { return out };
        out.path.push(id.clone());
        let was_waiting = std::mem::replace(&mut waiting, false);
        current = match &step.kind {
            StepKind::Send { channels, templates, by, choices, purpose, next } => {
                let chosen = match by {
                    Some(property) => facts.properties.get(property).and_then(Value::as_str).and_then(|code| choices.get(code)),
                    None => Some(templates),
                };
                match chosen {
                    Some(_) if past_moment => out.skipped.push(id.clone()),
                    Some(templates) => out.sends.push(SendAction { step: id.clone(), channels: channels.clone(), templates: templates.clone(), purpose: purpose.unwrap_or(journey.purpose) }),
                    None => {}
                }
                next.clone()
            }
            StepKind::Delay { delay, next } => {
                if !was_waiting {
                    match delay_end(delay, facts, now) {
                        Some(end) if end > now => {
                            out.position = Position::Waiting { step: id, wake_at: end };
                            return out;
                        }
                        Some(end) => past_moment = end < late,
                        None => {}
                    }
                } else {
                    past_moment = false;
                }
                next.clone()
            }
            StepKind::Wait { event, timeout, next, timeout_next } => {
                past_moment = false;
                if facts.happened.contains(event) {
                    next.clone()
                } else if was_waiting {
                    timeout_next.clone()
                } else {
                    out.position = Position::Waiting { step: id, wake_at: now.checked_add(*timeout).unwrap_or(now) };
                    return out;
                }
            }
            StepKind::Branch { condition, then, otherwise } => {
                Some(if condition.holds(facts.properties, facts.traits, facts.happened) { then.clone() } else { otherwise.clone() })
            }
            StepKind::Exit => {
                out.position = Position::Done { reason: "exit_step" };
                return out;
            }
        };
    }
    out.position = Position::Done { reason: "loop_limit" };
    out
}
