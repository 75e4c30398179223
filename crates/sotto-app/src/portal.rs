//! The patient portal's sign-in: a secure message's single-use link, a one-time code sent
//! over another verified channel, a password (Argon2id) for later visits, sessions with an
//! idle timeout and an absolute lifetime, a throttle on sign-in that answers alike whether or
//! not an account exists, and CSRF tokens bound to the session's cookie.

use jiff::Timestamp;
use serde_json::json;

use sotto_core::contact::{Channel, EmailAddress, PhoneE164};
use sotto_core::gate::{Decision, Intent, decide};
use sotto_core::purpose::Purpose;
use sotto_crypto::password::{decoy_hash, hash_password, verify_password};
use sotto_crypto::{digest, random_id, random_token};
use sotto_store::{AuditContext, CodeAttempt, CodeCheck, IndexKind, OutboxRow, SessionRow, Store, VerificationRow};

use crate::secure_messages::{CODE_KEY, CODE_TEMPLATES};
use crate::{App, AppError, micros};

/// What a portal request carries for the audit chain.
#[derive(Debug, Clone)]
pub struct PortalCtx {
    /// Now, as the edge read it from its clock.
    pub now: Timestamp,
    /// The request id.
    pub request_id: String,
    /// The client address.
    pub source_ip: Option<String>,
}

/// A live portal session.
#[derive(Debug, Clone)]
pub struct PortalSession {
    /// The patient.
    pub external_id: String,
    /// The cookie's value.
    pub cookie: String,
    /// The verification it waits for; `None` once signed in.
    pub pending: Option<String>,
    /// `en` or `es`.
    pub language: &'static str,
    /// The channel the awaited code went by.
    pub code_channel: Option<String>,
}

/// Where a secure message's link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// It opens once more.
    Open,
    /// It was used.
    Used,
    /// It, or its message, expired.
    Expired,
}

/// How a code check ended, for the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeResult {
    /// Signed in with the new cookie; `set_password` when the patient has none yet; the
    /// secure message the link was for.
    Verified { cookie: String, set_password: bool, message: Option<String> },
    /// Wrong; tries left.
    Wrong { left: i64 },
    /// Over: too many tries, expired or used.
    Over,
}

/// How a sign-in ended. Refused is the same answer whether or not an account exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// The new session's cookie.
    Signed(String),
    /// The name and password do not match an account.
    Refused,
    /// Too many failures under this name lately.
    Throttled,
}

/// `en` or `es` for a stored language tag.
pub(crate) fn page_language(tag: Option<&str>) -> &'static str {
    match tag.and_then(|t| t.split(['-', '_']).next()) {
        Some(p) if p.eq_ignore_ascii_case("es") => "es",
        _ => "en",
    }
}

/// Where a secure message's link stands at `now`.
fn link_state(row: &sotto_store::SecureMessageRow, now: Timestamp) -> LinkState {
    if row.link_used_at.is_some() {
        LinkState::Used
    } else if row.link_expires_at <= micros(now) || row.expires_at <= micros(now) {
        LinkState::Expired
    } else {
        LinkState::Open
    }
}

/// The outbox row that carries a verification's code (Sotto's own template, urgent care).
fn code_message(channel: Channel, verification: &VerificationRow, now: Timestamp) -> OutboxRow {
    let template = CODE_TEMPLATES.iter().find(|(_, c)| *c == channel).map(|(t, _)| *t).unwrap_or("sotto_portal_code_sms");
    OutboxRow {
        channel: channel.as_str().to_owned(),
        purpose: Purpose::Operations.as_str().to_owned(),
        template_id: template.to_owned(),
        uses_phi: false,
        urgent: true,
        context: json!({ CODE_KEY: verification.id }).to_string(),
        ..OutboxRow::queued(format!("msg_{}", random_id(8)), verification.external_id.clone(), micros(now))
    }
}

/// Lowercase hex of bytes.
fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Argon2id checks (19 MiB each) run at most this many at a time in the process, so a flood of
/// sign-ins cannot exhaust memory.
fn password_checks() -> &'static tokio::sync::Semaphore {
    static CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
    &CHECKS
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl PortalCtx {
    pub(crate) fn as_patient(&self, patient_ref: &str) -> AuditContext {
        AuditContext { actor: format!("patient:{patient_ref}"), request_id: self.request_id.clone(), source_ip: self.source_ip.clone(), at_micros: micros(self.now) }
    }
}

impl<S: Store> App<S> {
    fn patient_audit(&self, pctx: &PortalCtx, external_id: &str) -> AuditContext {
        pctx.as_patient(&self.keyring.patient_ref(external_id))
    }

