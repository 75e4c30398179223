//! Push through loopback mocks of FCM HTTP v1 and APNs: the OAuth 2.0 exchange and the
//! provider token verified against the keys, payloads of title and body only, every device of
//! a patient notified, and a token the service calls invalid forgotten by the profile.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use sotto_app::deliver::{OutgoingMessage, PUSH_TOKENS_INVALID, Provider, Providers, SendError};
use sotto_core::contact::Channel;
use sotto_core::phi::Phi;
use sotto_deliver::{ApnsProvider, ApnsSettings, FcmProvider, FcmSettings, PushConfigError, PushProvider};

use crate::push_mocks;

const EMAIL: &str = "sotto-sender@riverside-clinic.iam.gserviceaccount.com";

/// An FCM sender against a fresh mock: a new RSA key, its service-account file as Google
/// writes it.
async fn fcm() -> (FcmProvider, push_mocks::Shared) {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key");
    let public = key.to_public_key().to_pkcs1_der().expect("der").as_bytes().to_vec();
    let (base, token_uri, seen) = push_mocks::fcm(public, EMAIL).await;
    let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("pem").to_string();
    let account = json!({"type": "service_account", "project_id": "riverside-clinic", "private_key_id": "k1", "private_key": pem, "client_email": EMAIL, "token_uri": token_uri});
    let settings = FcmSettings::from_service_account(&account.to_string(), base, Duration::from_secs(5)).expect("settings");
    (FcmProvider::new(settings).expect("provider"), seen)
}

/// An APNs sender against a fresh mock on TLS and HTTP/2.
async fn apns() -> (ApnsProvider, push_mocks::Shared) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("p256");
    let (base, root, seen) = push_mocks::apns(key.public_key_raw().to_vec()).await;
    let settings = ApnsSettings {
        base_url: base,
        team_id: "TEAM123456".into(),
        key_id: "KEY1234567".into(),
        private_key_pem: key.serialize_pem(),
        topic: "org.riverside.patient".into(),
        extra_roots_pem: vec![root],
        timeout: Duration::from_secs(5),
    };
    (ApnsProvider::new(settings).expect("provider"), seen)
}

fn notification(id: &str, devices: &[&str]) -> OutgoingMessage {
    OutgoingMessage {
        id: id.into(),
        channel: Channel::Push,
        to: Phi::new(devices[0].to_owned()),
        devices: devices.iter().map(|d| Phi::new((*d).to_owned())).collect(),
        subject: Phi::new("Upcoming appointment".into()),
        preview: Phi::new(String::new()),
        text: Phi::new("Reminder: you have an appointment Friday at 9:00 AM. Tap for details.".into()),
        html: None,
        headers: Vec::new(),
        at: jiff::Timestamp::now(),
    }
}

fn hex_token(prefix: &str) -> String {
    format!("{prefix}{}", "ab".repeat(32))[..64].to_owned()
}

#[tokio::test]
async fn fcm_gets_an_exchanged_token_once_and_a_notification_of_title_and_body_only() {
    let (fcm, seen) = fcm().await;
    let push = PushProvider::new(Some(fcm), None).expect("push");
    let first = push.send(&notification("msg_1", &["fcm-device-1"])).await.expect("sent");
    assert!(first.provider_message_id.starts_with("projects/riverside-clinic/messages/"), "{first:?}");
    push.send(&notification("msg_2", &["fcm-device-1"])).await.expect("sent");
    let seen = seen.lock().expect("lock");
    assert_eq!((seen.token_exchanges, seen.refusals.len()), (1, 0), "the access token is kept until it expires: {:?}", seen.refusals);
    assert_eq!(seen.notifications[0], ("fcm-device-1".to_owned(), json!({"title": "Upcoming appointment", "body": "Reminder: you have an appointment Friday at 9:00 AM. Tap for details."})));
}

#[tokio::test]
async fn every_device_is_notified_and_the_ones_fcm_calls_unregistered_are_reported_stale() {
    let (fcm, seen) = fcm().await;
    let push = PushProvider::new(Some(fcm), None).expect("push");
    let accepted = push.send(&notification("msg_1", &["stale-phone", "tablet"])).await.expect("one device took it");
    assert_eq!(accepted.stale_devices, vec![Phi::new("stale-phone".to_owned())]);
    assert_eq!(seen.lock().expect("lock").notifications.len(), 1);
    assert_eq!(push.send(&notification("msg_2", &["stale-a", "stale-b"])).await, Err(SendError::Permanent(PUSH_TOKENS_INVALID.into())));
    assert_eq!(push.send(&notification("msg_3", &["busy-phone"])).await, Err(SendError::Transient("fcm_http_503".into())), "an unavailable service is worth retrying");
}

