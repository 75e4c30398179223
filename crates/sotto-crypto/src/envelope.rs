//! Envelope encryption: a master key wraps one AES-256-GCM data key per patient, and derives
//! the key of the blind index used for exact lookups by email or phone.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::random_bytes;

const NONCE_LEN: usize = 12;
/// The version tag of the current master key derivation, stored with each wrapped key.
pub const KEY_VERSION: i64 = 1;

/// Errors from key handling and decryption; they never carry key or plaintext material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The master key text is not 32 bytes of base64 or hex.
    #[error("the master key must be 32 random bytes, written as base64 or hex (make one with `sotto keys generate-master`)")]
    MalformedMasterKey,
    /// Ciphertext failed authentication: wrong key, wrong patient, or tampering.
    #[error("ciphertext did not authenticate")]
    Decrypt,
}

/// The master key: 32 bytes, zeroed on drop, never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Generates a new random master key.
    pub fn generate() -> Self {
        Self(Zeroizing::new(random_bytes::<32>()))
    }

    /// Parses base64 (standard or URL-safe) or hex text of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let engines = [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ];
        let decoded = hex::decode(text)
            .ok()
            .filter(|b| b.len() == 32)
            .or_else(|| engines.iter().find_map(|e| e.decode(text).ok().filter(|b| b.len() == 32)))
            .or_else(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok().filter(|b| b.len() == 32))
            .ok_or(CryptoError::MalformedMasterKey)?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&decoded);
        Ok(Self(key))
    }

    /// The key as base64, for writing a new key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    /// Why this key is too weak for production, if it is: random 32-byte keys have
    /// far more than 16 distinct byte values and no long runs.
    pub fn weakness(&self) -> Option<&'static str> {
        let mut seen = [false; 256];
        for b in self.0.iter() {
            seen[*b as usize] = true;
        }
        let distinct = seen.iter().filter(|s| **s).count();
        let longest_run = self.0.windows(4).filter(|w| w.iter().all(|b| *b == w[0])).count();
        if distinct < 16 || longest_run > 0 {
            Some("the master key does not look random")
        } else {
            None
        }
    }

    /// The key of the audit chain's HMAC.
    pub fn chain_key(&self) -> crate::ChainKey {
        crate::ChainKey::from_bytes(self.derive(b"sotto audit chain v1"))
    }

    /// The Ed25519 key that signs audit checkpoints.
    pub fn checkpoint_signer(&self) -> crate::CheckpointSigner {
        crate::CheckpointSigner::from_seed(&self.derive(b"sotto audit checkpoint signer v1"))
    }

    fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.0.as_ref()).expect("hmac takes any key length");
        mac.update(label);
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// Keys derived from the master key: the key-encryption key and the blind index key.
#[derive(Clone)]
pub struct Keyring {
    kek: Aes256Gcm,
    blind: Zeroizing<[u8; 32]>,
    token: Aes256Gcm,
    refs: crate::ChainKey,
    secrets: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring([redacted])")
    }
}

/// One patient's data key, unwrapped in memory for as long as it is needed.
pub struct DataKey(Aes256Gcm);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

fn seal(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes = random_bytes::<NONCE_LEN>();
    let nonce = Nonce::from(nonce_bytes);
    let ct = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .expect("AES-GCM encryption of in-memory data cannot fail");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ct);
    out
}

