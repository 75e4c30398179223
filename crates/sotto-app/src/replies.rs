//! Replies to a journey's texts: a confirmation becomes `appointment_confirmed` for the
//! appointment the patient's run is asking about, "R" becomes a reschedule request for it,
//! and any other reply is kept as `sms_reply_received` without its words. The events go in
//! through ingestion like any other, so the runs read them on their next round.

use serde_json::{Map, Value, json};

use sotto_core::journey::StepKind;
use sotto_core::sms_keywords::SmsCommand;
use sotto_store::{RunRow, Store};

use crate::{App, AppError, Principal, RequestCtx};

const CONFIRMED: &str = "appointment_confirmed";

impl<S: Store> App<S> {
    /// The run a reply is about, and the property its key goes in: among the patient's
    /// active runs of journeys that read a confirmation, one waiting for it first, then the
    /// one due soonest.
    async fn asked_run(&self, external_id: &str, journeys: &crate::journey_runner::Journeys) -> Result<Option<(RunRow, Option<String>)>, AppError> {
        let mut candidates: Vec<(bool, RunRow, Option<String>)> = Vec::new();
        for run in self.store.active_runs_for_patient(external_id).await? {
            let Some(journey) = journeys.versions.get(&(run.journey_id.clone(), run.version)) else { continue };
            if !journey.events().contains(CONFIRMED) {
                continue;
            }
            let waiting = run.waiting && matches!(journey.step(&run.step).map(|s| &s.kind), Some(StepKind::Wait { event, .. }) if event == CONFIRMED);
            candidates.push((waiting, run, journey.run_key.clone()));
        }
        // Runs come soonest first; a stable sort keeps that order within each group.
        candidates.sort_by_key(|(waiting, _, _)| !*waiting);
        Ok(candidates.into_iter().next().map(|(_, run, key)| (run, key)))
    }

    /// Records what a reply means for each patient with the number it came from.
    pub(crate) async fn record_reply(&self, ctx: &RequestCtx, patients: &[String], command: SmsCommand) -> Result<(), AppError> {
        let journeys = self.runnable_journeys().await?;
        let mut calls = Vec::with_capacity(patients.len());
        for patient in patients {
            let asked = match command {
                SmsCommand::Confirm | SmsCommand::Reschedule => self.asked_run(patient, &journeys).await?,
                _ => None,
            };
            let (event, properties) = match (command, asked) {
                // The run's key goes in its property; a run keyed by the patient needs none.
                (SmsCommand::Confirm, Some((run, key))) => (CONFIRMED, key.into_iter().map(|k| (k, Value::String(run.run_key.clone()))).collect()),
                (SmsCommand::Reschedule, Some((run, key))) => ("appointment_reschedule_requested", key.into_iter().map(|k| (k, Value::String(run.run_key.clone()))).collect()),
                _ => ("sms_reply_received", Map::new()),
            };
            let id = format!("sms-reply-{}", sotto_crypto::random_id(8));
            calls.push(json!({"type": "track", "userId": patient, "event": event, "properties": properties, "messageId": id}));
        }
        if calls.is_empty() {
            return Ok(());
        }
        let system = RequestCtx { principal: Principal::system("sms-reply"), request_id: ctx.request_id.clone(), source_ip: None, now: ctx.now };
        self.ingest_calls(&system, &calls, None).await?;
        Ok(())
    }
}
