//! Rows as the store reads and writes them. Identifiers arrive here already encrypted.

use sotto_core::audit::AuditEvent;

/// A patient profile as stored: identifiers sealed with the patient's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRecord {
    /// The source system's opaque id.
    pub external_id: String,
    /// The master key version that wrapped `wrapped_key`.
    pub key_version: Option<i64>,
    /// The patient's data key, wrapped by the master key.
    pub wrapped_key: Option<Vec<u8>>,
    /// The identifiers (email, phone, names, push tokens) sealed with the data key.
    pub identifiers: Option<Vec<u8>>,
    /// Keyed blind index of the email address.
    pub email_index: Option<Vec<u8>>,
    /// Keyed blind index of the phone number.
    pub phone_index: Option<Vec<u8>>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Language tag.
    pub language: Option<String>,
    /// Preferred channel.
    pub preferred_channel: Option<String>,
    /// Other traits as a JSON object.
    pub traits: String,
    /// Creation time, microseconds since the epoch.
    pub created_at: i64,
    /// Last change, microseconds since the epoch.
    pub updated_at: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// The idempotency key.
    pub message_id: String,
    /// The patient.
    pub external_id: String,
    /// The declared event name.
    pub name: String,
    /// Checked properties as a JSON object.
    pub properties: String,
    /// When it happened.
    pub occurred_at: i64,
    /// When Sotto received it.
    pub received_at: i64,
}

/// A stored API key (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id, shown in listings and audit entries.
    pub id: String,
    /// A label for people.
    pub name: String,
    /// Space-separated scope names.
    pub scopes: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry, if any.
    pub expires_at: Option<i64>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<i64>,
}

/// Who is acting and in which request; the store stamps audit entries with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// The principal.
    pub actor: String,
    /// The request id.
    pub request_id: String,
    /// The client address.
    pub source_ip: Option<String>,
    /// The time of the action, microseconds since the epoch.
    pub at_micros: i64,
}

impl AuditContext {
    /// An audit event in this context.
    pub fn event(&self, action: &str, object: String, outcome: &str) -> AuditEvent {
        AuditEvent {
            at_micros: self.at_micros,
            actor: self.actor.clone(),
            action: action.to_owned(),
            object,
            outcome: outcome.to_owned(),
            request_id: self.request_id.clone(),
            source_ip: self.source_ip.clone(),
        }
    }
}

/// One write of an ingestion request, already through the firewall.
#[derive(Debug, Clone)]
pub enum IngestWrite<C> {
    /// Merge changes into a profile.
    Identify {
        /// Idempotency key.
        message_id: String,
        /// The patient.
        external_id: String,
        /// The checked changes, merged by the caller's [`ProfileMerger`].
        changes: C,
    },
    /// Record an event.
    Track(EventRecord),
}

/// One ingestion request's writes, applied all or nothing within a group commit.
#[derive(Debug, Clone)]
pub struct IngestJob<C> {
    /// The accepted writes, in order.
    pub writes: Vec<IngestWrite<C>>,
    /// Who made the request.
    pub ctx: AuditContext,
    /// Audit entries for the request's refused items.
    pub extra_audit: Vec<AuditEvent>,
}

/// How one write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored.
    Accepted,
    /// Its message id was seen before; nothing changed.
    Duplicate,
}

/// Merges profile changes into a stored profile inside the write transaction, so that
/// concurrent `identify` calls for one patient never lose an update.
pub trait ProfileMerger<C>: Sync {
    /// Returns the new record; an error aborts the whole transaction.
    fn merge(&self, external_id: &str, existing: Option<&PatientRecord>, changes: &C, now_micros: i64) -> Result<PatientRecord, String>;
}
