//! Signed JSON Web Tokens (RFC 7519) as push services ask for them: RS256 for the Google
//! service-account assertion FCM's OAuth 2.0 token is exchanged for, ES256 for APNs' provider
//! token. Keys are PKCS#8 PEM, as Google and Apple hand them out; signing is ring's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

/// A key that signs tokens.
pub(crate) enum SigningKey {
    /// RS256.
    Rsa(RsaKeyPair),
    /// ES256, with the fixed-width `r || s` signature JWS asks for.
    Ecdsa(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningKey::Rsa(_) => "SigningKey::Rsa(..)",
            SigningKey::Ecdsa(_) => "SigningKey::Ecdsa(..)",
        })
    }
}

/// Why a key cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM `PRIVATE KEY` (PKCS#8) block.
    #[error("the key is not a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)")]
    NotPem,
    /// A PKCS#8 key of the wrong kind or size.
    #[error("the key is not {0}")]
    WrongKind(&'static str),
}

impl SigningKey {
    /// An RSA key (2048 bits or more) from PKCS#8 PEM.
    pub(crate) fn rsa(pem: &str) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::NotPem)?;
        RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map(SigningKey::Rsa).map_err(|_| KeyError::WrongKind("an RSA key of 2048 bits or more"))
    }

    /// A P-256 key from PKCS#8 PEM (an APNs `.p8` file).
    pub(crate) fn p256(pem: &str) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::NotPem)?;
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der(), &SystemRandom::new()).map(SigningKey::Ecdsa).map_err(|_| KeyError::WrongKind("a P-256 (ES256) key"))
    }

    fn alg(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "RS256",
            SigningKey::Ecdsa(_) => "ES256",
        }
    }

    /// `header.claims.signature`, each part base64url without padding. `header` gets `alg`
    /// and `typ` added.
    pub(crate) fn sign(&self, mut header: serde_json::Map<String, Value>, claims: &Value) -> String {
        header.insert("alg".into(), Value::from(self.alg()));
        header.insert("typ".into(), Value::from("JWT"));
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let rng = SystemRandom::new();
        let signature = match self {
            SigningKey::Rsa(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                // Signing with a well-formed key into a buffer of the modulus' length cannot fail.
                key.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut out).map(|()| out).unwrap_or_default()
            }
            SigningKey::Ecdsa(key) => key.sign(&rng, input.as_bytes()).map(|s| s.as_ref().to_vec()).unwrap_or_default(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};

    const P256: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9ReptGei2jcpnUE3\nMZ+OR2We6i9i6iOEDDWaIZT2VMqhRANCAATxBTHdGoWM3p1Jhke9dxeuAPeGVnIY\ngGchedR3OgpENAripVVEIGiJoE4C3kGwNj5s+L+JPh2qWG1ocK8Ar079\n-----END PRIVATE KEY-----\n";

    #[test]
    fn an_es256_token_verifies_against_the_keys_public_half_and_names_its_algorithm() {
        let key = SigningKey::p256(P256).expect("p256");
        let header = serde_json::json!({"kid": "ABC123DEFG"}).as_object().cloned().expect("object");
        let token = key.sign(header, &serde_json::json!({"iss": "TEAM123456", "iat": 1_700_000_000}));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let head: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!((head["alg"].as_str(), head["kid"].as_str()), (Some("ES256"), Some("ABC123DEFG")));
        let SigningKey::Ecdsa(pair) = &key else { panic!("ecdsa") };
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref().to_vec());
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("b64");
        assert_eq!(signature.len(), 64, "JWS wants r || s, not DER");
        public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).expect("verifies");
        assert!(public.verify(format!("{}.{}x", parts[0], parts[1]).as_bytes(), &signature).is_err());
    }

    #[test]
    fn keys_of_the_wrong_form_or_kind_are_refused_with_what_is_expected() {
        assert_eq!(SigningKey::p256("not a key").err(), Some(KeyError::NotPem));
        assert_eq!(SigningKey::rsa(P256).err(), Some(KeyError::WrongKind("an RSA key of 2048 bits or more")));
    }
}
