//! Patient profiles: encryption at rest, masked and full views, blind-index lookups.

use serde_json::json;
use sqlx::Row;

use sotto_core::scope::Scope;
use sotto_store::AuditStore;

use crate::support::{each_app, read};

async fn identify_jane(t: &crate::support::TestApp) {
    let traits = json!({"email": "Jane.Roe@Example.org", "phone": "(312) 253-0142", "first_name": "Jane", "last_name": "Roe",
        "timezone": "America/Chicago", "language": "es-mx", "preferred_channel": "sms", "status": "active", "push_tokens": ["tok-a", "tok-b"]});
    let (status, body) = t.post_json("/v1/identify", &json!({"userId": "mrn-77", "traits": traits})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn identifiers_are_encrypted_at_rest_and_only_blind_indexes_are_searchable() {
    each_app(async |t| {
        identify_jane(t).await;
        let row = sqlx::query("SELECT identifiers, email_index, traits FROM patients WHERE external_id = 'mrn-77'")
            .fetch_one(t.store().pool())
            .await
            .expect("row");
        let sealed: Vec<u8> = row.try_get("identifiers").expect("identifiers");
        let traits: String = row.try_get("traits").expect("traits");
        let haystack = String::from_utf8_lossy(&sealed).to_lowercase();
        for plain in ["jane", "roe", "example.org", "3122530142", "tok-a"] {
            assert!(!haystack.contains(plain), "{plain} stored in the clear");
            assert!(!traits.to_lowercase().contains(plain), "{plain} stored in traits");
        }
        let (status, body) = t.post_json("/v1/patients/lookup", &json!({"email": "jane.roe@EXAMPLE.org"})).await;
        assert_eq!((status, body["external_ids"].clone()), (200, json!(["mrn-77"])));
        let (_, body) = t.post_json("/v1/patients/lookup", &json!({"phone": "+13122530142"})).await;
        assert_eq!(body["external_ids"], json!(["mrn-77"]));
        let (_, body) = t.post_json("/v1/patients/lookup", &json!({"email": "someone@example.org"})).await;
        assert_eq!(body["external_ids"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn the_default_view_is_masked_and_the_full_view_needs_read_phi_and_is_audited() {
    each_app(async |t| {
        identify_jane(t).await;
        let reader = t.key(&[Scope::PatientsRead]).await;
        let (status, masked) = read(t.get("/v1/patients/mrn-77", &reader).send().await.expect("send")).await;
        assert_eq!(status, 200, "{masked}");
        assert_eq!(masked["view"], "masked");
        assert_eq!(masked["email"], "J***@e***.org");
        assert_eq!(masked["phone"], "+1********42");
        assert_eq!(masked["identifiers"]["first_name"], "J.");
        assert_eq!(masked["identifiers"]["push_tokens"], "2 item(s)");
        assert_eq!((masked["language"].as_str(), masked["timezone"].as_str()), (Some("es-MX"), Some("America/Chicago")));
        assert_eq!(masked["traits"]["status"], "active");
        assert!(!masked.to_string().contains("Jane"));

        let (status, denied) = read(t.get("/v1/patients/mrn-77?view=full", &reader).send().await.expect("send")).await;
        assert_eq!((status, denied["error"]["code"].as_str()), (403, Some("insufficient_scope")));

        let phi = t.key(&[Scope::PatientsReadPhi]).await;
        let (status, full) = read(t.get("/v1/patients/mrn-77?view=full", &phi).send().await.expect("send")).await;
        assert_eq!(status, 200);
        assert_eq!((full["email"].as_str(), full["phone"].as_str()), (Some("Jane.Roe@example.org"), Some("+13122530142")));
        assert_eq!(full["identifiers"]["last_name"], "Roe");

        let log = t.store().audit_page(0, 100).await.expect("audit");
        let actions: Vec<(&str, &str)> = log.iter().map(|r| (r.event.action.as_str(), r.event.outcome.as_str())).collect();
        assert!(actions.contains(&("patient.read_phi", "success")), "{actions:?}");
        assert!(actions.contains(&("access.denied", "denied:patients:read_phi")), "{actions:?}");
        assert!(log.iter().all(|r| !r.event.object.contains("Jane") && !r.event.object.contains("example.org")));
        // Inside Sotto the patient is named by an opaque reference, never by the source's id.
        let reference = format!("patient:{}", t.test_store.master.chain_key().patient_ref("mrn-77"));
        assert!(log.iter().all(|r| !r.event.object.contains("mrn-77")), "the external id is in the audit chain");
        assert!(log.iter().filter(|r| r.event.action == "patient.read_phi").all(|r| r.event.object == reference), "{reference}");
        assert!(log.iter().filter(|r| r.event.action == "patient.identify").all(|r| r.event.object.starts_with(&reference)));
        assert_eq!(sotto_store::verify_audit_chain(t.store(), &t.test_store.master.chain_key(), &[], |_| {}).await.expect("read"), Ok(log.len() as i64));
    })
    .await;
}

#[tokio::test]
async fn identify_merges_traits_and_null_clears_one() {
    each_app(async |t| {
        identify_jane(t).await;
        let (status, _) = t.post_json("/v1/identify", &json!({"userId": "mrn-77", "traits": {"membership_tier": "gold", "phone": null}})).await;
        assert_eq!(status, 200);
        let (_, full) = read(t.get("/v1/patients/mrn-77?view=full", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(full["email"], "Jane.Roe@example.org");
        assert_eq!(full["phone"], serde_json::Value::Null);
        assert_eq!((full["traits"]["status"].as_str(), full["traits"]["membership_tier"].as_str()), (Some("active"), Some("gold")));
        let (status, body) = read(t.get("/v1/patients/nobody", &t.admin_key).send().await.expect("send")).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    })
    .await;
}
