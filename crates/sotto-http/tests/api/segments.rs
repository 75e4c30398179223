//! The code vault and segments over HTTP: definitions, suppressed previews, audited members,
//! and membership kept current as events and consent arrive.

use serde_json::{Value, json};

use sotto_core::scope::Scope;
use sotto_store::AuditStore;

use crate::support::{TestApp, each_app, read};

const SEED_EXAMPLE: &str = r#"status = "active" and conditions has "condition:457" and not did annual_checkup within 365 days and preferred_channel = "sms""#;

async fn clinic(t: &TestApp, n: usize) {
    let batch: Vec<Value> = (0..n)
        .map(|i| json!({"type": "identify", "userId": format!("p-{i:02}"), "traits": {"status": "active", "conditions": ["condition:457"], "preferred_channel": "sms"}}))
        .collect();
    let (status, body) = t.post_json("/v1/batch", &json!({"batch": batch})).await;
    assert_eq!(status, 200, "{body}");
}

async fn segment(t: &TestApp, name: &str, definition: Value) -> String {
    let (status, body) = t.post_json("/v1/segments", &json!({"name": name, "definition": definition})).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

async fn members(t: &TestApp, id: &str) -> Vec<String> {
    let (status, page) = read(t.get(&format!("/v1/segments/{id}/members"), &t.admin_key).send().await.expect("send")).await;
    assert_eq!(status, 200, "{page}");
    page["members"].as_array().expect("members").iter().filter_map(|m| m.as_str().map(str::to_owned)).collect()
}

async fn size(t: &TestApp, id: &str) -> Value {
    let (status, body) = read(t.get(&format!("/v1/segments/{id}/preview"), &t.admin_key).send().await.expect("send")).await;
    assert_eq!(status, 200, "{body}");
    body["size"].clone()
}

#[tokio::test]
async fn the_vault_keeps_meanings_sealed_and_audits_every_read() {
    each_app(async |t| {
        let (status, _) = t.post_json("/v1/vault/codes", &json!({"code": "condition:457", "meaning": "Type 2 diabetes mellitus"})).await;
        assert_eq!(status, 201);
        let row: Vec<u8> = sqlx::query_scalar("SELECT meaning FROM vault_codes").fetch_one(t.store().pool()).await.expect("row");
        assert!(!String::from_utf8_lossy(&row).contains("diabetes"));
        let reader = t.key(&[Scope::VaultRead]).await;
        let (status, body) = read(t.get("/v1/vault/codes/condition:457", &reader).send().await.expect("send")).await;
        assert_eq!((status, body["meaning"].as_str()), (200, Some("Type 2 diabetes mellitus")));
        let composer = t.key(&[Scope::SegmentsWrite, Scope::SegmentsRead]).await;
        let (status, _) = read(t.get("/v1/vault/codes/condition:457", &composer).send().await.expect("send")).await;
        assert_eq!(status, 403);
        let (status, body) = t.post_json("/v1/vault/codes", &json!({"code": "Diabetes", "meaning": ""})).await;
        assert_eq!((status, body["error"]["errors"].as_array().map(Vec::len)), (422, Some(2)));
        let log = t.store().audit_page(0, 1000).await.expect("audit");
        assert!(log.iter().any(|r| r.event.action == "vault.read" && r.event.object == "vault:condition:457"));
    })
    .await;
}

#[tokio::test]
async fn segments_are_checked_and_names_with_health_terms_refused() {
    each_app(async |t| {
        let (status, body) = t.post_json("/v1/segments", &json!({"name": "Condition 457 outreach", "definition": SEED_EXAMPLE})).await;
        assert_eq!((status, &body["touches_phi"]), (201, &json!(true)), "{body}");
        let cases = [
            (json!({"name": "Diabetes - Type 2", "definition": "status = \"active\""}), "health_term_in_name"),
            (json!({"name": "x", "definition": "status = "}), "invalid_segment"),
            (json!({"name": "x", "definition": "diagnosis = \"asthma\""}), "sensitive_field"),
            (json!({"name": "x", "definition": {"nonsense": true}}), "invalid_segment"),
            (json!({"name": "x"}), "missing_field"),
        ];
        for (body, code) in cases {
            let (status, answer) = t.post_json("/v1/segments", &body).await;
            assert_eq!((status, answer["error"]["code"].as_str()), (422, Some(code)), "{body} -> {answer}");
        }
        let (_, answer) = t.post_json("/v1/segments", &json!({"name": "x", "definition": "status = "})).await;
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("line 1, column 10"), "{answer}");
        let (status, _) = t.post_json("/v1/segments", &json!({"name": "Condition 457 outreach", "definition": "status = \"active\""})).await;
        assert_eq!(status, 409);
    })
    .await;
}

