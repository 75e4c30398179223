//! Staff accounts, sessions, break-glass grants and API clients. Changes that matter (an
//! account's setup, role or state, a session's start and end, a grant, a client) are audited in
//! their own transaction; a session's last-seen time and sign-in times are bookkeeping.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use sotto_core::audit::AuditEvent;

use super::SqlStore;
use super::webhooks::{Fact, queue};
use crate::{ApiClientRow, BreakGlassRow, StaffChange, StaffSessionRow, StaffStore, StaffUserRow, StoreResult};

const USER_COLUMNS: &str = "id, email, display_name, role, password_hash, totp_sealed, totp_last_step, invite_hash, invite_expires_at, created_at, created_by, disabled_at, last_sign_in_at, last_failure_at";
const SESSION_COLUMNS: &str = "id_hash, user_id, mfa_done, created_at, last_seen_at, expires_at, ended_at, reauth_at";
const GRANT_COLUMNS: &str = "id, user_id, sealed_reason, started_at, ends_at, ended_at, reviewed_by, reviewed_at";
const CLIENT_COLUMNS: &str = "id, name, scopes, sealed_secret, created_at, created_by, revoked_at, last_used_at";

fn user_from(r: &AnyRow) -> Result<StaffUserRow, sqlx::Error> {
    Ok(StaffUserRow {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        role: r.try_get("role")?,
        password_hash: r.try_get("password_hash")?,
        totp_sealed: r.try_get("totp_sealed")?,
        totp_last_step: r.try_get("totp_last_step")?,
        invite_hash: r.try_get("invite_hash")?,
        invite_expires_at: r.try_get("invite_expires_at")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        disabled_at: r.try_get("disabled_at")?,
        last_sign_in_at: r.try_get("last_sign_in_at")?,
        last_failure_at: r.try_get("last_failure_at")?,
    })
}

fn session_from(r: &AnyRow) -> Result<StaffSessionRow, sqlx::Error> {
    Ok(StaffSessionRow {
        id_hash: r.try_get("id_hash")?,
        user_id: r.try_get("user_id")?,
        mfa_done: r.try_get::<i64, _>("mfa_done")? != 0,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        expires_at: r.try_get("expires_at")?,
        ended_at: r.try_get("ended_at")?,
        reauth_at: r.try_get("reauth_at")?,
    })
}

fn grant_from(r: &AnyRow) -> Result<BreakGlassRow, sqlx::Error> {
    Ok(BreakGlassRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        sealed_reason: r.try_get("sealed_reason")?,
        started_at: r.try_get("started_at")?,
        ends_at: r.try_get("ends_at")?,
        ended_at: r.try_get("ended_at")?,
        reviewed_by: r.try_get("reviewed_by")?,
        reviewed_at: r.try_get("reviewed_at")?,
    })
}

