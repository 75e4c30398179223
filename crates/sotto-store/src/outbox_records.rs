//! Rows of the outbox, the gate's inputs read for a claimed batch, and what dispatch decided
//! and how each hand-off ended. Nothing here holds a rendered body or an address.

use std::collections::BTreeMap;

use crate::{AuthorizationRow, ConsentRow, PatientRecord, SendRow};

/// One message intent and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// `msg_` and hex digits, derived from the idempotency key.
    pub id: String,
    /// The caller's key, scoped to the caller (`key:<id>/…`).
    pub idempotency_key: String,
    /// `transactional`, `campaign` or `journey`.
    pub source: String,
    /// The patient.
    pub external_id: String,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// The declared purpose.
    pub purpose: String,
    /// The preference topic.
    pub topic: Option<String>,
    /// The template.
    pub template_id: String,
    /// The approved version dispatch chose.
    pub template_version: Option<i64>,
    /// Whether content or targeting uses PHI.
    pub uses_phi: bool,
    /// Urgent care messages pass frequency caps (never consent, suppression or the linter).
    pub urgent: bool,
    /// Event properties for the template, checked by the firewall, as JSON.
    pub context: String,
    /// queued, deferred, sending, sent, delivered, bounced, failed, denied, dead, uncertain.
    pub state: String,
    /// `allow`, `defer` or `deny` once decided.
    pub decision: Option<String>,
    /// Space-separated reason codes.
    pub reasons: String,
    /// Hand-offs tried.
    pub attempts: i64,
    /// Not sent before this instant.
    pub not_before: i64,
    /// When a worker may take it next.
    pub next_attempt_at: i64,
    /// The worker holding it.
    pub claimed_by: Option<String>,
    /// Until when that worker holds it.
    pub lease_until: Option<i64>,
    /// The provider that took it.
    pub provider: Option<String>,
    /// The provider's id for it.
    pub provider_message_id: Option<String>,
    /// The last error's stable code.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// When a provider accepted it.
    pub sent_at: Option<i64>,
    /// The campaign it belongs to.
    pub campaign_id: Option<String>,
    /// The journey version and step that sent it (`jrn_…@3/step`).
    pub journey_ref: Option<String>,
}

impl OutboxRow {
    /// A new transactional message `id` for `external_id`, queued at `now` to go from `now`,
    /// assuming PHI; the caller fills in the rest.
    pub fn queued(id: String, external_id: String, now: i64) -> Self {
        Self {
            idempotency_key: id.clone(),
            id,
            source: "transactional".into(),
            external_id,
            channel: String::new(),
            purpose: String::new(),
            topic: None,
            template_id: String::new(),
            template_version: None,
            uses_phi: true,
            urgent: false,
            context: "{}".into(),
            state: "queued".into(),
            decision: None,
            reasons: String::new(),
            attempts: 0,
            not_before: now,
            next_attempt_at: now,
            claimed_by: None,
            lease_until: None,
            provider: None,
            provider_message_id: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            sent_at: None,
            campaign_id: None,
            journey_ref: None,
        }
    }
}

/// What the gate needs about one patient, read in one pass for a whole batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateInputs {
    /// The profile (identifiers sealed).
    pub patient: PatientRecord,
    /// The consent ledger, oldest first.
    pub consents: Vec<ConsentRow>,
    /// The latest keyword from the patient's number: status and when.
    pub number_consent: Option<(String, i64)>,
    /// Authorizations with their revocations.
    pub authorizations: Vec<AuthorizationRow>,
    /// Suppressions as (channel, reason).
    pub suppressions: Vec<(String, String)>,
    /// Sends since the horizon the caller asked for.
    pub sends: Vec<SendRow>,
}

/// The gate's verdict on one claimed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Send now with this approved version; the cap slot is taken in the same transaction.
    Allow {
        /// The approved version to render.
        template_version: i64,
    },
    /// Wait until `until`.
    Defer {
        /// When to decide again.
        until: i64,
        /// Reason codes.
        reasons: String,
    },
    /// Not due yet (a campaign's local send time for this patient): back to the queue until
    /// `until`, no decision recorded.
    Wait {
        /// When to claim it again.
        until: i64,
    },
    /// Never send.
    Deny {
        /// Reason codes.
        reasons: String,
    },
}

/// Which due messages a claim takes.
#[derive(Debug, Clone, Copy)]
pub enum ClaimScope<'a> {
    /// Every due message but those of the listed campaigns (throttled ones, claimed apart).
    AllExcept(&'a [String]),
    /// Only the due messages of one launched campaign.
    Campaign(&'a str),
}

/// Decides a claimed batch inside the transaction that records the decisions, from the state
/// read in that transaction. Policy lives with the caller; the store only reads and writes.
pub trait OutboxDecider: Sync {
    /// One verdict per claim, in order; a patient missing from `inputs` has no profile.
    fn decide(&self, claims: &[OutboxRow], inputs: &BTreeMap<String, GateInputs>) -> Vec<Verdict>;
}

/// How a hand-off to a provider ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The provider accepted it.
    Sent {
        /// The provider's name.
        provider: String,
        /// The provider's id for it.
        provider_message_id: String,
    },
    /// A transient error: try again at `at` (the cap slot is released).
    Retry {
        /// When.
        at: i64,
        /// Stable error code.
        error: String,
    },
    /// A permanent error (the cap slot is released).
    Failed {
        /// Stable error code.
        error: String,
    },
    /// Too many attempts: kept for an operator to requeue.
    Dead {
        /// Stable error code.
        error: String,
    },
    /// The provider may have taken it (a timeout): shown to operators, never retried.
    Uncertain {
        /// Stable error code.
        error: String,
    },
    /// The rendering was refused (the linter): never sent.
    Refused {
        /// Reason codes.
        reasons: String,
    },
}

impl Finish {
    /// The outbox state this ending leaves the message in.
    pub fn state(&self) -> &'static str {
        match self {
            Finish::Sent { .. } => "sent",
            Finish::Retry { .. } => "queued",
            Finish::Failed { .. } => "failed",
            Finish::Dead { .. } => "dead",
            Finish::Uncertain { .. } => "uncertain",
            Finish::Refused { .. } => "denied",
        }
    }
}

/// Whether sending is paused, why and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchControl {
    /// Whether sending is paused.
    pub paused: bool,
    /// Why (empty when running).
    pub reason: String,
    /// When it last changed.
    pub changed_at: i64,
}
