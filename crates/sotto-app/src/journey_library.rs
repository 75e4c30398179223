//! The appointment journey that ships with Sotto (seed 001): a confirmation when the
//! appointment is booked, a preparation SMS two days before at 10:00 in the patient's zone,
//! a reminder the day before that depends on whether the patient confirmed, and an end when
//! the appointment is cancelled. Built from the library's approved templates.

use serde_json::{Value, json};

use sotto_store::Store;

use crate::{App, AppError, RequestCtx};

/// The built-in journey's name.
pub const APPOINTMENT_JOURNEY: &str = "Appointment journey";

/// The definition, with the library's template ids.
fn definition(confirmation: &str, reminder: &str) -> Value {
    json!({
        "name": APPOINTMENT_JOURNEY, "purpose": "treatment", "run_key": "appointment_id",
        "trigger": {"event": "appointment_booked"}, "exit_on": ["appointment_cancelled", "appointment_no_show"],
        "steps": [
            {"id": "confirmation", "type": "send", "channels": ["email", "sms"], "template_id": {"email": confirmation, "sms": reminder}, "next": "two_days_before"},
            {"id": "two_days_before", "type": "delay", "until": {"property": "appointment_start", "days": -2, "local_time": "10:00"}, "next": "preparation"},
            {"id": "preparation", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": reminder, "email": confirmation}, "next": "day_before"},
            {"id": "day_before", "type": "delay", "until": {"property": "appointment_start", "days": -1, "local_time": "10:00"}, "next": "confirmed"},
            {"id": "confirmed", "type": "branch", "condition": {"happened": "appointment_confirmed"}, "then": "standard_reminder", "else": "ask_to_confirm"},
            {"id": "standard_reminder", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": reminder, "email": confirmation}},
            {"id": "ask_to_confirm", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": reminder, "email": confirmation}, "next": "confirmation_wait"},
            {"id": "confirmation_wait", "type": "wait", "event": "appointment_confirmed", "timeout": "12h"}
        ]
    })
}

impl<S: Store> App<S> {
    /// Writes the built-in journey by `author` and has `reviewer` approve it, unless a journey
    /// of that name exists. Answers its id when it was added.
    pub async fn load_appointment_journey(&self, author: &RequestCtx, reviewer: &RequestCtx) -> Result<Option<String>, AppError> {
        if self.store.journeys().await?.iter().any(|j| j.name == APPOINTMENT_JOURNEY) {
            return Ok(None);
        }
        let templates = self.store.templates().await?;
        let id_of = |name: &str| templates.iter().find(|t| t.name == name).map(|t| t.id.clone()).ok_or(AppError::NotFound("library template"));
        let body = definition(&id_of("Appointment confirmation (email)")?, &id_of("Appointment reminder (SMS)")?);
        let made = self.write_journey(author, None, &body).await?;
        let id = made["id"].as_str().ok_or(AppError::Internal("a written journey has no id"))?.to_owned();
        self.approve_journey(reviewer, &id, 1).await?;
        Ok(Some(id))
    }
}
