//! Ingestion over HTTP: identify, track, batch, idempotency and the firewall.

use serde_json::{Value, json};

use crate::support::each_app;

#[tokio::test]
async fn track_is_durable_and_idempotent_by_message_id() {
    each_app(async |t| {
        let call = json!({"userId": "p-1", "event": "appointment_booked", "messageId": "m-1",
            "properties": {"appointment_id": "a-1", "appointment_start": "2026-12-01T15:00:00Z", "appointment_type": "appt_type:12", "first_visit": true}});
        let (status, body) = t.post_json("/v1/track", &call).await;
        assert_eq!((status, &body["status"], &body["duplicate"]), (200, &json!("accepted"), &json!(false)), "{body}");
        let (status, body) = t.post_json("/v1/track", &call).await;
        assert_eq!((status, &body["duplicate"]), (200, &json!(true)));
        assert_eq!(t.counts().await, (1, 1));
        // Another integration's m-1 is its own message, not a duplicate of this one.
        let other = t.key(&[sotto_core::scope::Scope::EventsWrite]).await;
        let answer = t.post("/v1/track", &other).json(&call).send().await.expect("send");
        let body: Value = answer.json().await.expect("json");
        assert_eq!((&body["duplicate"], &body["messageId"]), (&json!(false), &json!("m-1")), "{body}");
        let answer = t.post("/v1/track", &other).json(&call).send().await.expect("send");
        assert_eq!(answer.json::<Value>().await.expect("json")["duplicate"], json!(true));
        assert_eq!(t.counts().await, (1, 2));
    })
    .await;
}

#[tokio::test]
async fn a_sensitive_property_is_refused_by_name_and_never_echoed_or_stored() {
    each_app(async |t| {
        let call = json!({"userId": "p-1", "event": "appointment_booked", "properties": {"diagnosis": "Type 2 diabetes mellitus"}});
        let (status, body) = t.post_json("/v1/track", &call).await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "sensitive_field");
        assert_eq!(body["error"]["field"], "properties.diagnosis");
        assert!(!body.to_string().to_lowercase().contains("diabetes"), "{body}");
        assert_eq!(t.counts().await, (0, 0));
    })
    .await;
}

#[tokio::test]
async fn the_firewall_names_each_refused_field_with_a_stable_code() {
    each_app(async |t| {
        let cases = [
            (json!({"userId": "p", "event": "appointment_booked", "properties": {"favourite_colour": "blue"}}), "undeclared_field", "properties.#1"),
            (json!({"userId": "p", "event": "chemo_session"}), "undeclared_event", "event"),
            (json!({"userId": "p", "event": "appointment_booked", "properties": {"appointment_type": "Oncology consult"}}), "plaintext_in_coded_field", "properties.appointment_type"),
            (json!({"userId": "p", "event": "appointment_booked", "properties": {"appointment_type": "appt_type:chemo"}}), "plaintext_in_coded_field", "properties.appointment_type"),
            (json!({"userId": "p", "event": "appointment_booked", "properties": {"location_id": "Downtown Cancer Center"}}), "health_term_in_free_text", "properties.location_id"),
            (json!({"userId": "p", "event": "appointment_booked", "properties": {"first_visit": "yes"}}), "wrong_type", "properties.first_visit"),
            (json!({"userId": "p", "event": "appointment_booked", "properties": {"appointment_start": "next tuesday"}}), "invalid_timestamp", "properties.appointment_start"),
            (json!({"userId": "p", "event": "appointment_booked", "referrer": "https://example.org"}), "unknown_field", ""),
            (json!({"anonymousId": "a-1", "event": "appointment_booked"}), "missing_field", "userId"),
            (json!({"userId": "zzmark29@example.org", "event": "appointment_booked"}), "identifier_as_id", "userId"),
            (json!({"userId": "312-555-0142", "event": "appointment_booked"}), "identifier_as_id", "userId"),
            (json!({"event": "appointment_booked"}), "missing_field", "userId"),
            (json!({"userId": "has spaces", "event": "appointment_booked"}), "invalid_identifier", "userId"),
        ];
        for (call, code, field) in cases {
            let (status, body) = t.post_json("/v1/track", &call).await;
            assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some(code), Some(field)), "{call} -> {body}");
        }
        let traits = [
            (json!({"conditions": ["Diabetes"]}), "plaintext_in_coded_field", "traits.conditions[0]"),
            (json!({"status": "HIV positive"}), "health_term_in_free_text", "traits.status"),
            (json!({"phone": "call me maybe"}), "invalid_phone", "traits.phone"),
            (json!({"email": "Jane <jane@example.org>"}), "invalid_email", "traits.email"),
            (json!({"timezone": "Mars/Olympus_Mons"}), "invalid_timezone", "traits.timezone"),
            (json!({"lab_result": "positive"}), "sensitive_field", "traits.lab_result"),
            (json!({"conditions": ["condition:HIV1"]}), "plaintext_in_coded_field", "traits.conditions[0]"),
            (json!({"conditions": ["condition:457", "condition:Ozempic1"]}), "plaintext_in_coded_field", "traits.conditions[1]"),
            (json!({"conditions": ["condition:pregnant1"]}), "plaintext_in_coded_field", "traits.conditions[0]"),
            (json!({"conditions": ["condition:cancer123"]}), "plaintext_in_coded_field", "traits.conditions[0]"),
            (json!({"conditions": ["condition:depression1"]}), "plaintext_in_coded_field", "traits.conditions[0]"),
            (json!({"conditions": ["condition:T2D"]}), "plaintext_in_coded_field", "traits.conditions[0]"),
            (json!({"first_name": "Ana", "zzmark10_hiv_positive": true}), "undeclared_field", "traits.#2"),
        ];
        for (traits, code, field) in traits {
            let (status, body) = t.post_json("/v1/identify", &json!({"userId": "p", "traits": traits})).await;
            assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some(code), Some(field)), "{traits} -> {body}");
            for echoed in ["zzmark", "HIV1", "Ozempic", "pregnant", "cancer", "depression", "T2D"] {
                assert!(!body.to_string().contains(echoed), "{body}");
            }
        }
        assert_eq!(t.counts().await, (0, 0));
    })
    .await;
}

