//! Sotto's cryptography: envelope encryption of identifiers, keyed blind indexes,
//! API key hashing, the keyed audit chain and its signed checkpoints.

pub mod audit_chain;
pub mod checkpoint;
pub mod envelope;
pub mod password;
pub mod totp;
pub mod webhook;

pub use audit_chain::{ChainBreak, ChainKey, ChainVerifier};
pub use checkpoint::{Checkpoint, CheckpointSigner, CheckpointVerifier, SignedCheckpoint};
pub use envelope::{CryptoError, DataKey, Keyring, MasterKey};

use rand::Rng;
use sha2::{Digest, Sha256};

/// The prefix of every API key, so leaked keys are easy to recognise and scan for.
pub const API_KEY_PREFIX: &str = "sotto_";

/// Fills a buffer from the operating system's CSPRNG (through the thread-local generator).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// SHA-256 of a secret (a link, a session cookie), the only form of it that is stored.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new random secret of 32 bytes in URL-safe base64 (a session cookie).
pub fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new random id of `bytes` bytes, hex-encoded.
pub fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A freshly generated API key: the text shown once, and the hash that is stored.
#[derive(Debug)]
pub struct NewApiKey {
    /// The key as the client will send it; shown once, never stored.
    pub secret: String,
    /// SHA-256 of the key, the only thing stored.
    pub hash: Vec<u8>,
}

/// Generates an API key with 256 bits of entropy.
pub fn generate_api_key() -> NewApiKey {
    use base64::Engine;
    let secret = format!(
        "{API_KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    );
    let hash = hash_api_key(&secret);
    NewApiKey { secret, hash }
}

/// Hashes a presented key for lookup. Keys are high-entropy, so one SHA-256 is enough.
pub fn hash_api_key(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_unique_prefixed_and_hash_to_what_is_stored() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(API_KEY_PREFIX));
        assert_eq!(hash_api_key(&a.secret), a.hash);
        assert_ne!(a.hash, b.hash);
    }
}
