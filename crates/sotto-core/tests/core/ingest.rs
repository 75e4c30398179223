//! Table-driven and property tests of ingestion parsing and the firewall.

use proptest::prelude::*;
use serde_json::{Value, json};

use sotto_core::default_dictionary::default_dictionary;
use sotto_core::firewall::{Change, Firewall};
use sotto_core::health_terms;
use sotto_core::ingest::{CallType, IngestCall, parse_call};

fn parse(call: Value, t: Option<CallType>) -> Result<IngestCall, Vec<(&'static str, String)>> {
    let dict = default_dictionary();
    let fw = Firewall { dictionary: &dict, default_region: "US" };
    parse_call(&fw, &call, t).map(|p| p.call).map_err(|es| es.into_iter().map(|e| (e.code, e.field)).collect())
}

#[test]
fn compliant_calls_parse_into_typed_changes() {
    let call = json!({"userId": "p-1", "traits": {"email": "A@Example.org", "phone": "+1 312 253 0142", "timezone": "Europe/Madrid",
        "preferred_channel": "push", "status": null, "conditions": ["condition:457", "condition:E11.9"]}});
    let Ok(IngestCall::Identify(c)) = parse(call, Some(CallType::Identify)) else { panic!("identify") };
    assert!(matches!(c.changes.email, Change::Set(ref e) if e.expose() == "A@example.org"));
    assert!(matches!(c.changes.phone, Change::Set(ref p) if p.expose() == "+13122530142"));
    assert_eq!(c.changes.traits.get("status"), Some(&None));
    assert_eq!(c.changes.traits.get("conditions"), Some(&Some(json!(["condition:457", "condition:E11.9"]))));
}

#[test]
fn refusals_name_the_rule_and_the_field_path() {
    let cases = [
        (json!({"userId": "p", "event": "appointment_booked", "properties": {"insurance_id": "X1"}}), "sensitive_field", "properties.insurance_id"),
        (json!({"userId": "p", "event": "appointment_booked", "properties": {"billing_amount": 120}}), "sensitive_field", "properties.billing_amount"),
        (json!({"userId": "p", "event": "appointment_booked", "properties": {"appointment_type": "appt_type:"}}), "plaintext_in_coded_field", "properties.appointment_type"),
        (json!({"userId": "p", "event": "appointment_booked", "properties": {"appointment_type": "condition:12"}}), "plaintext_in_coded_field", "properties.appointment_type"),
        (json!({"userId": "p", "event": "appointment_booked", "properties": {"provider_first_name": "Dr. Oncologist"}}), "health_term_in_free_text", "properties.provider_first_name"),
        (json!({"userId": "p", "event": "appointment_booked", "properties": {"location_id": "Clínica de Diálisis"}}), "health_term_in_free_text", "properties.location_id"),
        (json!({"userId": "p", "event": "appointment_booked", "properties": "none"}), "wrong_type", "properties"),
        (json!({"userId": 7, "event": "appointment_booked"}), "wrong_type", "userId"),
        (json!({"userId": "p", "event": "appointment_booked", "timestamp": "yesterday"}), "invalid_timestamp", "timestamp"),
        (json!({"userId": "p", "event": ""}), "missing_field", "event"),
    ];
    for (call, code, field) in cases {
        let errors = parse(call.clone(), Some(CallType::Track)).expect_err("refused");
        assert_eq!(errors.first(), Some(&(code, field.to_owned())), "{call}");
    }
}

#[test]
fn a_batch_item_must_say_its_type_and_a_single_call_must_match_its_endpoint() {
    let track = json!({"type": "identify", "userId": "p", "event": "app_opened"});
    assert_eq!(parse(track, Some(CallType::Track)).expect_err("mismatch")[0].0, "invalid_type");
    let untyped = json!({"userId": "p", "event": "app_opened"});
    assert_eq!(parse(untyped, None).expect_err("no type")[0].0, "invalid_type");
}

#[test]
fn everyday_values_pass_the_free_text_check() {
    for text in ["gold", "active", "Labor Day closures", "survey results", "cold weather", "heart of our community", "a test of our system", "no pressure"] {
        assert_eq!(health_terms::find(text), None, "{text}");
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,20}".prop_map(Value::String),
        prop::sample::select(vec!["userId", "event", "traits", "properties", "diagnosis", "email", "phone", "conditions", "appointment_booked"])
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["userId", "event", "traits", "properties", "type", "messageId", "timestamp", "email", "phone", "status", "conditions", "diagnosis", "appointment_type"]),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #[test]
    fn parsing_any_json_never_panics_and_refusals_always_name_a_code(value in json_value()) {
        for t in [None, Some(CallType::Identify), Some(CallType::Track)] {
            if let Err(errors) = parse(value.clone(), t) {
                prop_assert!(!errors.is_empty());
            }
        }
    }


    #[test]
    fn phone_and_email_parsers_never_panic(text in "\\PC{0,30}") {
        let _ = sotto_core::contact::PhoneE164::parse("p", &text, "US");
        let _ = sotto_core::contact::EmailAddress::parse("e", &text);
        let _ = sotto_core::ids::ExternalId::parse("userId", &text);
    }
}
