//! Journeys over HTTP on both engines, with the scheduler on a clock the test holds: a
//! booking starts one run per appointment and queues the confirmation once, two days before
//! at ten local the preparation SMS, a confirmation wakes the wait, a cancellation ends its
//! run and withdraws what it queued (its timeline shows it), an overdue review pauses runs until a review, the
//! built-in appointment journey runs from booking to its follow-up, and bad
//! definitions are refused with the path into them.

use jiff::{SignedDuration, Timestamp};
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use sotto_core::scope::Scope;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::support::{TestApp, read, spawn_app_on};

pub async fn definition(t: &TestApp) -> Value {
    let email = t.library_template("Appointment confirmation (email)").await;
    let sms = t.library_template("Appointment reminder (SMS)").await;
    let push = t.library_template("Appointment reminder (push)").await;
    json!({
        "name": "Appointment journey", "purpose": "treatment", "run_key": "appointment_id",
        "trigger": {"event": "appointment_booked"}, "exit_on": ["appointment_cancelled"],
        "steps": [
            {"id": "confirmation", "type": "send", "channels": ["email"], "template_id": email, "next": "two_days_before"},
            {"id": "two_days_before", "type": "delay", "until": {"property": "appointment_start", "days": -2, "local_time": "10:00"}, "next": "preparation"},
            {"id": "preparation", "type": "send", "channels": ["push", "sms"], "template_id": {"push": push, "sms": sms}, "next": "confirm_wait"},
            {"id": "confirm_wait", "type": "wait", "event": "appointment_confirmed", "timeout": "20h", "next": "confirmed", "timeout_next": "unconfirmed"},
            {"id": "confirmed", "type": "send", "channels": ["sms"], "template_id": sms},
            {"id": "unconfirmed", "type": "send", "channels": ["email"], "template_id": email}
        ]
    })
}

/// Submits a draft version for approval.
pub async fn submit(t: &TestApp, id: &str, version: i64) {
    let (code, body) = read(t.post(&format!("/v1/journeys/{id}/versions/{version}/submit"), &t.admin_key).send().await.expect("send")).await;
    assert_eq!(code, 200, "{body}");
}

pub async fn track(t: &TestApp, n: u32, event: &str, appointment: &str, start: Timestamp) {
    let body = json!({"userId": "p-1", "event": event, "messageId": format!("ev-{n}"), "properties": {"appointment_id": appointment, "appointment_start": start.to_string()}});
    let (code, answer) = t.post_json("/v1/track", &body).await;
    assert_eq!(code, 200, "{answer}");
}

pub async fn messages(t: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT channel, template_id, state FROM outbox WHERE source = 'journey' ORDER BY created_at, id").fetch_all(t.store().pool()).await.expect("outbox")
}

