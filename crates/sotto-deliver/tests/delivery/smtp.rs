//! Email over SMTP against a real server on loopback (aiosmtpd, offering STARTTLS), with
//! each message's DKIM signature checked by an independent implementation (dkimpy) against
//! the published key. Needs the test virtual environment (`scripts/test` makes it).

use std::time::Duration;

use base64::Engine;
use sotto_app::deliver::{OutgoingMessage, Provider, SendError};
use sotto_core::contact::Channel;
use sotto_core::phi::Phi;
use sotto_deliver::{DkimAlgorithm, DkimSettings, SmtpConfigError, SmtpProvider, SmtpSecurity, SmtpSettings};

use crate::peers::{Sink, dkim_verify, python};

fn settings(port: u16, security: SmtpSecurity, dkim: Option<DkimSettings>) -> SmtpSettings {
    SmtpSettings { host: "127.0.0.1".into(), port, security, credentials: None, pool_max: 4, timeout: Duration::from_secs(10), from: "Riverside Clinic <no-reply@clinic.example>".into(), dkim }
}

fn message(n: usize, to: &str, marketing: bool) -> OutgoingMessage {
    let id = format!("msg_{n:024x}");
    let mut headers = vec![("Message-ID".to_owned(), format!("<{id}@clinic.example>"))];
    if marketing {
        headers.push(("List-Unsubscribe".into(), "<https://clinic.example/u/tok>".into()));
        headers.push(("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()));
    }
    OutgoingMessage {
        id,
        channel: Channel::Email,
        to: Phi::new(to.to_owned()),
        devices: Vec::new(),
        subject: Phi::new("Your appointment is confirmed".into()),
        preview: Phi::new(String::new()),
        text: Phi::new("Hi Ana,\n\nSee you on Friday at 9:00 AM.".into()),
        html: Some(Phi::new("<p>Hi Ana,</p><p>See you on Friday at 9:00 AM.</p>".into())),
        headers,
        at: jiff::Timestamp::now(),
    }
}

/// A fresh key pair: the private key as the provider takes it, the DNS TXT record.
fn dkim_key(algorithm: DkimAlgorithm) -> (String, String) {
    let b64 = base64::engine::general_purpose::STANDARD;
    match algorithm {
        DkimAlgorithm::Ed25519Sha256 => {
            let seed: [u8; 32] = rand::random();
            let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            (b64.encode(seed), format!("v=DKIM1; k=ed25519; p={}", b64.encode(public)))
        }
        DkimAlgorithm::RsaSha256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::EncodePublicKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key");
            let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).expect("pem").to_string();
            let public = key.to_public_key().to_public_key_der().expect("der");
            (pem, format!("v=DKIM1; k=rsa; p={}", b64.encode(public.as_bytes())))
        }
    }
}

