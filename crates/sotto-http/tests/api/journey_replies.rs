//! Replies to a journey's texts, on both engines: "C" confirms the appointment whose run is
//! waiting on it and the confirmed reminder follows, "R" records a reschedule request for the
//! appointment whose text went out last,
//! other words are kept as an event without them, a stranger gets the same answer, and a
//! STOP still opts out.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use sotto_core::scope::Scope;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::journeys::{definition, messages, submit, track};
use crate::support::{TestApp, read, spawn_app_on};

async fn text(t: &TestApp, key: &str, body: &str) -> String {
    let res = t.post("/v1/inbound/sms", key).form(&[("From", "+13122530142"), ("To", "+13125550100"), ("Body", body), ("MessageSid", "SM1")]).send().await.expect("send");
    res.text().await.expect("body")
}

async fn events(t: &TestApp, name: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT properties FROM events WHERE name = $1 ORDER BY id").bind(name).fetch_all(t.store().pool()).await.expect("events")
}

#[tokio::test]
async fn a_c_reply_confirms_the_appointment_the_run_waits_on_and_r_asks_to_reschedule_it() {
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        patient(&t, "p-1").await;
        let (_, created) = t.post_json("/v1/journeys", &definition(&t).await).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let reviewer = t.key(&[Scope::Compliance, Scope::JourneysRead]).await;
        submit(&t, &id, 1).await;
        assert_eq!(read(t.post(&format!("/v1/journeys/{id}/versions/1/approve"), &reviewer).send().await.expect("send")).await.0, 200);
        let now = Timestamp::now();
        let chicago = TimeZone::get("America/Chicago").expect("zone");
        let ten = |days: i64| now.to_zoned(chicago.clone()).date().checked_add(jiff::Span::new().days(days)).expect("date").at(10, 0, 0, 0).to_zoned(chicago.clone()).expect("zoned").timestamp();
        // A-100 three days out, A-200 five: each gets its preparation text two days before.
        track(&t, 1, "appointment_booked", "A-100", ten(3)).await;
        track(&t, 2, "appointment_booked", "A-200", ten(5)).await;
        t.app.journey_round(now, 100).await.expect("round");
        t.app.journey_round(ten(1), 100).await.expect("round");
        let inbound = t.key(&[Scope::InboundWrite]).await;

        let answer = text(&t, &inbound, "what time again?").await;
        assert!(!answer.contains("<Message>"), "{answer}");
        assert_eq!(events(&t, "sms_reply_received").await, ["{}"], "kept without its words");

        // A-100 waits for the answer to its text; A-200 has sent none yet.
        let answer = text(&t, &inbound, "C").await;
        assert!(answer.contains("we received your reply"), "{answer}");
        assert_eq!(events(&t, "appointment_confirmed").await, [r#"{"appointment_id":"A-100"}"#]);
        let woken = t.app.journey_round(ten(1) + SignedDuration::from_mins(1), 100).await.expect("round");
        assert_eq!(woken.advanced, 1, "{woken:?}");
        let sms: Vec<String> = messages(&t).await.into_iter().filter(|m| m.0 == "sms").map(|m| m.1).collect();
        assert_eq!(sms.len(), 2, "preparation, then the reminder for a confirmed appointment: {sms:?}");

        // Two days on, A-200's preparation text goes out: an R now answers it.
        t.app.journey_round(ten(3), 100).await.expect("round");
        text(&t, &inbound, "R").await;
        assert_eq!(events(&t, "appointment_reschedule_requested").await, [r#"{"appointment_id":"A-200"}"#]);

        // A stop still wins.
        let answer = text(&t, &inbound, "yes stop texting me").await;
        assert!(answer.contains("unsubscribed"), "{answer}");
    }
}
