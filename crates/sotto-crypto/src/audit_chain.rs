//! The audit hash chain: each entry's hash is an HMAC-SHA256, keyed with a secret derived
//! from the master key, over the previous hash and the entry's canonical bytes. An edited,
//! removed or reordered entry breaks verification, and without the key nobody can
//! recompute the chain after rewriting it.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use sotto_core::audit::AuditRecord;

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// The key of the audit chain, and of the opaque references that name patients inside
/// Sotto. The database never holds it.
#[derive(Clone)]
pub struct ChainKey {
    chain: Zeroizing<[u8; 32]>,
    refs: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey([redacted])")
    }
}

impl ChainKey {
    /// A key from 32 secret bytes (see `MasterKey::chain_key`).
    pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes.as_ref()).expect("hmac takes any key length");
        mac.update(b"sotto patient references v1");
        let mut refs = Zeroizing::new([0u8; 32]);
        refs.copy_from_slice(&mac.finalize().into_bytes());
        Self { chain: bytes, refs }
    }

    /// The opaque reference that names a patient in audit entries, gate decisions and
    /// delivery records: `pt_` and 24 hex digits, the same for the same external id under the
    /// same master key, and meaningless without it.
    pub fn patient_ref(&self, external_id: &str) -> String {
        self.reference("pt", external_id)
    }

    /// An opaque reference for any text a client chose that the audit chain must be able to
    /// follow without holding it (a message id): `msg_` and 24 hex digits.
    pub fn message_ref(&self, message_id: &str) -> String {
        self.reference("msg", message_id)
    }

    fn reference(&self, kind: &str, text: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.refs.as_ref()).expect("hmac takes any key length");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(text.as_bytes());
        format!("{kind}_{}", hex::encode(&mac.finalize().into_bytes()[..12]))
    }

    /// The hash of an entry given the previous entry's hash and its canonical bytes.
    pub fn link(&self, prev: &[u8], canonical: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.chain.as_ref()).expect("hmac takes any key length");
        mac.update(&(prev.len() as u64).to_be_bytes());
        mac.update(prev);
        mac.update(canonical);
        mac.finalize().into_bytes().to_vec()
    }
}

/// Where and why a chain stopped verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq} does not verify: {reason}")]
pub struct ChainBreak {
    /// The sequence number of the first entry that does not verify.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Checks entries one by one, in sequence order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    key: ChainKey,
    next_seq: i64,
    prev: Vec<u8>,
}

impl ChainVerifier {
    /// A verifier that starts at the first entry.
    pub fn new(key: ChainKey) -> Self {
        Self { key, next_seq: 1, prev: GENESIS.to_vec() }
    }

    /// Checks the next entry.
    pub fn check(&mut self, record: &AuditRecord) -> Result<(), ChainBreak> {
        let expected = self.next_seq;
        if record.seq != expected {
            return Err(ChainBreak { seq: expected.min(record.seq), reason: "an entry is missing or out of order" });
        }
        if record.prev_hash != self.prev {
            return Err(ChainBreak { seq: record.seq, reason: "it does not link to the entry before it" });
        }
        let hash = self.key.link(&self.prev, &record.event.canonical_bytes(record.seq));
        if hash != record.hash {
            return Err(ChainBreak { seq: record.seq, reason: "its content was changed after it was written, or it was written without the chain's key" });
        }
        self.prev = hash;
        self.next_seq += 1;
        Ok(())
    }

    /// How many entries have verified.
    pub fn verified(&self) -> i64 {
        self.next_seq - 1
    }

    /// Checks the chain's recorded head (last sequence number and hash) against what was read,
    /// which catches entries removed from the end.
    pub fn check_head(&self, head_seq: i64, head_hash: &[u8]) -> Result<(), ChainBreak> {
        if head_seq != self.verified() || head_hash != self.prev.as_slice() {
            return Err(ChainBreak { seq: self.verified().min(head_seq) + 1, reason: "entries at the end of the chain are missing" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_core::audit::AuditEvent;

    fn key(byte: u8) -> ChainKey {
        ChainKey::from_bytes(Zeroizing::new([byte; 32]))
    }

    fn chain(k: &ChainKey, n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let event = AuditEvent {
                    at_micros: seq * 1000,
                    actor: "cli".into(),
                    action: "test".into(),
                    object: format!("patient:{seq}"),
                    outcome: "success".into(),
                    request_id: "r".into(),
                    source_ip: None,
                };
                let hash = k.link(&prev, &event.canonical_bytes(seq));
                let rec = AuditRecord { seq, event, prev_hash: prev.clone(), hash: hash.clone() };
                prev = hash;
                rec
            })
            .collect()
    }

    fn verify(records: &[AuditRecord]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::new(key(7));
        for r in records {
            v.check(r)?;
        }
        Ok(v.verified())
    }

    #[test]
    fn patient_references_are_stable_opaque_and_keyed() {
        let r = key(7).patient_ref("mrn-1001");
        assert_eq!(r, key(7).patient_ref("mrn-1001"));
        assert!(r.starts_with("pt_") && r.len() == 27 && !r.contains("1001"));
        assert_ne!(r, key(7).patient_ref("mrn-1002"));
        assert_ne!(r, key(8).patient_ref("mrn-1001"), "another key gives another reference");
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(&key(7), 5)), Ok(5));
    }

    #[test]
    fn a_chain_recomputed_without_the_key_does_not_verify() {
        assert_eq!(verify(&chain(&key(8), 5)).map_err(|e| e.seq), Err(1));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut c = chain(&key(7), 5);
        c[2].event.object = "patient:99".into();
        assert_eq!(verify(&c).map_err(|e| e.seq), Err(3));
    }

    #[test]
    fn a_removed_entry_is_named() {
        let mut c = chain(&key(7), 5);
        c.remove(1);
        assert_eq!(verify(&c).map_err(|e| e.seq), Err(2));
    }

    #[test]
    fn swapped_entries_are_detected() {
        let mut c = chain(&key(7), 5);
        c.swap(1, 2);
        assert!(verify(&c).is_err());
    }

    #[test]
    fn a_truncated_chain_fails_the_head_check() {
        let c = chain(&key(7), 5);
        let mut v = ChainVerifier::new(key(7));
        for r in &c[..4] {
            v.check(r).expect("prefix verifies");
        }
        assert!(v.check_head(5, &c[4].hash).is_err());
    }
}