fn client_from(r: &AnyRow) -> Result<ApiClientRow, sqlx::Error> {
    Ok(ApiClientRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scopes: r.try_get("scopes")?,
        sealed_secret: r.try_get("sealed_secret")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        revoked_at: r.try_get("revoked_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl SqlStore {
    async fn insert_staff_session(tx: &mut sqlx::Transaction<'static, sqlx::Any>, s: &StaffSessionRow) -> StoreResult<()> {
        sqlx::query(AssertSqlSafe(format!("INSERT INTO staff_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")))
            .bind(s.id_hash.as_slice())
            .bind(s.user_id.as_str())
            .bind(i64::from(s.mfa_done))
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.expires_at)
            .bind(s.ended_at)
            .bind(s.reauth_at)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    fn user_query(column: &str) -> String {
        format!("SELECT {USER_COLUMNS} FROM staff_users WHERE {column} = $1")
    }
}

impl StaffStore for SqlStore {
    async fn create_staff_user(&self, u: &StaffUserRow, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let taken: Option<String> = sqlx::query_scalar("SELECT id FROM staff_users WHERE email = $1").bind(u.email.as_str()).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Ok(false);
        }
        sqlx::query(AssertSqlSafe(format!("INSERT INTO staff_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")))
            .bind(u.id.as_str())
            .bind(u.email.as_str())
            .bind(u.display_name.as_str())
            .bind(u.role.as_str())
            .bind(u.password_hash.as_deref())
            .bind(u.totp_sealed.as_deref())
            .bind(u.totp_last_step)
            .bind(u.invite_hash.as_deref())
            .bind(u.invite_expires_at)
            .bind(u.created_at)
            .bind(u.created_by.as_str())
            .bind(u.disabled_at)
            .bind(u.last_sign_in_at)
            .bind(u.last_failure_at)
            .execute(&mut *tx)
            .await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn staff_user(&self, id: &str) -> StoreResult<Option<StaffUserRow>> {
        let row = sqlx::query(AssertSqlSafe(Self::user_query("id"))).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| user_from(&r)).transpose()?)
    }

    async fn staff_user_by_email(&self, email: &str) -> StoreResult<Option<StaffUserRow>> {
        let row = sqlx::query(AssertSqlSafe(Self::user_query("email"))).bind(email).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| user_from(&r)).transpose()?)
    }

    async fn staff_user_by_invite(&self, invite_hash: &[u8]) -> StoreResult<Option<StaffUserRow>> {
        let row = sqlx::query(AssertSqlSafe(Self::user_query("invite_hash"))).bind(invite_hash).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| user_from(&r)).transpose()?)
    }

    async fn staff_users(&self) -> StoreResult<Vec<StaffUserRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM staff_users ORDER BY email"))).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(user_from).collect::<Result<_, _>>()?)
    }

    async fn reissue_invite(&self, id: &str, role: &str, display_name: &str, invite_hash: &[u8], expires_at: i64, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        let query = sqlx::query("UPDATE staff_users SET role = $2, display_name = $3, invite_hash = $4, invite_expires_at = $5 WHERE id = $1 AND password_hash IS NULL AND disabled_at IS NULL")
            .bind(id)
            .bind(role)
            .bind(display_name)
            .bind(invite_hash)
            .bind(expires_at);
        self.change_one_with(query, audit).await
    }

    async fn accept_invite(&self, invite_hash: &[u8], password_hash: &str, totp_sealed: &[u8], step: i64, now: i64, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE staff_users SET password_hash = $2, totp_sealed = $3, totp_last_step = $4, invite_hash = NULL, invite_expires_at = NULL \
             WHERE invite_hash = $1 AND invite_expires_at > $5 AND disabled_at IS NULL",
        )
        .bind(invite_hash)
        .bind(password_hash)
        .bind(totp_sealed)
        .bind(step)
        .bind(now);
        self.change_one_with(query, audit).await
    }

    async fn change_staff(&self, id: &str, change: StaffChange<'_>, now: i64, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let (query, data) = match change {
            StaffChange::Role(role) => (sqlx::query("UPDATE staff_users SET role = $2 WHERE id = $1 AND disabled_at IS NULL").bind(id).bind(role), json!({"user": id, "role": role, "disabled": false})),
            StaffChange::Disable => (sqlx::query("UPDATE staff_users SET disabled_at = $2, invite_hash = NULL WHERE id = $1 AND disabled_at IS NULL").bind(id).bind(now), json!({"user": id, "disabled": true})),
        };
        if query.execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE staff_sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL").bind(id).bind(now).execute(&mut *tx).await?;
        queue(&mut tx, &[Fact { kind: "access.changed", data }], now).await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn take_totp_step(&self, id: &str, step: i64) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE staff_users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2").bind(id).bind(step).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn note_staff_sign_in(&self, id: &str, worked: bool, now: i64) -> StoreResult<()> {
        let sql = if worked { "UPDATE staff_users SET last_sign_in_at = $2 WHERE id = $1" } else { "UPDATE staff_users SET last_failure_at = $2 WHERE id = $1" };
        sqlx::query(sql).bind(id).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    async fn start_staff_session(&self, session: &StaffSessionRow, audit: Vec<AuditEvent>) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        Self::insert_staff_session(&mut tx, session).await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(())
    }

    async fn complete_staff_mfa(&self, waiting: &[u8], signed_in: &StaffSessionRow, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let ended = sqlx::query("UPDATE staff_sessions SET ended_at = $2 WHERE id_hash = $1 AND mfa_done = 0 AND ended_at IS NULL")
            .bind(waiting)
            .bind(signed_in.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !ended {
            return Ok(false);
        }
        Self::insert_staff_session(&mut tx, signed_in).await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn reauthenticate_staff(&self, id_hash: &[u8], at: i64, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        self.change_one_with(sqlx::query("UPDATE staff_sessions SET reauth_at = $2 WHERE id_hash = $1 AND ended_at IS NULL AND mfa_done = 1").bind(id_hash).bind(at), audit).await
    }

    async fn staff_session(&self, id_hash: &[u8]) -> StoreResult<Option<StaffSessionRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {SESSION_COLUMNS} FROM staff_sessions WHERE id_hash = $1"))).bind(id_hash).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| session_from(&r)).transpose()?)
    }

    async fn touch_staff_session(&self, id_hash: &[u8], now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2").bind(id_hash).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    async fn end_staff_session(&self, id_hash: &[u8], now: i64, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        self.change_one_with(sqlx::query("UPDATE staff_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL").bind(id_hash).bind(now), audit).await
    }

    async fn start_break_glass(&self, g: &BreakGlassRow, audit: Vec<AuditEvent>) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query(AssertSqlSafe(format!("INSERT INTO break_glass ({GRANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")))
            .bind(g.id.as_str())
            .bind(g.user_id.as_str())
            .bind(g.sealed_reason.as_slice())
            .bind(g.started_at)
            .bind(g.ends_at)
            .bind(g.ended_at)
            .bind(g.reviewed_by.as_deref())
            .bind(g.reviewed_at)
            .execute(&mut *tx)
            .await?;
        let ends = jiff::Timestamp::from_microsecond(g.ends_at).map(|t| t.to_string()).unwrap_or_default();
        queue(&mut tx, &[Fact { kind: "access.break_glass", data: json!({"grant": g.id, "user": g.user_id, "ends_at": ends}) }], g.started_at).await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(())
    }

    async fn live_break_glass(&self, user_id: &str, now: i64) -> StoreResult<Option<BreakGlassRow>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM break_glass WHERE user_id = $1 AND ends_at > $2 AND started_at <= $2 AND ended_at IS NULL ORDER BY ends_at DESC LIMIT 1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(user_id).bind(now).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| grant_from(&r)).transpose()?)
    }

    async fn break_glass_grants(&self, limit: i64) -> StoreResult<Vec<BreakGlassRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {GRANT_COLUMNS} FROM break_glass ORDER BY started_at DESC, id LIMIT $1"))).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(grant_from).collect::<Result<_, _>>()?)
    }

    async fn review_break_glass(&self, id: &str, by: &str, now: i64, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        let query = sqlx::query("UPDATE break_glass SET reviewed_by = $2, reviewed_at = $3 WHERE id = $1 AND reviewed_at IS NULL AND (ends_at <= $3 OR ended_at IS NOT NULL)").bind(id).bind(by).bind(now);
        self.change_one_with(query, audit).await
    }

    async fn create_api_client(&self, c: &ApiClientRow, audit: Vec<AuditEvent>) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query(AssertSqlSafe(format!("INSERT INTO api_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")))
            .bind(c.id.as_str())
            .bind(c.name.as_str())
            .bind(c.scopes.as_str())
            .bind(c.sealed_secret.as_slice())
            .bind(c.created_at)
            .bind(c.created_by.as_str())
            .bind(c.revoked_at)
            .bind(c.last_used_at)
            .execute(&mut *tx)
            .await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(())
    }

    async fn api_client(&self, id: &str) -> StoreResult<Option<ApiClientRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM api_clients WHERE id = $1"))).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| client_from(&r)).transpose()?)
    }

    async fn api_clients(&self) -> StoreResult<Vec<ApiClientRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM api_clients ORDER BY created_at DESC, id"))).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(client_from).collect::<Result<_, _>>()?)
    }

    async fn revoke_api_client(&self, id: &str, now: i64, audit: Vec<AuditEvent>) -> StoreResult<bool> {
        self.change_one_with(sqlx::query("UPDATE api_clients SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL").bind(id).bind(now), audit).await
    }

    async fn record_signature(&self, signature_hash: &[u8], expires_at: i64, now: i64) -> StoreResult<bool> {
        sqlx::query("DELETE FROM signed_requests WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        let taken = sqlx::query("INSERT INTO signed_requests (signature_hash, expires_at) VALUES ($1, $2) ON CONFLICT (signature_hash) DO NOTHING")
            .bind(signature_hash)
            .bind(expires_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(taken == 1)
    }

    async fn touch_api_client(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_clients SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)").bind(id).bind(now).bind(now - 60_000_000).execute(&self.pool).await?;
        Ok(())
    }
}
