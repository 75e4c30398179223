//! Staff administration: invitations (from the command line for the first admin, then from
//! the console), accounts set up at once (the demo's), role changes and disabling that end the
//! account's sessions at once, and break-glass: time-boxed PHI access with a stated reason,
//! granted at once, alerted by webhook, audited, ending by itself, and reviewed afterwards.

use jiff::{SignedDuration, Timestamp};

use sotto_core::FieldError;
use sotto_core::audit::action;
use sotto_core::contact::EmailAddress;
use sotto_core::role::{Role, check_password};
use sotto_core::scope::Scope;
use sotto_crypto::{digest, random_id, random_token};
use sotto_store::{BreakGlassRow, StaffChange, StaffUserRow, Store};

use crate::staff::{EdgeCtx, StaffSession, account_event, hash_on_pool, totp_aad};
use crate::{App, AppError, RequestCtx, micros, time_text};

/// A staff account as the console lists it: never a hash or secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StaffView {
    /// `usr_…`.
    pub id: String,
    /// The sign-in name.
    pub email: String,
    /// The name shown.
    pub display_name: String,
    /// The role's name.
    pub role: String,
    /// `active`, `invited` or `disabled`.
    pub state: &'static str,
    /// The last sign-in that worked.
    pub last_sign_in_at: Option<String>,
}

/// A break-glass grant as compliance reviews it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BreakGlassView {
    /// `bg_…`.
    pub id: String,
    /// Who asked (an account's email).
    pub user: String,
    /// The stated reason.
    pub reason: String,
    /// When it began and ends.
    pub started_at: String,
    /// When it ends (or ended).
    pub ends_at: String,
    /// Whether it is still live.
    pub live: bool,
    /// Who reviewed it.
    pub reviewed_by: Option<String>,
}

fn parse_role(raw: &str) -> Result<Role, AppError> {
    Role::parse(raw).ok_or_else(|| {
        let known = Role::ALL.map(Role::as_str).join(", ");
        AppError::invalid(FieldError::new("unknown_role", "role", format!("the role must be one of {known}")))
    })
}

fn parse_account(email: &str, display_name: &str) -> Result<(String, String), AppError> {
    let email = EmailAddress::parse("email", email.trim()).map_err(AppError::invalid)?.lookup_key();
    let name = display_name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::invalid(FieldError::new("invalid_name", "display_name", "the name must be 1 to 80 characters")));
    }
    Ok((email, name.to_owned()))
}

fn new_user(ctx: &RequestCtx, email: String, display_name: String, role: Role) -> StaffUserRow {
    StaffUserRow {
        id: format!("usr_{}", random_id(8)),
        email,
        display_name,
        role: role.as_str().to_owned(),
        password_hash: None,
        totp_sealed: None,
        totp_last_step: 0,
        invite_hash: None,
        invite_expires_at: None,
        created_at: micros(ctx.now),
        created_by: ctx.principal.actor.clone(),
        disabled_at: None,
        last_sign_in_at: None,
        last_failure_at: None,
    }
}

impl<S: Store> App<S> {
    /// Invites a staff member: answers the invitation's secret (for its link), shown once.
    pub async fn invite_staff(&self, ctx: &RequestCtx, email: &str, display_name: &str, role: &str) -> Result<String, AppError> {
        self.require(ctx, Scope::UsersManage, "staff").await?;
        let role = parse_role(role)?;
        let (email, name) = parse_account(email, display_name)?;
        let token = random_token();
        let expires = micros(ctx.now + self.settings.staff.invite_lifetime);
        if let Some(existing) = self.store.staff_user_by_email(&email).await?.filter(|u| u.password_hash.is_none() && u.disabled_at.is_none()) {
            // Never set up: a new invitation replaces the old one.
            let event = account_event(ctx, &existing.id, &format!("success:invited_again_as_{}", role.as_str()));
            if self.store.reissue_invite(&existing.id, role.as_str(), &name, &digest(&token), expires, vec![event]).await? {
                return Ok(token);
            }
        }
        let user = StaffUserRow { invite_hash: Some(digest(&token)), invite_expires_at: Some(expires), ..new_user(ctx, email, name, role) };
        let event = account_event(ctx, &user.id, &format!("success:invited_as_{}", role.as_str()));
        if !self.store.create_staff_user(&user, vec![event]).await? {
            return Err(AppError::Conflict { code: "email_taken", message: "an account with this email exists".into() });
        }
        Ok(token)
    }

