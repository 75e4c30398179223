//! Time-based journey triggers, on both engines: entering a segment starts one run per
//! patient (a scan repeated starts none twice; a patient who joins later gets one), a
//! yearly date trait starts a run waiting for ten o'clock on the day in the patient's zone
//! and schedules the next a year on, one leader starts runs while another holds the lock, and bad
//! triggers are refused with the field named.

use jiff::{SignedDuration, Timestamp};
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use sotto_core::scope::Scope;
use sotto_store::JourneyStore;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::support::{TestApp, read, spawn_app_on};

async fn approved(t: &TestApp, trigger: Value) -> String {
    let template = t.library_template("Visit follow-up (email)").await;
    let body = json!({"name": "Welcome series", "purpose": "treatment", "trigger": trigger, "steps": [{"id": "welcome", "type": "send", "channels": ["email"], "template_id": template}]});
    let (code, created) = t.post_json("/v1/journeys", &body).await;
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    crate::journeys::submit(t, &id, 1).await;
    let reviewer = t.key(&[Scope::Compliance]).await;
    assert_eq!(read(t.post(&format!("/v1/journeys/{id}/versions/1/approve"), &reviewer).send().await.expect("send")).await.0, 200);
    id
}

async fn queued(t: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = 'journey'").fetch_one(t.store().pool()).await.expect("count")
}

#[tokio::test]
async fn entering_a_segment_starts_one_run_per_patient_and_a_later_member_gets_one_too() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        patient(&t, "p-2").await;
        let (_, segment) = t.post_json("/v1/segments", &json!({"name": "Chicago patients", "definition": "timezone = \"America/Chicago\""})).await;
        let id = approved(&t, json!({"segment": segment["id"]})).await;
        let now = Timestamp::now();
        if backend == sotto_store::Backend::Postgres {
            // Another process leads: this one starts nothing while the lock is held.
            let mut other = t.store().pool().acquire().await.expect("connection");
            sqlx::query("SELECT pg_advisory_lock(7310575183461248623)").execute(&mut *other).await.expect("lock");
            assert_eq!(t.app.journey_scan(now).await.expect("scan"), 0, "not the leader");
            sqlx::query("SELECT pg_advisory_unlock(7310575183461248623)").execute(&mut *other).await.expect("unlock");
        }
        assert_eq!(t.app.journey_scan(now).await.expect("scan"), 2);
        assert_eq!(t.app.journey_scan(now).await.expect("scan"), 0, "a scan repeated starts none twice");
        patient(&t, "p-3").await;
        assert_eq!(t.app.journey_scan(now).await.expect("scan"), 1, "a patient who joins later");
        t.app.journey_round(now, 100).await.expect("round");
        assert_eq!(queued(&t).await, 3);
        let keys: Vec<String> = t.store().journey_run_keys(&id).await.expect("keys").into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(keys.len(), 3, "runs keyed by the patient: {keys:?}");
    }
}

#[tokio::test]
async fn a_yearly_date_starts_a_run_at_ten_local_on_the_day_and_again_a_year_later() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        let spec = json!({"kind": "trait", "name": "birthday", "class": "non_phi", "value_type": "date", "description": "month and day of birth, for greetings"});
        assert_eq!(t.post_json("/v1/dictionary/fields", &spec).await.0, 201);
        let chicago = TimeZone::get("America/Chicago").expect("zone");
        let now = Timestamp::now();
        let day = now.to_zoned(chicago.clone()).date().checked_add(jiff::Span::new().days(3)).expect("date");
        patient(&t, "p-1").await;
        let birthday = jiff::civil::Date::new(1980, day.month(), day.day()).expect("date");
        let (code, body) = t.post_json("/v1/identify", &json!({"userId": "p-1", "traits": {"birthday": birthday.to_string()}})).await;
        assert_eq!(code, 200, "{body}");
        let (code, refused) = t.post_json("/v1/identify", &json!({"userId": "p-1", "traits": {"birthday": "the third"}})).await;
        assert_eq!((code, refused["error"]["field"].as_str()), (422, Some("traits.birthday")), "{refused}");
        approved(&t, json!({"date": "birthday", "local_time": "10:00", "yearly": true})).await;

        assert_eq!(t.app.journey_scan(now).await.expect("scan"), 1);
        let ten = day.at(10, 0, 0, 0).to_zoned(chicago.clone()).expect("zoned").timestamp();
        assert_eq!(t.app.journey_round(ten - SignedDuration::from_mins(1), 100).await.expect("round").advanced, 0, "not before ten on the day");
        assert_eq!(t.app.journey_round(ten, 100).await.expect("round").advanced, 1);
        assert_eq!(queued(&t).await, 1);
        assert_eq!(t.app.journey_scan(ten + SignedDuration::from_hours(2)).await.expect("scan"), 0, "once a year");
        let next_year = ten + SignedDuration::from_hours(24 * 320);
        assert_eq!(t.app.journey_scan(next_year).await.expect("scan"), 1, "a year on, the next birthday's run");
        let next = day.checked_add(jiff::Span::new().years(1)).expect("date").at(10, 0, 0, 0).to_zoned(chicago).expect("zoned").timestamp();
        let (_, timeline) = t.post_json("/v1/journeys/timeline", &json!({"run_key": "p-1"})).await;
        assert_eq!((timeline["runs"][0]["state"].as_str(), &timeline["runs"][0]["wake_at"]), (Some("active"), &json!(next.to_string())), "{timeline}");
    }
}

#[tokio::test]
async fn bad_triggers_are_refused_with_the_field_named() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        let template = t.library_template("Visit follow-up (email)").await;
        let steps = json!([{"id": "welcome", "type": "send", "channels": ["email"], "template_id": template}]);
        for (trigger, run_key, code, field) in [
            (json!({"segment": "seg_0000000000000000"}), None, "unknown_segment", "trigger.segment"),
            (json!({"segment": "seg_0000000000000000"}), Some("appointment_id"), "unexpected_run_key", "run_key"),
            (json!({"date": "status", "local_time": "10:00"}), None, "not_a_date", "trigger.date"),
            (json!({"date": "birthday", "local_time": "ten"}), None, "invalid_trigger", "trigger"),
        ] {
            let mut body = json!({"name": "Welcome series", "purpose": "treatment", "trigger": trigger, "steps": steps});
            if let Some(key) = run_key {
                body["run_key"] = json!(key);
            }
            let (status, answer) = t.post_json("/v1/journeys", &body).await;
            assert_eq!(status, 422, "{answer}");
            let errors = answer["error"]["errors"].as_array().cloned().unwrap_or_default();
            assert!(errors.iter().any(|e| e["code"] == code && e["field"] == field), "{code}: {answer}");
        }
    }
}
