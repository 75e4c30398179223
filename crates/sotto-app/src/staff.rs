//! Staff sign-in: Argon2id passwords, a TOTP code (each step accepted once) before a session
//! counts as signed in, sessions with an idle timeout and an absolute lifetime whose role and
//! state are read fresh on every request, throttles per account and per address that answer
//! alike whether or not an account exists, CSRF tokens bound to the cookie, and invitations
//! that set a password and enrol TOTP in one step.

use jiff::Timestamp;

use sotto_core::audit::{Outcome, action};
use sotto_core::role::{Role, check_password, with_break_glass};
use sotto_crypto::password::{decoy_hash, hash_password, verify_password};
use sotto_crypto::totp::check_totp;
use sotto_crypto::{digest, random_token};
use sotto_core::audit::AuditEvent;
use sotto_store::{AuditContext, StaffSessionRow, StaffUserRow, Store};

use crate::{App, AppError, Principal, RequestCtx, micros};

/// A live, signed-in staff session.
#[derive(Debug, Clone)]
pub struct StaffSession {
    /// The account.
    pub user_id: String,
    /// Its sign-in name.
    pub email: String,
    /// How pages name the person.
    pub display_name: String,
    /// The role, as stored now.
    pub role: Role,
    /// The cookie's value.
    pub cookie: String,
    /// When a live break-glass grant ends.
    pub break_glass_until: Option<Timestamp>,
    /// The last sign-in before this one and the last refused attempt, for the dashboard.
    pub last_sign_in: Option<Timestamp>,
    /// Whether a TOTP code was entered in this session lately enough for a sensitive action.
    pub elevated: bool,
    /// The last refused attempt.
    pub last_failure: Option<Timestamp>,
}

impl StaffSession {
    /// The principal this session acts as: the role's scopes, plus break-glass while live.
    pub fn principal(&self) -> Principal {
        let scopes = if self.break_glass_until.is_some() { with_break_glass(self.role) } else { self.role.scopes() };
        Principal { actor: format!("user:{}", self.user_id), scopes }
    }
}

/// How a password sign-in ended. Refused is the same answer whether or not an account exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffSignIn {
    /// The password was right: the cookie of a session that waits for the TOTP code.
    NeedsCode(String),
    /// Email and password do not match an account that may sign in.
    Refused,
    /// Too many attempts for this account or from this address lately.
    Throttled,
}

/// How a TOTP check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffCode {
    /// Signed in: the new session's cookie.
    Signed(String),
    /// Wrong (or a code already used); the session still waits.
    Wrong,
    /// Too many wrong codes, or the waiting session is over: sign in again.
    Over,
}

/// Who is at the edge of a console request, for the audit chain.
#[derive(Debug, Clone)]
pub struct EdgeCtx {
    /// Now, as the edge read it from its clock.
    pub now: Timestamp,
    /// The request id.
    pub request_id: String,
    /// The client address.
    pub source_ip: Option<String>,
}

impl EdgeCtx {
    pub(crate) fn as_actor(&self, actor: &str) -> AuditContext {
        AuditContext { actor: actor.to_owned(), request_id: self.request_id.clone(), source_ip: self.source_ip.clone(), at_micros: micros(self.now) }
    }

    /// The request context of a signed-in session.
    pub fn for_session(&self, session: &StaffSession) -> RequestCtx {
        RequestCtx { principal: session.principal(), request_id: self.request_id.clone(), source_ip: self.source_ip.clone(), now: self.now }
    }
}

/// The TOTP secret sealed for an account, bound to its id.
pub(crate) fn totp_aad(user_id: &str) -> Vec<u8> {
    format!("staff totp {user_id}").into_bytes()
}

pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Argon2id checks run at most this many at a time (19 MiB each).
pub(crate) fn password_checks() -> &'static tokio::sync::Semaphore {
    static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
    &CHECKS
}

