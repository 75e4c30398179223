//! Verification of the whole audit chain, page by page, against its recorded head.

use sotto_crypto::{ChainBreak, ChainVerifier};

use crate::{AuditStore, StoreResult};

const PAGE: i64 = 5_000;

/// Walks the chain from the first entry. The outer result is a storage failure; the inner one
/// says how many entries verified, or which entry is the first that does not.
/// `progress` is called with the number of entries checked so far.
pub async fn verify_audit_chain<S: AuditStore>(store: &S, mut progress: impl FnMut(i64)) -> StoreResult<Result<i64, ChainBreak>> {
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in &page {
            if let Err(broken) = verifier.check(record) {
                return Ok(Err(broken));
            }
        }
        progress(verifier.verified());
    }
    Ok(verifier.check_head(head_seq, &head_hash).map(|()| verifier.verified()))
}
