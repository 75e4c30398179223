//! Consent, authorizations, eligibility and the decision log over HTTP.

use serde_json::{Value, json};
use sqlx::{Executor, Row};

use sotto_core::contact::Channel;
use sotto_app::Dispatch;
use sotto_core::gate::{Decision, Reason};
use sotto_core::ids::ExternalId;
use sotto_core::purpose::Purpose;
use sotto_core::scope::Scope;

use crate::support::{TestApp, each_app, read};

pub async fn publish_form(t: &TestApp) {
    let form = json!({"version": "mkt-auth-v2", "language": "en", "text": "I allow Riverside Clinic to use my appointment history to send me news about its programs.",
        "statements": {"right_to_revoke": "You may revoke this at any time in writing or in the portal.",
                       "conditioning": "Your treatment does not depend on signing.",
                       "redisclosure": "Information shared under this authorization may be redisclosed and no longer protected."}});
    let (status, body) = t.post_json("/v1/authorization-forms", &form).await;
    assert_eq!(status, 201, "{body}");
}

pub async fn patient(t: &TestApp, id: &str) {
    let traits = json!({"email": "ana@example.org", "phone": "+13122530142", "email_verified": true, "phone_verified": true,
        "timezone": "America/Chicago", "state_of_residence": "IL"});
    let (status, body) = t.post_json("/v1/identify", &json!({"userId": id, "traits": traits})).await;
    assert_eq!(status, 200, "{body}");
}

fn consent(channel: &str, status: &str, kind: &str, when: &str) -> Value {
    json!({"channel": channel, "status": status, "kind": kind, "source": "web_form", "captured_at": when,
        "evidence": {"form_version": "sms-optin-v3", "consent_text_version": "2026-01"}})
}

pub fn authorization() -> Value {
    json!({
        "description_of_information": "appointment history and condition codes",
        "disclosed_by": "Riverside Clinic", "recipients": ["Riverside Clinic marketing office"],
        "purpose": "information about our diabetes-prevention program", "expires_at": "2027-06-30",
        "signed_at": "2026-01-10T15:00:00Z", "signature": "typed: Ana Diaz-Whitfield",
        "statements": {"right_to_revoke": true, "conditioning": true, "redisclosure": true},
        "remuneration": {"involved": false}, "form_version": "mkt-auth-v2"
    })
}

/// The eligibility answer without its `template` note, which says the template was not
/// checked when the question names none.
async fn eligibility(t: &TestApp, id: &str, query: &str) -> (u16, Value) {
    let (status, mut answer) = read(t.get(&format!("/v1/patients/{id}/eligibility?{query}"), &t.admin_key).send().await.expect("send")).await;
    if status == 200 {
        let note = answer.as_object_mut().and_then(|o| o.remove("template"));
        assert_eq!(note, Some(json!("not checked: pass template_id")), "{answer}");
    }
    (status, answer)
}

#[tokio::test]
async fn the_ledger_appends_and_the_current_state_is_the_latest_record() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let (status, body) = t.post_json("/v1/patients/p-1/consents", &consent("sms", "opted_in", "express_written", "2026-01-01T10:00:00Z")).await;
        assert_eq!(status, 201, "{body}");
        t.post_json("/v1/patients/p-1/consents", &consent("sms", "opted_out", "express", "2026-02-01T10:00:00Z")).await;
        let (status, body) = read(t.get("/v1/patients/p-1/consents", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status, 200);
        assert_eq!(body["history"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["current"][0]["status"], "opted_out");
        let (status, body) = t.post_json("/v1/patients/p-1/consents", &json!({"channel": "fax", "status": "maybe"})).await;
        assert_eq!(status, 422);
        let fields: Vec<&str> = body["error"]["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        for field in ["channel", "status", "kind", "source", "captured_at", "evidence"] {
            assert!(fields.contains(&field), "{field} not named: {body}");
        }
        let (status, _) = t.post_json("/v1/patients/nobody/consents", &consent("sms", "opted_in", "express", "2026-01-01T10:00:00Z")).await;
        assert_eq!(status, 404);
        // The ledger is append-only in the database itself.
        assert!(t.store().pool().execute("UPDATE consents SET status = 'opted_in'").await.is_err());
        assert!(t.store().pool().execute("DELETE FROM consents").await.is_err());
    })
    .await;
}

