//! What the SMS provider reports after a hand-off: signed status callbacks mark messages
//! delivered or bounced, and the codes that say a number must not or cannot get texts feed
//! suppression, so the next message to it is denied with a reason. Also: several messages to
//! one patient in one batch count against the frequency cap one by one.

use std::sync::Mutex;

use serde_json::json;

use sotto_app::deliver::{Accepted, OutgoingMessage, Provider, Providers, SendFuture};
use sotto_app::{AppSettings, DispatchSettings};
use sotto_core::contact::Channel;
use sotto_core::gate::Cap;
use sotto_crypto::webhook::{Secret, form_signature};
use sotto_store::testing::backends;

use crate::consent::patient;
use crate::outbox::{daytime, send, status};
use crate::support::{TestApp, app_settings, read, spawn_app_with};

/// Answers like the SMS API: accepted, with a message SID of its own.
#[derive(Debug, Default)]
struct FakeSms(Mutex<u32>);

impl Provider for FakeSms {
    fn name(&self) -> &str {
        "twilio"
    }
    fn send<'a>(&'a self, _: &'a OutgoingMessage) -> SendFuture<'a> {
        let mut n = self.0.lock().expect("lock");
        *n += 1;
        let sid = format!("SM{:032}", *n);
        Box::pin(async move { Ok(Accepted::id(sid)) })
    }
}

async fn callback(t: &TestApp, secret: &Secret, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let params: Vec<(String, String)> = params.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let signature = form_signature(secret, "http://127.0.0.1:8080/v1/providers/twilio/status", &params);
    read(t.client.post(format!("{}/v1/providers/twilio/status", t.base)).header("x-twilio-signature", signature).form(&params).send().await.expect("send")).await
}

async fn opt_in_sms(t: &TestApp) {
    let body = json!({"channel": "sms", "status": "opted_in", "kind": "express_written", "source": "paper", "captured_at": "2026-01-05T10:00:00Z", "evidence": {"form_version": "intake-v1"}});
    assert_eq!(t.post_json("/v1/patients/p-1/consents", &body).await.0, 201);
}

/// A deployment whose SMS provider signs callbacks with `secret`, a patient opted in to texts,
/// the SMS reminder template, and a provider that accepts everything.
async fn sms_app(backend: sotto_store::Backend, secret: &Secret) -> (TestApp, String, Providers) {
    let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), AppSettings { sms_webhook_secret: Some(secret.clone()), ..app_settings() }).await;
    patient(&t, "p-1").await;
    opt_in_sms(&t).await;
    let sms = t.library_template("Appointment reminder (SMS)").await;
    let providers = Providers::default().with(Channel::Sms, std::sync::Arc::new(FakeSms::default()));
    (t, sms, providers)
}

