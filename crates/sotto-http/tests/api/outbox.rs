//! The outbox end to end: queueing under an idempotency key, the worker deciding at dispatch,
//! rendering the approved version and handing it to the sink, consent changes applying to
//! queued messages, the kill switch, provider failures, and two workers racing for a cap slot.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use sotto_app::deliver::{Accepted, OutgoingMessage, Provider, Providers, SendError, SendFuture};
use sotto_app::{DispatchSettings, RoundReport};
use sotto_core::contact::Channel;
use sotto_store::OutboxStore;
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::support::{TestApp, each_app, read, spawn_app_with};

/// Tomorrow at 17:00 UTC: inside the sending window of Chicago, and after any message queued now.
pub fn daytime() -> jiff::Timestamp {
    let tomorrow = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().tomorrow().expect("date");
    tomorrow.at(17, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).expect("zoned").timestamp()
}

pub async fn send(t: &TestApp, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = t.post("/v1/messages", &t.admin_key).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    read(request.send().await.expect("send")).await
}

async fn opt_in(t: &TestApp, id: &str, channel: &str) {
    let body = json!({"channel": channel, "status": "opted_in", "kind": "express_written", "source": "web_form", "captured_at": "2026-01-05T10:00:00Z",
        "evidence": {"form_version": "intake-v1"}});
    let (status, answer) = t.post_json(&format!("/v1/patients/{id}/consents"), &body).await;
    assert_eq!(status, 201, "{answer}");
}

async fn round(t: &TestApp, worker: &str, providers: &Providers) -> RoundReport {
    t.app.dispatch_round(worker, providers, &DispatchSettings::default(), daytime()).await.expect("round")
}

pub async fn status(t: &TestApp, id: &str) -> Value {
    let (code, body) = read(t.get(&format!("/v1/messages/{id}"), &t.admin_key).send().await.expect("send")).await;
    assert_eq!(code, 200, "{body}");
    body
}

fn reminder(template: &str, channel: &str) -> Value {
    json!({"patient": "p-1", "template_id": template, "channel": channel, "purpose": "treatment",
        "context": {"appointment_start": "2026-12-20T15:30:00Z", "provider_first_name": "Maria"}})
}

#[tokio::test]
async fn a_queued_email_is_decided_rendered_and_kept_by_the_sink_once_under_a_message_id_from_its_key() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let template = t.library_template("Appointment confirmation (email)").await;
        let (code, queued) = send(t, Some("appt-42-confirmation"), &reminder(&template, "email")).await;
        assert_eq!((code, queued["status"].as_str()), (202, Some("queued")), "{queued}");
        let id = queued["id"].as_str().expect("id").to_owned();
        let (code, again) = send(t, Some("appt-42-confirmation"), &reminder(&template, "email")).await;
        assert_eq!((code, again["id"].as_str()), (200, Some(id.as_str())), "the same key answers the same message: {again}");
        let other = json!({"patient": "p-2", "template_id": template, "channel": "email", "purpose": "treatment"});
        let (code, reused) = send(t, Some("appt-42-confirmation"), &other).await;
        assert_eq!((code, reused["error"]["code"].as_str()), (409, Some("idempotency_key_reused")), "{reused}");

        let providers = Providers::sink(t.app.mailbox());
        let report = round(t, "w-1", &providers).await;
        assert_eq!((report.claimed, report.sent), (1, 1), "{report:?}");
        assert_eq!(round(t, "w-1", &providers).await.claimed, 0, "a sent message is never claimed again");
        let kept = t.app.mailbox().list();
        assert_eq!(kept.len(), 1);
        let header = |name: &str| kept[0].headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        assert_eq!(header("Message-ID"), Some(format!("<{id}@clinic.example>")));
        assert_eq!(header("To").as_deref(), Some("ana@example.org"));
        assert_eq!(header("List-Unsubscribe"), None, "care messages carry no marketing unsubscribe header");
        assert!(kept[0].text.contains("Maria") && kept[0].html.as_deref().is_some_and(|h| h.contains("<p>")), "{:?}", kept[0].text);

        let view = status(t, &id).await;
        assert_eq!((view["status"].as_str(), view["decision"].as_str(), view["attempts"].as_i64()), (Some("sent"), Some("allow"), Some(1)), "{view}");
        assert_eq!(view["provider"], "sink");
        let text = view.to_string();
        assert!(!text.contains("ana@example.org") && !text.contains("Maria") && !text.contains("appt-42"), "no address, body or client key: {text}");
    })
    .await;
}

