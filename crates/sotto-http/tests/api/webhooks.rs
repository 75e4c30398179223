//! Outbound webhooks: subscriptions checked field by field with the secret shown once; consent,
//! message and authorization events posted with a signature a receiver verifies within its
//! replay window, ids and codes only, retried after a failure, and nothing for a turned-off one.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use sotto_app::DispatchSettings;
use sotto_app::deliver::Providers;
use sotto_crypto::webhook::{Secret, verify_event};

use crate::consent::{authorization, patient, publish_form};
use crate::outbox::daytime;
use crate::support::{TestApp, each_app, read};

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A receiver on loopback that answers 500 to its first `fail_first` posts, then 204.
async fn receiver(fail_first: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let mut all = kept.lock().expect("lock");
                all.push((headers, body));
                if all.len() <= fail_first { axum::http::StatusCode::INTERNAL_SERVER_ERROR } else { axum::http::StatusCode::NO_CONTENT }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn subscribe(t: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let (code, made) = t.post_json("/v1/webhooks", &json!({"url": url, "events": events})).await;
    assert_eq!(code, 201, "{made}");
    (made["id"].as_str().expect("id").to_owned(), made["secret"].as_str().expect("secret").to_owned())
}

#[tokio::test]
async fn a_subscription_is_checked_field_by_field_and_its_secret_is_shown_once() {
    each_app(async |t| {
        let (code, body) = t.post_json("/v1/webhooks", &json!({"url": "http://hooks.example.org/x", "events": ["message.sent", "message.opened"]})).await;
        assert_eq!(code, 422, "{body}");
        let fields: Vec<&str> = body["error"]["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        assert_eq!(fields, ["url", "events[1]"], "{body}");
        assert_eq!(t.post_json("/v1/webhooks", &json!({"url": "https://user:pw@hooks.example.org/x", "events": ["message.sent"]})).await.0, 422, "no credentials in the URL");
        let (_, secret) = subscribe(t, "https://hooks.example.org/sotto", &["message.sent"]).await;
        assert!(secret.starts_with("whsec_"));
        let (_, list) = read(t.get("/v1/webhooks", &t.admin_key).send().await.expect("list")).await;
        assert!(!list.to_string().contains(&secret), "the secret is shown once: {list}");
        assert_eq!(list["webhooks"][0]["events"], json!(["message.sent"]));
    })
    .await;
}

#[tokio::test]
async fn events_are_posted_signed_with_ids_and_codes_only_and_retried_after_a_failure() {
    each_app(async |t| {
        let (url, received) = receiver(1).await;
        let (id, secret) = subscribe(t, &url, &["message.sent", "consent.changed", "authorization.revoked"]).await;
        patient(t, "p-1").await;
        let optin = json!({"channel": "email", "status": "opted_in", "kind": "express", "source": "web_form", "captured_at": "2026-02-01T10:00:00Z", "evidence": {"form_version": "f1", "consent_text_version": "2026-01"}});
        assert_eq!(t.post_json("/v1/patients/p-1/consents", &optin).await.0, 201);
        publish_form(t).await;
        let (_, auth) = t.post_json("/v1/patients/p-1/authorizations", &authorization()).await;
        let auth_id = auth["id"].as_str().expect("auth").to_owned();
        assert_eq!(t.post_json(&format!("/v1/patients/p-1/authorizations/{auth_id}/revoke"), &json!({})).await.0, 200);
        let template = t.library_template("Appointment confirmation (email)").await;
        let body = json!({"patient": "p-1", "template_id": template, "channel": "email", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
        let (_, queued) = read(t.post("/v1/messages", &t.admin_key).header("Idempotency-Key", "w-1").json(&body).send().await.expect("send")).await;
        t.app.dispatch_round("w", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");

        let poster = sotto_deliver::HttpWebhookPoster::new(std::time::Duration::from_secs(5), true).expect("poster");
        // Without the development allowance, a name that resolves to this machine is not reached.
        let strict = sotto_deliver::HttpWebhookPoster::new(std::time::Duration::from_secs(5), false).expect("poster");
        let by_name = url.replace("127.0.0.1", "localhost");
        assert!(sotto_app::webhooks::WebhookPoster::post(&strict, &by_name, vec![], "{}".into()).await.is_err(), "a name resolving to loopback");
        let reached = received.lock().expect("lock").len();
        assert_eq!(reached, 0, "nothing arrived");
        let now = jiff::Timestamp::now();
        assert_eq!(t.app.webhook_round(&poster, now, 50).await.expect("round"), 3);
        let (_, deliveries) = read(t.get(&format!("/v1/webhooks/{id}/deliveries"), &t.admin_key).send().await.expect("deliveries")).await;
        let states: Vec<(&str, &str)> = deliveries["deliveries"].as_array().expect("list").iter().map(|d| (d["state"].as_str().unwrap_or_default(), d["last_error"].as_str().unwrap_or_default())).collect();
        assert_eq!(states.iter().filter(|s| s.0 == "pending" && s.1 == "http_500").count(), 1, "the first post failed and waits: {deliveries}");
        assert_eq!(t.app.webhook_round(&poster, now, 50).await.expect("round"), 0, "not before its backoff");
        assert_eq!(t.app.webhook_round(&poster, now + jiff::SignedDuration::from_secs(31), 50).await.expect("round"), 1, "retried after 30 s");

        let all = received.lock().expect("lock").clone();
        assert_eq!(all.len(), 4);
        let secret = Secret::new(secret);
        let mut types = Vec::new();
        for (headers, body) in &all {
            let signature = headers["sotto-signature"].to_str().expect("ascii");
            assert!(verify_event(&secret, signature, body.as_bytes(), jiff::Timestamp::now().as_second(), 300), "a receiver verifies it");
            assert!(!verify_event(&secret, signature, body.as_bytes(), jiff::Timestamp::now().as_second() + 3_600, 300), "and refuses it replayed an hour later");
            for secret_text in ["ana@example.org", "13122530142", "Riverside", "diabetes"] {
                assert!(!body.contains(secret_text), "{secret_text} in {body}");
            }
            let event: Value = serde_json::from_str(body).expect("json");
            types.push(event["type"].as_str().expect("type").to_owned());
        }
        types.sort();
        types.dedup();
        assert_eq!(types, ["authorization.revoked", "consent.changed", "message.sent"]);
        let sent: Value = all.iter().map(|(_, b)| serde_json::from_str::<Value>(b).expect("json")).find(|e| e["type"] == "message.sent").expect("sent");
        assert_eq!(sent["data"]["message_id"], queued["id"]);
        let revoked: Value = all.iter().map(|(_, b)| serde_json::from_str::<Value>(b).expect("json")).find(|e| e["type"] == "authorization.revoked").expect("revoked");
        assert_eq!((revoked["data"]["patient"].as_str(), revoked["data"]["authorization_id"].as_str()), (Some("p-1"), Some(auth_id.as_str())));

        // Turned off: nothing new is queued for it.
        let r = t.client.delete(format!("{}/v1/webhooks/{id}", t.base)).bearer_auth(&t.admin_key).send().await.expect("delete");
        assert_eq!(r.status().as_u16(), 200);
        let optout = json!({"channel": "email", "status": "opted_out", "kind": "express", "source": "web_form", "captured_at": "2026-03-01T10:00:00Z", "evidence": {"form_version": "f1", "consent_text_version": "2026-01"}});
        assert_eq!(t.post_json("/v1/patients/p-1/consents", &optout).await.0, 201);
        assert_eq!(t.app.webhook_round(&poster, now + jiff::SignedDuration::from_secs(3_600), 50).await.expect("round"), 0);
    })
    .await;
}
