//! Webhook signatures: the widely used provider scheme for form-encoded SMS webhooks
//! (Base64 of HMAC-SHA1 over the full URL followed by every parameter name and value, sorted
//! by name), and a `Secret` type that never prints.

use std::fmt;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

/// A shared secret (a provider auth token); `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
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
