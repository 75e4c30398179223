//! FHIR R4: every Appointment, Patient and Bundle of the official R4 examples package handled
//! (accepted, or refused with an OperationOutcome that says why) and none of their free text
//! stored; types mapped through the table; updates, transactions all or nothing, batches entry
//! by entry; malformed bodies answered with OperationOutcome.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use sotto_core::fhir::FhirSettings;

use crate::support::{TestApp, app_settings, database_text, spawn_app_with};

fn settings() -> sotto_app::AppSettings {
    let codes = BTreeMap::from([("http://snomed.info/sct|394814009".to_owned(), "appt_type:3".to_owned())]);
    sotto_app::AppSettings { fhir: FhirSettings { codes, region: "US".into(), ..FhirSettings::default() }, ..app_settings() }
}

async fn fhir(t: &TestApp, method: &str, path: &str, body: &str) -> (u16, Value) {
    let url = format!("{}{path}", t.base);
    let request = if method == "PUT" { t.client.put(url) } else { t.client.post(url) };
    let r = request.bearer_auth(&t.admin_key).header("content-type", "application/fhir+json").body(body.to_owned()).send().await.expect("send");
    let status = r.status().as_u16();
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("application/fhir+json"), "{status}");
    (status, serde_json::from_str(&r.text().await.expect("body")).expect("json"))
}

/// The official examples package (npm hl7.fhir.r4.examples 4.0.1, which scripts/test fetches).
fn examples() -> Option<PathBuf> {
    let dir = std::env::var_os("SOTTO_TEST_FHIR_EXAMPLES").map(PathBuf::from).unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-node/node_modules/hl7.fhir.r4.examples"));
    if dir.join("Appointment-example.json").exists() {
        return Some(dir);
    }
    assert!(std::env::var("CI").is_err(), "CI must provide the FHIR R4 examples (scripts/test fetches them)");
    eprintln!("skipped: no FHIR R4 examples at {}; run scripts/test to fetch them", dir.display());
    None
}

/// Text of the examples that must never be stored: sentences (a space, twelve characters or more).
fn free_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.len() >= 12 && s.contains(' ') && !s.contains('<') => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| free_text(v, out)),
        Value::Object(map) => map.values().for_each(|v| free_text(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_official_appointment_patient_and_bundle_example_is_handled_and_no_free_text_is_stored() {
    let Some(dir) = examples() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).expect("dir").filter_map(Result::ok).map(|e| e.path()).collect();
    files.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| ["Appointment-", "Patient-", "Bundle-"].iter().any(|k| n.starts_with(k)) && n.ends_with(".json")));
    files.sort();
    assert!(files.len() >= 69, "{} examples", files.len());
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings()).await;
        let (mut accepted, mut refused, mut text) = (0, 0, Vec::new());
        for file in &files {
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            let body = std::fs::read_to_string(file).expect("example");
            let value: Value = serde_json::from_str(&body).expect("json");
            free_text(&value, &mut text);
            let path = if name.starts_with("Appointment") { "/fhir/Appointment" } else if name.starts_with("Patient") { "/fhir/Patient" } else { "/fhir" };
            let (status, answer) = fhir(&t, "POST", path, &body).await;
            assert!(status < 500, "{name}: {status} {answer}");
            if (200..300).contains(&status) {
                accepted += 1;
            } else {
                refused += 1;
                assert_eq!(answer["resourceType"], "OperationOutcome", "{name}");
                assert!(answer["issue"][0]["diagnostics"].as_str().is_some_and(|d| !d.is_empty()), "{name}: a reason: {answer}");
            }
        }
        println!("FHIR R4 examples: {} files, {accepted} accepted, {refused} refused with a reason", files.len());
        assert!(accepted >= 25, "{accepted} accepted");
        let stored = database_text(&t).await;
        text.sort();
        text.dedup();
        let found: Vec<&String> = text.iter().filter(|s| stored.contains(s.as_str())).collect();
        assert!(found.is_empty(), "free text of the examples was stored: {found:?}");
    }
}

