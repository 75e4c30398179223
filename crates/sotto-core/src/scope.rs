//! API key scopes: what a key may do. Every route names the one scope it needs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A permission carried by an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// `identify`, `track` and `batch`.
    #[serde(rename = "events:write")]
    EventsWrite,
    /// The masked patient view.
    #[serde(rename = "patients:read")]
    PatientsRead,
    /// The unmasked patient view (audited).
    #[serde(rename = "patients:read_phi")]
    PatientsReadPhi,
    /// Reading the data dictionary.
    #[serde(rename = "dictionary:read")]
    DictionaryRead,
    /// Declaring dictionary fields.
    #[serde(rename = "dictionary:write")]
    DictionaryWrite,
    /// Reading the audit trail.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Inbound provider webhooks.
    #[serde(rename = "inbound:write")]
    InboundWrite,
    /// Reading code meanings from the vault (audited).
    #[serde(rename = "vault:read")]
    VaultRead,
    /// Writing code meanings to the vault.
    #[serde(rename = "vault:write")]
    VaultWrite,
    /// Reading segments and their suppressed sizes.
    #[serde(rename = "segments:read")]
    SegmentsRead,
    /// Creating segments.
    #[serde(rename = "segments:write")]
    SegmentsWrite,
    /// Listing segment members (audited).
    #[serde(rename = "segments:members")]
    SegmentsMembers,
    /// Reading consent, authorizations and eligibility (audited).
    #[serde(rename = "consent:read")]
    ConsentRead,
    /// Recording consent and authorizations, issuing unsubscribe links.
    #[serde(rename = "consent:write")]
    ConsentWrite,
    /// Linting message text.
    #[serde(rename = "content:lint")]
    ContentLint,
    /// Compliance decisions such as template approval.
    #[serde(rename = "compliance")]
    Compliance,
    /// Reading and previewing templates.
    #[serde(rename = "templates:read")]
    TemplatesRead,
    /// Writing template versions and submitting them for review.
    #[serde(rename = "templates:write")]
    TemplatesWrite,
    /// Listing and revoking API keys.
    #[serde(rename = "keys:manage")]
    KeysManage,
    /// Queueing transactional messages.
    #[serde(rename = "messages:send")]
    MessagesSend,
    /// Reading a message's status (never its body or address).
    #[serde(rename = "messages:read")]
    MessagesRead,
    /// Pausing and resuming sending, requeueing dead or uncertain messages.
    #[serde(rename = "dispatch:manage")]
    DispatchManage,
    /// Reading campaigns, their checklists, preflights, progress and reports.
    #[serde(rename = "campaigns:read")]
    CampaignsRead,
    /// Creating, editing, launching, pausing and cancelling campaigns.
    #[serde(rename = "campaigns:write")]
    CampaignsWrite,
    /// Reading journeys, their run counts and an appointment's timeline.
    #[serde(rename = "journeys:read")]
    JourneysRead,
    /// Writing journey versions, submitting, pausing, resuming and archiving them.
    #[serde(rename = "journeys:write")]
    JourneysWrite,
    /// Reading the Prometheus metrics (counts and latencies, no PHI).
    #[serde(rename = "metrics:read")]
    MetricsRead,
    /// Storing a secure message (its subject and body may carry PHI) and nudging the patient.
    #[serde(rename = "secure_messages:write")]
    SecureMessagesWrite,
    /// Reading a secure message's status (never its content).
    #[serde(rename = "secure_messages:read")]
    SecureMessagesRead,
    /// Making, listing and turning off webhook subscriptions, and reading their deliveries.
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
    /// Inviting staff, changing their roles, disabling them, and reviewing break-glass use.
    #[serde(rename = "users:manage")]
    UsersManage,
    /// A sandbox key: every message it queues is gated exactly as in production and then
    /// kept by the development sink, never delivered. Not part of [`Scope::ALL`]: it is a
    /// key's nature, given only when asked for.
    #[serde(rename = "sandbox")]
    Sandbox,
}

impl Scope {
    /// Every scope, for the demo key and for help texts.
    pub const ALL: [Scope; 31] = [
        Scope::EventsWrite,
        Scope::PatientsRead,
        Scope::PatientsReadPhi,
        Scope::DictionaryRead,
        Scope::DictionaryWrite,
        Scope::AuditRead,
        Scope::InboundWrite,
        Scope::VaultRead,
        Scope::VaultWrite,
        Scope::SegmentsRead,
        Scope::SegmentsWrite,
        Scope::SegmentsMembers,
        Scope::ConsentRead,
        Scope::ConsentWrite,
        Scope::ContentLint,
        Scope::Compliance,
        Scope::TemplatesRead,
        Scope::TemplatesWrite,
        Scope::KeysManage,
        Scope::MessagesSend,
        Scope::MessagesRead,
        Scope::DispatchManage,
        Scope::CampaignsRead,
        Scope::CampaignsWrite,
        Scope::JourneysRead,
        Scope::JourneysWrite,
        Scope::MetricsRead,
        Scope::SecureMessagesWrite,
        Scope::SecureMessagesRead,
        Scope::WebhooksManage,
        Scope::UsersManage,
    ];

    /// The wire name, such as `events:write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::EventsWrite => "events:write",
            Scope::PatientsRead => "patients:read",
            Scope::PatientsReadPhi => "patients:read_phi",
            Scope::DictionaryRead => "dictionary:read",
            Scope::DictionaryWrite => "dictionary:write",
            Scope::AuditRead => "audit:read",
            Scope::InboundWrite => "inbound:write",
            Scope::VaultRead => "vault:read",
            Scope::VaultWrite => "vault:write",
            Scope::SegmentsRead => "segments:read",
            Scope::SegmentsWrite => "segments:write",
            Scope::SegmentsMembers => "segments:members",
            Scope::ConsentRead => "consent:read",
            Scope::ConsentWrite => "consent:write",
            Scope::ContentLint => "content:lint",
            Scope::Compliance => "compliance",
            Scope::TemplatesRead => "templates:read",
            Scope::TemplatesWrite => "templates:write",
            Scope::KeysManage => "keys:manage",
            Scope::MessagesSend => "messages:send",
            Scope::MessagesRead => "messages:read",
            Scope::DispatchManage => "dispatch:manage",
            Scope::CampaignsRead => "campaigns:read",
            Scope::CampaignsWrite => "campaigns:write",
            Scope::JourneysRead => "journeys:read",
            Scope::JourneysWrite => "journeys:write",
            Scope::MetricsRead => "metrics:read",
            Scope::SecureMessagesWrite => "secure_messages:write",
            Scope::SecureMessagesRead => "secure_messages:read",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::UsersManage => "users:manage",
            Scope::Sandbox => "sandbox",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Result<Self, UnknownScope> {
        Self::ALL.into_iter().chain([Scope::Sandbox]).find(|s| s.as_str() == raw).ok_or_else(|| UnknownScope(raw.to_owned()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}; known scopes: {known}", known = Scope::ALL.map(Scope::as_str).join(", "))]
pub struct UnknownScope(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_wire_name() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Ok(scope));
            assert_eq!(serde_json::to_value(scope).expect("json"), scope.as_str());
        }
        assert!(Scope::parse("root").is_err());
    }
}
