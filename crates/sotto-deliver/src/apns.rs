//! Apple Push Notification service over HTTP/2: a provider token (an ES256 JWT naming the
//! team and key, renewed every 50 minutes, as Apple asks for between 20 and 60) authorizes
//! `POST {base}/3/device/{token}` with `apns-topic`, `apns-push-type: alert` and an alert of
//! title and body only. `BadDeviceToken`, `Unregistered` and `DeviceTokenNotForTopic` mark a
//! token stale; an expired provider token is renewed and the device tried again later.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::digest::{SHA256, digest};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use sotto_app::deliver::SendError;

use crate::fcm::{PushConfigError, check_url, network_error};
use crate::jwt::SigningKey;
use crate::push::DeviceOutcome;

/// How long a provider token is used before a new one is signed.
const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

/// Where APNs is and the key that authorizes sending.
#[derive(Clone)]
pub struct ApnsSettings {
    /// `https://api.push.apple.com` (or `https://api.sandbox.push.apple.com`; a mock in tests).
    pub base_url: String,
    /// The Apple developer team id (the token's issuer).
    pub team_id: String,
    /// The signing key's id (the token's `kid`).
    pub key_id: String,
    /// The `.p8` signing key (PKCS#8 PEM, P-256).
    pub private_key_pem: String,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// Extra trusted roots (PEM), for a private gateway.
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// How long one request may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for ApnsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsSettings").field("base_url", &self.base_url).field("team_id", &self.team_id).field("key_id", &self.key_id).field("topic", &self.topic).finish_non_exhaustive()
    }
}

/// The APNs sender.
pub struct ApnsProvider {
    client: reqwest::Client,
    key: SigningKey,
    settings: ApnsSettings,
    base: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for ApnsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsProvider").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// A stable `apns-id` (a UUID's form) for one message and device, the same on every attempt.
pub(crate) fn apns_id(message_id: &str, token: &str) -> String {
    let d = digest(&SHA256, format!("{message_id}/{token}").as_bytes());
    let b = d.as_ref();
    let hex = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02X}")).collect::<String>();
    format!("{}-{}-{}-{}-{}", hex(0..4), hex(4..6), hex(6..8), hex(8..10), hex(10..16))
}

/// How one APNs answer ends a device's notification.
pub(crate) fn classify(status: u16, apns_id: Option<&str>, body: &[u8]) -> DeviceOutcome {
    if status == 200 {
        return DeviceOutcome::Sent(apns_id.unwrap_or_default().to_owned());
    }
    let reason = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["reason"].as_str().map(str::to_owned));
    match (status, reason.as_deref()) {
        (410, _) | (_, Some("BadDeviceToken" | "Unregistered" | "DeviceTokenNotForTopic")) => DeviceOutcome::Stale,
        (429 | 500..=599, _) | (403, Some("ExpiredProviderToken" | "InvalidProviderToken")) => DeviceOutcome::Failed(SendError::Transient(format!("apns_http_{status}"))),
        (_, Some(r)) if r.bytes().all(|b| b.is_ascii_alphanumeric()) && r.len() <= 40 => DeviceOutcome::Failed(SendError::Permanent(format!("apns_{r}"))),
        _ => DeviceOutcome::Failed(SendError::Permanent(format!("apns_http_{status}"))),
    }
}

impl ApnsProvider {
    /// Builds the sender, HTTP/2 only; a key that cannot sign stops it here.
    pub fn new(settings: ApnsSettings) -> Result<Self, PushConfigError> {
        for (value, what) in [(&settings.team_id, "apns.team_id"), (&settings.key_id, "apns.key_id"), (&settings.topic, "apns.topic")] {
            if value.trim().is_empty() {
                return Err(PushConfigError::Missing(what));
            }
        }
        let key = SigningKey::p256(&settings.private_key_pem)?;
        let base = check_url(&settings.base_url, "apns.base_url")?;
        crate::install_crypto_provider();
        let mut builder = reqwest::Client::builder().timeout(settings.timeout).http2_prior_knowledge();
        for pem in &settings.extra_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| PushConfigError::Roots)?;
            if roots.is_empty() {
                return Err(PushConfigError::Roots);
            }
            builder = builder.tls_certs_merge(roots);
        }
        let client = builder.build().map_err(|e| PushConfigError::Client(e.to_string()))?;
        Ok(Self { client, key, settings, base, token: Mutex::new(None) })
    }

    async fn provider_token(&self, renew: bool) -> String {
        let mut cached = self.token.lock().await;
        match cached.as_ref() {
            Some((token, until)) if !renew && Instant::now() < *until => token.clone(),
            _ => {
                let iat = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let header = json!({"kid": self.settings.key_id}).as_object().cloned().unwrap_or_default();
                let token = self.key.sign(header, &json!({"iss": self.settings.team_id, "iat": iat}));
                *cached = Some((token.clone(), Instant::now() + TOKEN_LIFETIME));
                token
            }
        }
    }

    /// Notifies one device.
    pub(crate) async fn notify(&self, token: &str, message_id: &str, title: &str, body: &str) -> DeviceOutcome {
        // A device token is hex; anything else can never be one (and must not reach the path).
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return DeviceOutcome::Stale;
        }
        let bearer = self.provider_token(false).await;
        let payload = json!({"aps": {"alert": {"title": title, "body": body}, "sound": "default"}});
        let request = self
            .client
            .post(format!("{}/3/device/{token}", self.base))
            .header("authorization", format!("bearer {bearer}"))
            .header("apns-topic", &self.settings.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-id", apns_id(message_id, token))
            .json(&payload);
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return DeviceOutcome::Failed(network_error(&e, "apns")),
        };
        let status = response.status().as_u16();
        let id = response.headers().get("apns-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.bytes().await.unwrap_or_default();
        let outcome = classify(status, id.as_deref(), &body);
        if status == 403 && matches!(outcome, DeviceOutcome::Failed(SendError::Transient(_))) {
            self.provider_token(true).await;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_apns_writes_them() {
        assert_eq!(classify(200, Some("ID-1"), b""), DeviceOutcome::Sent("ID-1".into()));
        assert_eq!(classify(410, None, br#"{"reason": "Unregistered", "timestamp": 1700000000000}"#), DeviceOutcome::Stale);
        assert_eq!(classify(400, None, br#"{"reason": "BadDeviceToken"}"#), DeviceOutcome::Stale);
        assert_eq!(classify(403, None, br#"{"reason": "ExpiredProviderToken"}"#), DeviceOutcome::Failed(SendError::Transient("apns_http_403".into())));
        assert_eq!(classify(400, None, br#"{"reason": "BadTopic"}"#), DeviceOutcome::Failed(SendError::Permanent("apns_BadTopic".into())));
        assert_eq!(classify(503, None, b"garbage"), DeviceOutcome::Failed(SendError::Transient("apns_http_503".into())));
        assert_eq!(classify(400, None, br#"{"reason": "Ana Lopez"}"#), DeviceOutcome::Failed(SendError::Permanent("apns_http_400".into())), "only codes become codes");
    }

    #[test]
    fn the_apns_id_has_a_uuids_form_and_is_the_same_on_every_attempt() {
        let id = apns_id("msg_1", "ab");
        assert_eq!(id, apns_id("msg_1", "ab"));
        assert_ne!(id, apns_id("msg_1", "cd"));
        assert_eq!(id.split('-').map(str::len).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
    }
}