#[tokio::test]
async fn an_appointment_run_confirms_prepares_at_ten_two_days_before_wakes_on_confirmation_and_a_cancellation_withdraws() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        let body = definition(&t).await;
        let (code, created) = t.post_json("/v1/journeys", &body).await;
        assert_eq!((code, created["state"].as_str(), created["version"].as_i64()), (201, Some("draft"), Some(1)), "{created}");
        assert!(created["fields_used"].as_array().is_some_and(|f| f.contains(&json!("property.appointment_start"))), "fields come from the definition: {created}");
        assert!(created["fields_used"].as_array().is_some_and(|f| f.contains(&json!("trait.first_name"))), "and from what its templates read: {created}");
        let id = created["id"].as_str().expect("id").to_owned();
        let approve = format!("/v1/journeys/{id}/versions/1/approve");
        let (code, refused) = read(t.post(&approve, &t.key(&[Scope::Compliance]).await).send().await.expect("send")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("journey_not_submitted")), "a draft is submitted first: {refused}");
        submit(&t, &id, 1).await;
        let (code, refused) = read(t.post(&approve, &t.admin_key).send().await.expect("send")).await;
        assert_eq!((code, refused["error"]["code"].as_str()), (409, Some("self_approval")), "{refused}");
        // A compliance key alone approves (as the README makes one) and sees the result.
        let reviewer = t.key(&[Scope::Compliance]).await;
        let (code, approved) = read(t.post(&approve, &reviewer).send().await.expect("send")).await;
        assert_eq!(code, 200, "{approved}");
        assert_eq!(approved["versions"][0]["approved_hash"].as_str().map(str::len), Some(64), "{approved}");

        // Booked three days out, at 09:00 in Chicago; two days before at 10:00 local.
        let now = Timestamp::now();
        let day = now.to_zoned(TimeZone::get("America/Chicago").expect("zone")).date().checked_add(jiff::Span::new().days(3)).expect("date");
        let start = day.at(9, 0, 0, 0).in_tz("America/Chicago").expect("zoned").timestamp();
        let two_before = day.checked_sub(jiff::Span::new().days(2)).expect("date").at(10, 0, 0, 0).in_tz("America/Chicago").expect("zoned").timestamp();
        track(&t, 1, "appointment_booked", "A-100", start).await;
        track(&t, 2, "appointment_booked", "A-200", start).await;
        let first = t.app.journey_round(now, 100).await.expect("round");
        assert_eq!((first.events, first.advanced), (2, 2), "{first:?}");
        assert_eq!(t.app.journey_round(now, 100).await.expect("round").advanced, 0, "both wait for two days before");
        track(&t, 3, "appointment_booked", "A-100", start).await;
        track(&t, 4, "appointment_cancelled", "A-200", start).await;
        t.app.journey_round(now, 100).await.expect("round");
        let queued = messages(&t).await;
        assert_eq!(queued.len(), 2, "one confirmation per appointment, never twice: {queued:?}");
        assert_eq!(queued.iter().filter(|m| m.2 == "cancelled").count(), 1, "the cancelled appointment's confirmation is withdrawn: {queued:?}");

        let before = t.app.journey_round(two_before - SignedDuration::from_mins(1), 100).await.expect("round");
        assert_eq!(before.advanced, 0);
        let prep = t.app.journey_round(two_before, 100).await.expect("round");
        assert_eq!(prep.advanced, 1, "the cancelled run does not move: {prep:?}");
        assert_eq!(messages(&t).await.iter().filter(|m| m.0 == "sms").count(), 1, "the preparation SMS: the patient has no push token, so the next channel");

        track(&t, 5, "appointment_confirmed", "A-100", start).await;
        let woken = t.app.journey_round(two_before + SignedDuration::from_hours(1), 100).await.expect("round");
        assert_eq!(woken.advanced, 1, "the confirmation wakes the wait: {woken:?}");
        let sent = messages(&t).await;
        assert_eq!(sent.iter().filter(|m| m.0 == "sms").count(), 2, "the reminder for a confirmed appointment: {sent:?}");

        let (code, runs) = read(t.get(&format!("/v1/journeys/{id}/runs"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(code, 200, "{runs}");
        assert_eq!((runs["entered"].as_str(), runs["exited_by_reason"]["exit_event"].as_str()), (Some("fewer than 11"), Some("fewer than 11")), "{runs}");

        // One appointment's timeline: the key in the body, never the URL; audited.
        let (code, timeline) = t.post_json("/v1/journeys/timeline", &json!({"run_key": "A-200"})).await;
        assert_eq!(code, 200, "{timeline}");
        let run = &timeline["runs"][0];
        assert_eq!((run["state"].as_str(), run["exit_reason"].as_str(), run["messages"][0]["state"].as_str()), (Some("done"), Some("exit_event"), Some("cancelled")), "{timeline}");
        assert_eq!(run["messages"][0]["sent_by"], json!(format!("{id}@1/confirmation")), "each send records the version and step: {timeline}");
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'journey.timeline'").fetch_one(t.store().pool()).await.expect("audit");
        assert_eq!(audited, 1);
        assert_eq!(t.post_json("/v1/journeys/timeline", &json!({})).await.1["error"]["field"], "run_key");
        assert_eq!(t.post_json("/v1/journeys/timeline", &json!({"run_key": "A-999"})).await.0, 404);
    }
}

#[tokio::test]
async fn an_overdue_review_pauses_runs_and_says_why_until_compliance_reviews_the_journey() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        let (_, created) = t.post_json("/v1/journeys", &definition(&t).await).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let reviewer = t.key(&[Scope::Compliance, Scope::JourneysRead]).await;
        submit(&t, &id, 1).await;
        assert_eq!(read(t.post(&format!("/v1/journeys/{id}/versions/1/approve"), &reviewer).send().await.expect("send")).await.0, 200);
        sqlx::query("UPDATE journeys SET review_due = 1").execute(t.store().pool()).await.expect("overdue");
        track(&t, 1, "appointment_booked", "A-1", Timestamp::now() + SignedDuration::from_hours(24 * 5)).await;
        let now = Timestamp::now();
        assert_eq!(t.app.journey_round(now, 100).await.expect("round").advanced, 0, "an overdue review pauses runs");
        let (_, journey) = read(t.get(&format!("/v1/journeys/{id}"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(journey["versions"][0]["runs_paused_because"], "review_overdue", "{journey}");
        assert_eq!(read(t.post(&format!("/v1/journeys/{id}/review"), &reviewer).send().await.expect("send")).await.0, 200);
        assert_eq!(t.app.journey_round(now, 100).await.expect("round").advanced, 1, "a review resumes them");
        assert_eq!(messages(&t).await.len(), 1);
    }
}

#[tokio::test]
async fn bad_journey_definitions_are_refused_with_the_path_into_them_and_nothing_written() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        let good = definition(&t).await;
        let cases = [
            ("/exit_on/0", json!("appointment_vanished"), "unknown_event", "exit_on[0]"),
            ("/steps/0/template_id", json!("tpl_0000000000000000"), "unknown_template", "steps[0].template_id"),
            ("/steps/1/next", json!("nowhere"), "unknown_step", "steps[1].next"),
            ("/steps/1/until/property", json!("diagnosis"), "sensitive_field", "steps[1].until.property"),
            ("/name", json!("HIV follow-up"), "health_term_in_name", "name"),
            ("/steps/0/id", json!("hiv_follow_up"), "health_term_in_definition", "steps[0].id"),
            ("/steps/2/template_id/sms", json!(t.library_template("Appointment confirmation (email)").await), "channel_mismatch", "steps[2].template_id.sms"),
            ("/trigger/event", json!("appointment_booked"), "", ""),
        ];
        for (pointer, value, code, field) in cases {
            let mut body = good.clone();
            *body.pointer_mut(pointer).expect("pointer") = value;
            let (code, field) = match code {
                // Keys a definition does not take are refused, at every level, and never repeated.
                "" => {
                    body["trigger"]["notes"] = json!("patient Jane Roe");
                    ("unknown_field", "trigger")
                }
                _ => (code, field),
            };
            let (status, answer) = t.post_json("/v1/journeys", &body).await;
            assert_eq!(status, 422, "{pointer}: {answer}");
            let errors = answer["error"]["errors"].as_array().cloned().unwrap_or_default();
            assert!(errors.iter().any(|e| e["code"] == code && e["field"] == field), "{pointer}: {answer}");
            assert!(!answer.to_string().contains("Jane"), "{answer}");
        }
        let (_, list) = read(t.get("/v1/journeys", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(list["journeys"].as_array().map(Vec::len), Some(0), "nothing written");
    }
}

#[tokio::test]
async fn the_built_in_appointment_journey_runs_from_booking_to_the_follow_up_chosen_by_the_coded_type() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        t.library_template("Appointment confirmation (email)").await;
        let who = |w: &str| sotto_app::RequestCtx { principal: sotto_app::Principal::system(w), request_id: "test".into(), source_ip: None, now: Timestamp::now() };
        let follow_ups = [("appt_type:5", "Next steps (email)")];
        let id = t.app.load_appointment_journey(&who("care-team"), &who("compliance"), &follow_ups).await.expect("load").expect("new");
        assert_eq!(t.app.load_appointment_journey(&who("care-team"), &who("compliance"), &follow_ups).await.expect("load"), None, "loaded once");
        let now = Timestamp::now();
        let start = now + SignedDuration::from_hours(24 * 4);
        let body = json!({"userId": "p-1", "event": "appointment_booked", "messageId": "b-1",
            "properties": {"appointment_id": "A-1", "appointment_start": start.to_string(), "appointment_type": "appt_type:5", "first_visit": true}});
        assert_eq!(t.post_json("/v1/track", &body).await.0, 200);
        // Rounds every six hours for a week: the run never needs an event to move on.
        for hours in (0..24 * 7).step_by(6) {
            t.app.journey_round(now + SignedDuration::from_hours(hours), 100).await.expect("round");
        }
        let names: Vec<String> = sqlx::query_scalar("SELECT t.name FROM outbox o JOIN templates t ON t.id = o.template_id WHERE o.source = 'journey' ORDER BY o.created_at, o.id")
            .fetch_all(t.store().pool())
            .await
            .expect("sent");
        assert_eq!(names, ["Appointment confirmation (email)", "Visit preparation (SMS)", "Please confirm (SMS)", "First visit (email)", "Next steps (email)"], "not confirmed, a first visit, type 5");
        let (_, runs) = read(t.get(&format!("/v1/journeys/{id}/runs"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(runs["exited_by_reason"]["completed"], "fewer than 11", "{runs}");
    }
}