#[tokio::test]
async fn an_appointment_maps_its_patient_status_start_and_type_code_and_names_what_it_dropped() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings()).await;
        let patient = json!({"resourceType": "Patient", "id": "pat-7", "name": [{"family": "Chalmers", "given": ["Peter"]}], "telecom": [{"system": "phone", "value": "+1 312 253 0142", "use": "mobile"}, {"system": "email", "value": "peter@example.org"}], "birthDate": "1974-12-25", "gender": "male", "text": {"status": "generated", "div": "<div>Peter James Chalmers</div>"}});
        let (status, answer) = fhir(&t, "POST", "/fhir/Patient", &patient.to_string()).await;
        assert_eq!(status, 201, "{answer}");
        let dropped: Vec<&str> = answer["issue"].as_array().expect("issues").iter().filter_map(|i| i["expression"][0].as_str()).collect();
        assert_eq!(dropped, ["Patient.gender", "Patient.text"], "{answer}");
        let appointment = json!({"resourceType": "Appointment", "id": "appt-7", "status": "booked", "start": "2026-12-10T09:00:00Z", "description": "Discussion on the results of your recent MRI",
            "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": "394814009", "display": "General practice"}]}],
            "reasonCode": [{"text": "chest pain"}], "participant": [{"actor": {"reference": "Patient/pat-7", "display": "Peter James Chalmers"}, "status": "accepted"}]});
        let (status, answer) = fhir(&t, "POST", "/fhir/Appointment", &appointment.to_string()).await;
        assert_eq!(status, 201, "{answer}");
        assert!(answer.to_string().contains("Appointment.description") && answer.to_string().contains("Appointment.reasonCode"), "{answer}");
        assert!(!answer.to_string().contains("MRI"), "never a value");
        let pool = t.store().pool();
        let props: String = sqlx::query_scalar("SELECT properties FROM events WHERE name = 'appointment_booked'").fetch_one(pool).await.expect("event");
        let props: Value = serde_json::from_str(&props).expect("json");
        assert_eq!((props["appointment_id"].as_str(), props["appointment_type"].as_str(), props["appointment_start"].as_str()), (Some("appt-7"), Some("appt_type:3"), Some("2026-12-10T09:00:00Z")));
        let cancelled = json!({"resourceType": "Appointment", "id": "appt-7", "status": "cancelled", "participant": [{"actor": {"reference": "Patient/pat-7"}}]});
        let (status, _) = fhir(&t, "PUT", "/fhir/Appointment/appt-7", &cancelled.to_string()).await;
        assert_eq!(status, 200);
        let (status, answer) = fhir(&t, "PUT", "/fhir/Appointment/appt-8", &cancelled.to_string()).await;
        assert_eq!((status, answer["issue"][0]["expression"][0].as_str()), (422, Some("Appointment.id")));
        let (status, answer) = fhir(&t, "POST", "/fhir/Appointment", "{not json").await;
        assert_eq!((status, answer["resourceType"].as_str()), (400, Some("OperationOutcome")));
        let events: Vec<String> = sqlx::query_scalar("SELECT name FROM events ORDER BY id").fetch_all(pool).await.expect("events");
        assert_eq!(events, ["appointment_booked", "appointment_cancelled"]);
        let stored = database_text(&t).await;
        for text in ["MRI", "chest pain", "Chalmers", "General practice", "1974-12-25"] {
            assert!(!stored.contains(text), "{text} is in the database");
        }
    }
}

