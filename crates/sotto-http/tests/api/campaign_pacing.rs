//! The worker keeps a campaign's timing: each patient's message waits for the local send
//! time in the zone the patient has when it is due (so a patient who moves is followed), and
//! a throttled campaign leaves the queue no faster than its rate, read on the worker's clock.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use sotto_app::DispatchSettings;
use sotto_app::deliver::Providers;
use sotto_core::scope::Scope;
use sotto_store::testing::backends;

use crate::campaigns::compliant;
use crate::outbox::daytime;
use crate::support::{TestApp, read, spawn_app_with};

async fn identify(t: &TestApp, id: &str, zone: &str) {
    let traits = json!({"email": format!("{id}@example.org"), "email_verified": true, "timezone": zone, "state_of_residence": "IL"});
    let (code, body) = t.post_json("/v1/identify", &json!({"userId": id, "traits": traits})).await;
    assert_eq!(code, 200, "{body}");
}

/// Patients opted in to email, a segment of them, a campaign approved by a second key and
/// launched; answers its id.
async fn launched(t: &TestApp, patients: &[(&str, &str)], schedule: Value, throttle: Option<u32>) -> String {
    for (id, zone) in patients {
        identify(t, id, zone).await;
        let consent = json!({"channel": "email", "status": "opted_in", "kind": "express", "source": "web_form", "captured_at": "2026-01-05T10:00:00Z", "evidence": {"form_version": "intake-v1"}});
        assert_eq!(t.post_json(&format!("/v1/patients/{id}/consents"), &consent).await.0, 201);
    }
    let (code, segment) = t.post_json("/v1/segments", &json!({"name": "Illinois residents", "definition": "state_of_residence = \"IL\""})).await;
    assert_eq!(code, 201, "{segment}");
    let template = t.library_template("Monthly newsletter (email)").await;
    let mut body = json!({"name": "Winter newsletter", "segment_id": segment["id"], "template_id": template, "channels": ["email"], "purpose": "marketing", "schedule": schedule});
    if let Some(per_minute) = throttle {
        body["throttle_per_minute"] = json!(per_minute);
    }
    let (code, campaign) = t.post_json("/v1/campaigns", &body).await;
    assert_eq!(code, 201, "{campaign}");
    let id = campaign["id"].as_str().expect("id").to_owned();
    let reviewer = t.key(&[Scope::Compliance]).await;
    assert_eq!(read(t.post(&format!("/v1/campaigns/{id}/approve"), &reviewer).json(&json!({})).send().await.expect("send")).await.0, 200);
    let (code, body) = read(t.post(&format!("/v1/campaigns/{id}/launch"), &t.admin_key).json(&json!({})).send().await.expect("send")).await;
    assert_eq!((code, body["state"].as_str()), (200, Some("launched")), "{body}");
    id
}

async fn round(t: &TestApp, at: Timestamp) -> sotto_app::RoundReport {
    t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), at).await.expect("round")
}

fn ten_tomorrow(zone: &str) -> Timestamp {
    let tomorrow = Timestamp::now().to_zoned(TimeZone::UTC).date().tomorrow().expect("date");
    tomorrow.at(10, 0, 0, 0).in_tz(zone).expect("zone").timestamp()
}

#[tokio::test]
async fn each_patient_gets_a_local_time_campaign_at_ten_in_the_zone_they_have_when_it_is_due() {
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), compliant()).await;
        let date = Timestamp::now().to_zoned(TimeZone::UTC).date().tomorrow().expect("date");
        let schedule = json!({"local_time": "10:00", "date": date.to_string()});
        launched(&t, &[("p-east", "America/New_York"), ("p-central", "America/Chicago")], schedule, None).await;
        let (east, central, west) = (ten_tomorrow("America/New_York"), ten_tomorrow("America/Chicago"), ten_tomorrow("America/Los_Angeles"));

        let early = round(&t, east - jiff::SignedDuration::from_mins(1)).await;
        assert_eq!((early.claimed, early.waiting, early.sent), (2, 2, 0), "before ten anywhere both wait: {early:?}");
        let at_ten_east = round(&t, east).await;
        assert_eq!((at_ten_east.claimed, at_ten_east.sent), (1, 1), "ten in New York sends to New York only: {at_ten_east:?}");

        // The Chicago patient moves west before ten in Chicago: the worker follows the move.
        identify(&t, "p-central", "America/Los_Angeles").await;
        let at_ten_central = round(&t, central).await;
        assert_eq!((at_ten_central.claimed, at_ten_central.waiting, at_ten_central.sent), (1, 1, 0), "{at_ten_central:?}");
        assert_eq!(round(&t, west - jiff::SignedDuration::from_secs(1)).await.claimed, 0, "nothing is claimed before it is due");
        let at_ten_west = round(&t, west).await;
        assert_eq!((at_ten_west.claimed, at_ten_west.sent), (1, 1), "{at_ten_west:?}");
        assert_eq!(t.app.mailbox().list().len(), 2);
    }
}

#[tokio::test]
async fn a_throttled_campaign_leaves_the_queue_no_faster_than_its_rate_on_the_workers_clock() {
    for backend in backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), compliant()).await;
        let patients: Vec<(String, &str)> = (0..5).map(|n| (format!("p-{n}"), "America/Chicago")).collect();
        let patients: Vec<(&str, &str)> = patients.iter().map(|(id, zone)| (id.as_str(), *zone)).collect();
        let start = daytime();
        launched(&t, &patients, json!({"at": start.to_string()}), Some(60)).await;

        let mut sent = Vec::new();
        for at in [start, start, start + jiff::SignedDuration::from_secs(1), start + jiff::SignedDuration::from_millis(1500), start + jiff::SignedDuration::from_secs(10)] {
            sent.push(round(&t, at).await.sent);
        }
        // 60 a minute: one at once, none more in the same instant, one a second later, none
        // half a second after that, and no burst after a pause of nine seconds.
        assert_eq!(sent, [1, 0, 1, 0, 1], "one a second");
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'queued'").fetch_one(t.store().pool()).await.expect("count");
        assert_eq!(queued, 2, "the rest wait in the queue, not pre-scheduled");
        let last = round(&t, start + jiff::SignedDuration::from_secs(60)).await;
        assert_eq!(last.sent, 1, "{last:?}");
    }
}
