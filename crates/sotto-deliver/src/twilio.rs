//! SMS through a Twilio-style HTTP API: a form-encoded POST to
//! `{base}/2010-04-01/Accounts/{sid}/Messages.json` with Basic auth, the message's status
//! callback URL, and answers read as the real API writes them (`sid` on success, `code` on
//! error). Errors become stable codes (`twilio_21610`, `twilio_http_503`), never the number.

use std::time::Duration;

use serde::Deserialize;

use sotto_app::deliver::{Accepted, OutgoingMessage, Provider, SendError, SendFuture};

/// Where the API is and who sends.
#[derive(Clone)]
pub struct TwilioSettings {
    /// The API's base URL (`https://api.twilio.com`; a mock in tests).
    pub base_url: String,
    /// The account SID (`AC…`).
    pub account_sid: String,
    /// The auth token (also what signs status callbacks).
    pub auth_token: String,
    /// The sending number (E.164), unless a messaging service is named.
    pub from: Option<String>,
    /// The messaging service SID (`MG…`).
    pub messaging_service_sid: Option<String>,
    /// The URL the provider posts delivery statuses to.
    pub status_callback: Option<String>,
    /// How long one request may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for TwilioSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSettings").field("base_url", &self.base_url).field("account_sid", &self.account_sid).finish_non_exhaustive()
    }
}

/// A configuration that cannot work, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TwilioConfigError {
    /// Neither a number nor a messaging service.
    #[error("[twilio] needs from (an E.164 number) or messaging_service_sid")]
    NoSender,
    /// The base URL is not http(s).
    #[error("twilio.base_url must start with https:// (or http:// for a mock on loopback)")]
    BaseUrl,
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// The SMS provider.
pub struct TwilioProvider {
    client: reqwest::Client,
    settings: TwilioSettings,
    url: String,
}

impl std::fmt::Debug for TwilioProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioProvider").field("settings", &self.settings).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct Failure {
    code: Option<i64>,
}

impl TwilioProvider {
    /// Builds the provider (TLS roots from the platform, the ring crypto provider).
    pub fn new(settings: TwilioSettings) -> Result<Self, TwilioConfigError> {
        if settings.from.is_none() && settings.messaging_service_sid.is_none() {
            return Err(TwilioConfigError::NoSender);
        }
        let base = settings.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(TwilioConfigError::BaseUrl);
        }
        crate::install_crypto_provider();
        let client = reqwest::Client::builder().timeout(settings.timeout).build().map_err(|e| TwilioConfigError::Client(e.to_string()))?;
        let url = format!("{base}/2010-04-01/Accounts/{}/Messages.json", settings.account_sid);
        Ok(Self { client, settings, url })
    }
}

/// How an answer of the API ends the hand-off.
fn classify(status: u16, body: &[u8]) -> Result<Accepted, SendError> {
    if (200..300).contains(&status) {
        return match serde_json::from_slice::<Created>(body).ok().and_then(|c| c.sid) {
            Some(sid) if !sid.is_empty() => Ok(Accepted::id(sid)),
            // It said yes but not to what: the message may exist at the provider.
            _ => Err(SendError::Uncertain("twilio_bad_response".into())),
        };
    }
    let code = serde_json::from_slice::<Failure>(body).ok().and_then(|f| f.code);
    match (status, code) {
        (429, _) => Err(SendError::Transient("twilio_429".into())),
        (500..=599, _) => Err(SendError::Transient(format!("twilio_http_{status}"))),
        (401 | 403, _) => Err(SendError::Transient(format!("twilio_http_{status}"))),
        (_, Some(code)) => Err(SendError::Permanent(format!("twilio_{code}"))),
        _ => Err(SendError::Permanent(format!("twilio_http_{status}"))),
    }
}

impl Provider for TwilioProvider {
    fn name(&self) -> &str {
        "twilio"
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let mut form: Vec<(&str, &str)> = vec![("To", m.to.expose().as_str()), ("Body", m.text.expose().as_str())];
            if let Some(service) = &self.settings.messaging_service_sid {
                form.push(("MessagingServiceSid", service));
            } else if let Some(from) = &self.settings.from {
                form.push(("From", from));
            }
            if let Some(callback) = &self.settings.status_callback {
                form.push(("StatusCallback", callback));
            }
            let sent = self.client.post(&self.url).basic_auth(&self.settings.account_sid, Some(&self.settings.auth_token)).form(&form).send().await;
            let response = match sent {
                Ok(r) => r,
                Err(e) if e.is_connect() => return Err(SendError::Transient("twilio_connection_failed".into())),
                Err(e) if e.is_timeout() => return Err(SendError::Uncertain("twilio_timeout".into())),
                Err(_) => return Err(SendError::Uncertain("twilio_network".into())),
            };
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(body) => classify(status, &body),
                Err(_) if (200..300).contains(&status) => Err(SendError::Uncertain("twilio_bad_response".into())),
                Err(_) => Err(SendError::Transient(format!("twilio_http_{status}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_the_api_writes_them() {
        assert_eq!(classify(201, br#"{"sid": "SM123", "status": "queued"}"#), Ok(Accepted::id("SM123")));
        assert_eq!(classify(201, b"<html>oops</html>"), Err(SendError::Uncertain("twilio_bad_response".into())));
        assert_eq!(classify(400, br#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}"#), Err(SendError::Permanent("twilio_21610".into())));
        assert_eq!(classify(429, b""), Err(SendError::Transient("twilio_429".into())));
        assert_eq!(classify(503, b"garbage"), Err(SendError::Transient("twilio_http_503".into())));
        assert_eq!(classify(400, b"garbage"), Err(SendError::Permanent("twilio_http_400".into())));
    }
}
