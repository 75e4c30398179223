//! Audit entries: who did what to which object, when, with what outcome. Never PHI values.
//! The canonical encoding here is what the chain hashes.

use serde::Serialize;

/// Stable action codes.
pub mod action {
    /// An `identify` call changed a profile.
    pub const PATIENT_IDENTIFY: &str = "patient.identify";
    /// A `track` call recorded an event.
    pub const EVENT_TRACK: &str = "event.track";
    /// The masked patient view was read.
    pub const PATIENT_READ: &str = "patient.read";
    /// The unmasked patient view (PHI) was read.
    pub const PATIENT_READ_PHI: &str = "patient.read_phi";
    /// A dictionary field was declared.
    pub const DICTIONARY_DECLARE: &str = "dictionary.declare";
    /// An API key was created.
    pub const API_KEY_CREATE: &str = "api_key.create";
    /// A request was refused for a missing scope.
    pub const ACCESS_DENIED: &str = "access.denied";
    /// A consent record was appended to the ledger.
    pub const CONSENT_RECORD: &str = "consent.record";
    /// An authorization form version was stored.
    pub const AUTHORIZATION_FORM_CREATE: &str = "authorization_form.create";
    /// A HIPAA authorization was recorded.
    pub const AUTHORIZATION_CREATE: &str = "authorization.create";
    /// A HIPAA authorization was revoked.
    pub const AUTHORIZATION_REVOKE: &str = "authorization.revoke";
    /// A channel was suppressed.
    pub const SUPPRESSION_ADD: &str = "suppression.add";
    /// Consent, authorization and eligibility state was read.
    pub const CONSENT_READ: &str = "consent.read";
    /// An inbound SMS was handled.
    pub const SMS_INBOUND: &str = "sms.inbound";
    /// An unsubscribe link was issued.
    pub const UNSUBSCRIBE_LINK: &str = "unsubscribe.link";
    /// A code meaning was written to the vault.
    pub const VAULT_WRITE: &str = "vault.write";
    /// A code meaning was read from the vault.
    pub const VAULT_READ: &str = "vault.read";
    /// A segment was created.
    pub const SEGMENT_CREATE: &str = "segment.create";
    /// A segment's members were listed.
    pub const SEGMENT_MEMBERS: &str = "segment.members";
    /// The audit trail was read.
    pub const AUDIT_READ: &str = "audit.read";
    /// The demo clinic was generated.
    pub const DEMO_SEED: &str = "demo.seed";
    /// A template was created with its first version.
    pub const TEMPLATE_CREATE: &str = "template.create";
    /// A new version of a template was written.
    pub const TEMPLATE_VERSION: &str = "template.version";
    /// A template version was submitted for review.
    pub const TEMPLATE_SUBMIT: &str = "template.submit";
    /// A template version was approved.
    pub const TEMPLATE_APPROVE: &str = "template.approve";
    /// A template version was rejected.
    pub const TEMPLATE_REJECT: &str = "template.reject";
    /// A template was rendered for one patient (a preview with a real profile, or a send).
    pub const TEMPLATE_RENDER: &str = "template.render";
    /// An API key was revoked.
    pub const API_KEY_REVOKE: &str = "api_key.revoke";
    /// The send gate decided on a message (the outcome carries the decision).
    pub const GATE_DECIDE: &str = "gate.decide";
    /// A message was handed to a provider.
    pub const MESSAGE_SEND: &str = "message.send";
    /// A message was queued in the outbox.
    pub const MESSAGE_QUEUE: &str = "message.queue";
    /// A hand-off to a provider ended (failed, retried, dead, uncertain, refused).
    pub const MESSAGE_OUTCOME: &str = "message.outcome";
    /// An operator moved a message back to the queue.
    pub const MESSAGE_REQUEUE: &str = "message.requeue";
    /// Sending was paused or resumed.
    pub const DISPATCH_CONTROL: &str = "dispatch.control";
    /// A campaign was created, edited or deleted.
    pub const CAMPAIGN_WRITE: &str = "campaign.write";
    /// A campaign was approved.
    pub const CAMPAIGN_APPROVE: &str = "campaign.approve";
    /// A campaign was launched (its members queued).
    pub const CAMPAIGN_LAUNCH: &str = "campaign.launch";
    /// A campaign was paused, resumed or cancelled.
    pub const CAMPAIGN_CONTROL: &str = "campaign.control";
    /// A campaign's approved versions were sent to staff as a test.
    pub const CAMPAIGN_TEST: &str = "campaign.test";
    /// A patient clicked a tracked link of a message, or unsubscribed through it.
    pub const MESSAGE_ENGAGEMENT: &str = "message.engagement";
    /// A journey version was written.
    pub const JOURNEY_WRITE: &str = "journey.write";
    /// A journey version was approved or reviewed.
    pub const JOURNEY_APPROVE: &str = "journey.approve";
    /// A journey was paused or resumed.
    pub const JOURNEY_CONTROL: &str = "journey.control";
    /// A run started or ended.
    pub const JOURNEY_RUN: &str = "journey.run";
    /// A journey was run dry for a real patient.
    pub const JOURNEY_SIMULATE: &str = "journey.simulate";
    /// One appointment's timeline (its runs and their messages) was read.
    pub const JOURNEY_TIMELINE: &str = "journey.timeline";
    /// A secure message was stored for a patient (its nudge is queued with it).
    pub const SECURE_MESSAGE_CREATE: &str = "secure_message.create";
    /// A secure message's status (never its content) was read.
    pub const SECURE_MESSAGE_STATUS: &str = "secure_message.status";
    /// The patient viewed a secure message in the portal.
    pub const SECURE_MESSAGE_VIEW: &str = "secure_message.view";
    /// A secure message's single-use link was used, and a one-time code sent.
    pub const PORTAL_LINK: &str = "portal.link";
    /// A one-time code was checked.
    pub const PORTAL_CODE: &str = "portal.code";
    /// A portal session began (a password or a code).
    pub const PORTAL_SIGN_IN: &str = "portal.sign_in";
    /// A portal session ended.
    pub const PORTAL_SIGN_OUT: &str = "portal.sign_out";
    /// A patient set their portal password.
    pub const PORTAL_PASSWORD: &str = "portal.password";
    /// A webhook subscription was made or turned off.
    pub const WEBHOOK_SUBSCRIPTION: &str = "webhook.subscription";
    /// A patient read the list of their secure messages (subjects) in the portal.
    pub const PORTAL_INBOX: &str = "portal.inbox";
    /// A patient confirmed an appointment or asked to reschedule it through its link.
    pub const PORTAL_APPOINTMENT: &str = "portal.appointment";
    /// A staff member's password checked (success waits for the second factor) or refused.
    pub const STAFF_SIGN_IN: &str = "staff.sign_in";
    /// A staff member's TOTP code checked (success signs in), or TOTP enrolled.
    pub const STAFF_MFA: &str = "staff.mfa";
    /// A staff session ended (sign-out).
    pub const STAFF_SIGN_OUT: &str = "staff.sign_out";
    /// A staff account invited, its invitation accepted, its role changed or it was disabled.
    pub const STAFF_ACCOUNT: &str = "staff.account";
    /// Break-glass access started or reviewed.
    pub const BREAK_GLASS: &str = "staff.break_glass";
    /// A segment definition sized while it was written (nothing stored).
    pub const SEGMENT_SIZE: &str = "segment.size";
    /// An API client created, revoked or issued a token.
    pub const API_CLIENT: &str = "api_client";
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was refused for lack of permission.
    Denied,
    /// It was refused by a rule (firewall, validation).
    Rejected,
    /// It repeated an earlier idempotent request and changed nothing.
    Duplicate,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Rejected => "rejected",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// One audited action, before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// When, in microseconds since the Unix epoch (UTC).
    pub at_micros: i64,
    /// The principal: `key:<id>`, `cli` or `system:<job>`.
    pub actor: String,
    /// A stable action code from [`action`].
    pub action: String,
    /// The object, as `kind:<id>`; identifiers only.
    pub object: String,
    /// How it ended; a rejection adds its rule code after a colon.
    pub outcome: String,
    /// The request id that caused it.
    pub request_id: String,
    /// The client's address, when there was one.
    pub source_ip: Option<String>,
}