#[tokio::test]
async fn an_incomplete_authorization_names_every_missing_element() {
    each_app(async |t| {
        patient(t, "p-1").await;
        publish_form(t).await;
        let mut partial = authorization();
        partial.as_object_mut().map(|o| o.remove("disclosed_by"));
        partial["statements"] = json!({"right_to_revoke": true});
        partial["remuneration"] = json!({"involved": true});
        let (status, body) = t.post_json("/v1/patients/p-1/authorizations", &partial).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("incomplete_authorization")));
        assert_eq!(body["error"]["missing"], json!(["disclosed_by", "statements.conditioning", "statements.redisclosure", "remuneration.disclosure"]));
        assert_eq!(t.store().pool().fetch_one("SELECT COUNT(*) AS n FROM authorizations").await.expect("count").try_get::<i64, _>("n").expect("n"), 0);
    })
    .await;
}

#[tokio::test]
async fn form_versions_are_published_once_and_authorizations_must_name_one() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let (status, body) = t.post_json("/v1/patients/p-1/authorizations", &authorization()).await;
        assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some("unknown_form_version"), Some("form_version")));
        let (status, body) = t.post_json("/v1/authorization-forms", &json!({"version": "v9", "language": "en", "text": "…", "statements": {"right_to_revoke": "…"}})).await;
        assert_eq!((status, body["error"]["missing"].clone()), (422, json!(["statements.conditioning", "statements.redisclosure"])));
        publish_form(t).await;
        let (status, body) = t.post_json("/v1/authorization-forms", &json!({"version": "mkt-auth-v2", "language": "en", "text": "changed",
            "statements": {"right_to_revoke": "a", "conditioning": "b", "redisclosure": "c"}})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("form_version_exists")));
        let (status, body) = read(t.get("/v1/authorization-forms/mkt-auth-v2", &t.admin_key).send().await.expect("send")).await;
        assert_eq!((status, body["conditioning"].as_str()), (200, Some("Your treatment does not depend on signing.")));
        let (status, _) = t.post_json("/v1/patients/p-1/authorizations", &authorization()).await;
        assert_eq!(status, 201);
        assert!(t.store().pool().execute("UPDATE authorization_forms SET body = 'x'").await.is_err(), "form versions are immutable");
    })
    .await;
}

#[tokio::test]
async fn a_revoked_authorization_stops_marketing_that_uses_phi_at_once() {
    each_app(async |t| {
        patient(t, "p-1").await;
        publish_form(t).await;
        t.post_json("/v1/patients/p-1/consents", &consent("email", "opted_in", "express", "2026-01-01T10:00:00Z")).await;
        let (status, created) = t.post_json("/v1/patients/p-1/authorizations", &authorization()).await;
        assert_eq!(status, 201, "{created}");
        let sealed = t.store().pool().fetch_one("SELECT document FROM authorizations").await.expect("row").try_get::<Vec<u8>, _>("document").expect("doc");
        assert!(!String::from_utf8_lossy(&sealed).contains("Whitfield"), "the signature is stored in the clear");
        let at = "2026-03-03T17:00:00Z"; // 11:00 in Chicago
        let query = format!("channel=email&purpose=marketing&uses_phi=true&at={at}");
        assert_eq!(eligibility(t, "p-1", &query).await, (200, json!({"decision": "allow"})));
        let id = created["id"].as_str().expect("id");
        let (status, revoked) = t.post_json(&format!("/v1/patients/p-1/authorizations/{id}/revoke"), &json!({})).await;
        assert_eq!((status, &revoked["already_revoked"]), (200, &json!(false)), "{revoked}");
        let (_, again) = t.post_json(&format!("/v1/patients/p-1/authorizations/{id}/revoke"), &json!({})).await;
        assert_eq!(again["already_revoked"], true);
        let later = format!("channel=email&purpose=marketing&uses_phi=true&at={}", jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1));
        let (_, decision) = eligibility(t, "p-1", &later).await;
        assert_eq!(decision["decision"], "deny");
        assert!(decision["reasons"].as_array().expect("reasons").contains(&json!("authorization_revoked")), "{decision}");
        assert!(t.store().pool().execute("DELETE FROM authorizations").await.is_err(), "authorizations must be retained");
    })
    .await;
}