#[tokio::test]
async fn a_patient_who_reads_mexican_spanish_gets_the_spanish_variant_and_the_approved_english_otherwise() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let (code, body) = t.post_json("/v1/identify", &json!({"userId": "p-1", "traits": {"language": "es-MX"}})).await;
        assert_eq!(code, 200, "{body}");
        patient(t, "p-2").await;
        let template = t.library_template("Appointment confirmation (email)").await;
        send(t, Some("appt-1"), &reminder(&template, "email")).await;
        let english = json!({"patient": "p-2", "template_id": template, "channel": "email", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
        send(t, Some("appt-2"), &english).await;
        assert_eq!(round(t, "w-1", &Providers::sink(t.app.mailbox())).await.sent, 2);
        let kept = t.app.mailbox().list();
        let subject = |n: usize| kept[n].subject.clone();
        let mut subjects = vec![subject(0), subject(1)];
        subjects.sort();
        assert_eq!(subjects, ["Su cita está confirmada", "Your appointment is confirmed"]);
        let spanish = kept.iter().find(|m| m.subject.starts_with("Su cita")).expect("spanish");
        assert!(spanish.text.contains("domingo 20 de diciembre a las 9:30 a. m. con Maria."), "the time in Spanish, in the patient's zone: {}", spanish.text);
    })
    .await;
}

#[tokio::test]
async fn bad_message_requests_are_refused_with_the_field_named_and_nothing_queued() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        let cases = [
            (None, reminder(&email, "email"), 422, "Idempotency-Key"),
            (Some("k1"), json!({"template_id": email, "channel": "email", "purpose": "treatment"}), 422, "patient"),
            (Some("k2"), json!({"patient": "p-1", "template_id": email, "channel": "fax", "purpose": "treatment"}), 422, "channel"),
            (Some("k3"), json!({"patient": "p-1", "template_id": email, "channel": "sms", "purpose": "treatment"}), 422, "channel"),
            (Some("k4"), json!({"patient": "p-1", "template_id": email, "channel": "email", "purpose": "treatment", "context": {"my_note": "positive"}}), 422, "context.#1"),
            (Some("k9"), json!({"patient": "p-1", "template_id": email, "channel": "email", "purpose": "treatment", "context": {"hiv_status": "positive"}}), 422, "context.hiv_status"),
            (Some("k5"), json!({"patient": "p-1", "template_id": email, "channel": "email", "purpose": "marketing", "urgent": true}), 422, "urgent"),
            (Some("k6"), json!({"patient": "p-1", "template_id": email, "channel": "email", "purpose": "treatment", "diagnosis": "x"}), 422, ""),
            (Some("k7"), json!({"patient": "p-404", "template_id": email, "channel": "email", "purpose": "treatment"}), 404, ""),
            (Some("k8"), json!({"patient": "p-1", "template_id": "tpl_0000000000000000", "channel": "email", "purpose": "treatment"}), 404, ""),
            (Some("k10"), json!({"patient": "p-1", "template_id": email, "channel": "email", "purpose": "treatment"}), 422, "context"),
        ];
        for (key, body, expected, field) in cases {
            let (code, answer) = send(t, key, &body).await;
            assert_eq!(code, expected, "{body} → {answer}");
            if !field.is_empty() {
                let fields: Vec<&str> = answer["error"]["errors"].as_array().into_iter().flatten().filter_map(|d| d["field"].as_str()).collect();
                assert!(fields.contains(&field), "{field} named in {answer}");
            }
            assert!(!answer.to_string().contains("positive") && !answer.to_string().contains("diagnosis"), "nothing sent is repeated: {answer}");
        }
        assert!(t.store().outbox_counts().await.expect("counts").is_empty(), "nothing was queued");
    })
    .await;
}

