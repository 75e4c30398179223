//! Segment's official Python library (segment-analytics-python 2.4, unchanged) sending to a
//! running Sotto: Basic auth with the key, `/v1/batch` with `sentAt` and `writeKey`, gzip, every
//! call type with its envelope. The calls are kept without the envelope's identifiers, and a
//! call Sotto refuses is reported by the library as a failure.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use sotto_store::testing::backends;

use crate::support::{python, spawn_app_on};

#[tokio::test]
async fn segments_official_python_library_sends_every_call_type_and_sees_a_refusal() {
    let Some(python) = python() else { return };
    for backend in backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        let key = t.key(&[sotto_core::scope::Scope::EventsWrite]).await;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/segment_client.py");
        let base = t.base.clone();
        let interpreter = python.clone();
        let out = tokio::task::spawn_blocking(move || Command::new(interpreter).arg(script).arg(base).arg(key).output()).await.expect("join").expect("python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("report");
        assert_eq!(report["refused"], json!({"status": 422, "code": "calls_refused"}), "the library sees the refusal");

        let pool = t.store().pool();
        let events: Vec<String> = sqlx::query_scalar("SELECT name FROM events ORDER BY id").fetch_all(pool).await.expect("events");
        assert_eq!(events, ["appointment_booked", "page_viewed", "screen_viewed"], "group and alias keep nothing; the refused call nothing");
        let patients: Vec<String> = sqlx::query_scalar("SELECT external_id FROM patients").fetch_all(pool).await.expect("patients");
        assert_eq!(patients, ["lib-1"], "no anonymous id, group or alias became a profile");
        // Nothing from the envelope is kept anywhere: not in events, profiles or the audit trail.
        let mut kept: Vec<String> = sqlx::query_scalar("SELECT properties FROM events").fetch_all(pool).await.expect("properties");
        kept.extend(sqlx::query_scalar::<_, String>("SELECT traits FROM patients").fetch_all(pool).await.expect("traits"));
        kept.extend(sqlx::query_scalar::<_, String>("SELECT object || ' ' || outcome FROM audit_log").fetch_all(pool).await.expect("audit"));
        let kept = kept.join("\n");
        for secret in ["10.1.2.3", "Mozilla", "Springfield", "device-77", "anon-77", "Lab results", "Acme", "group-acme", "influenza"] {
            assert!(!kept.contains(secret), "{secret} was kept");
        }

        // The answer names what was dropped (paths only).
        let call = json!({"userId": "lib-1", "event": "app_opened", "context": {"ip": "10.1.2.3", "library": {"name": "x"}}, "anonymousId": "anon-1", "integrations": {"All": true}});
        let (code, answer) = t.post_json("/v1/track", &call).await;
        assert_eq!((code, &answer["dropped"]), (200, &json!(["context.ip", "anonymousId", "integrations"])), "{answer}");
        assert!(!answer.to_string().contains("10.1.2.3"));
    }
}