#[tokio::test]
async fn apns_is_reached_over_http2_with_an_es256_provider_token_and_a_gone_device_is_stale() {
    let (apns, seen) = apns().await;
    let push = PushProvider::new(None, Some(apns)).expect("push");
    let (phone, gone) = (hex_token("0a"), hex_token("dead"));
    let accepted = push.send(&notification("msg_1", &[&phone, &gone])).await.expect("sent");
    assert_eq!(accepted.provider_message_id.len(), 36, "the apns-id: {accepted:?}");
    assert_eq!(accepted.stale_devices, vec![Phi::new(gone.clone())]);
    {
        let seen = seen.lock().expect("lock");
        assert!(seen.refusals.is_empty(), "{:?}", seen.refusals);
        assert_eq!(seen.notifications, vec![(phone, json!({"title": "Upcoming appointment", "body": "Reminder: you have an appointment Friday at 9:00 AM. Tap for details."}))]);
    }
    assert_eq!(push.send(&notification("msg_2", &["apns:not/a/token"])).await, Err(SendError::Permanent(PUSH_TOKENS_INVALID.into())), "a token that is not hex never reaches the path");
}

#[tokio::test]
async fn a_patient_with_an_iphone_and_an_android_phone_is_notified_on_both() {
    let ((fcm, fcm_seen), (apns, apns_seen)) = (fcm().await, apns().await);
    let push = PushProvider::new(Some(fcm), Some(apns)).expect("push");
    push.send(&notification("msg_1", &[&hex_token("0b"), "fcm:android-1"])).await.expect("sent");
    assert_eq!((apns_seen.lock().expect("lock").notifications.len(), fcm_seen.lock().expect("lock").notifications.len()), (1, 1));
}

#[test]
fn keys_that_cannot_sign_stop_the_provider_with_what_to_fix() {
    let settings = FcmSettings::from_service_account(r#"{"type": "authorized_user"}"#, "https://fcm.googleapis.com".into(), Duration::from_secs(5));
    assert!(matches!(settings, Err(PushConfigError::ServiceAccount(_))));
    let apns = ApnsSettings {
        base_url: "https://api.push.apple.com".into(),
        team_id: "TEAM123456".into(),
        key_id: "KEY1234567".into(),
        private_key_pem: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n".into(),
        topic: "org.riverside.patient".into(),
        extra_roots_pem: Vec::new(),
        timeout: Duration::from_secs(5),
    };
    let error = ApnsProvider::new(apns).expect_err("refused").to_string();
    assert!(error.contains("PKCS#8"), "{error}");
}

#[tokio::test]
async fn the_dispatch_worker_sends_a_generic_push_without_a_baa_and_the_profile_forgets_the_stale_token() {
    use sotto_app::{App, AppSettings, DispatchSettings, Principal, RequestCtx, ViewKind};
    use sotto_core::quiet_hours::Window;
    use sotto_store::TemplateStore;
    let (fcm, seen) = fcm().await;
    let providers = Providers::default().with(Channel::Push, Arc::new(PushProvider::new(Some(fcm), None).expect("push")));
    let mut settings = AppSettings::default();
    settings.gate.window = Window::parse("00:00-23:59").expect("window");
    settings.gate.channel_windows.insert(Channel::Push, settings.gate.window);
    let test_store = sotto_store::testing::fresh_store(sotto_store::Backend::Sqlite).await;
    let app = App::new(test_store.store.clone(), sotto_crypto::Keyring::new(&test_store.master), settings);
    let ctx = |who: &str| RequestCtx { principal: Principal::system(who), request_id: "t".into(), source_ip: None, now: jiff::Timestamp::now() };
    let traits = json!({"first_name": "Ana", "timezone": "America/Chicago", "push_tokens": ["stale-old-phone", "new-phone"]});
    app.ingest_one(&ctx("app"), sotto_core::ingest::CallType::Identify, &json!({"userId": "p-1", "traits": traits})).await.expect("identify");
    app.load_template_library(&ctx("library"), &ctx("reviewer"), "approved").await.expect("library");
    let template = test_store.store.templates().await.expect("templates").into_iter().find(|t| t.name == "Secure message nudge (push)").expect("template").id;
    // Neither Google nor Apple signs a BAA: push carries only what says nothing of health.
    let body = json!({"patient": "p-1", "template_id": template, "channel": "push", "purpose": "treatment", "uses_phi": false});
    let (queued, _) = app.queue_message(&ctx("portal"), Some("thread-7/nudge"), &body).await.expect("queue");

    let report = app.dispatch_round("w-1", &providers, &DispatchSettings::default(), jiff::Timestamp::now()).await.expect("round");
    let view = app.message(&ctx("auditor"), queued["id"].as_str().expect("id")).await.expect("view");
    assert_eq!((report.claimed, report.sent), (1, 1), "{report:?} {view}");
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.notifications.len(), 1);
        assert!(seen.notifications[0].1["body"].as_str().is_some_and(|b| b.contains("new secure message")), "{:?}", seen.notifications);
    }
    let profile = serde_json::to_value(app.patient(&ctx("auditor"), "p-1", ViewKind::Full).await.expect("profile")).expect("json");
    assert_eq!(profile["identifiers"]["push_tokens"], json!(["new-phone"]), "the token FCM called unregistered is forgotten");
}
