//! Templates over HTTP: saving checks, versions, review by someone other than the author,
//! previews, and rendering for sending only from an approved version.

use serde_json::{Value, json};

use sotto_app::{AppError, Principal, RequestCtx};
use sotto_core::dictionary::Surface;
use sotto_core::scope::Scope;
use sotto_store::AuditStore;

use crate::support::{TestApp, each_app, read};

const REMINDER: &str = "Hi {{ patient.first_name }}, reminder: you have an appointment {{ event.appointment_start | when(patient.timezone) }}. Reply C to confirm.";

fn reminder(name: &str) -> Value {
    json!({"name": name, "channel": "sms", "surfaces": {"sms_body": REMINDER}})
}

async fn call(t: &TestApp, key: &str, path: &str, body: &Value) -> (u16, Value) {
    read(t.post(path, key).json(body).send().await.expect("send")).await
}

async fn create(t: &TestApp, key: &str, body: &Value) -> String {
    let (status, created) = call(t, key, "/v1/templates", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("id").to_owned()
}

fn ctx() -> RequestCtx {
    RequestCtx { principal: Principal::system("test"), request_id: "test".into(), source_ip: None, now: jiff::Timestamp::now() }
}

#[tokio::test]
async fn a_version_is_approved_only_after_submission_and_only_by_someone_other_than_its_author() {
    each_app(async |t| {
        let composer = t.key(&[Scope::TemplatesWrite, Scope::TemplatesRead]).await;
        let reviewer = t.key(&[Scope::Compliance, Scope::TemplatesRead]).await;
        let id = create(t, &composer, &reminder("Appointment reminder")).await;
        let v1 = format!("/v1/templates/{id}/versions/1");
        let (status, body) = call(t, &reviewer, &format!("{v1}/approve"), &json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("wrong_status")), "a draft cannot be approved");
        let (status, body) = read(t.post(&format!("{v1}/submit"), &composer).send().await.expect("send")).await;
        assert_eq!((status, body["versions"][0]["status"].as_str()), (200, Some("submitted")), "{body}");
        let (status, _) = call(t, &composer, &format!("{v1}/approve"), &json!({})).await;
        assert_eq!(status, 403, "approval needs the compliance scope");
        let (status, body) = call(t, &reviewer, &format!("{v1}/approve"), &json!({"comment": "Clear and compliant."})).await;
        assert_eq!((status, body["approved_version"].as_i64(), body["versions"][0]["review_comment"].as_str()), (200, Some(1), Some("Clear and compliant.")), "{body}");

        // The admin key holds every scope, but cannot review what it wrote.
        let own = create(t, &t.admin_key, &reminder("Second reminder")).await;
        call(t, &t.admin_key, &format!("/v1/templates/{own}/versions/1/submit"), &json!({})).await;
        let (status, body) = call(t, &t.admin_key, &format!("/v1/templates/{own}/versions/1/approve"), &json!({})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("self_review")));

        // Editing makes a new draft; the approved version stays the one that sends.
        let (status, body) = call(t, &composer, &format!("/v1/templates/{id}/versions"), &json!({"surfaces": {"sms_body": "Reminder: you have an appointment soon. Reply C to confirm."}})).await;
        assert_eq!((status, body["versions"][1]["status"].as_str(), body["approved_version"].as_i64()), (201, Some("draft"), Some(1)), "{body}");
        let log = t.store().audit_page(0, 10_000).await.expect("audit");
        for act in ["template.create", "template.version", "template.submit", "template.approve"] {
            assert!(log.iter().any(|r| r.event.action == act), "{act} is audited");
        }
        assert!(log.iter().any(|r| r.event.action == "access.denied" && r.event.outcome == "denied:self_review"));
    })
    .await;
}

#[tokio::test]
async fn a_rejection_needs_a_comment_and_is_final() {
    each_app(async |t| {
        let composer = t.key(&[Scope::TemplatesWrite, Scope::TemplatesRead]).await;
        let reviewer = t.key(&[Scope::Compliance]).await;
        let id = create(t, &composer, &reminder("Reminder")).await;
        call(t, &composer, &format!("/v1/templates/{id}/versions/1/submit"), &json!({})).await;
        let (status, body) = call(t, &reviewer, &format!("/v1/templates/{id}/versions/1/reject"), &json!({})).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("comment")));
        let (status, body) = call(t, &reviewer, &format!("/v1/templates/{id}/versions/1/reject"), &json!({"comment": "Say which office."})).await;
        assert_eq!((status, body["versions"][0]["status"].as_str()), (200, Some("rejected")));
        let (status, _) = call(t, &reviewer, &format!("/v1/templates/{id}/versions/1/approve"), &json!({})).await;
        assert_eq!(status, 409);
    })
    .await;
}