    /// Creates an account ready to sign in, with the password given and a new TOTP secret,
    /// which is answered once (the demo's accounts).
    pub async fn create_staff_ready(&self, ctx: &RequestCtx, email: &str, display_name: &str, role: &str, password: &str) -> Result<[u8; 20], AppError> {
        self.require(ctx, Scope::UsersManage, "staff").await?;
        let role = parse_role(role)?;
        let (email, name) = parse_account(email, display_name)?;
        check_password(password, &email).map_err(|rule| AppError::invalid(FieldError::new(rule, "password", "the password breaks a rule: at least 12 characters, not a common password, not the account's name")))?;
        let secret = sotto_crypto::totp::new_totp_secret();
        let mut user = new_user(ctx, email, name, role);
        user.password_hash = Some(hash_on_pool(password).await?);
        user.totp_sealed = Some(self.keyring.seal(&totp_aad(&user.id), &secret));
        let event = account_event(ctx, &user.id, &format!("success:created_as_{}", role.as_str()));
        if !self.store.create_staff_user(&user, vec![event]).await? {
            return Err(AppError::Conflict { code: "email_taken", message: "an account with this email exists".into() });
        }
        Ok(secret)
    }

    /// Every staff account.
    pub async fn list_staff(&self, ctx: &RequestCtx) -> Result<Vec<StaffView>, AppError> {
        self.require(ctx, Scope::UsersManage, "staff").await?;
        Ok(self
            .store
            .staff_users()
            .await?
            .into_iter()
            .map(|u| StaffView {
                state: if u.disabled_at.is_some() {
                    "disabled"
                } else if u.password_hash.is_none() {
                    "invited"
                } else {
                    "active"
                },
                last_sign_in_at: u.last_sign_in_at.map(time_text),
                id: u.id,
                email: u.email,
                display_name: u.display_name,
                role: u.role,
            })
            .collect())
    }

    /// Changes an account's role, or disables it (`role` = `None`); its sessions end at once
    /// and an `access.changed` webhook goes out. Nobody changes their own account.
    pub async fn change_staff(&self, ctx: &RequestCtx, id: &str, role: Option<&str>) -> Result<(), AppError> {
        self.require(ctx, Scope::UsersManage, "staff").await?;
        if ctx.principal.actor == format!("user:{id}") {
            return Err(AppError::Conflict { code: "own_account", message: "another admin changes or disables your own account".into() });
        }
        let (change, outcome) = match role {
            Some(raw) => {
                let role = parse_role(raw)?;
                (StaffChange::Role(role.as_str()), format!("success:role_{}", role.as_str()))
            }
            None => (StaffChange::Disable, "success:disabled".to_owned()),
        };
        if self.store.change_staff(id, change, micros(ctx.now), vec![account_event(ctx, id, &outcome)]).await? { Ok(()) } else { Err(AppError::NotFound("staff account")) }
    }

    /// Starts break-glass for a signed-in member whose role does not read PHI: a reason of at
    /// least 20 characters, at most the configured time. Granted at once, alerted, audited.
    pub async fn start_break_glass(&self, session: &StaffSession, reason: &str, minutes: i64, edge: &EdgeCtx) -> Result<Timestamp, AppError> {
        if session.role.reads_phi() {
            return Err(AppError::Conflict { code: "already_reads_phi", message: "this role reads PHI without break-glass".into() });
        }
        if session.break_glass_until.is_some() {
            return Err(AppError::Conflict { code: "break_glass_live", message: "a break-glass grant is already live".into() });
        }
        let reason = reason.trim();
        if reason.chars().count() < 20 || reason.chars().count() > 1000 {
            return Err(AppError::invalid(FieldError::new("invalid_reason", "reason", "state the reason in 20 to 1000 characters")));
        }
        let max = self.settings.staff.break_glass_max.as_mins();
        if !(5..=max).contains(&minutes) {
            return Err(AppError::invalid(FieldError::new("invalid_minutes", "minutes", format!("break-glass lasts 5 to {max} minutes"))));
        }
        let id = format!("bg_{}", random_id(8));
        let ends = edge.now + SignedDuration::from_mins(minutes);
        let row = BreakGlassRow {
            sealed_reason: self.keyring.seal(id.as_bytes(), reason.as_bytes()),
            id: id.clone(),
            user_id: session.user_id.clone(),
            started_at: micros(edge.now),
            ends_at: micros(ends),
            ended_at: None,
            reviewed_by: None,
            reviewed_at: None,
        };
        let event = edge.as_actor(&format!("user:{}", session.user_id)).event(action::BREAK_GLASS, format!("break_glass:{id}"), &format!("success:started_{minutes}_minutes"));
        self.store.start_break_glass(&row, vec![event]).await?;
        tracing::warn!(grant = %id, minutes, "break-glass access started");
        Ok(ends)
    }

