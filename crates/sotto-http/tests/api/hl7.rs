//! HL7 v2 over HTTP and MLLP: every shared sample acknowledged AA with what was dropped, none of
//! its clinical text or names stored in the clear; malformed and refused messages answered
//! with a NAK that stores nothing; python-hl7's messages and MLLP client against the listener.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{TestApp, database_text, python, read, spawn_app_on};

fn samples() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sotto-core/tests/core/data/hl7v2");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("samples")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "hl7"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).expect("sample")))
        .collect();
    out.sort();
    out
}

async fn post(t: &TestApp, body: &str) -> (u16, String) {
    let r = t.post("/hl7/v2", &t.admin_key).header("content-type", "x-application/hl7-v2+er7").body(body.to_owned()).send().await.expect("post");
    let kind = r.headers()["content-type"].to_str().expect("type").to_owned();
    let (status, text) = (r.status().as_u16(), r.text().await.expect("ack"));
    assert_eq!(kind, "x-application/hl7-v2+er7; charset=utf-8", "{status} {text} for {body}");
    (status, text)
}

fn msa(ack: &str) -> String {
    ack.split('\r').find(|s| s.starts_with("MSA|")).expect("MSA").to_owned()
}

#[tokio::test]
async fn every_sample_is_acknowledged_and_none_of_its_clinical_text_or_names_is_stored() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        for (name, text) in samples() {
            let (code, ack) = post(&t, &text).await;
            assert_eq!(code, 200, "{name}: {ack}");
            assert!(msa(&ack).starts_with("MSA|AA|"), "{name}: {ack}");
            if text.contains("\rDG1|") {
                assert!(ack.contains("ERR||DG1|0^Message accepted^HL70357|I||||DG1 dropped: never stored"), "{name}: {ack}");
            }
        }
        let (_, patient) = read(t.get("/v1/patients/PATID1234?view=full", &t.admin_key).send().await.expect("patient")).await;
        assert_eq!(patient["identifiers"]["last_name"], "EVERYMAN", "{patient}");
        let stored = database_text(&t).await;
        for word in ["colitis", "Biopsy", "bowel", "abdominal", "Heart rate", "Hemogram", "Colonoscope", "liquid diet", "EMERGENCY", "CHECKUP", "EVERYMAN", "123456789", "MAINSTREET"] {
            assert!(!stored.contains(word), "{word} is in the database");
        }
    }
}

#[tokio::test]
async fn a_malformed_or_refused_message_gets_a_nak_and_stores_nothing() {
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        let before = t.counts().await;
        for (body, expected) in [
            ("PID|1||X^^^^MR\r", "MSA|AR|"),
            ("MSH|^~\\&|A|B|C|D|2026||ADT^A04|N-1|P|2.5\rPID|1||123-45-6789^^^SSA^SS\r", "MSA|AE|N-1"),
            ("MSH|^~\\&|A|B|C|D|2026||ORM^O01|N-2|P|2.5\rPID|1||7^^^^MR\r", "MSA|AR|N-2"),
            ("MSH|^~\\&|A|B|C|D|2026||SIU^S12|N-3|P|2.5\rSCH||A-1\rTQ1|||||||soon\rPID|1||MRN-3^^^^MR\r", "MSA|AE|N-3"),
            ("MSH|^~\\&|A|B|C|D|2026||ADT^A04|N-4|P|2.5\rPID|1||MRN-4^^^^MR||Doe^Jane||||||||fr-not-a-language\r", "MSA|AA|N-4"),
        ] {
            let (code, ack) = post(&t, body).await;
            assert!(msa(&ack).starts_with(expected), "{body}: {ack}");
            assert_eq!(code, if expected.starts_with("MSA|AA") { 200 } else { 422 }, "{ack}");
            assert!(!ack.contains("123-45-6789") && !ack.contains("soon"), "a NAK never repeats a value: {ack}");
        }
        assert_eq!(t.counts().await.0, before.0 + 1, "only the accepted message made a profile");
        let no_scope = t.key(&[sotto_core::scope::Scope::PatientsRead]).await;
        let r = t.post("/hl7/v2", &no_scope).body("MSH|^~\\&|A|B|C|D|2026||ADT^A04|N-5|P|2.5\r").send().await.expect("post");
        assert_eq!(r.status().as_u16(), 403);
    }
}

#[tokio::test]
async fn python_hl7_messages_sent_over_mllp_are_acknowledged_in_order() {
    let Some(python) = python() else { return };
    for backend in sotto_store::testing::backends() {
        let t = spawn_app_on(backend, sotto_http::HttpSettings::default()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(sotto_http::mllp::serve(listener, t.app.clone(), sotto_http::mllp::MllpSettings::default(), std::future::pending()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/hl7_sender.py");
        let interpreter = python.clone();
        let out = tokio::task::spawn_blocking(move || Command::new(interpreter).arg(script).arg("127.0.0.1").arg(port.to_string()).output()).await.expect("join").expect("python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let acks: Vec<Value> = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("report");
        let got: Vec<(String, String)> = acks.iter().map(|a| (a["code"].as_str().unwrap_or_default().to_owned(), a["control"].as_str().unwrap_or_default().to_owned())).collect();
        let want = [("AA", "PY-1"), ("AA", "PY-2"), ("AR", ""), ("AE", "PY-4")].map(|(c, i)| (c.to_owned(), i.to_owned()));
        assert_eq!(got, want, "{stdout}");
        assert!(acks[0]["errors"].as_u64().unwrap_or_default() >= 3, "NTE, DG1 and the SSN are named as dropped: {stdout}");
        let (_, mara) = read(t.get("/v1/patients/PY-MRN-1?view=full", &t.admin_key).send().await.expect("patient")).await;
        assert_eq!((mara["identifiers"]["last_name"].as_str(), mara["identifiers"]["first_name"].as_str()), (Some("O'Neil^Smith & Co"), Some("Mara")), "{mara}");
        assert_eq!(mara["email"], "mara.oneil@example.org");
        let (_, lee) = read(t.get("/v1/patients/PY-MRN-2?view=full", &t.admin_key).send().await.expect("patient")).await;
        assert_eq!(lee["identifiers"]["last_name"], "Lee$Park", "\\S\\ is the sender's own component separator: {lee}");
        let stored = database_text(&t).await;
        for word in ["MRI", "knee", "diabetes", "penicillin", "111-22-3333", "Routine visit", "Office visit", "O'Neil"] {
            assert!(!stored.contains(word), "{word} is in the database");
        }
    }
}
