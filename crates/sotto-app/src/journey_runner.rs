//! The journey scheduler: events read into runs (a trigger starts one run per key, a later
//! event on the key updates its context and moves relative delays, a waited-for event wakes
//! it, an exit event or the goal ends it and withdraws its queued messages), then due runs
//! moved through their steps, each send queued in the outbox under the key (journey version,
//! run key and start, move, step) in the transaction that moves the run. Time is passed in.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use sotto_core::contact::Channel;
use sotto_core::journey::{Journey, Position, RunFacts, StepKind, Trigger, advance, rewake};
use sotto_crypto::Keyring;
use sotto_store::{AuditContext, JourneyIntake, OutboxRow, PatientRecord, PendingEvent, RunAdvancer, RunChange, RunRow, Store};

use crate::gate_state::contact_channels;
use crate::journeys::stored_journey;
use crate::{App, AppError, micros};

/// What one scheduler round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JourneyRoundReport {
    /// Events read.
    pub events: usize,
    /// Runs moved.
    pub advanced: usize,
}

/// A run's context: the properties of the events on its key and which events happened.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Context {
    #[serde(default)]
    pub(crate) properties: Map<String, Value>,
    #[serde(default)]
    pub(crate) happened: BTreeSet<String>,
    /// How many times the run has moved: part of each send's key, so a step visited again
    /// (a loop through a delay) sends again, while a move repeated after a crash does not.
    #[serde(default)]
    pub(crate) moves: u64,
}

