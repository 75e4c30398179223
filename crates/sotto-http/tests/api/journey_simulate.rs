//! A journey's dry run, on both engines: the path a synthetic patient's run would take with
//! each step's time and each message's gate decision, another path when the confirmation
//! happens, a real patient's dry run audited, and nothing ever queued.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use sotto_core::scope::Scope;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::journeys::definition;
use crate::support::{read, spawn_app_on};

fn steps(answer: &Value) -> Vec<String> {
    answer["path"].as_array().expect("path").iter().map(|s| s["step"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_dry_run_shows_the_path_each_steps_time_and_each_gate_decision_and_sends_nothing() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        let (_, created) = t.post_json("/v1/journeys", &definition(&t).await).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let chicago = TimeZone::get("America/Chicago").expect("zone");
        let day = Timestamp::now().to_zoned(chicago.clone()).date().checked_add(jiff::Span::new().days(5)).expect("date");
        let start = day.at(9, 0, 0, 0).to_zoned(chicago.clone()).expect("zoned").timestamp();
        let two_before = day.checked_sub(jiff::Span::new().days(2)).expect("date").at(10, 0, 0, 0).to_zoned(chicago).expect("zoned").timestamp();
        let synthetic = json!({"timezone": "America/Chicago", "channels": ["email", "sms"], "opted_in": ["email", "sms"]});
        let body = json!({"patient": synthetic, "event": {"properties": {"appointment_id": "A-1", "appointment_start": start.to_string()}}});
        let (code, dry) = t.post_json(&format!("/v1/journeys/{id}/simulate"), &body).await;
        assert_eq!(code, 200, "{dry}");
        assert_eq!(steps(&dry), ["confirmation", "two_days_before", "preparation", "confirm_wait", "unconfirmed"], "{dry}");
        let path = dry["path"].as_array().expect("path");
        assert_eq!(path[1]["waits_until"], json!(two_before.to_string()), "10:00 in the patient's zone two days before");
        assert_eq!(path[2]["at"], json!(two_before.to_string()));
        assert_eq!((path[2]["send"]["channel"].as_str(), path[2]["send"]["decision"].as_str()), (Some("sms"), Some("allow")), "no push token: SMS, allowed: {dry}");
        assert_eq!(dry["ends"]["reason"], "completed");

        let mut confirmed = body.clone();
        confirmed["happened"] = json!(["appointment_confirmed"]);
        assert_eq!(steps(&t.post_json(&format!("/v1/journeys/{id}/simulate"), &confirmed).await.1), ["confirmation", "two_days_before", "preparation", "confirm_wait", "confirmed"]);
        let unreachable = json!({"patient": {"timezone": "America/Chicago"}, "event": body["event"]});
        let (_, dry) = t.post_json(&format!("/v1/journeys/{id}/simulate"), &unreachable).await;
        assert_eq!(dry["path"][0]["send"]["decision"], "deny", "a patient with no address is denied, and the reasons say why: {dry}");

        // A real patient: the key needs consent:read, and the dry run is audited.
        let reader = t.key(&[Scope::JourneysRead]).await;
        let real = json!({"patient_id": "p-1", "event": body["event"]});
        assert_eq!(read(t.post(&format!("/v1/journeys/{id}/simulate"), &reader).json(&real).send().await.expect("send")).await.0, 403);
        let (code, dry) = t.post_json(&format!("/v1/journeys/{id}/simulate"), &real).await;
        assert_eq!((code, dry["path"][0]["send"]["channel"].as_str()), (200, Some("email")), "{dry}");
        let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'journey.simulate'").fetch_one(t.store().pool()).await.expect("audit");
        assert_eq!(audited, 1);
        let (code, refused) = t.post_json(&format!("/v1/journeys/{id}/simulate"), &json!({"event": body["event"]})).await;
        assert_eq!((code, refused["error"]["field"].as_str()), (422, Some("patient")), "{refused}");
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(t.store().pool()).await.expect("outbox");
        assert_eq!(queued, 0, "a dry run sends nothing");
    }
}