#[tokio::test]
async fn a_stop_recorded_after_queueing_denies_the_queued_text_and_nothing_reaches_the_sink() {
    each_app(async |t| {
        patient(t, "p-1").await;
        opt_in(t, "p-1", "sms").await;
        let sms = t.library_template("Appointment reminder (SMS)").await;
        let (_, queued) = send(t, Some("r-1"), &reminder(&sms, "sms")).await;
        let body = json!({"channel": "sms", "status": "opted_out", "kind": "express", "source": "sms_keyword", "captured_at": "2026-11-01T10:00:00Z", "evidence": {"keyword": "STOP"}});
        let (code, answer) = t.post_json("/v1/patients/p-1/consents", &body).await;
        assert_eq!(code, 201, "{answer}");
        let report = round(t, "w-1", &Providers::sink(t.app.mailbox())).await;
        assert_eq!((report.claimed, report.denied, report.sent), (1, 1, 0), "{report:?}");
        let view = status(t, queued["id"].as_str().expect("id")).await;
        assert_eq!(view["status"], "denied");
        assert!(view["reasons"].as_array().expect("reasons").contains(&json!("channel_opted_out")), "{view}");
        assert!(t.app.mailbox().list().is_empty());
    })
    .await;
}

#[tokio::test]
async fn pausing_stops_all_sending_until_resumed_and_an_unapproved_template_never_sends() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        let (code, paused) = t.post_json("/v1/dispatch/pause", &json!({"reason": "vendor incident"})).await;
        assert_eq!((code, paused["paused"].as_bool()), (200, Some(true)), "{paused}");
        send(t, Some("a"), &reminder(&email, "email")).await;
        let providers = Providers::sink(t.app.mailbox());
        let report = round(t, "w-1", &providers).await;
        assert!(report.paused && report.claimed == 0, "{report:?}");
        let (code, _) = t.post_json("/v1/dispatch/resume", &json!({})).await;
        assert_eq!(code, 200);
        assert_eq!(round(t, "w-1", &providers).await.sent, 1);

        let (_, draft) = t.post_json("/v1/templates", &json!({"name": "Unreviewed", "channel": "email", "surfaces": {"email_subject": "Hi", "email_body": "<p>Hello</p>"}})).await;
        let (_, queued) = send(t, Some("b"), &json!({"patient": "p-1", "template_id": draft["id"], "channel": "email", "purpose": "treatment"})).await;
        assert_eq!(round(t, "w-1", &providers).await.denied, 1);
        let view = status(t, queued["id"].as_str().expect("id")).await;
        assert!(view["reasons"].as_array().expect("reasons").contains(&json!("template_not_approved")), "{view}");
        assert_eq!(t.app.mailbox().list().len(), 1);
    })
    .await;
}

/// A provider that answers from a script, for the ways a hand-off can end.
#[derive(Debug, Default)]
struct Scripted(Mutex<VecDeque<Result<Accepted, SendError>>>);

impl Provider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn send<'a>(&'a self, _: &'a OutgoingMessage) -> SendFuture<'a> {
        let next = self.0.lock().expect("lock").pop_front().unwrap_or(Err(SendError::Transient("script_empty".into())));
        Box::pin(async move { next })
    }
}

#[tokio::test]
async fn provider_failures_end_as_retry_failed_or_uncertain_and_an_operator_can_requeue() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        let script = Arc::new(Scripted::default());
        let providers = Providers::default().with(Channel::Email, script.clone());
        let cases = [
            (SendError::Transient("smtp_421".into()), "queued"),
            (SendError::Permanent("smtp_550".into()), "failed"),
            (SendError::Uncertain("connection_lost_after_data".into()), "uncertain"),
        ];
        for (n, (error, state)) in cases.into_iter().enumerate() {
            let code = error.to_string();
            script.0.lock().expect("lock").push_back(Err(error));
            let (_, queued) = send(t, Some(&format!("m-{n}")), &reminder(&email, "email")).await;
            round(t, "w-1", &providers).await;
            let view = status(t, queued["id"].as_str().expect("id")).await;
            assert_eq!(view["status"].as_str(), Some(state), "{code}: {view}");
            assert_eq!(view["attempts"], 1);
            assert!(code.ends_with(view["last_error"].as_str().expect("error")), "{view}");
            if state == "queued" {
                assert!(view["next_attempt_at"].as_str() > view["updated_at"].as_str(), "a retry waits: {view}");
            }
            if state == "uncertain" {
                let (code, again) = t.post_json(&format!("/v1/messages/{}/requeue", view["id"].as_str().expect("id")), &json!({})).await;
                assert_eq!((code, again["status"].as_str()), (200, Some("queued")), "{again}");
            }
        }
    })
    .await;
}

