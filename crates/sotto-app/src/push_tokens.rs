//! Forgetting device tokens a push service called invalid: the patient's sealed identifiers
//! are opened inside the write transaction, the stale tokens taken out of `push_tokens`, and
//! the identifiers sealed again, audited as a profile change by the dispatch worker.

use serde_json::Value;

use sotto_core::firewall::ProfileChanges;
use sotto_core::phi::Phi;
use sotto_crypto::Keyring;
use sotto_store::{AuditContext, IngestWrite, PatientRecord, ProfileMerger, Store};

use crate::App;
use crate::merge::{Merger, open_identifiers};

/// Takes the given tokens out of a profile's `push_tokens`.
struct Forget<'a> {
    keyring: &'a Keyring,
}

impl ProfileMerger<Vec<Phi<String>>> for Forget<'_> {
    fn merge(&self, external_id: &str, existing: Option<&PatientRecord>, stale: &Vec<Phi<String>>, now: i64) -> Result<PatientRecord, String> {
        let (_, ids) = existing.map(|r| open_identifiers(self.keyring, r)).transpose()?.flatten().ok_or("the patient has no identifiers")?;
        let kept: Vec<Value> = ids.other.get("push_tokens").and_then(Value::as_array).into_iter().flatten().filter(|t| !stale.iter().any(|s| t.as_str() == Some(s.expose().as_str()))).cloned().collect();
        let mut changes = ProfileChanges::default();
        changes.identifiers.insert("push_tokens".into(), if kept.is_empty() { None } else { Some(Phi::new(Value::Array(kept))) });
        Merger { keyring: self.keyring }.merge(external_id, existing, &changes, now)
    }
}

impl<S: Store> App<S> {
    /// Forgets a patient's stale device tokens, once per attempt of a message that found them
    /// stale (a message sent again may find others).
    pub(crate) async fn forget_push_tokens(&self, message_id: &str, attempt: i64, external_id: &str, stale: Vec<Phi<String>>, ctx: &AuditContext) {
        let write = IngestWrite::Identify { message_id: format!("push-tokens-stale:{message_id}:{attempt}"), external_id: external_id.to_owned(), changes: stale };
        match self.store.ingest(&[write], &Forget { keyring: &self.keyring }, ctx, Vec::new()).await {
            Ok(_) => tracing::info!(message = message_id, "forgot device tokens the push service called invalid"),
            Err(e) => {
                tracing::warn!(message = message_id, error = %e, "could not forget stale device tokens; the next push finds them stale again")
            }
        }
    }
}
