//! The appointment journey that ships with Sotto (seed 001): a confirmation when the
//! appointment is booked; two days before at 10:00 in the patient's zone, a preparation SMS
//! with the forms link; the day before, a reminder if the patient confirmed or a request to
//! confirm (and a wait for it) if not, then what to expect on a first visit; two days after,
//! a follow-up chosen by the coded appointment type; a reschedule moves every delay; an end
//! when it is cancelled or missed.
//! Built from the library's approved templates, generic wording only.

use serde_json::{Value, json};

use sotto_store::Store;

use crate::{App, AppError, RequestCtx};

/// The built-in journey's name.
pub const APPOINTMENT_JOURNEY: &str = "Appointment journey";

/// The library templates the journey sends, by role.
struct Templates {
    confirmation: String,
    reminder: String,
    preparation: String,
    please_confirm: String,
    first_visit: String,
}

/// The definition, with the library's template ids and the clinic's follow-up by coded
/// appointment type (code to template id).
fn definition(t: &Templates, follow_ups: &serde_json::Map<String, Value>) -> Value {
    let mut steps = vec![
        json!({"id": "confirmation", "type": "send", "channels": ["email", "sms"], "template_id": {"email": t.confirmation, "sms": t.reminder}, "next": "two_days_before"}),
        json!({"id": "two_days_before", "type": "delay", "until": {"property": "appointment_start", "days": -2, "local_time": "10:00"}, "next": "preparation"}),
        json!({"id": "preparation", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": t.preparation, "email": t.confirmation}, "next": "day_before"}),
        json!({"id": "day_before", "type": "delay", "until": {"property": "appointment_start", "days": -1, "local_time": "10:00"}, "next": "confirmed"}),
        json!({"id": "confirmed", "type": "branch", "condition": {"happened": "appointment_confirmed"}, "then": "standard_reminder", "else": "ask_to_confirm"}),
        json!({"id": "standard_reminder", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": t.reminder, "email": t.confirmation}, "next": "first_visit"}),
        json!({"id": "ask_to_confirm", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": t.please_confirm, "email": t.confirmation}, "next": "confirmation_wait"}),
        json!({"id": "confirmation_wait", "type": "wait", "event": "appointment_confirmed", "timeout": "12h", "next": "first_visit", "timeout_next": "first_visit"}),
        json!({"id": "first_visit", "type": "branch", "condition": {"property": "first_visit", "equals": true}, "then": "what_to_expect", "else": "two_days_after"}),
        json!({"id": "what_to_expect", "type": "send", "channels": ["email"], "template_id": t.first_visit, "next": "two_days_after"}),
    ];
    if follow_ups.is_empty() {
        steps.push(json!({"id": "two_days_after", "type": "exit"}));
    } else {
        steps.push(json!({"id": "two_days_after", "type": "delay", "until": {"property": "appointment_start", "days": 2, "local_time": "10:00"}, "next": "follow_up"}));
        steps.push(json!({"id": "follow_up", "type": "send", "channels": ["email"], "by": "appointment_type", "choices": follow_ups}));
    }
    json!({
        "name": APPOINTMENT_JOURNEY, "purpose": "treatment", "run_key": "appointment_id",
        "trigger": {"event": "appointment_booked"}, "exit_on": ["appointment_cancelled", "appointment_no_show"], "update_on": ["appointment_rescheduled"],
        "steps": steps,
    })
}

impl<S: Store> App<S> {
    /// Writes the built-in journey by `author` and has `reviewer` approve it, unless a journey
    /// of that name exists. `follow_ups` maps the clinic's appointment-type codes to the name
    /// of the library template sent two days after (codes are the clinic's own; a type with
    /// none gets no follow-up). Answers its id when it was added.
    pub async fn load_appointment_journey(&self, author: &RequestCtx, reviewer: &RequestCtx, follow_ups: &[(&str, &str)]) -> Result<Option<String>, AppError> {
        if self.store.journeys().await?.iter().any(|j| j.name == APPOINTMENT_JOURNEY) {
            return Ok(None);
        }
        let library = self.store.templates().await?;
        let id_of = |name: &str| library.iter().find(|t| t.name == name).map(|t| t.id.clone()).ok_or(AppError::NotFound("library template"));
        let templates = Templates {
            confirmation: id_of("Appointment confirmation (email)")?,
            reminder: id_of("Appointment reminder (SMS)")?,
            preparation: id_of("Visit preparation (SMS)")?,
            please_confirm: id_of("Please confirm (SMS)")?,
            first_visit: id_of("First visit (email)")?,
        };
        let follow_ups = follow_ups.iter().map(|(code, name)| Ok(((*code).to_owned(), json!(id_of(name)?)))).collect::<Result<_, AppError>>()?;
        let body = definition(&templates, &follow_ups);
        let made = self.write_journey(author, None, &body).await?;
        let id = made["id"].as_str().ok_or(AppError::Internal("a written journey has no id"))?.to_owned();
        self.submit_journey(author, &id, 1).await?;
        self.approve_journey(reviewer, &id, 1, &Value::Null).await?;
        Ok(Some(id))
    }
}
