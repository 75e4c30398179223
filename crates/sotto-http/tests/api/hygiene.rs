//! HTTP hygiene: every error in the JSON shape with a stable code, unknown query parameters
//! refused, protective headers on every answer, the Bearer scheme in any case, headers that
//! trickle in cut off, lint calls bounded and run off the async workers, and TLS.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use sotto_http::HttpSettings;

use crate::support::{each_app, read, spawn_app_on};

#[tokio::test]
async fn every_error_answers_the_json_shape_with_a_stable_code() {
    let settings = HttpSettings { body_limit: 4096, ..HttpSettings::default() };
    let t = spawn_app_on(sotto_store::Backend::Sqlite, settings).await;
    let big = "x".repeat(10_000);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (t.post("/v1/identify", &t.admin_key).header("content-type", "application/json").body(format!("{{\"userId\": \"{big}\"}}")), 413, "body_too_large"),
        (t.post("/v1/inbound/sms", &t.admin_key).form(&[("From", "+13125550142"), ("Body", big.as_str())]), 413, "body_too_large"),
        (t.get(&format!("/v1/patients/p-1?view={}", "y".repeat(9000)), &t.admin_key), 414, "uri_too_long"),
        (t.get("/v1/audit?limit=lots", &t.admin_key), 400, "invalid_query"),
        (t.get("/v1/audit?colour=blue", &t.admin_key), 400, "invalid_query"),
        (t.get("/v1/segments/s/members?cursor=1&zz_hiv=1", &t.admin_key), 400, "invalid_query"),
        (t.post("/v1/patients/p-1/authorizations/a-1/revoke?reason=x", &t.admin_key), 400, "invalid_query"),
        (t.get("/v1/identify", &t.admin_key), 405, "method_not_allowed"),
        (t.post("/v1/identify", &t.admin_key).header("content-type", "application/json").body("{"), 400, "malformed_json"),
        (t.client.get(format!("{}/v1/dictionary", t.base)), 401, "missing_api_key"),
        (t.get("/v1/nowhere/%ff", &t.admin_key), 404, "not_found"),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.expect("send");
        assert_eq!(response.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"), "{code}");
        let (got, body) = read(response).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
        assert!(!body.to_string().contains("zz_hiv") && !body.to_string().contains("colour"), "no client text is echoed: {body}");
    }
}

#[tokio::test]
async fn every_answer_carries_protective_headers_and_the_bearer_scheme_is_case_insensitive() {
    each_app(async |t| {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let response = t.client.get(format!("{}/v1/dictionary", t.base)).header("authorization", format!("{scheme} {}", t.admin_key)).send().await.expect("send");
            assert_eq!(response.status(), 200, "{scheme}");
            let h = response.headers();
            assert_eq!((h["x-content-type-options"].to_str().ok(), h["cache-control"].to_str().ok(), h["x-frame-options"].to_str().ok()), (Some("nosniff"), Some("no-store"), Some("DENY")));
            assert!(h["content-security-policy"].to_str().unwrap_or_default().contains("frame-ancestors 'none'"));
        }
        let response = t.client.get(format!("{}/u/not-a-token", t.base)).send().await.expect("send");
        assert!(response.headers()["content-security-policy"].to_str().unwrap_or_default().contains("frame-ancestors 'none'"), "pages refuse framing too");
        let (status, _) = read(t.client.get(format!("{}/v1/dictionary", t.base)).header("authorization", format!("Basic {}", t.admin_key)).send().await.expect("send")).await;
        assert_eq!(status, 401, "another scheme is not a bearer key");
    })
    .await;
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let settings = HttpSettings { header_read_timeout: Duration::from_secs(1), ..HttpSettings::default() };
    let t = spawn_app_on(sotto_store::Backend::Sqlite, settings).await;
    let mut stream = tokio::net::TcpStream::connect(t.base.trim_start_matches("http://")).await.expect("connect");
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    let started = std::time::Instant::now();
    let mut closed = false;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if stream.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "the connection was still open after {:?}", started.elapsed());
}

