//! `/metrics` in Prometheus's format: requests by route template (never the raw path), ingested
//! calls by outcome, gate decisions by reason, hand-offs by channel and the outbox by state;
//! no label carries an id, an address or a value a client sent; the scope is needed.

use serde_json::json;

use sotto_app::DispatchSettings;
use sotto_app::deliver::Providers;
use sotto_core::scope::Scope;

use crate::consent::patient;
use crate::outbox::{daytime, send};
use crate::support::{each_app, read};

#[tokio::test]
async fn metrics_count_requests_calls_decisions_and_hand_offs_without_any_patient_data() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let (code, _) = t.post_json("/v1/track", &json!({"userId": "p-1", "event": "appointment_booked", "properties": {"diagnosis": "influenza"}})).await;
        assert_eq!(code, 422);
        let brew = reqwest::Method::from_bytes(b"BREWCOFFEE").expect("method");
        t.client.request(brew, format!("{}/v1/track", t.base)).send().await.expect("send");
        let missing = t.get("/v1/patients/mrn-secret-77", &t.admin_key).send().await.expect("send");
        assert_eq!(missing.status().as_u16(), 404);
        let template = t.library_template("Appointment confirmation (email)").await;
        let body = json!({"patient": "p-1", "template_id": template, "channel": "email", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
        assert_eq!(send(t, Some("metrics-1"), &body).await.0, 202);
        t.app.dispatch_round("w-1", &Providers::sink(t.app.mailbox()), &DispatchSettings::default(), daytime()).await.expect("round");

        let refused = t.get("/metrics", &t.key(&[Scope::EventsWrite]).await).send().await.expect("send");
        assert_eq!(refused.status().as_u16(), 403, "metrics need their scope");
        let reader = t.key(&[Scope::MetricsRead]).await;
        let res = t.get("/metrics", &reader).send().await.expect("send");
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/plain"), "{:?}", res.headers());
        let text = res.text().await.expect("text");
        for expected in [
            r#"sotto_http_requests_total{route="/v1/identify",method="POST",status="200"} 1"#,
            r#"sotto_http_requests_total{route="/v1/track",method="POST",status="422"} 1"#,
            r#"sotto_http_requests_total{route="/v1/patients/{external_id}",method="GET",status="404"} 1"#,
            r#"sotto_ingested_calls_total{call="track",outcome="rejected"} 1"#,
            r#"sotto_gate_decisions_total{decision="allow",reason=""} 1"#,
            r#"sotto_provider_handoff_seconds_count{channel="email"} 1"#,
            r#"sotto_outbox_messages{state="sent"} 1"#,
            "sotto_outbox_oldest_waiting_seconds 0",
            r#"method="other""#,
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        for secret in ["mrn-secret", "ana@example.org", "influenza", "p-1", "metrics-1", "BREWCOFFEE"] {
            assert!(!text.contains(secret), "{secret} in the metrics");
        }
        let (code, _) = read(t.get("/metrics", &reader).send().await.expect("send")).await;
        assert_eq!(code, 200);
    })
    .await;
}
