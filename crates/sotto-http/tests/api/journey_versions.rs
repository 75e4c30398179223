//! Journey versions and keys over time, on both engines: a new version moves running runs
//! only when its approver asks (step by step), a key whose run ended starts again only after
//! the journey's re-entry interval, an archived journey starts no run while those under way
//! finish, a reschedule moves a run's delays, and a run that meets its goal exits converted.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use sotto_core::scope::Scope;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::journeys::{definition, submit, track};
use crate::support::{TestApp, read, spawn_app_on};

/// Submits (when `version` is still a draft) and approves with a compliance key.
async fn approve(t: &TestApp, id: &str, version: i64, body: Value) -> (u16, Value) {
    let (_, journey) = read(t.get(&format!("/v1/journeys/{id}"), &t.admin_key).send().await.expect("send")).await;
    if journey["versions"].as_array().into_iter().flatten().any(|v| v["version"] == version && v["state"] == "draft") {
        submit(t, id, version).await;
    }
    let reviewer = t.key(&[Scope::Compliance]).await;
    read(t.post(&format!("/v1/journeys/{id}/versions/{version}/approve"), &reviewer).json(&body).send().await.expect("send")).await
}

async fn run_of(t: &TestApp, key: &str) -> Value {
    let (code, timeline) = t.post_json("/v1/journeys/timeline", &json!({"run_key": key})).await;
    assert_eq!(code, 200, "{timeline}");
    timeline["runs"][0].clone()
}

#[tokio::test]
async fn a_new_version_moves_running_runs_only_when_its_approver_asks_and_step_by_step() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        let v1 = definition(&t).await;
        let (_, created) = t.post_json("/v1/journeys", &v1).await;
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(approve(&t, &id, 1, Value::Null).await.0, 200);
        let now = Timestamp::now();
        track(&t, 1, "appointment_booked", "A-1", now + SignedDuration::from_hours(24 * 5)).await;
        track(&t, 9, "appointment_booked", "A-5", now + SignedDuration::from_hours(24 * 4)).await;
        t.app.journey_round(now, 100).await.expect("round");
        assert_eq!((run_of(&t, "A-1").await["version"].as_i64(), run_of(&t, "A-1").await["step"].as_str()), (Some(1), Some("two_days_before")));

        // Version 2 renames the delay; approved without moving runs, A-1 stays on version 1.
        let mut v2 = v1.clone();
        v2["steps"][1]["id"] = json!("prep_delay");
        v2["steps"][0]["next"] = json!("prep_delay");
        assert_eq!(t.post_json(&format!("/v1/journeys/{id}/versions"), &v2).await.0, 201);
        assert_eq!(approve(&t, &id, 2, Value::Null).await.0, 200);
        assert_eq!(run_of(&t, "A-1").await["version"], 1, "runs finish on the version they began");
        // The superseded version's old review date no longer pauses them: the journey's is the approved one's.
        sqlx::query("UPDATE journeys SET review_due = 1 WHERE version = 1").execute(t.store().pool()).await.expect("overdue");
        let wake: Timestamp = run_of(&t, "A-5").await["wake_at"].as_str().and_then(|w| w.parse().ok()).expect("wake");
        assert_eq!(t.app.journey_round(wake, 100).await.expect("round").advanced, 1, "runs on a superseded version still move");

        // Version 3 is approved with a mapping: A-1 moves, keeping its wait.
        assert_eq!(t.post_json(&format!("/v1/journeys/{id}/versions"), &v2).await.0, 201);
        let (code, refused) = approve(&t, &id, 3, json!({"move_runs": {"two_days_before": "nowhere"}})).await;
        assert_eq!((code, refused["error"]["field"].as_str()), (422, Some("move_runs.#1")), "{refused}");
        let before = run_of(&t, "A-1").await;
        assert_eq!(approve(&t, &id, 3, json!({"move_runs": {"two_days_before": "prep_delay"}})).await.0, 200);
        let after = run_of(&t, "A-1").await;
        assert_eq!((after["version"].as_i64(), after["step"].as_str(), &after["wake_at"]), (Some(3), Some("prep_delay"), &before["wake_at"]), "{after}");
    }
}

