//! Rows of the consent ledger, authorizations, suppressions, sends and gate decisions.

/// One consent ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// The patient.
    pub external_id: String,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// The topic, or `None` for the channel as a whole.
    pub topic: Option<String>,
    /// `opted_in` or `opted_out`.
    pub status: String,
    /// `express` or `express_written`.
    pub kind: String,
    /// Where it came from.
    pub source: String,
    /// When the patient gave it.
    pub captured_at: i64,
    /// Evidence as a JSON object.
    pub evidence: String,
    /// When Sotto recorded it.
    pub recorded_at: i64,
    /// Who recorded it.
    pub actor: String,
}

/// A stored authorization; the signed document itself is sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRow {
    /// Its id.
    pub id: String,
    /// The patient.
    pub external_id: String,
    /// The form text version the patient saw.
    pub form_version: String,
    /// When it was signed.
    pub signed_at: i64,
    /// Expiry instant, if given as one.
    pub expires_at: Option<i64>,
    /// Expiry date (`YYYY-MM-DD`), if given as one.
    pub expires_on: Option<String>,
    /// Expiry event, if given as one.
    pub expiration_event: Option<String>,
    /// Whether it states that remuneration is involved.
    pub remuneration_involved: bool,
    /// The whole signed authorization, sealed with the patient's data key.
    pub document: Vec<u8>,
    /// When it was recorded.
    pub created_at: i64,
    /// Not deletable before this instant.
    pub retain_until: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// How a revocation request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Revoked now.
    Revoked,
    /// It had been revoked before; the first revocation stands.
    AlreadyRevoked,
    /// No such authorization for this patient.
    NotFound,
}

/// A message that went out, for frequency caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRow {
    /// The patient's opaque reference (`pt_…`), never the external id.
    pub patient: String,
    /// The channel.
    pub channel: String,
    /// The purpose.
    pub purpose: String,
    /// When.
    pub sent_at: i64,
}

/// One gate decision, with reason codes and no PHI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    /// When.
    pub decided_at: i64,
    /// The patient's opaque reference (`pt_…`), never the external id.
    pub patient: String,
    /// The channel.
    pub channel: String,
    /// The purpose.
    pub purpose: String,
    /// `allow`, `defer` or `deny`.
    pub decision: String,
    /// Space-separated reason codes.
    pub reasons: String,
}

/// A stored segment definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRow {
    /// Its id.
    pub id: String,
    /// Its name (checked for health terms).
    pub name: String,
    /// The definition as written.
    pub definition: String,
    /// The parsed expression as JSON.
    pub expr: String,
    /// Whether it uses operational or coded fields or health events.
    pub touches_phi: bool,
    /// When it was created.
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
}

/// What the segment engine needs of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileFacts {
    /// The patient.
    pub external_id: String,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Language tag.
    pub language: Option<String>,
    /// Preferred channel.
    pub preferred_channel: Option<String>,
    /// Other traits as a JSON object.
    pub traits: String,
}