/// Hashes a new password on the blocking pool.
pub(crate) async fn hash_on_pool(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    let _permit = password_checks().acquire().await.map_err(|_| AppError::Internal("password checks closed"))?;
    tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| AppError::Internal("password hashing ended abnormally"))
}

/// Checks a password against a hash (or the decoy) on the blocking pool.
async fn verify_on_pool(password: &str, stored: Option<String>) -> Result<bool, AppError> {
    let password = password.to_owned();
    let _permit = password_checks().acquire().await.map_err(|_| AppError::Internal("password checks closed"))?;
    tokio::task::spawn_blocking(move || match stored {
        Some(hash) => verify_password(&password, &hash),
        None => {
            let _ = verify_password(&password, decoy_hash());
            false
        }
    })
    .await
    .map_err(|_| AppError::Internal("password check ended abnormally"))
}

fn unix_secs(now: Timestamp) -> u64 {
    u64::try_from(now.as_second()).unwrap_or_default()
}

impl<S: Store> App<S> {
    /// The CSRF token of the console's forms shown with a cookie.
    pub fn staff_csrf(&self, cookie: &str) -> String {
        self.keyring.derived_token("sotto console csrf v1", cookie)
    }

    /// Whether a form's CSRF token belongs to the cookie it came with.
    pub fn staff_csrf_ok(&self, cookie: Option<&str>, token: Option<&str>) -> bool {
        matches!((cookie, token), (Some(c), Some(t)) if !c.is_empty() && same_secret(&self.staff_csrf(c), t))
    }

    /// Whether large campaigns need a second compliance approval (the campaign page offers it).
    pub fn second_approval_configured(&self) -> bool {
        self.settings.compliance.second_approval_above.is_some()
    }

    /// The longest break-glass grant, in minutes.
    pub fn break_glass_max_minutes(&self) -> i64 {
        self.settings.staff.break_glass_max.as_mins()
    }

    /// Where Sotto is reached, for links it shows (invitations).
    pub fn public_url(&self) -> &str {
        &self.settings.public_url
    }

    /// The console's idle timeout in minutes, for pages.
    pub fn staff_idle_minutes(&self) -> i64 {
        self.settings.staff.idle_timeout.as_mins()
    }

    fn staff_session_row(&self, cookie: &str, user_id: &str, mfa_done: bool, now: Timestamp) -> StaffSessionRow {
        let lifetime = if mfa_done { self.settings.staff.session_lifetime } else { self.settings.staff.code_window };
        let reauth_at = mfa_done.then(|| micros(now));
        StaffSessionRow { id_hash: digest(cookie), user_id: user_id.to_owned(), mfa_done, created_at: micros(now), last_seen_at: micros(now), expires_at: micros(now + lifetime), ended_at: None, reauth_at }
    }

    /// Counts an attempt under a purpose and name; true when it is over `limit`.
    async fn staff_throttled(&self, purpose: &str, name: &str, limit: i64, now: Timestamp) -> Result<bool, AppError> {
        let key = self.keyring.blind_index(purpose, name);
        let attempts = self.store.count_sign_in_attempt(&key, micros(now), micros(now - self.settings.staff.sign_in_window)).await?;
        Ok(attempts > limit)
    }

