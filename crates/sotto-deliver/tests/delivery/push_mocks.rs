//! Loopback mocks of FCM HTTP v1 (with Google's OAuth 2.0 token endpoint) and of APNs (TLS
//! with ALPN h2, HTTP/2 only). Each checks a request as the real service does: the signed
//! assertion or provider token against the key's public half, the headers, and a payload
//! that carries a notification's title and body and nothing else.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::{Value, json};

/// What a mock saw: the payloads it accepted (token, payload) and token exchanges.
#[derive(Default)]
pub struct Seen {
    pub notifications: Vec<(String, Value)>,
    pub token_exchanges: usize,
    pub refusals: Vec<String>,
}

pub type Shared = Arc<Mutex<Seen>>;

/// Checks a JWT's signature with `algorithm` and the public key; answers its header and claims.
fn verify_jwt(jwt: &str, algorithm: &'static dyn VerificationAlgorithm, public: &[u8]) -> Option<(Value, Value)> {
    let mut parts = jwt.split('.');
    let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
    let signature = URL_SAFE_NO_PAD.decode(s).ok()?;
    UnparsedPublicKey::new(algorithm, public).verify(format!("{h}.{c}").as_bytes(), &signature).ok()?;
    let decode = |p: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(p).ok()?).ok();
    Some((decode(h)?, decode(c)?))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A payload is generic when it holds exactly a title and a body.
fn generic(notification: &Value) -> bool {
    notification.as_object().is_some_and(|o| o.len() == 2 && o["title"].is_string() && o["body"].is_string())
}

#[derive(Clone)]
struct Fcm {
    seen: Shared,
    public_key: Arc<Vec<u8>>,
    client_email: String,
    token_uri: String,
}

async fn fcm_token(State(fcm): State<Fcm>, body: String) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let claims = verify_jwt(&field("assertion"), &RSA_PKCS1_2048_8192_SHA256, &fcm.public_key).map(|(h, c)| (h["alg"].clone(), c));
    let valid = field("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        && claims.as_ref().is_some_and(|(alg, c)| {
            alg == "RS256"
                && c["iss"] == fcm.client_email.as_str()
                && c["aud"] == fcm.token_uri.as_str()
                && c["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
                && c["exp"].as_i64().zip(c["iat"].as_i64()).is_some_and(|(e, i)| e - i == 3600 && (i - now()).abs() < 300)
        });
    if !valid {
        fcm.seen.lock().expect("lock").refusals.push("bad assertion".into());
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    let mut seen = fcm.seen.lock().expect("lock");
    seen.token_exchanges += 1;
    Json(json!({"access_token": format!("ya29.mock-{}", seen.token_exchanges), "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

use axum::Json;

async fn fcm_send(State(fcm): State<Fcm>, Path(project): Path<String>, headers: HeaderMap, body: String) -> Response {
    let issued = fcm.seen.lock().expect("lock").token_exchanges;
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if issued == 0 || !(1..=issued).any(|n| bearer == format!("Bearer ya29.mock-{n}")) {
        let error = json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let message = &payload["message"];
    let well_formed = project == "riverside-clinic"
        && headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/json")
        && payload.as_object().is_some_and(|o| o.len() == 1)
        && message.as_object().is_some_and(|o| o.len() == 2)
        && message["token"].is_string()
        && generic(&message["notification"]);
    if !well_formed {
        fcm.seen.lock().expect("lock").refusals.push(body);
        return (StatusCode::BAD_REQUEST, Json(json!({"error": {"code": 400, "status": "INVALID_ARGUMENT"}}))).into_response();
    }
    let token = message["token"].as_str().unwrap_or_default().to_owned();
    if token.starts_with("stale") {
        let details = json!([{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]);
        return (StatusCode::NOT_FOUND, Json(json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND", "details": details}}))).into_response();
    }
    if token.starts_with("busy") {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": {"code": 503, "status": "UNAVAILABLE"}}))).into_response();
    }
    let mut seen = fcm.seen.lock().expect("lock");
    seen.notifications.push((token, message["notification"].clone()));
    Json(json!({"name": format!("projects/{project}/messages/0:{}", seen.notifications.len())})).into_response()
}

/// Starts the FCM mock; answers its base URL, token URI and what it saw.
pub async fn fcm(public_key_pkcs1: Vec<u8>, client_email: &str) -> (String, String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let token_uri = format!("{base}/token");
    let seen = Shared::default();
    let state = Fcm { seen: seen.clone(), public_key: Arc::new(public_key_pkcs1), client_email: client_email.to_owned(), token_uri: token_uri.clone() };
    let app = axum::Router::new().route("/token", axum::routing::post(fcm_token)).route("/v1/projects/{project}/messages:send", axum::routing::post(fcm_send)).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, token_uri, seen)
}

#[derive(Clone)]
struct Apns {
    seen: Shared,
    public_key: Arc<Vec<u8>>,
}

async fn apns_send(State(apns): State<Apns>, Path(token): Path<String>, version: Version, headers: HeaderMap, body: String) -> Response {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let refuse = |status: StatusCode, reason: &str| (status, Json(json!({"reason": reason}))).into_response();
    if version != Version::HTTP_2 {
        apns.seen.lock().expect("lock").refusals.push(format!("{version:?}"));
        return refuse(StatusCode::BAD_REQUEST, "BadRequest");
    }
    let jwt = header("authorization").strip_prefix("bearer ").map(str::to_owned).unwrap_or_default();
    let Some((head, claims)) = verify_jwt(&jwt, &ECDSA_P256_SHA256_FIXED, &apns.public_key) else {
        return refuse(StatusCode::FORBIDDEN, "InvalidProviderToken");
    };
    if head["alg"] != "ES256" || head["kid"] != "KEY1234567" || claims["iss"] != "TEAM123456" || claims["iat"].as_i64().is_none_or(|i| (i - now()).abs() > 3600) {
        return refuse(StatusCode::FORBIDDEN, "InvalidProviderToken");
    }
    if header("apns-topic") != "org.riverside.patient" {
        return refuse(StatusCode::BAD_REQUEST, "BadTopic");
    }
    let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let aps = &payload["aps"];
    let well_formed = header("apns-push-type") == "alert" && header("apns-id").len() == 36 && payload.as_object().is_some_and(|o| o.len() == 1) && generic(&aps["alert"]);
    if !well_formed {
        apns.seen.lock().expect("lock").refusals.push(body);
        return refuse(StatusCode::BAD_REQUEST, "PayloadEmpty");
    }
    if token.starts_with("dead") {
        return (StatusCode::GONE, Json(json!({"reason": "Unregistered", "timestamp": now() * 1000}))).into_response();
    }
    apns.seen.lock().expect("lock").notifications.push((token, aps["alert"].clone()));
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert("apns-id", header("apns-id").parse().expect("header"));
    response
}

/// Starts the APNs mock on TLS with ALPN h2; answers its base URL, its root (PEM) and what
/// it saw.
pub async fn apns(public_key_point: Vec<u8>) -> (String, Vec<u8>, Shared) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls =
        rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions().expect("versions").with_no_client_auth().with_single_cert(vec![cert.cert.der().clone()], key).expect("server config");
    tls.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("https://localhost:{}", listener.local_addr().expect("addr").port());
    let seen = Shared::default();
    let app = axum::Router::new().route("/3/device/{token}", axum::routing::post(apns_send)).with_state(Apns { seen: seen.clone(), public_key: Arc::new(public_key_point) });
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new()).serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
            });
        }
    });
    (base, cert.cert.pem().into_bytes(), seen)
}