impl Context {
    fn read(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    fn write(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn traits_of(patient: Option<&PatientRecord>) -> Map<String, Value> {
    patient.and_then(|p| serde_json::from_str(&p.traits).ok()).unwrap_or_default()
}

fn zone_of(patient: Option<&PatientRecord>) -> Option<TimeZone> {
    patient.and_then(|p| p.timezone.as_deref()).and_then(|tz| TimeZone::get(tz).ok())
}

fn key_value(properties: &Map<String, Value>, key: &str) -> Option<String> {
    match properties.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A journey's approved version.
pub(crate) struct Live {
    pub(crate) version: i64,
    pub(crate) journey: Journey,
}

/// The approved version of each journey, and every version runs may still be on.
pub(crate) struct Journeys {
    pub(crate) live: BTreeMap<String, Live>,
    pub(crate) versions: BTreeMap<(String, i64), Journey>,
    /// The events each version reads.
    reads: BTreeMap<(String, i64), BTreeSet<String>>,
}

struct Intake<'a> {
    journeys: &'a Journeys,
    keyring: &'a Keyring,
    now: i64,
}

impl Intake<'_> {
    /// The runs an event may touch: for every version runs may be on (an archived or
    /// superseded one's runs still hear their exits and waits), the key it gives.
    fn touched(&self, event: &PendingEvent) -> Vec<(String, String, Map<String, Value>)> {
        let properties: Map<String, Value> = serde_json::from_str(&event.properties).unwrap_or_default();
        let mut out: Vec<(String, String, Map<String, Value>)> = Vec::new();
        for ((id, version), journey) in &self.journeys.versions {
            if !self.journeys.reads.get(&(id.clone(), *version)).is_some_and(|events| events.contains(&event.name)) {
                continue;
            }
            // Runs of a segment or date trigger are keyed by the patient.
            let key = match &journey.run_key {
                Some(property) => key_value(&properties, property),
                None => Some(event.external_id.clone()),
            };
            if let Some(key) = key.filter(|k| !out.iter().any(|(i, o, _)| i == id && o == k)) {
                out.push((id.clone(), key, properties.clone()));
            }
        }
        out
    }
}

impl JourneyIntake for Intake<'_> {
    fn keys(&self, event: &PendingEvent) -> Vec<(String, String)> {
        self.touched(event).into_iter().map(|(id, key, _)| (id, key)).collect()
    }

    fn apply(&self, event: &PendingEvent, runs: &[Option<RunRow>], patient: Option<&PatientRecord>) -> Vec<RunChange> {
        let mut out = Vec::new();
        for ((id, key, properties), run) in self.touched(event).into_iter().zip(runs) {
            let live = self.journeys.live.get(&id);
            match run {
                // An event about another patient never touches this one's run.
                Some(run) if run.external_id != event.external_id => {}
                Some(run) if run.state == "active" => {
                    let Some(journey) = self.journeys.versions.get(&(run.journey_id.clone(), run.version)) else { continue };
                    let mut run = run.clone();
                    run.updated_at = self.now;
                    let mut context = Context::read(&run.context);
                    let ending = if journey.exit_on.contains(&event.name) { Some("exit_event") } else { journey.goal.as_ref().filter(|g| **g == event.name).map(|_| "goal") };
                    if let Some(reason) = ending {
                        run.state = "done".into();
                        run.wake_at = None;
                        run.exit_reason = Some(reason.into());
                        out.push(RunChange { run, withdraw: true });
                        continue;
                    }
                    context.happened.insert(event.name.clone());
                    context.properties.extend(properties);
                    let (traits, tz) = (traits_of(patient), zone_of(patient));
                    let facts = RunFacts { properties: &context.properties, traits: &traits, happened: &context.happened, timezone: tz.as_ref() };
                    let now = Timestamp::from_microsecond(self.now).unwrap_or_default();
                    if run.waiting {
                        let woken = matches!(journey.step(&run.step).map(|s| &s.kind), Some(StepKind::Wait { event: waited, .. }) if *waited == event.name);
                        if woken {
                            run.wake_at = Some(self.now);
                        } else if let Some(at) = rewake(journey, &run.step, &facts, now) {
                            run.wake_at = Some(micros(at));
                        }
                    }
                    run.context = context.write();
                    out.push(RunChange { run, withdraw: false });
                }
                // One run per key, unless the journey lets a key whose run ended start again
                // after a stated interval.
                Some(ended) if live.is_none_or(|l| l.journey.reentry_after.is_none_or(|after| ended.started_at.saturating_add(after.as_micros() as i64) > self.now)) => {}
                _ => {
                    // Only an approved version starts runs.
                    let Some(Live { version: live_version, journey: live, .. }) = live else { continue };
                    let Trigger::Event { event: trigger, condition } = &live.trigger else { continue };
                    if event.name != *trigger {
                        continue;
                    }
                    let happened = BTreeSet::new();
                    let traits = traits_of(patient);
                    if condition.as_ref().is_some_and(|c| !c.holds(&properties, &traits, &happened)) {
                        continue;
                    }
                    let context = Context { properties, happened, ..Context::default() };
                    if let Some(run) = new_run(self.keyring, &id, *live_version, live, key, &event.external_id, &context, self.now, self.now) {
                        out.push(RunChange { run, withdraw: false });
                    }
                }
            }
        }
        out
    }
}

/// A run of `journey` (version `version`) for `key`, at its first step, due at `wake_at`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_run(keyring: &Keyring, journey_id: &str, version: i64, journey: &Journey, key: String, external_id: &str, context: &Context, wake_at: i64, now: i64) -> Option<RunRow> {
    let first = journey.steps.first()?;
    let id = keyring.message_ref(&format!("journey-run:{journey_id}/{key}")).replacen("msg_", "run_", 1);
    Some(RunRow {
        id,
        journey_id: journey_id.to_owned(),
        version,
        run_key: key,
        external_id: external_id.to_owned(),
        step: first.id.clone(),
        waiting: false,
        context: context.write(),
        state: "active".into(),
        wake_at: Some(wake_at),
        exit_reason: None,
        messages: String::new(),
        started_at: now,
        updated_at: now,
    })
}

struct Advancer<'a> {
    journeys: &'a Journeys,
    keyring: &'a Keyring,
    now: Timestamp,
}

impl Advancer<'_> {
    /// The first channel the patient has a verified address for, else the first (where the
    /// gate then says why not), as campaigns choose.
    fn channel(&self, channels: &[Channel], patient: Option<&PatientRecord>) -> Channel {
        let (reachable, verified) = patient.and_then(|p| contact_channels(self.keyring, p).ok()).unwrap_or_default();
        channels.iter().copied().find(|c| reachable.contains(c) && verified.contains(c)).or(channels.first().copied()).unwrap_or(Channel::Email)
    }
}