fn open(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Decrypt)?;
    cipher
        .decrypt(&nonce, Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

impl Keyring {
    /// Derives the keyring from a master key.
    pub fn new(master: &MasterKey) -> Self {
        let kek = master.derive(b"sotto key-encryption key v1");
        Self {
            kek: <Aes256Gcm as KeyInit>::new_from_slice(kek.as_ref()).expect("32-byte key"),
            blind: master.derive(b"sotto blind index v1"),
            token: <Aes256Gcm as KeyInit>::new_from_slice(master.derive(b"sotto token key v1").as_ref()).expect("32-byte key"),
            refs: master.chain_key(),
            secrets: master.derive(b"sotto derived secrets v1"),
        }
    }

    /// The opaque reference that names a patient inside Sotto (see `ChainKey::patient_ref`);
    /// the store makes the same one from the same master key.
    pub fn patient_ref(&self, external_id: &str) -> String {
        self.refs.patient_ref(external_id)
    }

    /// The opaque reference for text a client chose, such as an idempotency key (`msg_…`).
    pub fn message_ref(&self, text: &str) -> String {
        self.refs.message_ref(text)
    }

    /// Makes a new data key for the object named `owner` and returns it with its wrapped form.
    pub fn new_data_key(&self, owner: &str) -> (DataKey, Vec<u8>) {
        let raw = Zeroizing::new(random_bytes::<32>());
        let wrapped = seal(&self.kek, owner.as_bytes(), raw.as_ref());
        (DataKey(<Aes256Gcm as KeyInit>::new_from_slice(raw.as_ref()).expect("32-byte key")), wrapped)
    }

    /// Unwraps a data key; fails if it was wrapped for another owner or another master key.
    pub fn unwrap_data_key(&self, owner: &str, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let raw = open(&self.kek, owner.as_bytes(), wrapped)?;
        <Aes256Gcm as KeyInit>::new_from_slice(&raw).map(DataKey).map_err(|_| CryptoError::Decrypt)
    }

    /// The keyed blind index of a value of some kind (`email`, `phone`), for exact lookups
    /// without storing the value in the clear.
    pub fn blind_index(&self, kind: &str, value: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.blind.as_ref()).expect("hmac takes any key length");
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl Keyring {
    /// A secret derived from the master key for one purpose and one object (a portal link,
    /// a one-time code, a form's CSRF token): the same inputs always give the same secret,
    /// so it need not be stored, and nobody without the master key can make it.
    pub fn derived_secret(&self, purpose: &str, object: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.secrets.as_ref()).expect("hmac takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(object.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// [`Keyring::derived_secret`] written as URL-safe base64, for links and cookies.
    pub fn derived_token(&self, purpose: &str, object: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.derived_secret(purpose, object))
    }

    /// Seals a payload into an opaque, URL-safe token bound to `purpose`: it reveals nothing,
    /// cannot be forged without the master key, and does not open for another purpose.
    pub fn seal_token(&self, purpose: &str, payload: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(seal(&self.token, purpose.as_bytes(), payload))
    }

    /// Opens a token made by [`Keyring::seal_token`] for the same purpose.
    pub fn open_token(&self, purpose: &str, token: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| CryptoError::Decrypt)?;
        open(&self.token, purpose.as_bytes(), &sealed)
    }

    /// Seals bytes kept by Sotto itself (a staff TOTP secret, a client's secret, a stated
    /// reason), bound to `aad`, under a key derived from the master key.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal(&self.token, aad, plaintext)
    }

    /// Opens what [`Keyring::seal`] made with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.token, aad, sealed)
    }
}

impl DataKey {
    /// Encrypts `plaintext`, bound to `aad` (the owner's id), as nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal(&self.0, aad, plaintext)
    }

    /// Decrypts what [`DataKey::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open(&self.0, aad, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_round_trip_and_are_bound_to_their_owner() {
        let ring = Keyring::new(&MasterKey::generate());
        let (key, wrapped) = ring.new_data_key("patient:1");
        let sealed = key.seal(b"patient:1", b"jane@example.org");
        let again = ring.unwrap_data_key("patient:1", &wrapped).expect("unwrap");
        assert_eq!(again.open(b"patient:1", &sealed).expect("open").as_slice(), b"jane@example.org");
        assert_eq!(ring.unwrap_data_key("patient:2", &wrapped).err(), Some(CryptoError::Decrypt));
        assert!(again.open(b"patient:2", &sealed).is_err());
    }

    #[test]
    fn tokens_open_only_for_their_purpose_and_master_key() {
        let ring = Keyring::new(&MasterKey::generate());
        let token = ring.seal_token("unsubscribe", b"payload");
        assert_eq!(ring.open_token("unsubscribe", &token).expect("open").as_slice(), b"payload");
        assert!(ring.open_token("portal", &token).is_err());
        assert!(Keyring::new(&MasterKey::generate()).open_token("unsubscribe", &token).is_err());
        assert!(ring.open_token("unsubscribe", "not-a-token").is_err());
        assert!(!token.contains("payload"));
    }

    #[test]
    fn another_master_key_cannot_unwrap_data_keys() {
        let (_, wrapped) = Keyring::new(&MasterKey::generate()).new_data_key("p");
        assert!(Keyring::new(&MasterKey::generate()).unwrap_data_key("p", &wrapped).is_err());
    }

    #[test]
    fn tampered_ciphertext_does_not_open() {
        let ring = Keyring::new(&MasterKey::generate());
        let (key, _) = ring.new_data_key("p");
        let mut sealed = key.seal(b"p", b"secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.open(b"p", &sealed).is_err());
    }

    #[test]
    fn blind_indexes_are_deterministic_per_master_key_and_kind() {
        let master = MasterKey::generate();
        let ring = Keyring::new(&master);
        assert_eq!(ring.blind_index("email", "a@b.org"), Keyring::new(&master).blind_index("email", "a@b.org"));
        assert_ne!(ring.blind_index("email", "a@b.org"), ring.blind_index("phone", "a@b.org"));
        assert_ne!(ring.blind_index("email", "a@b.org"), Keyring::new(&MasterKey::generate()).blind_index("email", "a@b.org"));
    }

    #[test]
    fn master_keys_parse_from_base64_or_hex_and_weak_keys_are_named() {
        let key = MasterKey::generate();
        let text = key.to_base64();
        assert!(MasterKey::parse(&text).is_ok());
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert_eq!(MasterKey::parse("short").err(), Some(CryptoError::MalformedMasterKey));
        assert!(key.weakness().is_none());
        assert!(MasterKey::parse(&"00".repeat(32)).expect("hex").weakness().is_some());
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    }
}