    /// The practice's name, for page headers.
    pub fn clinic_name(&self) -> &str {
        &self.settings.clinic.name
    }

    /// The session's idle timeout and the sign-in throttle's window, in minutes, for pages.
    pub fn portal_minutes(&self) -> (i64, i64) {
        (self.settings.portal.idle_timeout.as_mins(), self.settings.portal.sign_in_window.as_mins())
    }

    /// Whether cookies must be `Secure` (Sotto is reached over HTTPS).
    pub fn secure_cookies(&self) -> bool {
        self.settings.public_url.starts_with("https://")
    }

    /// The CSRF token of the forms shown with a cookie (a session's or a visitor's).
    pub fn portal_csrf(&self, cookie: &str) -> String {
        self.keyring.derived_token("sotto portal csrf v1", cookie)
    }

    /// Whether a form's CSRF token belongs to the cookie it came with.
    pub fn portal_csrf_ok(&self, cookie: Option<&str>, token: Option<&str>) -> bool {
        matches!((cookie, token), (Some(c), Some(t)) if !c.is_empty() && same_secret(&self.portal_csrf(c), t))
    }

    async fn language_of(&self, external_id: &str) -> Result<&'static str, AppError> {
        Ok(page_language(self.store.patient(external_id).await?.and_then(|r| r.language).as_deref()))
    }

    /// Where a secure message's link stands, and the page language of its patient.
    pub async fn portal_landing(&self, token: &str, now: Timestamp) -> Result<(LinkState, &'static str), AppError> {
        let row = self.store.secure_message_by_link(&digest(token)).await?.ok_or(AppError::NotFound("link"))?;
        Ok((link_state(&row, now), self.language_of(&row.external_id).await?))
    }

    /// Uses a link once: sends a one-time code over a channel the gate allows (another than
    /// the nudge's when the patient has one) and answers the waiting session's cookie and
    /// the channel the code went by.
    pub async fn portal_use_link(&self, token: &str, pctx: &PortalCtx) -> Result<(String, Channel), AppError> {
        let used = || AppError::Conflict { code: "link_used", message: "this link was used already or has expired".into() };
        let row = self.store.secure_message_by_link(&digest(token)).await?.ok_or(AppError::NotFound("link"))?;
        if link_state(&row, pctx.now) != LinkState::Open {
            return Err(used());
        }
        let nudged_by = match &row.nudge_id {
            Some(id) => self.store.outbox_message(id).await?.map(|m| m.channel),
            None => None,
        };
        let channel = self.code_channel(&row.external_id, nudged_by.as_deref(), pctx.now).await?;
        let settings = &self.settings.portal;
        let verification = VerificationRow {
            id: format!("ver_{}", random_id(8)),
            external_id: row.external_id.clone(),
            secure_message_id: Some(row.id.clone()),
            channel: channel.as_str().to_owned(),
            created_at: micros(pctx.now),
            expires_at: micros(pctx.now + settings.code_lifetime),
            attempts: 0,
            state: "pending".into(),
        };
        let cookie = random_token();
        let session = self.new_session(&cookie, &row.external_id, Some(verification.id.clone()), pctx.now);
        let code = code_message(channel, &verification, pctx.now);
        if !self.store.use_link(&row.id, micros(pctx.now), &verification, &session, &code, &self.patient_audit(pctx, &row.external_id)).await? {
            return Err(used());
        }
        self.outbox_notify.notify_waiters();
        Ok((cookie, channel))
    }

    /// Sends a new code to a waiting session (the old one stops working), at most three codes
    /// for one secure message; answers whether one went.
    pub async fn portal_resend_code(&self, session: &PortalSession, pctx: &PortalCtx) -> Result<bool, AppError> {
        let Some(old) = &session.pending else { return Ok(false) };
        let Some(previous) = self.store.verification(old).await? else { return Ok(false) };
        let channel = Channel::parse("channel", &previous.channel).map_err(AppError::invalid)?;
        let verification = VerificationRow {
            id: format!("ver_{}", random_id(8)),
            created_at: micros(pctx.now),
            expires_at: micros(pctx.now + self.settings.portal.code_lifetime),
            attempts: 0,
            state: "pending".into(),
            ..previous
        };
        let code = code_message(channel, &verification, pctx.now);
        let sent = self.store.resend_code(&digest(&session.cookie), old, &verification, &code, 3, &self.patient_audit(pctx, &verification.external_id)).await?;
        if sent {
            self.outbox_notify.notify_waiters();
        }
        Ok(sent)
    }

    /// Deletes portal sessions and verifications over for a day and sign-in counts whose window
    /// ended (the dispatcher does it hourly).
    pub async fn purge_portal(&self, now: Timestamp) -> Result<u64, AppError> {
        Ok(self.store.purge_portal(micros(now), micros(now - self.settings.portal.sign_in_window)).await?)
    }

    /// The channel a code goes by: the first of email and SMS, other than the nudge's, that
    /// the gate would carry a code on now; else the nudge's own.
    async fn code_channel(&self, external_id: &str, nudged_by: Option<&str>, now: Timestamp) -> Result<Channel, AppError> {
        let id = sotto_core::ids::ExternalId::parse("patient", external_id).map_err(AppError::invalid)?;
        let state = self.gate_state(&id, now).await?;
        let policy = crate::secure_messages::requested_policy(&self.settings.gate);
        let mut order = vec![Channel::Sms, Channel::Email];
        order.sort_by_key(|c| Some(c.as_str()) == nudged_by);
        order
            .into_iter()
            .find(|&channel| {
                let intent = Intent { channel, purpose: Purpose::Operations, topic: None, uses_phi: false, template_approved: true, lint_clean: true, provider_has_baa: self.provider_has_baa(channel, now) };
                matches!(decide(&intent, Some(&state), &policy, now), Decision::Allow)
            })
            .ok_or(AppError::Conflict { code: "no_code_channel", message: "no verified channel can carry a one-time code".into() })
    }

    fn new_session(&self, cookie: &str, external_id: &str, pending: Option<String>, now: Timestamp) -> SessionRow {
        let lifetime = if pending.is_some() { self.settings.portal.code_lifetime } else { self.settings.portal.session_lifetime };
        SessionRow {
            id_hash: digest(cookie),
            external_id: external_id.to_owned(),
            verification_id: pending,
            created_at: micros(now),
            last_seen_at: micros(now),
            expires_at: micros(now + lifetime),
            ended_at: None,
        }
    }

    /// The live session of a cookie: not ended, not idle past the timeout, not past its end.
    pub async fn portal_session(&self, cookie: Option<&str>, now: Timestamp) -> Result<Option<PortalSession>, AppError> {
        let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 100) else { return Ok(None) };
        let hash = digest(cookie);
        let Some(row) = self.store.session(&hash).await? else { return Ok(None) };
        let idle = micros(now) - row.last_seen_at > self.settings.portal.idle_timeout.as_micros() as i64;
        if row.ended_at.is_some() || idle || micros(now) >= row.expires_at {
            return Ok(None);
        }
        self.store.touch_session(&hash, micros(now)).await?;
        let language = self.language_of(&row.external_id).await?;
        let code_channel = match &row.verification_id {
            Some(id) => self.store.verification(id).await?.map(|v| v.channel),
            None => None,
        };
        Ok(Some(PortalSession { external_id: row.external_id, cookie: cookie.to_owned(), pending: row.verification_id, language, code_channel }))
    }

    /// Checks a one-time code for a waiting session.
    pub async fn portal_check_code(&self, session: &PortalSession, code: &str, pctx: &PortalCtx) -> Result<CodeResult, AppError> {
        let Some(verification_id) = &session.pending else { return Ok(CodeResult::Over) };
        let verification = self.store.verification(verification_id).await?.ok_or(AppError::NotFound("verification"))?;
        let digits: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        let right = same_secret(&digits, &self.one_time_code(&verification.id, &verification.external_id));
        let cookie = random_token();
        let signed_in = self.new_session(&cookie, &verification.external_id, None, pctx.now);
        let audit = self.patient_audit(pctx, &verification.external_id);
        let max = self.settings.portal.max_code_attempts;
        let waiting = digest(&session.cookie);
        let attempt = CodeAttempt { verification_id: &verification.id, right, max_attempts: max, now: micros(pctx.now), waiting: &waiting };
        match self.store.check_code(attempt, &signed_in, &audit).await? {
            CodeCheck::Verified => {
                let set_password = self.store.portal_password(&verification.external_id).await?.is_none();
                Ok(CodeResult::Verified { cookie, set_password, message: verification.secure_message_id })
            }
            CodeCheck::Wrong { left } => Ok(CodeResult::Wrong { left }),
            CodeCheck::Over => Ok(CodeResult::Over),
        }
    }

    /// Signs in with an email address or mobile number and a password. Every attempt counts
    /// first (one statement, so parallel guesses cannot slip past the limit) under the keyed
    /// hash of the address or number as Sotto reads it (so other spellings of one number share
    /// a count), whether or not an account exists; a sign-in that works clears the count. Each
    /// costs one Argon2id check, a few at a time across the process; refusals are audited.
    pub async fn portal_sign_in(&self, name: &str, password: &str, pctx: &PortalCtx) -> Result<SignIn, AppError> {
        let settings = &self.settings.portal;
        let name = name.trim().to_lowercase();
        let index = if name.contains('@') {
            EmailAddress::parse("name", &name).ok().map(|e| (IndexKind::Email, self.keyring.blind_index("email", &e.lookup_key())))
        } else {
            PhoneE164::parse("name", &name, &self.settings.default_region).ok().map(|p| (IndexKind::Phone, self.keyring.blind_index("phone", p.expose())))
        };
        let throttle = match &index {
            Some((_, key)) => self.keyring.blind_index("portal sign-in", &hex_of(key)),
            None => self.keyring.blind_index("portal sign-in text", &name),
        };
        let since = micros(pctx.now - settings.sign_in_window);
        let attempts = self.store.count_sign_in_attempt(&throttle, micros(pctx.now), since).await?;
        let refusal = |outcome: &str| {
            let ctx = AuditContext { actor: "patient:unknown".into(), request_id: pctx.request_id.clone(), source_ip: pctx.source_ip.clone(), at_micros: micros(pctx.now) };
            ctx.event(sotto_core::audit::action::PORTAL_SIGN_IN, format!("portal:sign_in/{}", &hex_of(&throttle)[..16]), outcome)
        };
        if attempts > settings.sign_in_attempts {
            self.store.append_audit(vec![refusal("rejected:throttled")]).await?;
            return Ok(SignIn::Throttled);
        }
        let candidates = match index {
            Some((kind, index)) => self.store.patients_by_index(kind, &index).await?,
            None => Vec::new(),
        };
        let mut accounts = Vec::new();
        for id in candidates {
            if let Some(hash) = self.store.portal_password(&id).await? {
                accounts.push((id, hash));
            }
        }
        let password = password.to_owned();
        let _permit = password_checks().acquire().await.map_err(|_| AppError::Internal("password checks closed"))?;
        let found = tokio::task::spawn_blocking(move || {
            if accounts.is_empty() {
                // As long as a real check, so the answer's timing says nothing.
                let _ = verify_password(&password, decoy_hash());
                return None;
            }
            accounts.into_iter().find(|(_, hash)| verify_password(&password, hash)).map(|(id, _)| id)
        })
        .await
        .map_err(|_| AppError::Internal("password check ended abnormally"))?;
        let Some(external_id) = found else {
            self.store.append_audit(vec![refusal("rejected:wrong_name_or_password")]).await?;
            return Ok(SignIn::Refused);
        };
        self.store.clear_sign_in_failures(&throttle).await?;
        let cookie = random_token();
        self.store.start_session(&self.new_session(&cookie, &external_id, None, pctx.now), &self.patient_audit(pctx, &external_id)).await?;
        Ok(SignIn::Signed(cookie))
    }

    /// Sets the signed-in patient's password; answers the rule it breaks, if any. Changing an
    /// existing password needs the current one, and ends every other session of the patient.
    pub async fn portal_set_password(&self, session: &PortalSession, current: Option<&str>, password: &str, confirm: &str, pctx: &PortalCtx) -> Result<Option<&'static str>, AppError> {
        let length = password.chars().count();
        if !(12..=128).contains(&length) {
            return Ok(Some("password_length"));
        }
        if password != confirm {
            return Ok(Some("password_mismatch"));
        }
        let existing = self.store.portal_password(&session.external_id).await?;
        let (password, current) = (password.to_owned(), current.unwrap_or_default().to_owned());
        let _permit = password_checks().acquire().await.map_err(|_| AppError::Internal("password checks closed"))?;
        let had = existing.is_some();
        let hash = tokio::task::spawn_blocking(move || match existing {
            Some(stored) if !verify_password(&current, &stored) => None,
            _ => Some(hash_password(&password)),
        })
        .await
        .map_err(|_| AppError::Internal("password hashing ended abnormally"))?;
        let Some(hash) = hash else { return Ok(Some("password_current")) };
        self.store.set_portal_password(&session.external_id, &hash, micros(pctx.now), &self.patient_audit(pctx, &session.external_id)).await?;
        if had {
            self.store.end_other_sessions(&session.external_id, &digest(&session.cookie), micros(pctx.now)).await?;
        }
        Ok(None)
    }

    /// Whether the signed-in patient has a password already (changing it needs the current one).
    pub async fn portal_has_password(&self, session: &PortalSession) -> Result<bool, AppError> {
        Ok(self.store.portal_password(&session.external_id).await?.is_some())
    }

    /// Ends a session.
    pub async fn portal_sign_out(&self, session: &PortalSession, pctx: &PortalCtx) -> Result<(), AppError> {
        self.store.end_session(&digest(&session.cookie), micros(pctx.now), &self.patient_audit(pctx, &session.external_id)).await?;
        Ok(())
    }
}