impl RunAdvancer for Advancer<'_> {
    fn advance(&self, run: &RunRow, patient: Option<&PatientRecord>) -> (RunRow, Vec<OutboxRow>) {
        let mut moved = run.clone();
        moved.updated_at = micros(self.now);
        let Some(journey) = self.journeys.versions.get(&(run.journey_id.clone(), run.version)) else {
            moved.state = "done".into();
            moved.wake_at = None;
            moved.exit_reason = Some("version_withdrawn".into());
            return (moved, Vec::new());
        };
        let mut context = Context::read(&run.context);
        context.moves += 1;
        let (traits, tz) = (traits_of(patient), zone_of(patient));
        let facts = RunFacts { properties: &context.properties, traits: &traits, happened: &context.happened, timezone: tz.as_ref() };
        let step = advance(journey, &run.step, run.waiting, &facts, self.now);
        let properties = Value::Object(context.properties.clone()).to_string();
        let messages = step
            .sends
            .iter()
            .filter_map(|send| {
                let channel = self.channel(&send.channels, patient);
                let template = send.templates.get(&channel)?;
                // The run's start tells a run that re-entered from the one before it.
                let id = self.keyring.message_ref(&format!("journey:{}@{}/{}/{}/{}/{}", run.journey_id, run.version, run.run_key, run.started_at, context.moves, send.step));
                Some(OutboxRow {
                    source: "journey".into(),
                    channel: channel.as_str().into(),
                    purpose: send.purpose.as_str().into(),
                    topic: journey.topic.clone(),
                    template_id: template.clone(),
                    context: properties.clone(),
                    journey_ref: Some(format!("{}@{}/{}", run.journey_id, run.version, send.step)),
                    ..OutboxRow::queued(id, run.external_id.clone(), micros(self.now))
                })
            })
            .collect();
        moved.context = context.write();
        match step.position {
            Position::Waiting { step, wake_at } => {
                moved.step = step;
                moved.waiting = true;
                moved.wake_at = Some(micros(wake_at));
            }
            Position::Done { reason } => {
                moved.step = step.path.last().cloned().unwrap_or(moved.step);
                moved.state = "done".into();
                moved.waiting = false;
                moved.wake_at = None;
                moved.exit_reason = Some(reason.into());
            }
        }
        (moved, messages)
    }
}

impl<S: Store> App<S> {
    pub(crate) async fn runnable_journeys(&self) -> Result<Journeys, AppError> {
        let mut out = Journeys { live: BTreeMap::new(), versions: BTreeMap::new(), reads: BTreeMap::new() };
        for row in self.store.journeys().await?.into_iter().filter(|r| r.state != "draft") {
            let journey = stored_journey(&row)?;
            if row.state == "approved" {
                out.live.insert(row.id.clone(), Live { version: row.version, journey: journey.clone() });
            }
            out.reads.insert((row.id.clone(), row.version), journey.events());
            out.versions.insert((row.id, row.version), journey);
        }
        Ok(out)
    }

    /// One scheduler round at `now`: every unread event into runs, then up to `limit` due
    /// runs moved.
    pub async fn journey_round(&self, now: Timestamp, limit: i64) -> Result<JourneyRoundReport, AppError> {
        let journeys = self.runnable_journeys().await?;
        let audit = AuditContext { actor: "system:journeys".into(), request_id: String::new(), source_ip: None, at_micros: micros(now) };
        let mut report = JourneyRoundReport::default();
        let intake = Intake { journeys: &journeys, keyring: &self.keyring, now: micros(now) };
        loop {
            let read = self.store.journey_intake(500, &intake, micros(now), &audit).await?;
            report.events += read;
            if read < 500 {
                break;
            }
        }
        let advancer = Advancer { journeys: &journeys, keyring: &self.keyring, now };
        report.advanced = self.store.advance_due_runs(micros(now), limit, &advancer, &audit).await?;
        Ok(report)
    }
}