#[tokio::test]
async fn saving_refuses_health_terms_sensitive_variables_and_coded_text_and_stores_nothing() {
    each_app(async |t| {
        let body = json!({"name": "Follow-up", "channel": "sms", "surfaces": {"sms_body": "Your oncology follow-up: {{ patient.diagnosis }} {{ patient.conditions }}"}});
        let (status, body) = t.post_json("/v1/templates", &body).await;
        assert_eq!(status, 422, "{body}");
        let codes: Vec<&str> = body["error"]["errors"].as_array().expect("errors").iter().filter_map(|e| e["code"].as_str()).collect();
        assert_eq!(codes, ["sensitive_variable", "coded_as_text", "health_term"]);
        assert!(body["error"]["errors"].as_array().expect("errors").iter().all(|e| e["field"] == "surfaces.sms_body"));
        let (status, body) = t.post_json("/v1/templates", &reminder("Diabetes reminder")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("health_term_in_name")));
        let warned = json!({"name": "Flu clinic days", "channel": "sms", "surfaces": {"sms_body": "Flu vaccine days are here: walk in any weekday."}});
        let (status, body) = t.post_json("/v1/templates", &warned).await;
        assert_eq!(status, 201, "a warning does not stop a save: {body}");
        assert_eq!(body["versions"][0]["analysis"]["warnings"]["sms_body"][0]["category"], "procedure", "reviewers see the warning: {body}");
        let (_, list) = read(t.get("/v1/templates", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(list["templates"].as_array().map(Vec::len), Some(1), "only the template that passed was stored");
    })
    .await;
}

#[tokio::test]
async fn a_preview_renders_a_sample_or_a_real_profile_and_a_value_cannot_smuggle_a_health_term() {
    each_app(async |t| {
        let (status, _) = t.post_json("/v1/identify", &json!({"userId": "p-1", "traits": {"first_name": "Ana", "timezone": "America/Chicago"}})).await;
        assert_eq!(status, 200);
        let composer = t.key(&[Scope::TemplatesWrite, Scope::TemplatesRead]).await;
        let id = create(t, &composer, &json!({"name": "Visit", "channel": "sms", "surfaces": {"sms_body": "Hi {{ patient.first_name }}, see {{ event.provider_first_name }} at {{ event.appointment_start | when(patient.timezone) }}."}})).await;
        let preview = format!("/v1/templates/{id}/versions/1/preview");
        let event = json!({"provider_first_name": "Maria", "appointment_start": "2026-12-04T21:00:00Z"});
        let (status, _) = call(t, &composer, &preview, &json!({"patient_id": "p-1", "event": event})).await;
        assert_eq!(status, 403, "a real profile needs patients:read_phi");
        let (status, body) = call(t, &t.admin_key, &preview, &json!({"patient_id": "p-1", "event": event})).await;
        assert_eq!((status, body["surfaces"]["sms_body"].as_str()), (200, Some("Hi Ana, see Maria at Friday, December 4 at 3:00 PM.")), "{body}");
        let sample = json!({"sample": {"patient": {"first_name": "Sam"}, "event": {"provider_first_name": "the HIV clinic", "appointment_start": "2026-12-04T21:00:00Z"}}});
        let (status, body) = call(t, &composer, &preview, &sample).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("rendered_text_blocked")), "{body}");
        assert!(!body.to_string().contains("HIV"), "the error names categories and offsets, never the text: {body}");
        for (bad, field) in [(json!({"sample": "Ana"}), "sample"), (json!({"event": [1]}), "event"), (json!({"patient_id": 7}), "patient_id")] {
            let (status, body) = call(t, &composer, &preview, &bad).await;
            assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some("wrong_type"), Some(field)), "{body}");
        }
    })
    .await;
}

#[tokio::test]
async fn only_an_approved_version_renders_for_sending() {
    each_app(async |t| {
        t.post_json("/v1/identify", &json!({"userId": "p-1", "traits": {"first_name": "Ana"}})).await;
        let composer = t.key(&[Scope::TemplatesWrite, Scope::TemplatesRead]).await;
        let reviewer = t.key(&[Scope::Compliance]).await;
        let id = create(t, &composer, &json!({"name": "Nudge", "channel": "push", "surfaces": {"push_title": "New secure message", "push_body": "Hi {{ patient.first_name }}, you have a new secure message. Tap to view."}})).await;
        let event = json!({});
        match t.app.render_for_send(&ctx(), &id, "p-1", event.clone()).await {
            Err(AppError::Conflict { code, .. }) => assert_eq!(code, "template_not_approved"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        call(t, &composer, &format!("/v1/templates/{id}/versions/1/submit"), &json!({})).await;
        call(t, &reviewer, &format!("/v1/templates/{id}/versions/1/approve"), &json!({})).await;
        let rendered = t.app.render_for_send(&ctx(), &id, "p-1", event).await.expect("renders");
        assert_eq!(rendered.surfaces[&Surface::PushBody], "Hi Ana, you have a new secure message. Tap to view.");
    })
    .await;
}