/// Allows every claim, as a gate would that found nothing against it.
struct AllowAll;

impl sotto_store::OutboxDecider for AllowAll {
    fn decide(&self, claims: &[sotto_store::OutboxRow], _: &std::collections::BTreeMap<String, sotto_store::GateInputs>) -> Vec<sotto_store::Verdict> {
        claims.iter().map(|_| sotto_store::Verdict::Allow { template_version: 1 }).collect()
    }
}

#[tokio::test]
async fn a_claim_whose_worker_died_is_requeued_when_undecided_and_uncertain_once_allowed() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        let (_, first) = send(t, Some("a"), &reminder(&email, "email")).await;
        send(t, Some("b"), &reminder(&email, "email")).await;
        let now = sotto_app::micros(daytime());
        let ctx = sotto_store::AuditContext { actor: "test".into(), request_id: String::new(), source_ip: None, at_micros: now };
        let claims = t.store().claim_outbox("ghost", now, now + 1, 1, sotto_store::ClaimScope::AllExcept(&[])).await.expect("claim");
        assert_eq!(claims.len(), 1);
        assert!(t.store().claim_outbox("other", now, now + 1, 10, sotto_store::ClaimScope::AllExcept(&[])).await.expect("claim").iter().all(|c| c.id != claims[0].id), "a held claim is not claimed twice");
        assert_eq!(t.store().recover_outbox(now + 2, &ctx).await.expect("recover"), (2, 0), "undecided claims go back to the queue");

        let claims = t.store().claim_outbox("ghost", now, now + 1, 10, sotto_store::ClaimScope::AllExcept(&[])).await.expect("claim");
        let (decided, _) = t.store().decide_claimed("ghost", &claims, 0, now, &AllowAll, &ctx).await.expect("decide");
        assert_eq!(decided.len(), 2);
        assert_eq!(t.store().recover_outbox(now + 2, &ctx).await.expect("recover"), (0, 2), "allowed claims may have reached a provider");
        let view = status(t, first["id"].as_str().expect("id")).await;
        assert_eq!((view["status"].as_str(), view["last_error"].as_str()), (Some("uncertain"), Some("lease_expired_after_allow")), "{view}");
        assert_eq!(round(t, "w-1", &Providers::sink(t.app.mailbox())).await.claimed, 0, "uncertain messages are never retried by themselves");

        let (code, _) = t.post_json(&format!("/v1/messages/{}/requeue", view["id"].as_str().expect("id")), &json!({})).await;
        assert_eq!(code, 200);
        let report = round(t, "w-1", &Providers::default()).await;
        assert_eq!((report.claimed, report.failed), (1, 1));
        let view = status(t, first["id"].as_str().expect("id")).await;
        assert_eq!((view["status"].as_str(), view["last_error"].as_str()), (Some("failed"), Some("no_provider_for_channel")), "{view}");
    })
    .await;
}

#[tokio::test]
async fn two_workers_racing_for_the_last_frequency_cap_slot_send_once() {
    use sotto_core::gate::Cap;
    for backend in backends() {
        let mut settings = crate::support::app_settings();
        settings.gate.caps = vec![Cap { channel: Some(Channel::Email), purposes: Vec::new(), window: jiff::SignedDuration::from_hours(24), max: 1 }];
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings).await;
        patient(&t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        for n in 0..6 {
            send(&t, Some(&format!("k-{n}")), &reminder(&email, "email")).await;
        }
        let providers = Providers::sink(t.app.mailbox());
        let settings = DispatchSettings { batch: 1, ..DispatchSettings::default() };
        let (a, b, c) = tokio::join!(
            t.app.dispatch_round("w-a", &providers, &settings, daytime()),
            t.app.dispatch_round("w-b", &providers, &settings, daytime()),
            t.app.dispatch_round("w-c", &providers, &settings, daytime()),
        );
        let reports = [a.expect("a"), b.expect("b"), c.expect("c")];
        assert_eq!(reports.iter().map(|r| r.sent).sum::<usize>(), 1, "{reports:?}");
        assert_eq!(reports.iter().map(|r| r.claimed).sum::<usize>(), 3, "each worker claimed its own message: {reports:?}");
        assert_eq!(t.app.mailbox().list().len(), 1);
    }
}

