//! What the store keeps for secure messages and the patient portal, and the trait of their
//! operations: each write is one transaction, audited; policy (codes, expiry rules, what a
//! page shows) stays with the caller.

use std::future::Future;

use crate::{AuditContext, OutboxRow, StoreResult};

/// A secure message: subject and body sealed with the patient's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureMessageRow {
    /// `sm_…`.
    pub id: String,
    /// The patient.
    pub external_id: String,
    /// Subject and body as JSON, sealed with the patient's data key bound to the id.
    pub sealed: Vec<u8>,
    /// A coded category (`results`, `billing`, …), never free text.
    pub category: Option<String>,
    /// When it was created (µs).
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
    /// When it stops being shown (µs).
    pub expires_at: i64,
    /// The outbox message that tells the patient it is waiting.
    pub nudge_id: Option<String>,
    /// SHA-256 of the link's secret.
    pub link_hash: Vec<u8>,
    /// When the link stops opening (µs).
    pub link_expires_at: i64,
    /// When the link was used (it opens once).
    pub link_used_at: Option<i64>,
    /// When the patient first read it.
    pub read_at: Option<i64>,
}

/// A one-time code's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRow {
    /// `ver_…`: the code is derived from it with a key the database never holds.
    pub id: String,
    /// The patient.
    pub external_id: String,
    /// The secure message the visit is for, if any.
    pub secure_message_id: Option<String>,
    /// The channel the code went by.
    pub channel: String,
    /// When (µs).
    pub created_at: i64,
    /// When the code stops working (µs).
    pub expires_at: i64,
    /// Wrong codes tried so far.
    pub attempts: i64,
    /// `pending`, `verified` or `locked`.
    pub state: String,
}

/// A portal session, kept as a SHA-256 of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the cookie's value.
    pub id_hash: Vec<u8>,
    /// The patient.
    pub external_id: String,
    /// Set while the session waits for a one-time code (it is not signed in until then).
    pub verification_id: Option<String>,
    /// When (µs).
    pub created_at: i64,
    /// The last request (µs), for the idle timeout.
    pub last_seen_at: i64,
    /// The absolute end (µs).
    pub expires_at: i64,
    /// When it was ended (sign-out, or replaced on verification).
    pub ended_at: Option<i64>,
}

/// A one-time code as typed, checked against a verification.
#[derive(Debug, Clone, Copy)]
pub struct CodeAttempt<'a> {
    /// The verification.
    pub verification_id: &'a str,
    /// Whether the code typed was right (the caller derives and compares it).
    pub right: bool,
    /// Wrong codes before it is over.
    pub max_attempts: i64,
    /// Now (µs).
    pub now: i64,
    /// The hash of the waiting session's cookie.
    pub waiting: &'a [u8],
}

/// How checking a one-time code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code was right: the waiting session ended and the new one began.
    Verified,
    /// Wrong; this many tries are left.
    Wrong { left: i64 },
    /// Wrong too often, expired or already used: the verification is over.
    Over,
}

/// Secure messages, portal accounts, verifications, sessions and the sign-in throttle.
pub trait PortalStore {
    /// Stores a secure message and queues its nudge, in one transaction (audited).
    fn create_secure_message(&self, message: &SecureMessageRow, nudge: Option<&OutboxRow>, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// One secure message.
    fn secure_message(&self, id: &str) -> impl Future<Output = StoreResult<Option<SecureMessageRow>>> + Send;
    /// The secure message a link's hash belongs to.
    fn secure_message_by_link(&self, link_hash: &[u8]) -> impl Future<Output = StoreResult<Option<SecureMessageRow>>> + Send;
    /// A patient's secure messages, newest first.
    fn secure_messages_of(&self, external_id: &str) -> impl Future<Output = StoreResult<Vec<SecureMessageRow>>> + Send;
    /// Uses a secure message's link once: when it was unused and open at `now`, marks it used
    /// and stores the verification, the session that waits for its code and the message that
    /// carries the code, in one transaction (audited). False when it was used already.
    fn use_link(&self, secure_message_id: &str, now: i64, verification: &VerificationRow, session: &SessionRow, code: &OutboxRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Replaces a waiting session's verification with a new one and queues its code, when the
    /// old one is still pending and fewer than `max_codes` were sent for the same secure
    /// message (audited). False otherwise.
    fn resend_code(&self, waiting: &[u8], old: &str, new: &VerificationRow, code: &OutboxRow, max_codes: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Deletes what the portal and the console no longer need: patients' and staff sessions and
    /// verifications over for a day, throttle counts whose window ended. Answers the rows removed.
    fn purge_portal(&self, now: i64, window_start_before: i64) -> impl Future<Output = StoreResult<u64>> + Send;
    /// One verification.
    fn verification(&self, id: &str) -> impl Future<Output = StoreResult<Option<VerificationRow>>> + Send;
    /// Checks a code: right ends the waiting session and starts `signed_in`; wrong counts a
    /// try and locks the verification at `max_attempts` (audited either way).
    fn check_code(&self, attempt: CodeAttempt<'_>, signed_in: &SessionRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<CodeCheck>> + Send;
    /// A session by the hash of its cookie.
    fn session(&self, id_hash: &[u8]) -> impl Future<Output = StoreResult<Option<SessionRow>>> + Send;
    /// Moves a session's last-seen time forward.
    fn touch_session(&self, id_hash: &[u8], now: i64) -> impl Future<Output = StoreResult<()>> + Send;
    /// Starts a session (audited as a sign-in).
    fn start_session(&self, session: &SessionRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends a session (audited).
    fn end_session(&self, id_hash: &[u8], now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// A patient's password hash.
    fn portal_password(&self, external_id: &str) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Sets a patient's password hash (audited).
    fn set_portal_password(&self, external_id: &str, hash: &str, now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// Counts a sign-in attempt under a key and answers the attempts in the window (one
    /// statement); a window that began before `since` starts again.
    fn count_sign_in_attempt(&self, key_hash: &[u8], now: i64, since: i64) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Ends every live session of a patient but one (after a password change).
    fn end_other_sessions(&self, external_id: &str, keep: &[u8], now: i64) -> impl Future<Output = StoreResult<()>> + Send;
    /// Forgets the failures under a key (after a sign-in that worked).
    fn clear_sign_in_failures(&self, key_hash: &[u8]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records that the patient viewed a secure message (audited every time; read once).
    fn record_secure_message_view(&self, id: &str, now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
}