#[tokio::test]
async fn every_problem_in_a_call_is_listed() {
    each_app(async |t| {
        let call = json!({"userId": "p", "event": "appointment_booked", "properties": {"diagnosis": "x", "prescription": "y"}});
        let (_, body) = t.post_json("/v1/track", &call).await;
        let fields: Vec<&str> = body["error"]["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        assert_eq!(fields, ["properties.diagnosis", "properties.prescription"]);
    })
    .await;
}

#[tokio::test]
async fn a_batch_reports_each_item_and_stores_only_the_accepted_ones_whole() {
    each_app(async |t| {
        let batch = json!({"batch": [
            {"type": "identify", "userId": "p-1", "messageId": "b-0", "traits": {"email": "ana@example.org", "status": "active"}},
            {"type": "track", "userId": "p-1", "messageId": "b-1", "event": "annual_checkup"},
            {"type": "track", "userId": "p-2", "messageId": "b-2", "event": "appointment_booked", "properties": {"appointment_id": "a", "medication": "Metformin"}},
            {"type": "page", "userId": "p-3"},
            {"type": "identify", "userId": "p-2", "messageId": "b-4", "traits": {"status": "active", "conditions": ["condition:457"]}},
        ]});
        let (status, body) = t.post_json("/v1/batch", &batch).await;
        // A refused item makes the whole answer a 422 (a client library then reports it); the
        // accepted ones are stored all the same.
        assert_eq!((status, body["code"].as_str()), (422, Some("calls_refused")), "{body}");
        let statuses: Vec<&str> = body["results"].as_array().expect("results").iter().map(|r| r["status"].as_str().unwrap_or("")).collect();
        assert_eq!(statuses, ["accepted", "accepted", "rejected", "accepted", "accepted"], "a page call is kept as page_viewed");
        assert_eq!(body["results"][2]["errors"][0]["field"], "properties.medication");
        assert!(!body.to_string().contains("Metformin"));
        // p-2 exists only through the accepted identify; its refused event left nothing behind.
        assert_eq!(t.counts().await, (3, 2));
        let (status, again) = t.post_json("/v1/batch", &batch).await;
        assert_eq!(status, 422);
        assert_eq!(again["results"][0]["duplicate"], true);
        assert_eq!(t.counts().await, (3, 3), "only the page call, sent without a messageId, is new again");
        let whole = json!({"batch": [batch["batch"][0].clone()]});
        assert_eq!(t.post_json("/v1/batch", &whole).await.0, 200, "every item accepted: 200");
    })
    .await;
}

#[tokio::test]
async fn malformed_envelopes_get_clear_errors() {
    each_app(async |t| {
        let raw = |body: &'static str, content_type: &'static str| {
            t.post("/v1/track", &t.admin_key).header("content-type", content_type).body(body).send()
        };
        let (status, body) = crate::support::read(raw("{\"userId\": ", "application/json").await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("malformed_json")));
        let (status, body) = crate::support::read(raw("{}", "text/plain").await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
        let (status, body) = t.post_json("/v1/batch", &json!({"batch": []})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("empty_batch")));
        let (status, body) = t.post_json("/v1/batch", &json!({"batch": [], "extra": 1})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("unknown_field")));
        let huge: Vec<Value> = (0..1001).map(|i| json!({"type": "track", "userId": "p", "event": "app_opened", "messageId": format!("h{i}")})).collect();
        let (status, body) = t.post_json("/v1/batch", &json!({"batch": huge})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("batch_too_large")));
        let oversized = json!({"userId": "p", "event": "app_opened", "padding": "x".repeat(2 * 1024 * 1024)});
        let (status, body) = t.post_json("/v1/track", &oversized).await;
        assert_eq!((status, body["error"]["code"].as_str()), (413, Some("body_too_large")));
        assert_eq!(t.counts().await, (0, 0));
    })
    .await;
}
