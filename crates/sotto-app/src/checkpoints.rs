//! The checkpoint writer: signs the audit chain's head into the checkpoint directory at
//! least every `every_entries` entries or `every` minutes while the head moves, and once
//! more when the process stops.

use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use sotto_crypto::{Checkpoint, CheckpointSigner};
use sotto_store::{CheckpointDir, Store};

use crate::error::AppError;
use crate::supervise::{Restarts, supervise};

/// How often checkpoints are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Write when this many entries were appended since the last checkpoint.
    pub every_entries: i64,
    /// Write when the head moved and this long passed since the last checkpoint.
    pub every: Duration,
    /// How often the head is looked at.
    pub poll: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { every_entries: 1_000, every: Duration::from_secs(300), poll: Duration::from_secs(1) }
    }
}

/// Writes signed checkpoints of one store's chain into one directory.
#[derive(Debug, Clone)]
pub struct CheckpointWriter<S> {
    store: S,
    dir: CheckpointDir,
    signer: CheckpointSigner,
}

impl<S: Store> CheckpointWriter<S> {
    /// A writer for `store`'s chain.
    pub fn new(store: S, dir: CheckpointDir, signer: CheckpointSigner) -> Self {
        Self { store, dir, signer }
    }

    /// Signs the current head when it is past the newest checkpoint; answers its sequence
    /// number, or `None` when there was nothing new.
    pub async fn write_now(&self, now: Timestamp) -> Result<Option<i64>, AppError> {
        let (seq, hash) = self.store.audit_head().await?;
        let last = self.dir.last_seq().map_err(|e| AppError::Checkpoint(e.to_string()))?;
        if seq <= last {
            return Ok(None);
        }
        let signed = self.signer.sign(Checkpoint { seq, hash, at_micros: now.as_microsecond() });
        self.dir.write(&signed).map_err(|e| AppError::Checkpoint(e.to_string()))?;
        Ok(Some(seq))
    }

    /// Starts the supervised loop; it writes a last checkpoint and ends when `stop` turns true.
    pub fn spawn(self, policy: CheckpointPolicy, stop: watch::Receiver<bool>) -> Restarts {
        supervise("audit checkpoint writer", move || {
            let (writer, mut stop) = (self.clone(), stop.clone());
            async move {
                let mut last_write = tokio::time::Instant::now();
                let mut last_seq = writer.dir.last_seq().unwrap_or(0);
                loop {
                    let stopping = tokio::select! {
                        changed = stop.changed() => changed.is_err() || *stop.borrow(),
                        () = tokio::time::sleep(policy.poll) => false,
                    };
                    let due = match writer.store.audit_head().await {
                        Ok((seq, _)) => seq > last_seq && (stopping || seq - last_seq >= policy.every_entries || last_write.elapsed() >= policy.every),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read the audit head for a checkpoint");
                            false
                        }
                    };
                    if due {
                        match writer.write_now(Timestamp::now()).await {
                            Ok(Some(seq)) => {
                                last_seq = seq;
                                last_write = tokio::time::Instant::now();
                            }
                            // Someone else (the shutdown path, another process) wrote it.
                            Ok(None) => last_seq = writer.dir.last_seq().unwrap_or(last_seq),
                            Err(e) => tracing::error!(error = %e, "cannot write an audit checkpoint"),
                        }
                    }
                    if stopping {
                        break;
                    }
                }
            }
        })
    }
}
