//! A journey's definition read from JSON: a trigger event and the property that keys one run
//! per appointment (or other key), the events that end a run or update it, an optional goal, and steps
//! (send, delay, wait for an event, branch, exit). Every problem is reported with its path
//! into the definition; a step that points nowhere and a cycle without a delay are refused.
//! Pure: whether templates, events and properties exist is the caller's.

mod parse;
mod run;
mod triggers;

pub use parse::{MAX_STEPS, duration as parse_duration, parse_journey};
pub use run::{Advance, Position, RunFacts, SendAction, advance, occurrence, rewake};

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use jiff::civil::Time;
use serde_json::{Map, Value};

use crate::contact::Channel;
use crate::purpose::Purpose;

/// A condition over a run: its event properties, the patient's traits, and whether events
/// happened on its key.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// An event property of the run equals a value.
    Property {
        /// The property.
        name: String,
        /// The value.
        equals: Value,
    },
    /// A trait of the patient equals a value.
    Trait {
        /// The trait.
        name: String,
        /// The value.
        equals: Value,
    },
    /// An event with this name happened on the run's key.
    Happened(String),
    /// Every condition holds.
    All(Vec<Condition>),
    /// Some condition holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
}

/// How long a delay waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delay {
    /// A fixed duration.
    For(SignedDuration),
    /// A local clock time, `days` days from the date in a date property (negative: before),
    /// in the patient's zone.
    Until { property: String, days: i32, local_time: Time },
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Queue a message through the outbox: the first channel the patient can receive. The
    /// template of each channel, or chosen by a coded property (`by` names it, `choices`
    /// maps each code to a template per channel; a code without a choice sends nothing).
    /// `purpose` overrides the journey's for this message.
    Send { channels: Vec<Channel>, templates: BTreeMap<Channel, String>, by: Option<String>, choices: BTreeMap<String, BTreeMap<Channel, String>>, purpose: Option<Purpose>, next: Option<String> },
    /// Wait, then go on.
    Delay { delay: Delay, next: Option<String> },
    /// Wait for an event on the run's key, at most `timeout`.
    Wait { event: String, timeout: SignedDuration, next: Option<String>, timeout_next: Option<String> },
    /// Go one way or the other.
    Branch { condition: Condition, then: String, otherwise: String },
    /// End the run.
    Exit,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its id, unique in the journey.
    pub id: String,
    /// What it does.
    pub kind: StepKind,
}

/// What starts a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// An event (that meets a condition), keyed by one of its properties.
    Event {
        /// The event.
        event: String,
        /// A condition the event must meet.
        condition: Option<Condition>,
    },
    /// Entering a segment: one run per patient.
    Segment(String),
    /// A date trait: one run per patient at a local time on that date (`days` from it),
    /// every year when `yearly` (a birthday), else once.
    Date {
        /// The trait holding the date.
        property: String,
        /// Days from the date (negative: before).
        days: i32,
        /// The local time in the patient's zone.
        local_time: Time,
        /// Every year on the date's month and day.
        yearly: bool,
    },
}

/// A journey definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    /// What starts a run.
    pub trigger: Trigger,
    /// The event property that keys runs of an event trigger (one run per value); runs of a
    /// segment or date trigger are keyed by the patient.
    pub run_key: Option<String>,
    /// Why it sends (a send step may say otherwise).
    pub purpose: Purpose,
    /// `hipaa_authorization` when each recipient's authorization is the basis (marketing that
    /// uses PHI needs it; the gate checks each recipient's at send).
    pub authorization_basis: Option<String>,
    /// The preference topic.
    pub topic: Option<String>,
    /// Events that end a run at once and withdraw its queued messages.
    pub exit_on: Vec<String>,
    /// Events whose properties update a run's context (a rescheduled appointment moves every
    /// relative delay); a repeat of the trigger event on the key does too.
    pub update_on: Vec<String>,
    /// An event that counts as the run's conversion and ends it.
    pub goal: Option<String>,
    /// A key whose run ended may start again this long after that run started; `None`: one
    /// run per key, ever.
    pub reentry_after: Option<SignedDuration>,
    /// The steps; the first is where a run starts.
    pub steps: Vec<Step>,
}