#[tokio::test]
async fn an_api_key_over_its_sending_rate_gets_429_with_retry_after_and_other_keys_do_not() {
    let settings = sotto_app::AppSettings { send_rate: sotto_core::rate::Rate { burst: 2.0, per_second: 0.01 }, ..crate::support::app_settings() };
    let t = spawn_app_with(sotto_store::Backend::Sqlite, sotto_http::HttpSettings::default(), settings).await;
    patient(&t, "p-1").await;
    let email = t.library_template("Appointment confirmation (email)").await;
    for n in 0..2 {
        assert_eq!(send(&t, Some(&format!("k-{n}")), &reminder(&email, "email")).await.0, 202);
    }
    let response = t.post("/v1/messages", &t.admin_key).header("Idempotency-Key", "k-2").json(&reminder(&email, "email")).send().await.expect("send");
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).expect("Retry-After");
    assert!((1..=100).contains(&retry), "{retry}");
    let other = t.key(&[sotto_core::scope::Scope::MessagesSend]).await;
    let (code, _) = read(t.post("/v1/messages", &other).header("Idempotency-Key", "k-2").json(&reminder(&email, "email")).send().await.expect("send")).await;
    assert_eq!(code, 202, "each API key has its own rate");
}

/// A provider that is down: every hand-off fails as a transient error.
#[derive(Debug)]
struct Down;

impl Provider for Down {
    fn name(&self) -> &str {
        "down"
    }
    fn send<'a>(&'a self, _: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async { Err(SendError::Transient("smtp_421".into())) })
    }
}

#[tokio::test]
async fn a_backup_takes_over_while_the_primary_fails_and_without_one_sending_pauses_saying_why() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        for n in 0..8 {
            send(t, Some(&format!("k-{n}")), &reminder(&email, "email")).await;
        }
        let one_at_a_time = DispatchSettings { concurrency: 1, ..DispatchSettings::default() };
        let with_backup = Providers::default().with(Channel::Email, Arc::new(Down)).with_backup(Channel::Email, Arc::new(sotto_app::deliver::SinkProvider::new(t.app.mailbox())));
        let report = t.app.dispatch_round("w-1", &with_backup, &one_at_a_time, daytime()).await.expect("round");
        assert_eq!((report.sent, report.failed), (3, 5), "five failures in a row, then the backup: {report:?}");
        assert_eq!(t.app.mailbox().list().len(), 3);

        for n in 8..16 {
            send(t, Some(&format!("k-{n}")), &reminder(&email, "email")).await;
        }
        let settings = DispatchSettings { concurrency: 1, pause_min_sample: 5, ..DispatchSettings::default() };
        let alone = Providers::default().with(Channel::Email, Arc::new(Down));
        let report = t.app.dispatch_round("w-1", &alone, &settings, daytime()).await.expect("round");
        assert_eq!((report.failed, report.paused), (5, true), "the round stops once sending pauses: {report:?}");
        let counts: std::collections::BTreeMap<String, i64> = t.store().outbox_counts().await.expect("counts").into_iter().collect();
        assert_eq!(counts.get("sending"), None, "the claims not yet decided went back to the queue: {counts:?}");
        let (_, status) = read(t.get("/v1/dispatch", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status["paused"], true, "{status}");
        assert!(status["reason"].as_str().is_some_and(|r| r.contains("email provider down failed")), "{status}");
        assert!(t.app.dispatch_round("w-1", &alone, &settings, daytime()).await.expect("round").paused);
    })
    .await;
}
