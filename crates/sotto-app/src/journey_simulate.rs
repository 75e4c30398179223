//! A dry run of a journey for one patient: the path a run would take from its trigger, when
//! each step would happen (assuming no event arrives but those named), and the gate's
//! decision with its reasons for each message, at that moment. Nothing is queued or sent; a
//! real patient's dry run is audited.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

use sotto_core::audit::{Outcome, action};
use sotto_core::consent::{ConsentRecord, ConsentSource, ConsentState, ConsentStatus};
use sotto_core::contact::Channel;
use sotto_core::error::FieldError;
use sotto_core::gate::{Decision, PatientState, decide};
use sotto_core::ids::ExternalId;
use sotto_core::journey::{Position, RunFacts, advance};
use sotto_core::purpose::ConsentKind;
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::dispatch::Dispatch;
use crate::eligibility::reason_codes;
use crate::gate_state::state_from_inputs;
use crate::journeys::stored_journey;
use crate::{App, AppError, RequestCtx};

/// The most steps a dry run walks before it stops (a journey may loop through delays).
const MAX_MOVES: usize = 64;

fn invalid(code: &'static str, field: &str, message: &str) -> AppError {
    AppError::Invalid(vec![FieldError::new(code, field, message)])
}

/// A synthetic patient: `{"timezone"?, "traits"?, "channels"?: [verified channels], "opted_in"?: [channels]}`.
fn synthetic(body: &Value, now: Timestamp) -> Result<(PatientState, Map<String, Value>), AppError> {
    let channels = |key: &str| -> Result<BTreeSet<Channel>, AppError> {
        body.get(key).and_then(Value::as_array).map_or(Ok(BTreeSet::new()), |list| {
            list.iter().enumerate().map(|(i, c)| Channel::parse(&format!("patient.{key}[{i}]"), c.as_str().unwrap_or_default()).map_err(|e| AppError::Invalid(vec![e]))).collect()
        })
    };
    let mut state = PatientState::default();
    state.reachable = channels("channels")?;
    state.verified = state.reachable.clone();
    if let Some(tz) = body.get("timezone").and_then(Value::as_str) {
        state.timezone = Some(TimeZone::get(tz).map_err(|_| invalid("invalid_timezone", "patient.timezone", "an IANA zone such as America/Chicago"))?);
    }
    let consents: Vec<ConsentRecord> = channels("opted_in")?
        .into_iter()
        .map(|channel| ConsentRecord {
            channel,
            topic: None,
            status: ConsentStatus::OptedIn,
            kind: if channel == Channel::Sms { ConsentKind::ExpressWritten } else { ConsentKind::Express },
            source: ConsentSource::WebForm,
            captured_at: now,
            evidence: json!({"method": "simulation"}),
        })
        .collect();
    state.consents = ConsentState::derive(&consents);
    let traits = body.get("traits").and_then(Value::as_object).cloned().unwrap_or_default();
    state.state_of_residence = traits.get("state_of_residence").and_then(Value::as_str).map(str::to_owned);
    Ok((state, traits))
}

impl<S: Store> App<S> {
    /// `POST /v1/journeys/{id}/simulate {"patient_id" | "patient", "event": {"properties"}, "happened"?, "version"?}`.
    pub async fn simulate_journey(&self, ctx: &RequestCtx, id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::JourneysRead, &crate::path_object("journey", "jrn_", id)).await?;
        let rows = self.store.journey_versions(id).await?;
        let row = match body.get("version").and_then(Value::as_i64) {
            Some(v) => rows.iter().find(|r| r.version == v),
            None => rows.last(),
        }
        .ok_or(AppError::NotFound("journey version"))?;
        let journey = stored_journey(row)?;
        let (state, traits) = match (body.get("patient_id").and_then(Value::as_str), body.get("patient")) {
            (Some(raw), None) => {
                self.require(ctx, Scope::ConsentRead, &crate::path_object("journey", "jrn_", id)).await?;
                let external = ExternalId::parse("patient_id", raw).map_err(AppError::invalid)?;
                let inputs = self.store.gate_inputs(&[external.as_str().to_owned()], self.sends_horizon(ctx.now)).await?;
                let inputs = inputs.get(external.as_str()).ok_or(AppError::NotFound("patient"))?;
                let object = format!("journey:{}/patient:{}", row.id, self.keyring.patient_ref(external.as_str()));
                self.store.append_audit(vec![ctx.audit().event(action::JOURNEY_SIMULATE, object, Outcome::Success.as_str())]).await?;
                (state_from_inputs(&self.keyring, inputs)?, serde_json::from_str(&inputs.patient.traits).unwrap_or_default())
            }
            (None, Some(patient)) => synthetic(patient, ctx.now)?,
            _ => return Err(invalid("invalid_patient", "patient", "give either patient_id (a real patient, audited) or patient (a synthetic one)")),
        };
        let properties = body.get("event").and_then(|e| e.get("properties")).and_then(Value::as_object).cloned().unwrap_or_default();
        let happened: BTreeSet<String> = body.get("happened").and_then(Value::as_array).map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default();
        let facts = RunFacts { properties: &properties, traits: &traits, happened: &happened, timezone: state.timezone.as_ref() };
        let (mut step, mut waiting, mut at) = (journey.steps.first().map(|s| s.id.clone()).unwrap_or_default(), false, ctx.now);
        let mut path = Vec::new();
        let mut ends = Value::Null;
        for _ in 0..MAX_MOVES {
            let moved = advance(&journey, &step, waiting, &facts, at);
            // A step the run was already waiting at is listed once, where it started waiting.
            for passed in moved.path.iter().skip(usize::from(waiting)) {
                let mut entry = json!({"step": passed, "at": at.to_string()});
                if moved.skipped.contains(passed) {
                    entry["skipped"] = json!("its moment had passed");
                }
                if let Some(send) = moved.sends.iter().find(|s| &s.step == passed) {
                    let channel = send.channels.iter().copied().find(|c| state.reachable.contains(c) && state.verified.contains(c)).or(send.channels.first().copied()).unwrap_or(Channel::Email);
                    let template_id = send.templates.get(&channel).cloned().unwrap_or_default();
                    let dispatch = Dispatch { channel, purpose: send.purpose, topic: None, uses_phi: true, template_id: template_id.clone() };
                    let intent = self.dispatch_intent(&dispatch, at).await?;
                    let decision = decide(&intent, Some(&state), &self.settings.gate, at);
                    let name = match decision {
                        Decision::Allow => "allow",
                        Decision::Defer { .. } => "defer",
                        Decision::Deny { .. } => "deny",
                    };
                    entry["send"] = json!({"channel": channel.as_str(), "template_id": template_id, "decision": name, "reasons": reason_codes(&decision).split_whitespace().collect::<Vec<_>>()});
                }
                path.push(entry);
            }
            match moved.position {
                Position::Waiting { step: next, wake_at } => {
                    if let Some(last) = path.last_mut() {
                        last["waits_until"] = json!(wake_at.to_string());
                    }
                    (step, waiting, at) = (next, true, wake_at);
                }
                Position::Done { reason } => {
                    ends = json!({"reason": reason, "at": at.to_string()});
                    break;
                }
            }
        }
        Ok(json!({"journey_id": row.id, "version": row.version, "path": path, "ends": ends}))
    }
}
