//! What the store keeps for staff: accounts, sessions, break-glass grants and API clients, and
//! the trait of their operations. Each write that matters is one transaction with the audit
//! events the caller built; policy (passwords, codes, roles) stays with the caller.

use std::future::Future;

use crate::{AuditEvent, StoreResult};

/// A staff account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffUserRow {
    /// `usr_…`.
    pub id: String,
    /// The sign-in name, lower case.
    pub email: String,
    /// How pages name the person.
    pub display_name: String,
    /// The role's name.
    pub role: String,
    /// Argon2id, once the account is set up.
    pub password_hash: Option<String>,
    /// The TOTP secret, sealed with a key the database never holds.
    pub totp_sealed: Option<Vec<u8>>,
    /// The last TOTP step accepted (each is accepted once).
    pub totp_last_step: i64,
    /// SHA-256 of an open invitation's secret.
    pub invite_hash: Option<Vec<u8>>,
    /// When the invitation stops working (µs).
    pub invite_expires_at: Option<i64>,
    /// When (µs).
    pub created_at: i64,
    /// Who invited or created it.
    pub created_by: String,
    /// When it was disabled.
    pub disabled_at: Option<i64>,
    /// The last sign-in that worked (µs).
    pub last_sign_in_at: Option<i64>,
    /// The last refused attempt (µs).
    pub last_failure_at: Option<i64>,
}

/// A staff session, kept as a SHA-256 of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSessionRow {
    /// SHA-256 of the cookie's value.
    pub id_hash: Vec<u8>,
    /// The account.
    pub user_id: String,
    /// False while it waits for the TOTP code (it is not signed in until then).
    pub mfa_done: bool,
    /// When (µs).
    pub created_at: i64,
    /// The last request (µs), for the idle timeout.
    pub last_seen_at: i64,
    /// The absolute end (µs).
    pub expires_at: i64,
    /// When it was ended.
    pub ended_at: Option<i64>,
    /// The last TOTP code entered in it (at sign-in, or again before a sensitive action).
    pub reauth_at: Option<i64>,
}

/// A break-glass grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassRow {
    /// `bg_…`.
    pub id: String,
    /// Who asked.
    pub user_id: String,
    /// The stated reason, sealed (it may name a patient).
    pub sealed_reason: Vec<u8>,
    /// When it began (µs).
    pub started_at: i64,
    /// When it ends by itself (µs).
    pub ends_at: i64,
    /// When it was ended early.
    pub ended_at: Option<i64>,
    /// Who reviewed its use afterwards.
    pub reviewed_by: Option<String>,
    /// When.
    pub reviewed_at: Option<i64>,
}

/// An API client (OAuth 2.0 client credentials and signed requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClientRow {
    /// `cli_…`, the client id.
    pub id: String,
    /// A label for people.
    pub name: String,
    /// Space-separated scopes.
    pub scopes: String,
    /// The secret, sealed (signed requests need it to check signatures).
    pub sealed_secret: Vec<u8>,
    /// When (µs).
    pub created_at: i64,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// The last request it authenticated (µs).
    pub last_used_at: Option<i64>,
}

/// A change to a staff account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffChange<'a> {
    /// A new role.
    Role(&'a str),
    /// Disabled.
    Disable,
}

/// Staff accounts, sessions, break-glass and API clients.
pub trait StaffStore {
    /// Creates an account; false when the email is taken.
    fn create_staff_user(&self, row: &StaffUserRow, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One account by id.
    fn staff_user(&self, id: &str) -> impl Future<Output = StoreResult<Option<StaffUserRow>>> + Send;
    /// One account by its sign-in name.
    fn staff_user_by_email(&self, email: &str) -> impl Future<Output = StoreResult<Option<StaffUserRow>>> + Send;
    /// The account an invitation's hash belongs to.
    fn staff_user_by_invite(&self, invite_hash: &[u8]) -> impl Future<Output = StoreResult<Option<StaffUserRow>>> + Send;
    /// Every account, by email.
    fn staff_users(&self) -> impl Future<Output = StoreResult<Vec<StaffUserRow>>> + Send;
    /// Issues a new invitation to an account never set up (its old one expired or was lost),
    /// with the role and name given. False when the account was set up or is disabled.
    fn reissue_invite(&self, id: &str, role: &str, display_name: &str, invite_hash: &[u8], expires_at: i64, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Sets up an invited account once: password, TOTP secret and the step of the code that
    /// proved it, while the invitation is open at `now`. False otherwise.
    fn accept_invite(&self, invite_hash: &[u8], password_hash: &str, totp_sealed: &[u8], step: i64, now: i64, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Changes a role or disables an account, ends all its sessions in the same transaction,
    /// and queues an `access.changed` webhook. False for an unknown or disabled account.
    fn change_staff(&self, id: &str, change: StaffChange<'_>, now: i64, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Accepts a TOTP step once: true when it is later than the last accepted one.
    fn take_totp_step(&self, id: &str, step: i64) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Notes a sign-in that worked, or a refused attempt, on the account (bookkeeping).
    fn note_staff_sign_in(&self, id: &str, worked: bool, now: i64) -> impl Future<Output = StoreResult<()>> + Send;
    /// Starts a session (with its audit events).
    fn start_staff_session(&self, session: &StaffSessionRow, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends a waiting session and starts the signed-in one, once. False when it was over.
    fn complete_staff_mfa(&self, waiting: &[u8], signed_in: &StaffSessionRow, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records a TOTP code entered again in a live session (audited).
    fn reauthenticate_staff(&self, id_hash: &[u8], at: i64, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// A session by the hash of its cookie.
    fn staff_session(&self, id_hash: &[u8]) -> impl Future<Output = StoreResult<Option<StaffSessionRow>>> + Send;
    /// Moves a session's last-seen time forward.
    fn touch_staff_session(&self, id_hash: &[u8], now: i64) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends a session.
    fn end_staff_session(&self, id_hash: &[u8], now: i64, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Starts a break-glass grant and queues its `access.break_glass` webhook.
    fn start_break_glass(&self, row: &BreakGlassRow, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<()>> + Send;
    /// An account's grant live at `now`.
    fn live_break_glass(&self, user_id: &str, now: i64) -> impl Future<Output = StoreResult<Option<BreakGlassRow>>> + Send;
    /// The latest grants, newest first.
    fn break_glass_grants(&self, limit: i64) -> impl Future<Output = StoreResult<Vec<BreakGlassRow>>> + Send;
    /// Records the review of a grant once it is over. False when unknown, live or reviewed.
    fn review_break_glass(&self, id: &str, by: &str, now: i64, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Creates an API client.
    fn create_api_client(&self, row: &ApiClientRow, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<()>> + Send;
    /// One API client.
    fn api_client(&self, id: &str) -> impl Future<Output = StoreResult<Option<ApiClientRow>>> + Send;
    /// Every API client, newest first.
    fn api_clients(&self) -> impl Future<Output = StoreResult<Vec<ApiClientRow>>> + Send;
    /// Revokes a client at once. False when unknown or revoked.
    fn revoke_api_client(&self, id: &str, now: i64, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records a signed request's signature until `expires_at`, forgetting expired ones; false
    /// when it was seen already (by any process sharing the database).
    fn record_signature(&self, signature_hash: &[u8], expires_at: i64, now: i64) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Notes a client's use (bookkeeping, at most once a minute per client matters).
    fn touch_api_client(&self, id: &str, now: i64) -> impl Future<Output = StoreResult<()>> + Send;
}
