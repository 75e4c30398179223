//! Verification of the audit chain, page by page, against its recorded head and against the
//! signed checkpoints kept outside the database.

use sotto_crypto::{ChainBreak, ChainKey, ChainVerifier, Checkpoint};

use crate::{AuditStore, StoreResult};

const PAGE: i64 = 5_000;

/// Walks the chain from the first entry up to the head as it was when verification began
/// (entries written meanwhile are left for the next run). Every entry must link with the
/// chain's key; every checkpoint must name an entry that is still there with the same hash.
/// Load `checkpoints` before calling, so none is newer than the head read here.
/// The outer result is a storage failure; the inner one says how many entries verified, or
/// which entry is the first that does not. `progress` gets the count checked so far.
pub async fn verify_audit_chain<S: AuditStore>(store: &S, key: &ChainKey, checkpoints: &[Checkpoint], mut progress: impl FnMut(i64)) -> StoreResult<Result<i64, ChainBreak>> {
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut verifier = ChainVerifier::new(key.clone());
    let mut pending = checkpoints.iter().peekable();
    let mut after = 0;
    while after < head_seq {
        let page = store.audit_page(after, PAGE.min(head_seq - after)).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in &page {
            if let Err(broken) = verifier.check(record) {
                return Ok(Err(broken));
            }
            while let Some(c) = pending.next_if(|c| c.seq <= record.seq) {
                if c.seq < record.seq || c.hash != record.hash {
                    return Ok(Err(ChainBreak { seq: c.seq, reason: "it differs from the signed checkpoint taken when it was written" }));
                }
            }
        }
        progress(verifier.verified());
    }
    if let Err(broken) = verifier.check_head(head_seq, &head_hash) {
        return Ok(Err(broken));
    }
    if let Some(c) = pending.next() {
        return Ok(Err(ChainBreak {
            seq: head_seq + 1,
            reason: if c.seq > head_seq { "entries recorded in a signed checkpoint are missing from the end of the chain" } else { "it differs from the signed checkpoint taken when it was written" },
        }));
    }
    Ok(Ok(verifier.verified()))
}
