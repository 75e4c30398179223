//! Replies to a journey's texts: a confirmation becomes `appointment_confirmed` for the
//! appointment whose run is waiting for it, or else whose text went out last; "R" becomes a
//! reschedule request for it; any other reply is kept as `sms_reply_received` without its
//! words. The events go in
//! through ingestion like any other, so the runs read them on their next round.

use serde_json::{Map, Value, json};

use sotto_core::journey::StepKind;
use sotto_core::sms_keywords::SmsCommand;
use sotto_store::{RunRow, Store};

use crate::{App, AppError, Principal, RequestCtx};

const CONFIRMED: &str = "appointment_confirmed";

impl<S: Store> App<S> {
    /// The run a reply answers, among the active runs (of journeys that read a confirmation)
    /// of every patient with the number: one waiting for the confirmation first, then the one
    /// whose last text went out most recently. A run that sent no text is never the answer.
    async fn asked_run(&self, patients: &[String], journeys: &crate::journey_runner::Journeys) -> Result<Option<(RunRow, Option<String>)>, AppError> {
        let mut best: Option<((bool, i64), RunRow, Option<String>)> = None;
        for patient in patients {
            for run in self.store.active_runs_for_patient(patient).await? {
                let Some(journey) = journeys.versions.get(&(run.journey_id.clone(), run.version)) else { continue };
                if !journey.events().contains(CONFIRMED) {
                    continue;
                }
                let waiting = run.waiting && matches!(journey.step(&run.step).map(|s| &s.kind), Some(StepKind::Wait { event, .. }) if event == CONFIRMED);
                let mut last_text = None;
                for id in run.messages.split_whitespace() {
                    if let Some(m) = self.store.outbox_message(id).await?.filter(|m| m.channel == "sms") {
                        last_text = last_text.max(Some(m.created_at));
                    }
                }
                let Some(last_text) = last_text else { continue };
                let rank = (waiting, last_text);
                if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                    best = Some((rank, run, journey.run_key.clone()));
                }
            }
        }
        Ok(best.map(|(_, run, key)| (run, key)))
    }

    /// Records what a reply means: a confirmation or a reschedule request for the one run it
    /// answers (on that run's patient), else a reply without its words for each patient with
    /// the number.
    pub(crate) async fn record_reply(&self, ctx: &RequestCtx, patients: &[String], command: SmsCommand) -> Result<(), AppError> {
        let journeys = self.runnable_journeys().await?;
        let asked = match command {
            SmsCommand::Confirm | SmsCommand::Reschedule => self.asked_run(patients, &journeys).await?,
            _ => None,
        };
        let track = |patient: &str, event: &str, properties: Map<String, Value>| {
            json!({"type": "track", "userId": patient, "event": event, "properties": properties, "messageId": format!("sms-reply-{}", sotto_crypto::random_id(8))})
        };
        let calls: Vec<Value> = match asked {
            Some((run, key)) => {
                // The run's key goes in its property; a run keyed by the patient needs none.
                let properties: Map<String, Value> = key.into_iter().map(|k| (k, Value::String(run.run_key.clone()))).collect();
                let event = if command == SmsCommand::Confirm { CONFIRMED } else { "appointment_reschedule_requested" };
                vec![track(&run.external_id, event, properties)]
            }
            None => patients.iter().map(|p| track(p, "sms_reply_received", Map::new())).collect(),
        };
        if calls.is_empty() {
            return Ok(());
        }
        let system = RequestCtx { principal: Principal::system("sms-reply"), request_id: ctx.request_id.clone(), source_ip: None, now: ctx.now };
        self.ingest_calls(&system, &calls, None).await?;
        Ok(())
    }
}
