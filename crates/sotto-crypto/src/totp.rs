//! Staff second factor (RFC 6238 TOTP: SHA-1, six digits, 30-second steps, one step of skew)
//! through `totp-rs`, and the signature of API requests signed by a client (HMAC-SHA256 over
//! method, path, timestamp and the body's SHA-256), checked against a replay window.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret as TotpSecret, Totp};

/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Sotto";

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new().with_secret(secret.to_vec()).with_account_name(account.replace(':', "_")).with_issuer(Some(ISSUER)).build().ok()
}

/// A new TOTP secret: 160 random bits, as RFC 4226 recommends.
pub fn new_totp_secret() -> [u8; 20] {
    crate::random_bytes::<20>()
}

/// The secret as the Base32 text authenticator apps take.
pub fn totp_text(secret: &[u8]) -> String {
    TotpSecret::from(secret.to_vec()).to_base32()
}

/// The `otpauth://` address a QR code carries.
pub fn totp_uri(secret: &[u8], account: &str) -> Option<String> {
    totp(secret, account)?.to_url().ok()
}

/// The time step a code is right for at `unix_secs` (the step before, now, or after), or
/// `None`. The caller accepts each step once.
pub fn check_totp(secret: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret, "check")?.check(&digits, unix_secs)
}

/// The code of `unix_secs` (for tests and tools that stand in for an authenticator app).
pub fn totp_code(secret: &[u8], unix_secs: u64) -> Option<String> {
    totp(secret, "code").map(|t| t.generate(unix_secs).to_string())
}

/// What a signed request's signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path and query as sent.
    pub path_and_query: &'a str,
    /// Unix seconds, as the client's header states.
    pub timestamp: i64,
    /// The body's bytes.
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    /// `METHOD\npath?query\ntimestamp\nhex(SHA-256(body))`.
    pub fn canonical(&self) -> String {
        format!("{}\n{}\n{}\n{}", self.method.to_ascii_uppercase(), self.path_and_query, self.timestamp, hex::encode(Sha256::digest(self.body)))
    }

    fn mac(&self, secret: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("hmac takes any key length");
        mac.update(self.canonical().as_bytes());
        mac
    }

    /// The hex HMAC-SHA256 of the canonical text under a client's secret.
    pub fn sign(&self, secret: &[u8]) -> String {
        hex::encode(self.mac(secret).finalize().into_bytes())
    }

    /// Whether `signature` (hex) signs the request, in constant time, and its timestamp is
    /// within `window_secs` of `now_secs`.
    pub fn verify(&self, secret: &[u8], signature: &str, now_secs: i64, window_secs: i64) -> bool {
        if (now_secs - self.timestamp).abs() > window_secs {
            return false;
        }
        let Ok(given) = hex::decode(signature.trim()) else { return false };
        self.mac(secret).verify_slice(&given).is_ok()
    }
}

/// The signature of a request (for clients and tests).
pub fn sign_request(secret: &[u8], method: &str, path_and_query: &str, timestamp: i64, body: &[u8]) -> String {
    SignedRequest { method, path_and_query, timestamp, body }.sign(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6238_sha1_vector_matches_in_six_digits() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 gives 94287082 (8 digits).
        let secret = b"12345678901234567890";
        assert_eq!(totp_code(secret, 59).as_deref(), Some("287082"));
        assert_eq!(totp_code(secret, 1_111_111_109).as_deref(), Some("081804"));
    }

    #[test]
    fn a_code_is_right_one_step_either_side_and_wrong_beyond() {
        let secret = new_totp_secret();
        let code = totp_code(&secret, 1_000_000).expect("code");
        assert_eq!(check_totp(&secret, &code, 1_000_000), Some(1_000_000 / 30));
        assert!(check_totp(&secret, &code, 1_000_000 + 30).is_some());
        assert!(check_totp(&secret, &code, 1_000_000 + 90).is_none());
        assert!(check_totp(&secret, "12345", 1_000_000).is_none());
        assert!(check_totp(&secret, "abcdef", 1_000_000).is_none());
    }

    #[test]
    fn the_uri_carries_the_base32_secret_and_issuer() {
        let secret = new_totp_secret();
        let uri = totp_uri(&secret, "ana@clinic.example").expect("uri");
        assert!(uri.starts_with("otpauth://totp/Sotto:") && uri.contains(&totp_text(&secret)) && uri.contains("issuer=Sotto"), "{uri}");
    }

    #[test]
    fn a_signed_request_verifies_only_unchanged_and_within_the_window() {
        let secret = b"client secret";
        let request = |path, body| SignedRequest { method: "POST", path_and_query: path, timestamp: 1000, body };
        let sig = sign_request(secret, "post", "/v1/track?x=1", 1000, b"{}");
        assert!(request("/v1/track?x=1", b"{}").verify(secret, &sig, 1100, 300));
        assert!(!request("/v1/track?x=1", b"{ }").verify(secret, &sig, 1100, 300));
        assert!(!request("/v1/track?x=2", b"{}").verify(secret, &sig, 1100, 300));
        assert!(!request("/v1/track?x=1", b"{}").verify(secret, &sig, 1400, 300));
        assert!(!request("/v1/track?x=1", b"{}").verify(b"other", &sig, 1100, 300));
    }
}