impl AuditEvent {
    /// The unambiguous byte encoding hashed into the chain: each field length-prefixed.
    pub fn canonical_bytes(&self, seq: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"sotto-audit-v1");
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.at_micros.to_be_bytes());
        let ip = self.source_ip.as_deref().unwrap_or("");
        for field in [&self.actor, &self.action, &self.object, &self.outcome, &self.request_id, ip] {
            out.extend_from_slice(&(field.len() as u64).to_be_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        out
    }
}

/// An entry as stored: the event, its place in the chain and the hashes that link it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1 with no gaps.
    pub seq: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous entry's hash (zeros for the first).
    #[serde(skip)]
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    #[serde(skip)]
    pub hash: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(actor: &str, action: &str) -> AuditEvent {
        AuditEvent {
            at_micros: 1,
            actor: actor.into(),
            action: action.into(),
            object: "o".into(),
            outcome: "success".into(),
            request_id: "r".into(),
            source_ip: None,
        }
    }

    #[test]
    fn canonical_bytes_cannot_be_confused_by_moving_text_between_fields() {
        assert_ne!(event("ab", "c").canonical_bytes(1), event("a", "bc").canonical_bytes(1));
        assert_ne!(event("a", "b").canonical_bytes(1), event("a", "b").canonical_bytes(2));
    }
}