    /// Signs in with email and password. Every attempt counts first, per account name and per
    /// address; each costs one Argon2id check (a decoy for an unknown, disabled or unfinished
    /// account), so neither answer nor timing says whether an account exists.
    pub async fn staff_sign_in(&self, email: &str, password: &str, edge: &EdgeCtx) -> Result<StaffSignIn, AppError> {
        let email = email.trim().to_lowercase();
        let limit = self.settings.staff.sign_in_attempts;
        let by_name = self.staff_throttled("staff sign-in", &email, limit, edge.now).await?;
        // A clinic's staff often share one address, so it may try twenty times as often.
        let by_address = self.staff_throttled("staff sign-in address", edge.source_ip.as_deref().unwrap_or("unknown"), limit * 20, edge.now).await?;
        let object = format!("staff:sign_in/{}", self.keyring.blind_index("staff sign-in", &email).iter().take(8).map(|b| format!("{b:02x}")).collect::<String>());
        if by_name || by_address {
            self.store.append_audit(vec![edge.as_actor("staff:unknown").event(action::STAFF_SIGN_IN, object, "rejected:throttled")]).await?;
            return Ok(StaffSignIn::Throttled);
        }
        let user = self.store.staff_user_by_email(&email).await?.filter(|u| u.disabled_at.is_none() && u.totp_sealed.is_some());
        let right = verify_on_pool(password, user.as_ref().and_then(|u| u.password_hash.clone())).await?;
        let Some(user) = user.filter(|_| right) else {
            // The same write whether or not the account exists (an unknown id changes nothing).
            let known = self.store.staff_user_by_email(&email).await?.map_or_else(|| "usr_none".to_owned(), |u| u.id);
            self.store.note_staff_sign_in(&known, false, micros(edge.now)).await?;
            self.store.append_audit(vec![edge.as_actor("staff:unknown").event(action::STAFF_SIGN_IN, object, "rejected:wrong_email_or_password")]).await?;
            return Ok(StaffSignIn::Refused);
        };
        let cookie = random_token();
        let audit = edge.as_actor(&format!("user:{}", user.id)).event(action::STAFF_SIGN_IN, format!("staff:{}", user.id), "success:awaiting_code");
        self.store.start_staff_session(&self.staff_session_row(&cookie, &user.id, false, edge.now), vec![audit]).await?;
        Ok(StaffSignIn::NeedsCode(cookie))
    }

    /// Checks a code against the account's secret and takes its step once: `None` when wrong,
    /// `Some(false)` when its step was accepted before, `Some(true)` when taken now. An
    /// authenticator app keeps real time, so codes are checked against the system clock even
    /// when the development clock was moved forward (sessions follow that one).
    async fn take_code(&self, user: &StaffUserRow, code: &str) -> Result<Option<bool>, AppError> {
        let secret = user.totp_sealed.as_deref().and_then(|s| self.keyring.open(&totp_aad(&user.id), s).ok());
        match secret.and_then(|s| check_totp(s.as_slice(), code, unix_secs(Timestamp::now()))) {
            Some(step) => Ok(Some(self.store.take_totp_step(&user.id, i64::try_from(step).unwrap_or(i64::MAX)).await?)),
            None => Ok(None),
        }
    }

