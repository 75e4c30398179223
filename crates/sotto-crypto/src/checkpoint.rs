//! Signed checkpoints of the audit chain: the head's sequence number and hash at a moment,
//! signed with an Ed25519 key derived from the master key and kept outside the database,
//! so that removing entries from the end, or truncating the chain and resetting its head,
//! is caught even though the database alone would look consistent.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// One checkpoint: the chain's head at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The sequence number of the last entry.
    pub seq: i64,
    /// That entry's hash.
    pub hash: Vec<u8>,
    /// When the checkpoint was taken, in microseconds since the epoch.
    pub at_micros: i64,
}

impl Checkpoint {
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!("sotto audit checkpoint v1\n{}\n{}\n{}\n", self.seq, hex::encode(&self.hash), self.at_micros).into_bytes()
    }
}

/// A checkpoint and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What was signed.
    pub checkpoint: Checkpoint,
    /// The Ed25519 signature over [`Checkpoint::signed_bytes`].
    pub signature: [u8; 64],
}

/// Signs checkpoints.
#[derive(Clone)]
pub struct CheckpointSigner(SigningKey);

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckpointSigner([redacted])")
    }
}

impl CheckpointSigner {
    /// A signer from 32 secret bytes (see `MasterKey::checkpoint_signer`).
    pub fn from_seed(seed: &Zeroizing<[u8; 32]>) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// Signs a checkpoint.
    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        let signature = self.0.sign(&checkpoint.signed_bytes()).to_bytes();
        SignedCheckpoint { checkpoint, signature }
    }

    /// The key that verifies this signer's checkpoints.
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier(self.0.verifying_key())
    }
}

/// Verifies checkpoint signatures.
#[derive(Debug, Clone)]
pub struct CheckpointVerifier(VerifyingKey);

impl CheckpointVerifier {
    /// Whether the signature is this key's over this checkpoint.
    pub fn verify(&self, signed: &SignedCheckpoint) -> bool {
        self.0.verify_strict(&signed.checkpoint.signed_bytes(), &Signature::from_bytes(&signed.signature)).is_ok()
    }

    /// The public key as hex, for operators who check checkpoints elsewhere.
    pub fn public_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(byte: u8) -> CheckpointSigner {
        CheckpointSigner::from_seed(&Zeroizing::new([byte; 32]))
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_any_change_to_it_does_not() {
        let s = signer(3);
        let signed = s.sign(Checkpoint { seq: 42, hash: vec![9; 32], at_micros: 1_000 });
        assert!(s.verifier().verify(&signed));
        let mut moved = signed.clone();
        moved.checkpoint.seq = 41;
        assert!(!s.verifier().verify(&moved));
        let mut rehashed = signed.clone();
        rehashed.checkpoint.hash[0] = 0;
        assert!(!s.verifier().verify(&rehashed));
        assert!(!signer(4).verifier().verify(&signed), "another key's verifier refuses it");
    }
}
