//! Webhook signatures: the widely used provider scheme for form-encoded SMS webhooks
//! (Base64 of HMAC-SHA1 over the full URL followed by every parameter name and value, sorted
//! by name), the signature of Sotto's own outbound webhooks (HMAC-SHA256 over a timestamp and
//! the body, checked against a replay window), and a `Secret` type that never prints.

use std::fmt;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

/// The `Sotto-Signature` header of an outbound webhook: `t=<unix seconds>,v1=<hex of
/// HMAC-SHA256 over "<t>." followed by the body>`.
pub fn sign_event(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(event_mac(secret, timestamp, body)))
}

fn event_mac(secret: &Secret, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.0.as_bytes()).expect("hmac takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Whether a `Sotto-Signature` header is right for the body and no older (or newer) than
/// `tolerance_secs` at `now_secs`: what a receiver checks, so a captured request cannot be
/// replayed later.
pub fn verify_event(secret: &Secret, header: &str, body: &[u8], now_secs: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now_secs - t).abs() > tolerance_secs {
        return false;
    }
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.0.as_bytes()).expect("hmac takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    signatures.iter().any(|s| mac.clone().verify_slice(s).is_ok())
}

/// A shared secret (a provider auth token); `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret's text, for the one place it is shown (when a subscription is made).
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The signature a provider computes for a form-encoded webhook to `url` with `params`.
pub fn form_signature(secret: &Secret, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.0.as_bytes()).expect("hmac takes any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the right signature, compared in constant time.
pub fn verify_form_signature(secret: &Secret, url: &str, params: &[(String, String)], presented: &str) -> bool {
    let expected = form_signature(secret, url, params);
    let (a, b) = (expected.as_bytes(), presented.trim().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_signature_verifies_only_with_its_secret_body_and_within_the_window() {
        let secret = Secret::new("whsec_test".into());
        let header = sign_event(&secret, 1_700_000_000, b"{\"id\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify_event(&secret, &header, b"{\"id\":1}", 1_700_000_100, 300));
        assert!(!verify_event(&secret, &header, b"{\"id\":2}", 1_700_000_100, 300), "another body");
        assert!(!verify_event(&Secret::new("other".into()), &header, b"{\"id\":1}", 1_700_000_100, 300), "another secret");
        assert!(!verify_event(&secret, &header, b"{\"id\":1}", 1_700_000_301, 300), "a replay after the window");
        assert!(!verify_event(&secret, "v1=00", b"{\"id\":1}", 1_700_000_000, 300), "no timestamp");
    }

    use super::*;

    fn params() -> Vec<(String, String)> {
        [("To", "+13125550100"), ("From", "+13122530142"), ("Body", "STOP")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_signature_verifies_only_for_the_same_secret_url_and_parameters() {
        let secret = Secret::new("token".into());
        let url = "https://engage.example.org/v1/inbound/sms";
        let sig = form_signature(&secret, url, &params());
        assert!(verify_form_signature(&secret, url, &params(), &sig));
        let mut reordered = params();
        reordered.reverse();
        assert!(verify_form_signature(&secret, url, &reordered, &sig), "parameter order does not matter");
        assert!(!verify_form_signature(&Secret::new("other".into()), url, &params(), &sig));
        assert!(!verify_form_signature(&secret, "https://evil.example.org/v1/inbound/sms", &params(), &sig));
        let mut changed = params();
        changed[2].1 = "START".into();
        assert!(!verify_form_signature(&secret, url, &changed, &sig));
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    }
}