    /// The account a session waiting for its TOTP code belongs to.
    pub async fn staff_waiting(&self, cookie: Option<&str>, now: Timestamp) -> Result<Option<StaffUserRow>, AppError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 100) else { return Ok(None) };
        let Some(row) = self.store.staff_session(&digest(cookie)).await? else { return Ok(None) };
        if row.mfa_done || row.ended_at.is_some() || micros(now) >= row.expires_at {
            return Ok(None);
        }
        Ok(self.store.staff_user(&row.user_id).await?.filter(|u| u.disabled_at.is_none()))
    }

    /// Checks the TOTP code of a waiting session: right (and a step not used before) ends it
    /// and starts a signed-in session with a new id; five wrong codes in the window end it.
    pub async fn staff_check_code(&self, cookie: &str, code: &str, edge: &EdgeCtx) -> Result<StaffCode, AppError> {
        let Some(user) = self.staff_waiting(Some(cookie), edge.now).await? else { return Ok(StaffCode::Over) };
        let actor = edge.as_actor(&format!("user:{}", user.id));
        let object = format!("staff:{}", user.id);
        if self.staff_throttled("staff totp", &user.id, self.settings.staff.sign_in_attempts, edge.now).await? {
            self.store.end_staff_session(&digest(cookie), micros(edge.now), vec![actor.event(action::STAFF_MFA, object, "rejected:too_many_codes")]).await?;
            return Ok(StaffCode::Over);
        }
        let taken = self.take_code(&user, code).await?;
        if taken != Some(true) {
            self.store.note_staff_sign_in(&user.id, false, micros(edge.now)).await?;
            let outcome = if taken.is_some() { "rejected:code_reused" } else { "rejected:wrong_code" };
            self.store.append_audit(vec![actor.event(action::STAFF_MFA, object, outcome)]).await?;
            return Ok(StaffCode::Wrong);
        }
        let new_cookie = random_token();
        let signed_in = self.staff_session_row(&new_cookie, &user.id, true, edge.now);
        if !self.store.complete_staff_mfa(&digest(cookie), &signed_in, vec![actor.event(action::STAFF_MFA, object, Outcome::Success.as_str())]).await? {
            return Ok(StaffCode::Over);
        }
        self.store.clear_sign_in_failures(&self.keyring.blind_index("staff sign-in", &user.email)).await?;
        self.store.clear_sign_in_failures(&self.keyring.blind_index("staff totp", &user.id)).await?;
        self.store.note_staff_sign_in(&user.id, true, micros(edge.now)).await?;
        Ok(StaffCode::Signed(new_cookie))
    }

    /// The signed-in session of a cookie: not ended, idle or past its end, its account enabled,
    /// with the role as stored now and any live break-glass grant. `active` says whether the
    /// request is the person's doing (a page or a form) and so restarts the idle timeout; a
    /// page's own polling is not.
    pub async fn staff_session(&self, cookie: Option<&str>, now: Timestamp, active: bool) -> Result<Option<StaffSession>, AppError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 100) else { return Ok(None) };
        let hash = digest(cookie);
        let Some(row) = self.store.staff_session(&hash).await? else { return Ok(None) };
        let idle = micros(now) - row.last_seen_at > self.settings.staff.idle_timeout.as_micros() as i64;
        if !row.mfa_done || row.ended_at.is_some() || idle || micros(now) >= row.expires_at {
            return Ok(None);
        }
        let Some(user) = self.store.staff_user(&row.user_id).await?.filter(|u| u.disabled_at.is_none()) else { return Ok(None) };
        let Some(role) = Role::parse(&user.role) else { return Ok(None) };
        if active {
            self.store.touch_staff_session(&hash, micros(now)).await?;
        }
        let grant = self.store.live_break_glass(&user.id, micros(now)).await?;
        let at = |t: Option<i64>| t.and_then(|t| Timestamp::from_microsecond(t).ok());
        let elevated = row.reauth_at.is_some_and(|at| micros(now) - at <= self.settings.staff.reauth_window.as_micros() as i64);
        Ok(Some(StaffSession {
            elevated,
            break_glass_until: grant.and_then(|g| Timestamp::from_microsecond(g.ends_at).ok()),
            last_sign_in: at(user.last_sign_in_at),
            last_failure: at(user.last_failure_at),
            user_id: user.id,
            email: user.email,
            display_name: user.display_name,
            role,
            cookie: cookie.to_owned(),
        }))
    }

    /// Checks a TOTP code entered again before a sensitive action; right (and a step not used
    /// before) marks the session as recently verified. Answers whether it was right.
    pub async fn staff_reauthenticate(&self, session: &StaffSession, code: &str, edge: &EdgeCtx) -> Result<bool, AppError> {
        let actor = edge.as_actor(&format!("user:{}", session.user_id));
        let object = format!("staff:{}", session.user_id);
        if self.staff_throttled("staff totp", &session.user_id, self.settings.staff.sign_in_attempts, edge.now).await? {
            self.store.append_audit(vec![actor.event(action::STAFF_MFA, object, "rejected:too_many_codes")]).await?;
            return Ok(false);
        }
        let user = self.store.staff_user(&session.user_id).await?.ok_or(AppError::NotFound("staff account"))?;
        if self.take_code(&user, code).await? != Some(true) {
            self.store.append_audit(vec![actor.event(action::STAFF_MFA, object, "rejected:wrong_code_to_elevate")]).await?;
            return Ok(false);
        }
        self.store.clear_sign_in_failures(&self.keyring.blind_index("staff totp", &user.id)).await?;
        Ok(self.store.reauthenticate_staff(&digest(&session.cookie), micros(edge.now), vec![actor.event(action::STAFF_MFA, object, "success:elevated")]).await?)
    }

    /// Ends a session (sign-out).
    pub async fn staff_sign_out(&self, session: &StaffSession, edge: &EdgeCtx) -> Result<(), AppError> {
        let event = edge.as_actor(&format!("user:{}", session.user_id)).event(action::STAFF_SIGN_OUT, format!("staff:{}", session.user_id), Outcome::Success.as_str());
        self.store.end_staff_session(&digest(&session.cookie), micros(edge.now), vec![event]).await?;
        Ok(())
    }

    fn enrolment_purpose(token: &str) -> String {
        format!("sotto staff totp enrolment v1 {}", digest(token).iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// A new TOTP secret for an invitation's page, and the same sealed for its form: each visit
    /// shows a fresh one, and only the one a working code proves is kept, so a link scanner's
    /// visit learns nothing that signs in.
    pub fn staff_enrolment(&self, token: &str) -> ([u8; 20], String) {
        let secret = sotto_crypto::totp::new_totp_secret();
        (secret, self.keyring.seal_token(&Self::enrolment_purpose(token), &secret))
    }

    /// The secret a form's sealed enrolment carries, for this invitation only.
    pub fn staff_enrolment_secret(&self, token: &str, sealed: &str) -> Option<[u8; 20]> {
        let opened = self.keyring.open_token(&Self::enrolment_purpose(token), sealed).ok()?;
        <[u8; 20]>::try_from(opened.as_slice()).ok()
    }

    /// The account an open invitation is for.
    pub async fn staff_invitation(&self, token: &str, now: Timestamp) -> Result<Option<StaffUserRow>, AppError> {
        if token.is_empty() || token.len() > 100 {
            return Ok(None);
        }
        let user = self.store.staff_user_by_invite(&digest(token)).await?;
        Ok(user.filter(|u| u.disabled_at.is_none() && u.invite_expires_at.is_some_and(|t| t > micros(now))))
    }

    /// Accepts an invitation: a password by the rules and a working code of the shown secret.
    /// Answers the broken rule's code, if any.
    pub async fn staff_accept_invite(&self, token: &str, enrolment: &str, password: &str, confirm: &str, code: &str, edge: &EdgeCtx) -> Result<Option<&'static str>, AppError> {
        let Some(user) = self.staff_invitation(token, edge.now).await? else { return Ok(Some("invitation_over")) };
        if let Err(rule) = check_password(password, &user.email) {
            return Ok(Some(rule));
        }
        if password != confirm {
            return Ok(Some("password_mismatch"));
        }
        let Some(secret) = self.staff_enrolment_secret(token, enrolment) else { return Ok(Some("wrong_code")) };
        let Some(step) = check_totp(&secret, code, unix_secs(Timestamp::now())) else { return Ok(Some("wrong_code")) };
        let hash = hash_on_pool(password).await?;
        let sealed = self.keyring.seal(&totp_aad(&user.id), &secret);
        let event = edge.as_actor(&format!("user:{}", user.id)).event(action::STAFF_ACCOUNT, format!("staff:{}", user.id), "success:invitation_accepted");
        let done = self.store.accept_invite(&digest(token), &hash, &sealed, i64::try_from(step).unwrap_or(i64::MAX), micros(edge.now), vec![event]).await?;
        Ok(if done { None } else { Some("invitation_over") })
    }
}

/// An audit event for a staff account change.
pub(crate) fn account_event(ctx: &RequestCtx, user_id: &str, outcome: &str) -> AuditEvent {
    ctx.audit().event(action::STAFF_ACCOUNT, format!("staff:{user_id}"), outcome)
}
