//! The dispatch-time decision for one message: the gate's inputs read at that moment (the
//! patient's state, the template's approval and lint state from storage, the provider's BAA
//! from configuration), the decision recorded and audited with reason codes only.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use sotto_core::consent::Topic;
use sotto_core::contact::Channel;
use sotto_core::gate::{Decision, Intent, Reason, decide};
use sotto_core::ids::ExternalId;
use sotto_core::purpose::Purpose;
use sotto_store::{AuditContext, DecisionRow, Store};

use crate::eligibility::{decision_name, reason_codes};
use crate::{App, AppError, micros};

/// A message about to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// The channel.
    pub channel: Channel,
    /// The declared purpose.
    pub purpose: Purpose,
    /// The preference topic, if any.
    pub topic: Option<Topic>,
    /// Whether targeting or content uses PHI.
    pub uses_phi: bool,
    /// The template whose latest approved version would be rendered.
    pub template_id: String,
}

impl<S: Store> App<S> {
    /// Whether the provider configured for `channel` has a BAA in force on the UTC date of `at`.
    pub fn provider_has_baa(&self, channel: Channel, at: Timestamp) -> bool {
        let today = at.to_zoned(TimeZone::UTC).date();
        self.settings.providers.get(&channel).is_some_and(|p| p.baa_in_force(today))
    }

    /// The gate's view of a message: the template's latest approved version and whether it
    /// still passes analysis and the linter against today's dictionary, and the provider's BAA.
    pub async fn dispatch_intent(&self, dispatch: &Dispatch, at: Timestamp) -> Result<Intent, AppError> {
        let versions = self.approved_versions(std::slice::from_ref(&dispatch.template_id)).await?;
        let approved = versions.get(&dispatch.template_id).and_then(Option::as_ref);
        let (approved, clean) = (approved.is_some(), approved.is_some_and(|v| v.clean));
        Ok(Intent {
            channel: dispatch.channel,
            purpose: dispatch.purpose,
            topic: dispatch.topic.clone(),
            uses_phi: dispatch.uses_phi,
            template_approved: approved,
            lint_clean: clean,
            provider_has_baa: self.provider_has_baa(dispatch.channel, at),
        })
    }

    /// Decides one message now: fails closed when any input cannot be read, and records the
    /// decision with its reason codes in the decision log and the audit chain.
    pub async fn decide_for_dispatch(&self, external_id: &ExternalId, dispatch: &Dispatch, now: Timestamp) -> Result<Decision, AppError> {
        let intent = self.dispatch_intent(dispatch, now).await;
        let state = self.gate_state(external_id, now).await;
        let decision = match (&intent, &state) {
            (Ok(intent), Ok(state)) => decide(intent, Some(state), &self.settings.gate, now),
            _ => {
                tracing::warn!(intent_read = intent.is_ok(), state_read = state.is_ok(), "gate inputs unreadable; failing closed");
                Decision::Deny { reasons: vec![Reason::StateUnavailable] }
            }
        };
        let row = DecisionRow {
            decided_at: micros(now),
            patient: self.keyring.patient_ref(external_id.as_str()),
            channel: dispatch.channel.as_str().to_owned(),
            purpose: dispatch.purpose.as_str().to_owned(),
            decision: decision_name(&decision).to_owned(),
            reasons: reason_codes(&decision),
        };
        let audit = AuditContext { actor: "system:dispatch".into(), request_id: String::new(), source_ip: None, at_micros: micros(now) };
        self.store.record_decisions(&[row], &audit).await?;
        Ok(decision)
    }
}