impl Journey {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Every event the journey reads: trigger, exits, goal, waits and conditions.
    pub fn events(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.exit_on.iter().chain(&self.update_on).cloned().chain(self.goal.clone()).collect();
        if let Trigger::Event { event, .. } = &self.trigger {
            out.insert(event.clone());
        }
        for step in &self.steps {
            match &step.kind {
                StepKind::Wait { event, .. } => {
                    out.insert(event.clone());
                }
                StepKind::Branch { condition, .. } => condition.visit(&mut |c| {
                    if let Condition::Happened(e) = c {
                        out.insert(e.clone());
                    }
                }),
                _ => {}
            }
        }
        out
    }

    /// Every event property and trait the journey reads, as `property.x` and `trait.x`.
    pub fn fields(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.run_key.iter().map(|k| format!("property.{k}")).collect();
        let mut conditions: Vec<&Condition> = Vec::new();
        match &self.trigger {
            Trigger::Event { condition, .. } => conditions.extend(condition),
            Trigger::Date { property, .. } => drop(out.insert(format!("trait.{property}"))),
            Trigger::Segment(_) => {}
        }
        for step in &self.steps {
            match &step.kind {
                StepKind::Delay { delay: Delay::Until { property, .. }, .. } => {
                    out.insert(format!("property.{property}"));
                }
                StepKind::Send { by: Some(by), .. } => {
                    out.insert(format!("property.{by}"));
                }
                StepKind::Branch { condition, .. } => conditions.push(condition),
                _ => {}
            }
        }
        for c in conditions {
            c.visit(&mut |c| match c {
                Condition::Property { name, .. } => {
                    out.insert(format!("property.{name}"));
                }
                Condition::Trait { name, .. } => {
                    out.insert(format!("trait.{name}"));
                }
                _ => {}
            });
        }
        out
    }

    /// Every template a send step may use, with the channel it is used on.
    pub fn channel_templates(&self) -> BTreeSet<(Channel, String)> {
        let mut out = BTreeSet::new();
        for step in &self.steps {
            if let StepKind::Send { templates, choices, .. } = &step.kind {
                for map in std::iter::once(templates).chain(choices.values()) {
                    out.extend(map.iter().map(|(c, id)| (*c, id.clone())));
                }
            }
        }
        out
    }

    /// Every purpose its messages are sent for.
    pub fn purposes(&self) -> BTreeSet<Purpose> {
        let steps = self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Send { purpose, .. } => Some(purpose.unwrap_or(self.purpose)),
            _ => None,
        });
        std::iter::once(self.purpose).chain(steps).collect()
    }

    /// Every template a send step may use.
    pub fn templates(&self) -> BTreeSet<String> {
        self.channel_templates().into_iter().map(|(_, id)| id).collect()
    }
}

impl Condition {
    fn visit(&self, f: &mut impl FnMut(&Condition)) {
        f(self);
        match self {
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.visit(f)),
            Condition::Not(c) => c.visit(f),
            _ => {}
        }
    }

    /// Whether it holds for a run with these properties, traits and events.
    pub fn holds(&self, properties: &Map<String, Value>, traits: &Map<String, Value>, happened: &BTreeSet<String>) -> bool {
        match self {
            Condition::Property { name, equals } => properties.get(name) == Some(equals),
            Condition::Trait { name, equals } => traits.get(name) == Some(equals),
            Condition::Happened(event) => happened.contains(event),
            Condition::All(cs) => cs.iter().all(|c| c.holds(properties, traits, happened)),
            Condition::Any(cs) => cs.iter().any(|c| c.holds(properties, traits, happened)),
            Condition::Not(c) => !c.holds(properties, traits, happened),
        }
    }
}