#[tokio::test]
async fn eligibility_explains_allow_defer_and_deny_and_checks_its_question() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let (_, d) = eligibility(t, "p-1", "channel=sms&purpose=operations&at=2026-03-03T17:00:00Z").await;
        assert_eq!(d, json!({"decision": "deny", "reasons": ["no_sms_consent"]}));
        t.post_json("/v1/patients/p-1/consents", &consent("sms", "opted_in", "express", "2026-01-01T10:00:00Z")).await;
        let (_, d) = eligibility(t, "p-1", "channel=sms&purpose=operations&at=2026-03-03T17:00:00Z").await;
        assert_eq!(d, json!({"decision": "allow"}));
        // 03:00 in Chicago waits until 08:00 (CST, UTC-6).
        let (_, d) = eligibility(t, "p-1", "channel=sms&purpose=operations&at=2026-03-03T09:00:00Z").await;
        assert_eq!(d, json!({"decision": "defer", "until": "2026-03-03T14:00:00Z", "reasons": ["quiet_hours"]}));
        let (_, d) = eligibility(t, "p-1", "channel=sms&purpose=marketing&at=2026-03-03T17:00:00Z").await;
        assert_eq!(d, json!({"decision": "deny", "reasons": ["sms_written_consent_required"]}));
        let (status, body) = eligibility(t, "p-1", "channel=fax&purpose=sales&uses_phi=maybe").await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["errors"].as_array().map(Vec::len), Some(3), "{body}");
        let reader = t.key(&[Scope::PatientsRead]).await;
        let (status, _) = read(t.get("/v1/patients/p-1/eligibility?channel=sms&purpose=operations", &reader).send().await.expect("send")).await;
        assert_eq!(status, 403);
    })
    .await;
}