#[tokio::test]
async fn previews_suppress_small_counts_and_membership_follows_events_and_consent() {
    each_app(async |t| {
        clinic(t, 3).await;
        let id = segment(t, "Condition 457 outreach", json!(SEED_EXAMPLE)).await;
        assert_eq!(size(t, &id).await, "fewer than 11");
        clinic(t, 12).await;
        assert_eq!(size(t, &id).await, 15, "12 is shown rounded to a multiple of 5, at least 15");
        let (status, _) = t.post_json("/v1/track", &json!({"userId": "p-00", "event": "annual_checkup"})).await;
        assert_eq!(status, 200);
        assert_eq!(size(t, &id).await, 15, "a checkup today takes p-00 out, and the count does not show it");
        assert_eq!(members(t, &id).await.len(), 11, "the audited member list is exact");
        t.post_json("/v1/identify", &json!({"userId": "p-01", "traits": {"preferred_channel": "email"}})).await;
        assert_eq!(size(t, &id).await, "fewer than 11", "ten members are shown suppressed");
        let opted = segment(t, "SMS opt-outs", json!("consent sms opted_out")).await;
        assert_eq!(size(t, &opted).await, 0);
        t.post_json("/v1/patients/p-02/consents", &json!({"channel": "sms", "status": "opted_out", "kind": "express", "source": "api", "captured_at": "2026-01-01T00:00:00Z", "evidence": {"method": "phone call"}})).await;
        assert_eq!(size(t, &opted).await, "fewer than 11");
        // A restart rebuilds the same index from storage: the same members of every segment.
        let rebuilt = sotto_app::App::new(t.store().clone(), sotto_crypto::Keyring::new(&t.test_store.master), sotto_app::AppSettings::default());
        assert_eq!(rebuilt.load_segment_index(|_| {}).await.expect("build"), 12);
        let ctx = sotto_app::RequestCtx { principal: sotto_app::Principal::cli(), request_id: "t".into(), source_ip: None, now: jiff::Timestamp::now() };
        for seg in [&id, &opted] {
            let again = rebuilt.segment_members(&ctx, seg, None, None).await.expect("members");
            let again: Vec<String> = again["members"].as_array().expect("members").iter().filter_map(|m| m.as_str().map(str::to_owned)).collect();
            assert_eq!(again, members(t, seg).await, "{seg}");
        }
    })
    .await;
}

#[tokio::test]
async fn members_are_paged_and_every_page_is_audited() {
    each_app(async |t| {
        clinic(t, 12).await;
        let id = segment(t, "Active", json!({"cond": {"type": "compare", "field": "status", "op": "=", "value": "active"}})).await;
        let reader = t.key(&[Scope::SegmentsRead]).await;
        let (status, _) = read(t.get(&format!("/v1/segments/{id}/members"), &reader).send().await.expect("send")).await;
        assert_eq!(status, 403);
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let url = format!("/v1/segments/{id}/members?limit=5{}", if cursor.is_empty() { String::new() } else { format!("&cursor={cursor}") });
            let (status, page) = read(t.get(&url, &t.admin_key).send().await.expect("send")).await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["members"].as_array().expect("members").iter().filter_map(|m| m.as_str().map(str::to_owned)));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        all.sort();
        assert_eq!(all, (0..12).map(|i| format!("p-{i:02}")).collect::<Vec<_>>());
        let log = t.store().audit_page(0, 10_000).await.expect("audit");
        assert_eq!(log.iter().filter(|r| r.event.action == "segment.members" && r.event.outcome == "success").count(), 3);
    })
    .await;
}

#[tokio::test]
async fn deeply_nested_definitions_are_refused_with_a_position_and_the_deepest_allowed_one_previews() {
    each_app(async |t| {
        let parens = format!("{}status = \"active\"{}", "(".repeat(2000), ")".repeat(2000));
        let nots = format!("{}status = \"active\"", "not ".repeat(10_000));
        let stored_corrupt_before = format!("{}status = \"active\"", "not ".repeat(127));
        for definition in [parens, nots, stored_corrupt_before] {
            let (status, body) = t.post_json("/v1/segments", &json!({"name": "Deep", "definition": definition})).await;
            assert_eq!((status, body["error"]["code"].as_str()), (422, Some("too_deeply_nested")), "{body}");
            assert!(body["error"]["message"].as_str().unwrap_or_default().contains("line 1, column "), "{body}");
        }
        let mut json_form = json!({"cond": {"type": "exists", "field": "status"}});
        for _ in 0..60 {
            json_form = json!({"not": json_form});
        }
        let (status, body) = t.post_json("/v1/segments", &json!({"name": "Deep", "definition": json_form})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("too_deeply_nested")), "{body}");
        clinic(t, 12).await;
        // Each level adds an or, an and and two JSON levels each: the worst case for the stored form.
        let mut deepest = String::from("status = \"active\"");
        for _ in 0..sotto_core::segment::MAX_NESTING {
            deepest = format!("(status = \"x\" or preferred_channel = \"sms\" and {deepest})");
        }
        let id = segment(t, "Deepest allowed", json!(deepest)).await;
        assert_eq!(size(t, &id).await, 15);
        let (status, page) = read(t.get(&format!("/v1/segments/{id}/members"), &t.admin_key).send().await.expect("send")).await;
        assert_eq!((status, page["members"].as_array().map(Vec::len)), (200, Some(12)), "{page}");
    })
    .await;
}