#[tokio::test]
async fn a_key_whose_run_ended_starts_again_only_after_the_reentry_interval_and_an_archived_journey_starts_none() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        let mut body = definition(&t).await;
        body["reentry_after"] = json!("30d");
        let (_, created) = t.post_json("/v1/journeys", &body).await;
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(approve(&t, &id, 1, Value::Null).await.0, 200);
        let now = Timestamp::now();
        let start = now + SignedDuration::from_hours(24 * 5);
        track(&t, 1, "appointment_booked", "A-1", start).await;
        track(&t, 2, "appointment_cancelled", "A-1", start).await;
        t.app.journey_round(now, 100).await.expect("round");
        assert_eq!(run_of(&t, "A-1").await["state"], "done");
        track(&t, 3, "appointment_booked", "A-1", start).await;
        t.app.journey_round(now + SignedDuration::from_hours(24), 100).await.expect("round");
        assert_eq!(run_of(&t, "A-1").await["state"], "done", "one run per key within the interval");
        track(&t, 4, "appointment_booked", "A-1", start + SignedDuration::from_hours(24 * 40)).await;
        t.app.journey_round(now + SignedDuration::from_hours(24 * 31), 100).await.expect("round");
        let again = run_of(&t, "A-1").await;
        assert_eq!(again["state"], "active", "{again}");
        assert_eq!(again["messages"].as_array().map(Vec::len), Some(1), "the new run queues its own confirmation: {again}");

        let (code, archived) = read(t.post(&format!("/v1/journeys/{id}/archive"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!((code, archived["versions"][0]["state"].as_str()), (200, Some("archived")), "{archived}");
        track(&t, 5, "appointment_booked", "A-2", start).await;
        // A-1's new appointment is 45 days out: two days before it, its run still moves.
        let round = t.app.journey_round(now + SignedDuration::from_hours(24 * 44), 100).await.expect("round");
        assert_eq!(round.advanced, 1, "the run under way still moves: {round:?}");
        assert_eq!(t.post_json("/v1/journeys/timeline", &json!({"run_key": "A-2"})).await.0, 404, "no run starts on an archived journey");
        track(&t, 6, "appointment_cancelled", "A-1", start).await;
        t.app.journey_round(now + SignedDuration::from_hours(24 * 44), 100).await.expect("round");
        assert_eq!(run_of(&t, "A-1").await["exit_reason"], "exit_event", "a run under way on an archived journey still hears its exit");
    }
}

#[tokio::test]
async fn a_rescheduled_appointment_moves_the_runs_delay_and_a_run_that_meets_its_goal_exits_counted_as_converted() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        let mut body = definition(&t).await;
        body["update_on"] = json!(["appointment_rescheduled"]);
        body["goal"] = json!("appointment_completed");
        let (_, created) = t.post_json("/v1/journeys", &body).await;
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(approve(&t, &id, 1, Value::Null).await.0, 200);
        let now = Timestamp::now();
        let start = now + SignedDuration::from_hours(24 * 5);
        track(&t, 1, "appointment_booked", "A-1", start).await;
        t.app.journey_round(now, 100).await.expect("round");
        let before = run_of(&t, "A-1").await;
        track(&t, 2, "appointment_rescheduled", "A-1", start + SignedDuration::from_hours(24 * 3)).await;
        t.app.journey_round(now, 100).await.expect("round");
        let after = run_of(&t, "A-1").await;
        let moved = |run: &Value| run["wake_at"].as_str().and_then(|w| w.parse::<Timestamp>().ok()).expect("wake");
        let chicago = jiff::tz::TimeZone::get("America/Chicago").expect("zone");
        let local = |at: Timestamp| at.to_zoned(chicago.clone()).datetime();
        assert_eq!(local(moved(&after)), local(moved(&before)).checked_add(jiff::Span::new().days(3)).expect("date"), "every relative delay moves with the appointment, at the same local time");

        patient(&t, "p-2").await;
        let other = json!({"userId": "p-2", "event": "appointment_cancelled", "messageId": "other-1", "properties": {"appointment_id": "A-1"}});
        assert_eq!(t.post_json("/v1/track", &other).await.0, 200);
        t.app.journey_round(now, 100).await.expect("round");
        assert_eq!(run_of(&t, "A-1").await["state"], "active", "another patient's event with the same key touches nothing");
        track(&t, 3, "appointment_completed", "A-1", start).await;
        t.app.journey_round(now, 100).await.expect("round");
        let done = run_of(&t, "A-1").await;
        assert_eq!((done["state"].as_str(), done["exit_reason"].as_str()), (Some("done"), Some("goal")), "{done}");
        let (_, runs) = read(t.get(&format!("/v1/journeys/{id}/runs"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!(runs["converted"], "fewer than 11", "{runs}");
    }
}
