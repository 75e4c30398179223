//! Firebase Cloud Messaging, HTTP v1: a service-account assertion (RS256 JWT) is exchanged at
//! the account's token URI for an OAuth 2.0 access token, kept until shortly before it
//! expires; each device gets `POST {base}/v1/projects/{project}/messages:send` with a
//! notification of title and body only. `UNREGISTERED` and `SENDER_ID_MISMATCH` mark a token
//! stale; quota and server errors are worth retrying.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use sotto_app::deliver::SendError;

use crate::jwt::SigningKey;
use crate::push::DeviceOutcome;

/// The OAuth 2.0 scope of sending.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// Where FCM is and the service account that sends.
#[derive(Clone)]
pub struct FcmSettings {
    /// The API's base URL (`https://fcm.googleapis.com`; a mock in tests).
    pub base_url: String,
    /// The Firebase project.
    pub project_id: String,
    /// The service account's email (the assertion's issuer).
    pub client_email: String,
    /// The service account's private key (PKCS#8 PEM).
    pub private_key_pem: String,
    /// Where the assertion is exchanged (`https://oauth2.googleapis.com/token`).
    pub token_uri: String,
    /// How long one request may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for FcmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmSettings").field("base_url", &self.base_url).field("project_id", &self.project_id).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ServiceAccount {
    #[serde(rename = "type")]
    kind: String,
    project_id: String,
    private_key: String,
    client_email: String,
    token_uri: Option<String>,
}

impl FcmSettings {
    /// Reads a service-account key file as the Google Cloud console downloads it.
    pub fn from_service_account(json: &str, base_url: String, timeout: Duration) -> Result<Self, PushConfigError> {
        let account: ServiceAccount = serde_json::from_str(json).map_err(|e| PushConfigError::ServiceAccount(e.to_string()))?;
        if account.kind != "service_account" {
            return Err(PushConfigError::ServiceAccount("its \"type\" is not \"service_account\"".into()));
        }
        Ok(Self {
            base_url,
            project_id: account.project_id,
            client_email: account.client_email,
            private_key_pem: account.private_key,
            token_uri: account.token_uri.unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
            timeout,
        })
    }
}