#[tokio::test]
async fn dispatch_decisions_are_recorded_without_phi_and_counted_by_reason() {
    each_app(async |t| {
        patient(t, "p-1").await;
        let now: jiff::Timestamp = "2026-03-03T17:00:00Z".parse().expect("time");
        let template_id = t.library_template("Appointment reminder (SMS)").await;
        let intent = Dispatch { channel: Channel::Sms, purpose: Purpose::Operations, topic: None, uses_phi: false, template_id };
        let p1 = ExternalId::parse("id", "p-1").expect("id");
        let nobody = ExternalId::parse("id", "nobody").expect("id");
        assert_eq!(t.app.decide_for_dispatch(&p1, &intent, now).await.expect("decide"), Decision::Deny { reasons: vec![Reason::NoSmsConsent] });
        // An unknown patient, and a storage failure while reading a known one's state, are
        // both denied: the gate fails closed.
        assert_eq!(t.app.decide_for_dispatch(&nobody, &intent, now).await.expect("decide"), Decision::Deny { reasons: vec![Reason::StateUnavailable] });
        t.store().pool().execute("ALTER TABLE suppressions RENAME TO suppressions_unreachable").await.expect("break reads");
        assert_eq!(t.app.decide_for_dispatch(&p1, &intent, now).await.expect("decide"), Decision::Deny { reasons: vec![Reason::StateUnavailable] });
        t.store().pool().execute("ALTER TABLE suppressions_unreachable RENAME TO suppressions").await.expect("repair");
        t.post_json("/v1/patients/p-1/consents", &consent("sms", "opted_in", "express", "2026-01-01T10:00:00Z")).await;
        assert_eq!(t.app.decide_for_dispatch(&p1, &intent, now).await.expect("decide"), Decision::Allow);
        let (status, summary) = read(t.get("/v1/decisions/summary", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status, 200);
        assert_eq!(summary["total"], "fewer than 11", "small counts are never shown exactly");
        assert_eq!(summary["by_decision"], json!({"allow": "fewer than 11", "deny": "fewer than 11"}));
        assert_eq!(summary["by_reason"], json!({"no_sms_consent": "fewer than 11", "state_unavailable": "fewer than 11"}));
        let rows = t.store().pool().fetch_all("SELECT decision, reasons, channel, purpose FROM gate_decisions ORDER BY id").await.expect("rows");
        let decided: Vec<(String, String, String, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect();
        let row = |d: &str, r: &str| (d.to_owned(), r.to_owned(), "sms".to_owned(), "operations".to_owned());
        assert_eq!(decided, vec![row("deny", "no_sms_consent"), row("deny", "state_unavailable"), row("deny", "state_unavailable"), row("allow", "")]);
        let log = sotto_store::AuditStore::audit_page(t.store(), 0, 10_000).await.expect("audit");
        let audited: Vec<&str> = log.iter().filter(|r| r.event.action == "gate.decide").map(|r| r.event.outcome.as_str()).collect();
        assert_eq!(audited, ["deny:no_sms_consent", "deny:state_unavailable", "deny:state_unavailable", "allow"], "every decision is in the audit chain");
    })
    .await;
}

#[tokio::test]
async fn free_text_fields_refuse_health_information_and_evidence_is_structured() {
    each_app(async |t| {
        patient(t, "p-1").await;
        publish_form(t).await;
        let with_evidence = |evidence: Value| json!({"channel": "sms", "status": "opted_in", "kind": "express_written", "source": "web_form", "captured_at": "2026-01-01T10:00:00Z", "evidence": evidence});
        let refused = [
            (json!({"note": "patient says she has HIV"}), "health_term_in_free_text", "evidence.note"),
            (json!({"story": "anything at all"}), "unknown_field", "evidence"),
            (json!({"ip": "not an address"}), "invalid_ip", "evidence.ip"),
            (json!({"url": "javascript:alert(1)"}), "invalid_url", "evidence.url"),
            (json!({"form_version": {"nested": true}}), "wrong_type", "evidence.form_version"),
        ];
        for (evidence, code, field) in refused {
            let (status, body) = t.post_json("/v1/patients/p-1/consents", &with_evidence(evidence.clone())).await;
            assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some(code), Some(field)), "{evidence} -> {body}");
            assert!(!body.to_string().contains("HIV") && !body.to_string().contains("story"), "{body}");
        }
        let evidence = json!({"form_version": "sms-optin-v3", "ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "url": "https://clinic.example/optin", "keyword": "START"});
        let (status, body) = t.post_json("/v1/patients/p-1/consents", &with_evidence(evidence)).await;
        assert_eq!(status, 201, "{body}");
        let mut auth = authorization();
        auth.as_object_mut().expect("object").remove("expires_at");
        auth["expiration_event"] = json!("end of chemotherapy for breast cancer");
        let (status, body) = t.post_json("/v1/patients/p-1/authorizations", &auth).await;
        assert_eq!(status, 422, "{body}");
        assert!(!body.to_string().contains("chemotherapy"), "{body}");
        auth["expiration_event"] = json!("the end of the spring program");
        let (status, body) = t.post_json("/v1/patients/p-1/authorizations", &auth).await;
        assert_eq!(status, 201, "{body}");
        for meaning in ["…", "  ", "-"] {
            let (status, body) = t.post_json("/v1/vault/codes", &json!({"code": "condition:457", "meaning": meaning})).await;
            assert_eq!(status, 422, "{meaning:?} -> {body}");
        }
        for code in ["condition:HIV1", "condition:T2D", "condition:cancer123"] {
            let (status, body) = t.post_json("/v1/vault/codes", &json!({"code": code, "meaning": "a meaning"})).await;
            assert_eq!(status, 422, "{code} -> {body}");
        }
    })
    .await;
}
