//! Merging checked profile changes into a stored profile: identifiers are decrypted with the
//! patient's data key, changed, sealed again and re-indexed, all inside the write transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use sotto_core::firewall::{Change, ProfileChanges};
use sotto_crypto::envelope::KEY_VERSION;
use sotto_crypto::{DataKey, Keyring};
use sotto_store::{PatientRecord, ProfileMerger};

/// The identifiers of one patient, as sealed in `patients.identifiers`.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Identifiers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

fn aad(external_id: &str) -> Vec<u8> {
    format!("patient:{external_id}").into_bytes()
}

/// Unwraps a stored profile's data key and opens its identifiers; `Ok(None)` for a profile
/// that has no key yet. A profile with a key but no identifiers opens as empty.
pub(crate) fn open_identifiers(keyring: &Keyring, record: &PatientRecord) -> Result<Option<(DataKey, Identifiers)>, String> {
    let Some(wrapped) = &record.wrapped_key else {
        return Ok(None);
    };
    let owner = String::from_utf8(aad(&record.external_id)).unwrap_or_default();
    let key = keyring.unwrap_data_key(&owner, wrapped).map_err(|e| e.to_string())?;
    let ids = match &record.identifiers {
        Some(sealed) => {
            let plain = key.open(&aad(&record.external_id), sealed).map_err(|e| e.to_string())?;
            serde_json::from_slice(&plain).map_err(|_| "sealed identifiers are not valid JSON".to_owned())?
        }
        None => Identifiers::default(),
    };
    Ok(Some((key, ids)))
}

/// The owner name a patient's data key is bound to.
pub(crate) fn key_owner(external_id: &str) -> String {
    format!("patient:{external_id}")
}

fn apply<T>(slot: &mut Option<String>, change: &Change<T>, text: impl Fn(&T) -> String) {
    match change {
        Change::Keep => {}
        Change::Clear => *slot = None,
        Change::Set(v) => *slot = Some(text(v)),
    }
}

/// Merges with the keyring it was given.
pub(crate) struct Merger<'a> {
    pub keyring: &'a Keyring,
}

impl ProfileMerger<ProfileChanges> for Merger<'_> {
    fn merge(&self, external_id: &str, existing: Option<&PatientRecord>, changes: &ProfileChanges, now: i64) -> Result<PatientRecord, String> {
        let owner = String::from_utf8(aad(external_id)).unwrap_or_default();
        let opened = match existing {
            Some(record) => open_identifiers(self.keyring, record)?,
            None => None,
        };
        let (key, wrapped, mut ids) = match (opened, existing.and_then(|r| r.wrapped_key.clone())) {
            (Some((key, ids)), Some(wrapped)) => (key, wrapped, ids),
            _ => {
                let (key, wrapped) = self.keyring.new_data_key(&owner);
                (key, wrapped, Identifiers::default())
            }
        };
        apply(&mut ids.email, &changes.email, |e| e.expose().to_owned());
        apply(&mut ids.phone, &changes.phone, |p| p.expose().to_owned());
        for (name, value) in &changes.identifiers {
            match value {
                Some(v) => ids.other.insert(name.clone(), v.expose().clone()),
                None => ids.other.remove(name),
            };
        }
        let plain = Zeroizing::new(serde_json::to_vec(&ids).map_err(|e| e.to_string())?);
        let sealed = key.seal(&aad(external_id), &plain);
        let email_index = ids.email.as_ref().map(|e| self.keyring.blind_index("email", &e.to_lowercase()));
        let phone_index = ids.phone.as_ref().map(|p| self.keyring.blind_index("phone", p));

        let base = existing.cloned();
        let mut timezone = base.as_ref().and_then(|r| r.timezone.clone());
        let mut language = base.as_ref().and_then(|r| r.language.clone());
        let mut channel = base.as_ref().and_then(|r| r.preferred_channel.clone());
        apply(&mut timezone, &changes.timezone, |t| t.as_str().to_owned());
        apply(&mut language, &changes.language, |l| l.as_str().to_owned());
        apply(&mut channel, &changes.preferred_channel, |c| c.as_str().to_owned());
        let mut traits: Map<String, Value> = base
            .as_ref()
            .map(|r| serde_json::from_str(&r.traits))
            .transpose()
            .map_err(|_| "stored traits are not a JSON object".to_owned())?
            .unwrap_or_default();
        for (name, value) in &changes.traits {
            match value {
                Some(v) => traits.insert(name.clone(), v.clone()),
                None => traits.remove(name),
            };
        }
        Ok(PatientRecord {
            external_id: external_id.to_owned(),
            key_version: Some(KEY_VERSION),
            wrapped_key: Some(wrapped),
            identifiers: Some(sealed),
            email_index,
            phone_index,
            timezone,
            language,
            preferred_channel: channel,
            traits: Value::Object(traits).to_string(),
            created_at: base.as_ref().map_or(now, |r| r.created_at),
            updated_at: now,
        })
    }
}