/// A push configuration that cannot work, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum PushConfigError {
    /// The service-account file is not one.
    #[error("the service-account file cannot be read: {0}")]
    ServiceAccount(String),
    /// The key cannot sign.
    #[error("{0}")]
    Key(#[from] crate::jwt::KeyError),
    /// A URL is not http(s).
    #[error("{0} must start with https:// (or http:// for a mock on loopback)")]
    Url(&'static str),
    /// A required setting is empty.
    #[error("{0} must be set")]
    Missing(&'static str),
    /// Extra roots are not PEM certificates.
    #[error("ca_file holds no PEM certificate")]
    Roots,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

pub(crate) fn check_url(url: &str, what: &'static str) -> Result<String, PushConfigError> {
    let url = url.trim_end_matches('/');
    if url.starts_with("https://") || url.starts_with("http://") { Ok(url.to_owned()) } else { Err(PushConfigError::Url(what)) }
}

/// The FCM sender.
pub struct FcmProvider {
    client: reqwest::Client,
    key: SigningKey,
    settings: FcmSettings,
    send_url: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for FcmProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmProvider").field("settings", &self.settings).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

/// How one FCM answer ends a device's notification.
pub(crate) fn classify(status: u16, body: &[u8]) -> DeviceOutcome {
    let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return match answer["name"].as_str() {
            Some(name) if !name.is_empty() => DeviceOutcome::Sent(name.to_owned()),
            _ => DeviceOutcome::Failed(SendError::Uncertain("fcm_bad_response".into())),
        };
    }
    let error_code = answer["error"]["details"].as_array().into_iter().flatten().find_map(|d| d["errorCode"].as_str()).or_else(|| answer["error"]["status"].as_str());
    match (status, error_code) {
        (_, Some("UNREGISTERED" | "SENDER_ID_MISMATCH")) => DeviceOutcome::Stale,
        (429 | 500..=599, _) | (_, Some("QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL")) => DeviceOutcome::Failed(SendError::Transient(format!("fcm_http_{status}"))),
        (401 | 403, _) => DeviceOutcome::Failed(SendError::Transient(format!("fcm_http_{status}"))),
        (_, Some(code)) if code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => DeviceOutcome::Failed(SendError::Permanent(format!("fcm_{}", code.to_ascii_lowercase()))),
        _ => DeviceOutcome::Failed(SendError::Permanent(format!("fcm_http_{status}"))),
    }
}

/// A request that never got an answer: refused connections are worth retrying; anything after
/// the request may have left means the service may have it.
pub(crate) fn network_error(e: &reqwest::Error, service: &str) -> SendError {
    if e.is_connect() {
        SendError::Transient(format!("{service}_connection_failed"))
    } else if e.is_timeout() {
        SendError::Uncertain(format!("{service}_timeout"))
    } else {
        SendError::Uncertain(format!("{service}_network"))
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl FcmProvider {
    /// Builds the sender; a key that cannot sign stops it here.
    pub fn new(settings: FcmSettings) -> Result<Self, PushConfigError> {
        for (value, what) in [(&settings.project_id, "fcm project_id"), (&settings.client_email, "fcm client_email")] {
            if value.trim().is_empty() {
                return Err(PushConfigError::Missing(what));
            }
        }
        let key = SigningKey::rsa(&settings.private_key_pem)?;
        let base = check_url(&settings.base_url, "fcm.base_url")?;
        check_url(&settings.token_uri, "the service account's token_uri")?;
        crate::install_crypto_provider();
        let client = reqwest::Client::builder().timeout(settings.timeout).build().map_err(|e| PushConfigError::Client(e.to_string()))?;
        let send_url = format!("{base}/v1/projects/{}/messages:send", settings.project_id);
        Ok(Self { client, key, settings, send_url, token: Mutex::new(None) })
    }

    /// The access token, exchanged anew a minute before the last one expires.
    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let iat = unix_now();
        let claims = json!({"iss": self.settings.client_email, "scope": SCOPE, "aud": self.settings.token_uri, "iat": iat, "exp": iat + 3600});
        let assertion = self.key.sign(serde_json::Map::new(), &claims);
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.as_str())];
        let response = self.client.post(&self.settings.token_uri).form(&form).send().await.map_err(|e| match e.is_connect() {
            true => SendError::Transient("fcm_token_connection_failed".into()),
            // Nothing is sent before the token: a lost token exchange is safe to retry.
            false => SendError::Transient("fcm_token_network".into()),
        })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|_| SendError::Transient("fcm_token_network".into()))?;
        if !(200..300).contains(&status) {
            return Err(SendError::Transient(format!("fcm_token_http_{status}")));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| SendError::Transient("fcm_token_bad_response".into()))?;
        let lifetime = answer.expires_in.unwrap_or(3600).saturating_sub(60).max(1);
        *cached = Some((answer.access_token.clone(), Instant::now() + Duration::from_secs(lifetime)));
        Ok(answer.access_token)
    }

    /// Notifies one device.
    pub(crate) async fn notify(&self, token: &str, title: &str, body: &str) -> DeviceOutcome {
        let access = match self.access_token().await {
            Ok(t) => t,
            Err(e) => return DeviceOutcome::Failed(e),
        };
        let message = json!({"message": {"token": token, "notification": {"title": title, "body": body}}});
        let response = match self.client.post(&self.send_url).bearer_auth(access).json(&message).send().await {
            Ok(r) => r,
            Err(e) => return DeviceOutcome::Failed(network_error(&e, "fcm")),
        };
        let status = response.status().as_u16();
        if status == 401 {
            // The token was revoked or expired early: the next attempt exchanges a new one.
            *self.token.lock().await = None;
        }
        match response.bytes().await {
            Ok(body) => classify(status, &body),
            Err(_) if (200..300).contains(&status) => DeviceOutcome::Failed(SendError::Uncertain("fcm_bad_response".into())),
            Err(_) => DeviceOutcome::Failed(SendError::Transient(format!("fcm_http_{status}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_fcm_writes_them() {
        assert_eq!(classify(200, br#"{"name": "projects/p/messages/0:1"}"#), DeviceOutcome::Sent("projects/p/messages/0:1".into()));
        let unregistered =
            br#"{"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}"#;
        assert_eq!(classify(404, unregistered), DeviceOutcome::Stale);
        assert_eq!(classify(429, br#"{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}"#), DeviceOutcome::Failed(SendError::Transient("fcm_http_429".into())));
        assert_eq!(classify(400, br#"{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}"#), DeviceOutcome::Failed(SendError::Permanent("fcm_invalid_argument".into())));
        assert_eq!(classify(200, b"<html/>"), DeviceOutcome::Failed(SendError::Uncertain("fcm_bad_response".into())));
        assert_eq!(classify(400, br#"{"error": {"status": "a patient's name"}}"#), DeviceOutcome::Failed(SendError::Permanent("fcm_http_400".into())), "only codes become codes");
    }
}
