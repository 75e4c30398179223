//! SMS through a loopback mock of the Twilio Messages API that checks every request as the
//! real API expects it: the account's path, Basic auth, a form body with To, From or
//! MessagingServiceSid, Body and StatusCallback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use sotto_app::deliver::{OutgoingMessage, Provider, SendError};
use sotto_core::contact::Channel;
use sotto_core::phi::Phi;
use sotto_deliver::{TwilioConfigError, TwilioProvider, TwilioSettings};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token";

type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// The mock: refuses anything the real API would refuse, answers by the number's last digits.
async fn messages(State(seen): State<Seen>, Path(account): Path<String>, headers: HeaderMap, body: String) -> Response {
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) || account != format!("{SID}/Messages.json") {
        return (StatusCode::UNAUTHORIZED, r#"{"code": 20003, "message": "Authenticate", "status": 401}"#).into_response();
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-www-form-urlencoded") {
        return (StatusCode::BAD_REQUEST, r#"{"code": 20001, "status": 400}"#).into_response();
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(to), Some(_), true) = (field("To"), field("Body"), field("From").is_some() || field("MessagingServiceSid").is_some()) else {
        return (StatusCode::BAD_REQUEST, r#"{"code": 21604, "message": "A 'To' phone number is required.", "status": 400}"#).into_response();
    };
    seen.lock().expect("lock").push(form.clone());
    match &to[to.len().saturating_sub(4)..] {
        "0000" => (StatusCode::BAD_REQUEST, r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}"#).into_response(),
        "0503" => (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response(),
        "0429" => (StatusCode::TOO_MANY_REQUESTS, r#"{"code": 20429, "status": 429}"#).into_response(),
        "0201" => (StatusCode::CREATED, "<html>not json</html>").into_response(),
        "0999" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::CREATED, r#"{"sid": "SMlate"}"#).into_response()
        }
        _ => {
            let n = seen.lock().expect("lock").len();
            (StatusCode::CREATED, format!(r#"{{"sid": "SM{n:032x}", "status": "queued", "to": "{to}"}}"#)).into_response()
        }
    }
}

async fn mock() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new().route("/2010-04-01/Accounts/{*rest}", axum::routing::post(messages)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

fn settings(base: &str) -> TwilioSettings {
    TwilioSettings {
        base_url: base.into(),
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        from: Some("+13125550100".into()),
        messaging_service_sid: None,
        status_callback: Some("https://engage.clinic.example/v1/providers/twilio/status".into()),
        timeout: Duration::from_secs(2),
    }
}

fn text(to: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: "msg_1".into(),
        channel: Channel::Sms,
        to: Phi::new(to.into()),
        devices: Vec::new(),
        subject: Phi::new(String::new()),
        preview: Phi::new(String::new()),
        text: Phi::new("Riverside: reminder, you have an appointment Friday at 9:00 AM. Reply STOP to opt out.".into()),
        html: None,
        headers: Vec::new(),
        at: jiff::Timestamp::now(),
    }
}

#[tokio::test]
async fn a_text_is_posted_as_the_api_expects_and_its_sid_kept() {
    let (base, seen) = mock().await;
    let provider = TwilioProvider::new(settings(&base)).expect("provider");
    let accepted = provider.send(&text("+13125550142")).await.expect("accepted");
    assert_eq!(accepted.provider_message_id, format!("SM{:032x}", 1));
    let form = seen.lock().expect("lock")[0].clone();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("To"), Some("+13125550142"));
    assert_eq!(field("From"), Some("+13125550100"));
    assert_eq!(field("StatusCallback"), Some("https://engage.clinic.example/v1/providers/twilio/status"));
    assert!(field("Body").is_some_and(|b| b.contains("Reply STOP")));
}

#[tokio::test]
async fn the_apis_refusals_become_stable_codes_and_a_slow_answer_is_uncertain() {
    let (base, _) = mock().await;
    let provider = TwilioProvider::new(settings(&base)).expect("provider");
    let cases = [
        ("+13125550000", SendError::Permanent("twilio_21610".into())),
        ("+13125550503", SendError::Transient("twilio_http_503".into())),
        ("+13125550429", SendError::Transient("twilio_429".into())),
        ("+13125550201", SendError::Uncertain("twilio_bad_response".into())),
        ("+13125550999", SendError::Uncertain("twilio_timeout".into())),
    ];
    for (to, expected) in cases {
        assert_eq!(provider.send(&text(to)).await.expect_err(to), expected, "{to}");
    }
    let wrong = TwilioProvider::new(TwilioSettings { auth_token: "wrong".into(), ..settings(&base) }).expect("provider");
    assert_eq!(wrong.send(&text("+13125550142")).await.expect_err("refused"), SendError::Transient("twilio_http_401".into()));
    let nowhere = TwilioProvider::new(settings("http://127.0.0.1:9")).expect("provider");
    assert_eq!(nowhere.send(&text("+13125550142")).await.expect_err("refused"), SendError::Transient("twilio_connection_failed".into()));
    assert!(matches!(TwilioProvider::new(TwilioSettings { from: None, ..settings(&base) }), Err(TwilioConfigError::NoSender)));
}