    /// The latest break-glass grants with their reasons, for review (reading them is audited).
    pub async fn break_glass_grants(&self, ctx: &RequestCtx) -> Result<Vec<BreakGlassView>, AppError> {
        self.require(ctx, Scope::Compliance, "break_glass").await?;
        let users: std::collections::HashMap<String, String> = self.store.staff_users().await?.into_iter().map(|u| (u.id, u.email)).collect();
        let grants = self.store.break_glass_grants(100).await?;
        let now = micros(ctx.now);
        let views = grants
            .into_iter()
            .map(|g| BreakGlassView {
                reason: self.keyring.open(g.id.as_bytes(), &g.sealed_reason).map(|r| String::from_utf8_lossy(&r).into_owned()).unwrap_or_default(),
                user: users.get(&g.user_id).cloned().unwrap_or_default(),
                started_at: time_text(g.started_at),
                ends_at: time_text(g.ended_at.unwrap_or(g.ends_at)),
                live: g.ended_at.is_none() && g.ends_at > now,
                reviewed_by: g.reviewed_by,
                id: g.id,
            })
            .collect();
        self.store.append_audit(vec![ctx.audit().event(action::BREAK_GLASS, "break_glass:list".into(), "success:read")]).await?;
        Ok(views)
    }

    /// Records compliance's review of a grant that is over.
    pub async fn review_break_glass(&self, ctx: &RequestCtx, id: &str) -> Result<(), AppError> {
        self.require(ctx, Scope::Compliance, "break_glass").await?;
        let object = crate::path_object("break_glass", "bg_", id);
        let event = ctx.audit().event(action::BREAK_GLASS, object, "success:reviewed");
        if self.store.review_break_glass(id, &ctx.principal.actor, micros(ctx.now), vec![event]).await? {
            Ok(())
        } else {
            Err(AppError::Conflict { code: "not_reviewable", message: "only a grant that is over and not yet reviewed is reviewed".into() })
        }
    }

    /// Live break-glass grants, for the dashboard's banner (no reasons).
    pub async fn live_break_glass_count(&self, now: Timestamp) -> Result<usize, AppError> {
        let now = micros(now);
        Ok(self.store.break_glass_grants(100).await?.iter().filter(|g| g.ended_at.is_none() && g.ends_at > now).count())
    }
}

impl<S: Store> App<S> {
    /// What the settings page shows of the configuration: each channel's provider and its BAA
    /// (and whether it covers today), and the gate policy (quiet hours and caps). Changes are
    /// made in the configuration file, so they are reviewed and versioned like code.
    pub async fn configuration_view(&self, ctx: &RequestCtx) -> Result<serde_json::Value, AppError> {
        self.require(ctx, Scope::UsersManage, "settings").await?;
        let providers: Vec<serde_json::Value> = self
            .settings
            .providers
            .iter()
            .map(|(channel, p)| {
                serde_json::json!({
                    "channel": channel.as_str(), "name": p.name, "baa_signed": p.baa_signed.map(|d| d.to_string()), "baa_expires": p.baa_expires.map(|d| d.to_string()),
                    "covered": self.provider_has_baa(*channel, ctx.now), "backup": p.backup.as_ref().map(|b| b.name.clone()),
                })
            })
            .collect();
        let gate = &self.settings.gate;
        let window = |w: &sotto_core::quiet_hours::Window| format!("{}–{}", w.start.strftime("%H:%M"), w.end.strftime("%H:%M"));
        let caps: Vec<String> = gate
            .caps
            .iter()
            .map(|c| {
                let purposes = if c.purposes.is_empty() { "any purpose".to_owned() } else { c.purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ") };
                format!("at most {} per {} hours on {} for {}", c.max, c.window.as_hours(), c.channel.map_or("any channel", |ch| ch.as_str()), purposes)
            })
            .collect();
        Ok(serde_json::json!({
            "providers": providers,
            "quiet_hours": window(&gate.window),
            "state_windows": gate.state_windows.iter().map(|(s, w)| format!("{s}: {}", window(w))).collect::<Vec<_>>(),
            "channel_windows": gate.channel_windows.iter().map(|(c, w)| format!("{}: {}", c.as_str(), window(w))).collect::<Vec<_>>(),
            "caps": caps,
            "require_verified": gate.require_verified.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "staff": {"idle_minutes": self.settings.staff.idle_timeout.as_mins(), "session_hours": self.settings.staff.session_lifetime.as_hours(), "break_glass_max_minutes": self.settings.staff.break_glass_max.as_mins()},
        }))
    }
}