#[tokio::test]
async fn lint_calls_are_bounded_and_health_checks_answer_while_large_ones_run() {
    each_app(async |t| {
        let item = |text: String| json!({"channel": "email", "surface": "email_body", "text": text});
        let too_many: Vec<Value> = (0..101).map(|_| item("Hello".into())).collect();
        let (status, body) = t.post_json("/v1/lint", &json!(too_many)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (413, Some("lint_request_too_large")), "{body}");
        let too_much: Vec<Value> = (0..5).map(|_| item("word ".repeat(12_000))).collect();
        let (status, body) = t.post_json("/v1/lint", &json!(too_much)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (413, Some("lint_request_too_large")), "{body}");
        let (status, body) = t.post_json("/v1/lint", &json!({"channel": "sms", "surface": "sms_body", "text": "ok", "zz_hiv_positive": 1})).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("unknown_field")), "{body}");
        assert!(!body.to_string().contains("zz_hiv"), "{body}");
        let heavy: Vec<Value> = (0..4).map(|_| item("your visit with dia-betes care on Friday ".repeat(1_500))).collect();
        let heavy = Arc::new(json!(heavy));
        let calls: Vec<_> = (0..4)
            .map(|_| {
                let request = t.post("/v1/lint", &t.admin_key).json(&*heavy);
                tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
            })
            .collect();
        let health = tokio::time::timeout(Duration::from_secs(5), t.client.get(format!("{}/healthz", t.base)).send()).await;
        assert!(health.is_ok_and(|r| r.is_ok_and(|r| r.status() == 200)), "healthz answers while lint calls run");
        for call in calls {
            assert_eq!(call.await.expect("join").expect("send"), 200);
        }
    })
    .await;
}

#[tokio::test]
async fn the_server_speaks_tls_when_given_a_certificate_and_key() {
    let dir = tempfile::tempdir().expect("dir");
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).expect("write");
    std::fs::write(&key_file, signing_key.serialize_pem()).expect("write");
    let tls = sotto_http::TlsSettings::from_pem_files(&cert_file, &key_file).expect("tls");
    assert!(sotto_http::TlsSettings::from_pem_files(&key_file, &cert_file).is_err(), "swapped files are refused");
    let t = spawn_app_on(sotto_store::Backend::Sqlite, HttpSettings { tls: Some(tls), ..HttpSettings::default() }).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(t.base.trim_start_matches("http://")).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("handshake");
    assert!(matches!(stream.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3 | rustls::ProtocolVersion::TLSv1_2)));
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("\"ok\""), "{answer}");
    let mut plain = tokio::net::TcpStream::connect(t.base.trim_start_matches("http://")).await.expect("connect");
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("\"ok\""), "plain HTTP is not served on a TLS port");
}

#[tokio::test]
async fn every_route_refuses_fields_it_does_not_take_without_repeating_them() {
    each_app(async |t| {
        let (status, _) = t.post_json("/v1/identify", &json!({"userId": "p-1", "traits": {"first_name": "Ana"}})).await;
        assert_eq!(status, 200);
        let statements = json!({"right_to_revoke": "You may revoke this.", "conditioning": "Care does not depend on it.", "redisclosure": "It may be redisclosed."});
        let cases = [
            ("/v1/vault/codes", json!({"code": "condition:457", "meaning": "x", "zz_hiv": 1})),
            ("/v1/segments", json!({"name": "Active", "definition": "status = \"active\"", "zz_hiv": 1})),
            ("/v1/segments", json!({"name": "Active", "definition": {"cond": {"type": "exists", "field": "status", "zz_hiv": 1}}})),
            ("/v1/templates", json!({"name": "R", "channel": "sms", "surfaces": {"sms_body": "Hi"}, "zz_hiv": 1})),
            ("/v1/templates", json!({"name": "R", "channel": "sms", "surfaces": {"zz_hiv": "Hi"}})),
            ("/v1/authorization-forms", json!({"version": "v1", "language": "en", "text": "I allow it.", "statements": statements, "zz_hiv": 1})),
            ("/v1/authorization-forms", json!({"version": "v1", "language": "en", "text": "I allow it.", "statements": {"right_to_revoke": "a", "conditioning": "b", "redisclosure": "c", "zz_hiv": "d"}})),
            ("/v1/patients/p-1/authorizations", json!({"form_version": "v1", "zz_hiv": 1})),
            ("/v1/patients/p-1/authorizations", json!({"form_version": "v1", "remuneration": {"involved": false, "zz_hiv": 1}})),
            ("/v1/patients/p-1/unsubscribe-links", json!({"channel": "email", "zz_hiv": 1})),
            ("/v1/patients/p-1/consents", json!({"channel": "sms", "status": "opted_in", "zz_hiv": 1})),
            ("/v1/dictionary/fields", json!({"kind": "trait", "name": "plan", "class": "non_phi", "zz_hiv": 1})),
            ("/v1/batch", json!({"batch": [{"type": "identify", "userId": "p-1"}], "zz_hiv": 1})),
        ];
        for (route, body) in cases {
            let (status, answer) = t.post_json(route, &body).await;
            assert_eq!(status, 422, "{route} {body} -> {answer}");
            assert!(["unknown_field", "invalid_surface", "invalid_segment"].contains(&answer["error"]["code"].as_str().unwrap_or_default()), "{route} -> {answer}");
            assert!(!answer.to_string().contains("zz_hiv"), "{route} echoes the key: {answer}");
        }
    })
    .await;
}
