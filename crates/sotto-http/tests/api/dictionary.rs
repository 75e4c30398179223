//! The data dictionary over HTTP.

use serde_json::json;

use crate::support::{each_app, read};

#[tokio::test]
async fn the_dictionary_lists_the_shipped_fields_with_their_classes() {
    each_app(async |t| {
        let (status, body) = read(t.get("/v1/dictionary", &t.admin_key).send().await.expect("send")).await;
        assert_eq!(status, 200);
        let fields = body["fields"].as_array().expect("fields");
        let find = |kind: &str, name: &str| fields.iter().find(|f| f["kind"] == kind && f["name"] == name).cloned();
        assert_eq!(find("trait", "conditions").expect("conditions")["code_prefix"], "condition:");
        assert_eq!(find("property", "diagnosis").expect("diagnosis")["class"], "sensitive_phi");
        assert_eq!(find("property", "appointment_start").expect("start")["surfaces"], json!(["email_subject", "email_body", "sms_body", "push_body"]));
    })
    .await;
}

#[tokio::test]
async fn a_declared_field_is_accepted_by_ingestion_and_cannot_be_declared_twice() {
    each_app(async |t| {
        let call = json!({"userId": "p", "traits": {"loyalty_points": 120}});
        let (status, _) = t.post_json("/v1/identify", &call).await;
        assert_eq!(status, 422);
        let spec = json!({"kind": "trait", "name": "loyalty_points", "class": "non_phi", "value_type": "number", "description": "points"});
        let (status, body) = t.post_json("/v1/dictionary/fields", &spec).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = t.post_json("/v1/identify", &call).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = t.post_json("/v1/dictionary/fields", &spec).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("field_exists")));
        let shipped = json!({"kind": "trait", "name": "status", "class": "non_phi", "value_type": "string"});
        let (status, body) = t.post_json("/v1/dictionary/fields", &shipped).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("field_exists")));
    })
    .await;
}

#[tokio::test]
async fn incoherent_declarations_are_refused_with_field_paths() {
    each_app(async |t| {
        let cases = [
            (json!({"kind": "trait", "name": "Bad Name", "class": "non_phi", "value_type": "string"}), "invalid_name", "name"),
            (json!({"kind": "trait", "name": "x", "class": "secret", "value_type": "string"}), "invalid_value", "class"),
            (json!({"kind": "trait", "name": "risk", "class": "coded", "value_type": "string"}), "invalid_code_prefix", "code_prefix"),
            (json!({"kind": "trait", "name": "plan", "class": "non_phi", "value_type": "string", "surfaces": ["sms_body"]}), "invalid_declaration", "surfaces"),
            (json!({"kind": "trait", "name": "hiv_status_flag", "class": "non_phi", "value_type": "boolean"}), "health_term_in_name", "name"),
            (json!({"kind": "trait", "name": "plan", "class": "non_phi"}), "missing_field", "value_type"),
            (json!({"kind": "trait", "name": "plan", "class": "non_phi", "value_type": "string", "colour": 1}), "unknown_field", ""),
        ];
        for (spec, code, field) in cases {
            let (status, body) = t.post_json("/v1/dictionary/fields", &spec).await;
            assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (422, Some(code), Some(field)), "{spec} -> {body}");
        }
    })
    .await;
}
