//! Logs carry no PHI: PHI-bearing inputs go through the server while the test binary's logs
//! are captured (one JSON subscriber for the whole binary, installed by `spawn_app_on`).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;

use sotto_http::HttpSettings;
use sotto_http::telemetry::{LogFormat, subscriber};
use sotto_store::Backend;
use sotto_store::testing::backends;

use crate::support::{read, spawn_app_on};

#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the production JSON subscriber for the whole test binary, writing to memory.
pub fn captured() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing::subscriber::set_global_default(subscriber(LogFormat::Json, move || writer.clone())).expect("one global subscriber");
        captured
    })
}

#[tokio::test]
async fn phi_sent_to_the_server_never_appears_in_its_logs() {
    for backend in backends() {
        phi_stays_out_of_the_logs(backend).await;
    }
}

async fn phi_stays_out_of_the_logs(backend: Backend) {
    let t = spawn_app_on(backend, HttpSettings::default()).await;
    let phi = [
        "Jane.Roe-Whitfield@example.org", "+13122530199", "Roe-Whitfield", "Metformin", "Diabetes", "Oncology consult", "HIV positive",
        "chemotherapy on Tuesday", "jane.roe@example.org", "1987-03-14", "742 Evergreen Terrace", "schizophrenia", "zz_hiv_status",
    ];
    let post = |path: String, body: serde_json::Value| t.post(&path, &t.admin_key).header("x-request-id", "phi-log-test").json(&body).send();
    let calls = [
        post("/v1/identify".into(), json!({"userId": "mrn-9", "traits": {"email": phi[0], "phone": phi[1], "last_name": phi[2], "first_name": "Ana"}})),
        post("/v1/track".into(), json!({"userId": "mrn-9", "event": "appointment_booked", "properties": {"medication": phi[3]}})),
        post("/v1/identify".into(), json!({"userId": "mrn-9", "traits": {"conditions": [phi[4]]}})),
        post("/v1/track".into(), json!({"userId": "mrn-9", "event": "appointment_booked", "properties": {"appointment_type": phi[5]}})),
        post("/v1/identify".into(), json!({"userId": "mrn-9", "traits": {"status": phi[6], "date_of_birth": phi[9], "address": phi[10], phi[12]: true}})),
        post("/v1/patients/mrn-9/consents".into(), json!({"channel": "sms", "status": "opted_in", "kind": "express", "source": "api", "captured_at": "2026-01-01T00:00:00Z", "evidence": {"note": phi[7]}})),
        post("/v1/identify".into(), json!({"userId": phi[8], "traits": {"first_name": "Ana"}})),
        post(format!("/v1/patients/{}/consents", phi[8]), json!({})),
        post("/v1/segments".into(), json!({"name": "x", "definition": format!("status = \"{}\"", phi[11])})),
        post("/v1/lint".into(), json!({"channel": "sms", "surface": "sms_body", "text": format!("Your {} follow-up", phi[11])})),
        post("/v1/patients/lookup".into(), json!({"email": phi[0]})),
    ];
    for call in calls {
        read(call.await.expect("send")).await;
    }
    read(t.get("/v1/patients/mrn-9?view=full", &t.admin_key).header("x-request-id", "phi-log-test").send().await.expect("send")).await;
    read(t.get(&format!("/v1/patients/{}", phi[0]), &t.admin_key).header("x-request-id", "phi-log-test").send().await.expect("send")).await;
    t.store().close().await;
    read(post("/v1/identify".into(), json!({"userId": "mrn-9", "traits": {"email": phi[0]}})).await.expect("send")).await;

    let logs = String::from_utf8(captured().0.lock().expect("lock").clone()).expect("utf8");
    let ours: Vec<&str> = logs.lines().filter(|l| l.contains("phi-log-test")).collect();
    assert!(ours.iter().any(|l| l.contains("/v1/patients/{external_id}")), "the capture saw no request logs:\n{logs}");
    assert!(ours.iter().any(|l| l.contains("storage unavailable")), "the capture saw no error log:\n{logs}");
    for value in phi {
        assert!(!logs.to_lowercase().contains(&value.to_lowercase()), "{value} leaked into logs:\n{logs}");
    }
}
