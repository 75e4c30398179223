//! The gate's view of a patient built from the inputs storage read (one patient or a whole
//! claimed batch): contacts and their verification, the consent ledger with number-level SMS
//! opt-outs, authorizations, suppressions and recent sends.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use sotto_core::consent::{ConsentRecord, ConsentState, ConsentStatus};
use sotto_core::contact::Channel;
use sotto_core::gate::{PatientState, SentMessage, Suppression};
use sotto_core::purpose::Purpose;
use sotto_crypto::Keyring;
use sotto_store::{GateInputs, PatientRecord};

use crate::AppError;
use crate::consent::{from_row, summary};
use crate::merge::{Identifiers, open_identifiers};

/// The patient's sealed identifiers, opened.
pub(crate) fn identifiers(keyring: &Keyring, inputs: &GateInputs) -> Result<Identifiers, AppError> {
    record_identifiers(keyring, &inputs.patient)
}

fn record_identifiers(keyring: &Keyring, record: &PatientRecord) -> Result<Identifiers, AppError> {
    Ok(open_identifiers(keyring, record).map_err(|_| AppError::Crypto)?.map(|(_, ids)| ids).unwrap_or_default())
}

/// The channels a patient has an address for, and those whose address is verified.
pub(crate) fn contact_channels(keyring: &Keyring, record: &PatientRecord) -> Result<(BTreeSet<Channel>, BTreeSet<Channel>), AppError> {
    let traits: Map<String, Value> = serde_json::from_str(&record.traits).unwrap_or_default();
    let ids = record_identifiers(keyring, record)?;
    let (mut reachable, mut verified) = (BTreeSet::new(), BTreeSet::new());
    let has_tokens = ids.other.get("push_tokens").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
    for (channel, present, checked) in [
        (Channel::Email, ids.email.is_some(), traits.get("email_verified") == Some(&Value::Bool(true))),
        (Channel::Sms, ids.phone.is_some(), traits.get("phone_verified") == Some(&Value::Bool(true))),
        (Channel::Push, has_tokens, has_tokens),
    ] {
        if present {
            reachable.insert(channel);
        }
        if checked {
            verified.insert(channel);
        }
    }
    Ok((reachable, verified))
}

/// The gate's view of one patient.
pub(crate) fn state_from_inputs(keyring: &Keyring, inputs: &GateInputs) -> Result<PatientState, AppError> {
    let record = &inputs.patient;
    let traits: Map<String, Value> = serde_json::from_str(&record.traits).unwrap_or_default();
    let mut state = PatientState::default();
    (state.reachable, state.verified) = contact_channels(keyring, record)?;
    state.timezone = record.timezone.as_deref().and_then(|tz| TimeZone::get(tz).ok());
    state.state_of_residence = traits.get("state_of_residence").and_then(Value::as_str).map(str::to_owned);
    let mut history = inputs.consents.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    // A STOP from the patient's number after their latest SMS consent record wins, even if it
    // was sent before the number was theirs.
    if let Some((status, at)) = &inputs.number_consent
        && record.phone_index.is_some()
        && status == ConsentStatus::OptedOut.as_str()
        && let Ok(at) = Timestamp::from_microsecond(*at)
        && history.iter().filter(|r| r.channel == Channel::Sms && r.topic.is_none()).all(|r| r.captured_at < at)
    {
        history.push(ConsentRecord {
            channel: Channel::Sms,
            topic: None,
            status: ConsentStatus::OptedOut,
            kind: sotto_core::purpose::ConsentKind::Express,
            source: sotto_core::consent::ConsentSource::SmsKeyword,
            captured_at: at,
            evidence: serde_json::json!({"method": "sms_number_opt_out"}),
        });
    }
    state.consents = ConsentState::derive(&history);
    state.authorizations = inputs.authorizations.iter().map(summary).collect();
    for (channel, reason) in &inputs.suppressions {
        let why = match reason.as_str() {
            "hard_bounce" => Suppression::HardBounce,
            "complaint" => Suppression::Complaint,
            r if r.starts_with("undeliverable_") => Suppression::Undeliverable,
            _ => Suppression::Manual,
        };
        if let Ok(c) = Channel::parse("channel", channel) {
            state.suppressions.push((c, why));
        }
    }
    for send in &inputs.sends {
        if let (Ok(channel), Ok(purpose), Ok(at)) = (Channel::parse("c", &send.channel), Purpose::parse("p", &send.purpose), Timestamp::from_microsecond(send.sent_at)) {
            state.sent.push(SentMessage { channel, purpose, at });
        }
    }
    Ok(state)
}
