//! The effective dictionary (defaults plus declarations), cached briefly so ingestion does not
//! read it per request, and refreshed so other processes' declarations are seen within seconds.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sotto_core::default_dictionary::default_specs;
use sotto_core::dictionary::Dictionary;
use sotto_store::{DictionaryStore, StoreError};

const FRESH_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct DictionaryCache {
    slot: RwLock<Option<(Arc<Dictionary>, Instant)>>,
}

impl DictionaryCache {
    pub(crate) async fn get(&self, store: &impl DictionaryStore) -> Result<Arc<Dictionary>, StoreError> {
        if let Ok(guard) = self.slot.read()
            && let Some((dict, at)) = guard.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return Ok(dict.clone());
        }
        self.reload(store).await
    }

    pub(crate) async fn reload(&self, store: &impl DictionaryStore) -> Result<Arc<Dictionary>, StoreError> {
        let declared = store.declared_fields().await?;
        let dict = Arc::new(Dictionary::from_specs(default_specs().into_iter().chain(declared)));
        if let Ok(mut guard) = self.slot.write() {
            *guard = Some((dict.clone(), Instant::now()));
        }
        Ok(dict)
    }
}