#[tokio::test]
async fn a_transaction_stores_all_or_nothing_and_a_batch_answers_entry_by_entry() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings()).await;
        let patient = json!({"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "pat-9", "name": [{"given": ["Ana"]}]}, "request": {"method": "POST", "url": "Patient"}});
        let appointment = json!({"resource": {"resourceType": "Appointment", "id": "appt-9", "status": "proposed", "participant": [{"actor": {"reference": "urn:uuid:p1"}}]}, "request": {"method": "POST", "url": "Appointment"}});
        let observation = json!({"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "potassium"}}, "request": {"method": "POST", "url": "Observation"}});
        let before = t.counts().await;
        let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [patient, appointment, observation]});
        let (status, answer) = fhir(&t, "POST", "/fhir", &bad.to_string()).await;
        assert_eq!((status, answer["issue"][0]["expression"][0].as_str()), (422, Some("Bundle.entry[2].resource")), "{answer}");
        assert_eq!(t.counts().await, before, "a refused transaction stores nothing");
        let good = json!({"resourceType": "Bundle", "type": "transaction", "entry": [patient, appointment]});
        let (status, answer) = fhir(&t, "POST", "/fhir", &good.to_string()).await;
        assert_eq!((status, answer["type"].as_str()), (200, Some("transaction-response")), "{answer}");
        assert_eq!(t.counts().await, (before.0 + 1, before.1 + 1), "the patient and the appointment event");
        let orphan = json!({"resource": {"resourceType": "Appointment", "id": "appt-10", "status": "booked", "participant": [{"actor": {"reference": "urn:uuid:nobody"}}]}});
        let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [observation, patient, appointment, orphan]});
        let (status, answer) = fhir(&t, "POST", "/fhir", &batch.to_string()).await;
        let statuses: Vec<&str> = answer["entry"].as_array().expect("entries").iter().filter_map(|e| e["response"]["status"].as_str()).collect();
        assert_eq!((status, statuses), (200, vec!["422 Unprocessable Entity", "201 Created", "201 Created", "422 Unprocessable Entity"]), "{answer}");
        assert_eq!(answer["entry"][3]["response"]["outcome"]["issue"][0]["expression"][0], "Bundle.entry[3].resource.participant", "{answer}");
        let (status, _) = fhir(&t, "POST", "/fhir", &json!({"resourceType": "Bundle", "type": "document", "entry": []}).to_string()).await;
        assert_eq!(status, 422);
    }
}

#[tokio::test]
async fn a_consent_ends_an_authorization_on_file_and_anything_else_is_refused_with_a_reason() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_with(backend, sotto_http::HttpSettings::default(), settings()).await;
        crate::consent::patient(&t, "p-1").await;
        crate::consent::publish_form(&t).await;
        let (_, auth) = t.post_json("/v1/patients/p-1/authorizations", &crate::consent::authorization()).await;
        let id = auth["id"].as_str().expect("id").to_owned();
        let consent = |status: &str, auth: &str| json!({"resourceType": "Consent", "status": status, "patient": {"reference": "Patient/p-1"}, "identifier": [{"system": "urn:sotto:authorization", "value": auth}], "scope": {"text": "marketing"}, "category": [{"text": "HIPAA authorization"}]}).to_string();
        let (status, answer) = fhir(&t, "POST", "/fhir/Consent", &consent("active", &id)).await;
        assert_eq!((status, answer["issue"][0]["expression"][0].as_str()), (422, Some("Consent.status")), "{answer}");
        let (status, answer) = fhir(&t, "POST", "/fhir/Consent", &consent("inactive", "auth_0000000000000000")).await;
        assert_eq!(status, 404, "{answer}");
        let (status, answer) = fhir(&t, "POST", "/fhir/Consent", &consent("inactive", &id)).await;
        assert_eq!(status, 200, "{answer}");
        assert!(answer.to_string().contains("Consent.scope") && !answer.to_string().contains("HIPAA authorization"), "dropped paths, never values: {answer}");
        let (_, consents) = crate::support::read(t.get("/v1/patients/p-1/consents", &t.admin_key).send().await.expect("consents")).await;
        let (_, eligibility) = crate::support::read(t.get("/v1/patients/p-1/eligibility?channel=email&purpose=marketing&uses_phi=true", &t.admin_key).send().await.expect("eligibility")).await;
        assert!(eligibility["reasons"].as_array().is_some_and(|r| r.iter().any(|x| x == "authorization_revoked")), "{eligibility} {consents}");
    }
}