async fn sent_sid(t: &TestApp, providers: &Providers, key: &str, template: &str) -> (String, String) {
    let body = json!({"patient": "p-1", "template_id": template, "channel": "sms", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
    let (_, queued) = send(t, Some(key), &body).await;
    let id = queued["id"].as_str().expect("id").to_owned();
    t.app.dispatch_round("w-1", providers, &DispatchSettings::default(), daytime()).await.expect("round");
    let view = status(t, &id).await;
    (id, view["provider_message_id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn signed_status_callbacks_mark_delivery_and_unreachable_or_unsubscribed_numbers_stop_later_texts() {
    let secret = Secret::new("provider-auth-token".into());
    for backend in backends() {
        let (t, sms, providers) = sms_app(backend, &secret).await;

        let (id, sid) = sent_sid(&t, &providers, "a", &sms).await;
        assert!(sid.starts_with("SM"), "{sid}");
        let (code, answer) = callback(&t, &secret, &[("MessageSid", &sid), ("MessageStatus", "delivered"), ("To", "+13122530142")]).await;
        assert_eq!((code, answer["status"].as_str()), (200, Some("delivered")), "{answer}");
        let view = status(&t, &id).await;
        assert_eq!(view["status"], "delivered");

        let forged = read(t.client.post(format!("{}/v1/providers/twilio/status", t.base)).header("x-twilio-signature", "AAAA").form(&[("MessageSid", sid.as_str()), ("MessageStatus", "failed")]).send().await.expect("send")).await;
        assert_eq!(forged.0, 401, "{}", forged.1);
        let (code, unknown) = callback(&t, &secret, &[("MessageSid", "SMunknown"), ("MessageStatus", "delivered")]).await;
        assert_eq!((code, unknown["matched"].as_bool()), (200, Some(false)));

        // A landline: the message bounces and the patient's SMS is suppressed.
        let (id, sid) = sent_sid(&t, &providers, "b", &sms).await;
        callback(&t, &secret, &[("MessageSid", &sid), ("MessageStatus", "undelivered"), ("ErrorCode", "30006")]).await;
        let view = status(&t, &id).await;
        assert_eq!((view["status"].as_str(), view["last_error"].as_str()), (Some("bounced"), Some("twilio_30006")), "{view}");
        let (id, _) = sent_sid(&t, &providers, "c", &sms).await;
        let view = status(&t, &id).await;
        assert!(view["reasons"].as_array().expect("reasons").contains(&json!("suppressed_undeliverable")), "{view}");
    }
}

#[tokio::test]
async fn an_unsubscribed_answer_from_the_provider_opts_the_number_out() {
    let secret = Secret::new("provider-auth-token".into());
    for backend in backends() {
        let (t, sms, providers) = sms_app(backend, &secret).await;
        let (_, sid) = sent_sid(&t, &providers, "a", &sms).await;
        callback(&t, &secret, &[("MessageSid", &sid), ("MessageStatus", "failed"), ("ErrorCode", "21610")]).await;
        let (id, _) = sent_sid(&t, &providers, "b", &sms).await;
        let view = status(&t, &id).await;
        assert!(view["reasons"].as_array().expect("reasons").contains(&json!("channel_opted_out")), "{view}");
    }
}

#[tokio::test]
async fn several_messages_to_one_patient_in_one_batch_count_against_the_cap_one_by_one() {
    for backend in backends() {
        let mut settings = app_settings();
        settings.gate.caps = vec![Cap { channel: Some(Channel::Email), purposes: Vec::new(), window: jiff::SignedDuration::from_hours(24), max: 2 }];
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings).await;
        patient(&t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        for n in 0..3 {
            send(&t, Some(&format!("k-{n}")), &json!({"patient": "p-1", "template_id": email, "channel": "email", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}})).await;
        }
        let report = t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");
        let rows: Vec<_> = sqlx::query_as::<_, (String, Option<String>, String)>("SELECT state, last_error, reasons FROM outbox").fetch_all(t.store().pool()).await.unwrap_or_default();
        assert_eq!((report.claimed, report.sent, report.deferred), (3, 2, 1), "{report:?} {rows:?}");
    }
}

fn dsn_about(message_id: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: no-reply@clinic.example\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; ana@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{message_id}@clinic.example>\r\nSubject: Your appointment is confirmed\r\n\r\n--B--\r\n"
    )
}

#[tokio::test]
async fn a_hard_bounce_suppresses_the_address_and_the_next_email_is_denied_with_the_reason() {
    crate::support::each_app(async |t| {
        patient(t, "p-1").await;
        let email = t.library_template("Appointment confirmation (email)").await;
        let body = json!({"patient": "p-1", "template_id": email, "channel": "email", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
        let (_, first) = send(t, Some("a"), &body).await;
        let id = first["id"].as_str().expect("id").to_owned();
        t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");

        let post = |raw: String| t.post("/v1/inbound/email", &t.admin_key).header("content-type", "message/rfc822").body(raw).send();
        let (code, answer) = read(post("From: ana@example.org\r\nSubject: thanks\r\n\r\nsee you\r\n".into()).await.expect("send")).await;
        assert_eq!((code, answer["error"]["code"].as_str()), (422, Some("not_a_report")), "{answer}");
        let (code, answer) = read(post(dsn_about("msg_ffffffffffffffffffffffff")).await.expect("send")).await;
        assert_eq!((code, answer["matched"].as_bool()), (200, Some(false)), "{answer}");
        let (code, answer) = read(post(dsn_about(&id)).await.expect("send")).await;
        assert_eq!((code, answer["kind"].as_str()), (200, Some("hard_bounce")), "{answer}");

        let view = status(t, &id).await;
        assert_eq!((view["status"].as_str(), view["last_error"].as_str()), (Some("bounced"), Some("smtp_5.1.1")), "{view}");
        let (_, second) = send(t, Some("b"), &body).await;
        t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");
        let view = status(t, second["id"].as_str().expect("id")).await;
        assert!(view["reasons"].as_array().expect("reasons").contains(&json!("suppressed_hard_bounce")), "{view}");
    })
    .await;
}