#[tokio::test]
async fn every_message_goes_over_starttls_signed_with_dkim_that_an_independent_verifier_accepts() {
    let Some(python) = python() else { return };
    for algorithm in [DkimAlgorithm::Ed25519Sha256, DkimAlgorithm::RsaSha256] {
        let sink = Sink::start(&python, true);
        let (private_key, record) = dkim_key(algorithm);
        let dkim = DkimSettings { domain: "clinic.example".into(), selector: "s2026".into(), algorithm, private_key };
        let provider = SmtpProvider::new(&settings(sink.port, SmtpSecurity::StartTls { extra_roots_pem: vec![sink.ca_pem.clone()] }, Some(dkim))).expect("provider");
        for n in 0..3 {
            let accepted = provider.send(&message(n, &format!("patient{n}@example.org"), n == 2)).await.expect("accepted");
            assert_eq!(accepted.provider_message_id, format!("msg_{n:024x}@clinic.example"));
        }
        let files = sink.messages(3);
        let verdicts = dkim_verify(&python, "s2026", "clinic.example", &record, &files);
        for (file, line) in files.iter().zip(&verdicts) {
            assert!(line.contains(" pass "), "{algorithm:?}: {line}");
            let text = std::fs::read_to_string(file).expect("message");
            assert!(text.contains("Content-Type: multipart/alternative") && text.contains("text/plain") && text.contains("text/html"), "{text}");
            assert!(line.contains(if algorithm == DkimAlgorithm::RsaSha256 { "rsa-sha256" } else { "ed25519-sha256" }), "{line}");
            let signed = line.split_whitespace().last().unwrap_or_default().to_ascii_lowercase();
            for header in ["from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"] {
                assert!(signed.split(':').any(|h| h == header), "{header} is signed: {line}");
            }
        }
        let marketing = std::fs::read_to_string(&files[2]).expect("message");
        assert!(marketing.contains("List-Unsubscribe: <https://clinic.example/u/tok>") && marketing.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{marketing}");
        assert!(marketing.contains("Message-ID: <msg_000000000000000000000002@clinic.example>"), "{marketing}");

        // A message changed after signing fails the same verifier: the check can fail.
        let tampered = files[0].with_extension("tampered");
        std::fs::write(&tampered, std::fs::read_to_string(&files[0]).expect("read").replace("Friday", "Monday")).expect("write");
        assert!(dkim_verify(&python, "s2026", "clinic.example", &record, &[tampered])[0].contains(" fail "));
    }
}

#[tokio::test]
async fn a_relay_that_does_not_offer_starttls_gets_nothing_and_plain_text_is_only_for_loopback() {
    let Some(python) = python() else { return };
    let plain = Sink::start(&python, false);
    let provider = SmtpProvider::new(&settings(plain.port, SmtpSecurity::StartTls { extra_roots_pem: vec![] }, None)).expect("provider");
    let refused = provider.send(&message(1, "ana@example.org", false)).await.expect_err("refused");
    assert_eq!(refused, SendError::Transient("smtp_starttls_unavailable".into()));
    std::thread::sleep(Duration::from_millis(200));
    assert!(plain.files().is_empty(), "nothing reached a relay without STARTTLS");

    let remote = SmtpSettings { host: "smtp.clinic.example".into(), ..settings(25, SmtpSecurity::PlainLoopback, None) };
    assert!(matches!(SmtpProvider::new(&remote), Err(SmtpConfigError::PlainNotLoopback(_))));
    let sink = SmtpProvider::new(&settings(plain.port, SmtpSecurity::PlainLoopback, None)).expect("loopback sink");
    sink.send(&message(2, "ana@example.org", false)).await.expect("a development sink on loopback takes plain text");
    assert_eq!(plain.messages(1).len(), 1);
}

#[tokio::test]
async fn a_rejected_recipient_is_a_permanent_failure_with_the_reply_code_and_no_address() {
    let Some(python) = python() else { return };
    let sink = Sink::start(&python, true);
    let provider = SmtpProvider::new(&settings(sink.port, SmtpSecurity::StartTls { extra_roots_pem: vec![sink.ca_pem.clone()] }, None)).expect("provider");
    let error = provider.send(&message(1, "reject-me@example.org", false)).await.expect_err("rejected");
    assert_eq!(error, SendError::Permanent("smtp_550".into()));
    let bad_key = DkimSettings { domain: "clinic.example".into(), selector: "s".into(), algorithm: DkimAlgorithm::RsaSha256, private_key: "not a key".into() };
    assert!(matches!(SmtpProvider::new(&settings(sink.port, SmtpSecurity::PlainLoopback, Some(bad_key))), Err(SmtpConfigError::DkimKey("rsa-sha256"))));
}

#[tokio::test]
async fn the_dispatch_worker_delivers_a_queued_reminder_over_smtp_once_under_the_message_id_of_its_key() {
    use sotto_app::deliver::Providers;
    use sotto_app::{App, AppSettings, DispatchSettings, Principal, RequestCtx};
    use sotto_core::gate_policy::{ProviderKind, ProviderSpec};
    use sotto_store::TemplateStore;
    let Some(python) = python() else { return };
    let sink = Sink::start(&python, true);
    let (private_key, record) = dkim_key(DkimAlgorithm::Ed25519Sha256);
    let dkim = DkimSettings { domain: "clinic.example".into(), selector: "s2026".into(), algorithm: DkimAlgorithm::Ed25519Sha256, private_key };
    let smtp = SmtpProvider::new(&settings(sink.port, SmtpSecurity::StartTls { extra_roots_pem: vec![sink.ca_pem.clone()] }, Some(dkim))).expect("provider");
    let providers = Providers::default().with(Channel::Email, std::sync::Arc::new(smtp));
    let relay = ProviderSpec { name: "relay".into(), kind: ProviderKind::Smtp, baa_signed: "2026-01-01".parse().ok(), baa_expires: None, rate_per_second: None, backup: None };
    let mut app_settings = AppSettings { email_from: "Riverside Clinic <no-reply@clinic.example>".into(), ..AppSettings::default() };
    app_settings.providers.insert(Channel::Email, relay);
    app_settings.gate.window = sotto_core::quiet_hours::Window::parse("00:00-23:59").expect("window");

    let test_store = sotto_store::testing::fresh_store(sotto_store::Backend::Sqlite).await;
    let app = App::new(test_store.store.clone(), sotto_crypto::Keyring::new(&test_store.master), app_settings);
    let ctx = |who: &str| RequestCtx { principal: Principal::system(who), request_id: "t".into(), source_ip: None, now: jiff::Timestamp::now() };
    let traits = serde_json::json!({"email": "ana@example.org", "email_verified": true, "first_name": "Ana", "timezone": "America/Chicago"});
    app.ingest_one(&ctx("ehr"), sotto_core::ingest::CallType::Identify, &serde_json::json!({"userId": "p-1", "traits": traits})).await.expect("identify");
    app.load_template_library(&ctx("library"), &ctx("reviewer"), "approved").await.expect("library");
    let template = test_store.store.templates().await.expect("templates").into_iter().find(|t| t.name == "Appointment confirmation (email)").expect("template").id;
    let body = serde_json::json!({"patient": "p-1", "template_id": template, "channel": "email", "purpose": "treatment", "context": {"appointment_start": "2026-12-20T15:30:00Z"}});
    let (queued, _) = app.queue_message(&ctx("scheduler"), Some("appt-7/confirmation"), &body).await.expect("queue");
    app.queue_message(&ctx("scheduler"), Some("appt-7/confirmation"), &body).await.expect("the same key again");

    let report = app.dispatch_round("w-1", &providers, &DispatchSettings::default(), jiff::Timestamp::now()).await.expect("round");
    assert_eq!((report.claimed, report.sent), (1, 1), "{report:?}");
    let files = sink.messages(1);
    assert_eq!(files.len(), 1, "one message for one key");
    let text = std::fs::read_to_string(&files[0]).expect("message");
    assert!(text.contains(&format!("Message-ID: <{}@clinic.example>", queued["id"].as_str().expect("id"))), "{text}");
    assert!(text.contains("Hi Ana") && text.contains("December 20"), "the approved version rendered for the patient");
    assert!(dkim_verify(&python, "s2026", "clinic.example", &record, &files)[0].contains(" pass "));
}
