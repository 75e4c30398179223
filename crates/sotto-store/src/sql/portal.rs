//! Secure messages and the portal's accounts, verifications, sessions and sign-in throttle.
//! Every change that matters to the patient's record is audited in its own transaction; a
//! session's last-seen time and the throttle's counters are bookkeeping and are not.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use sotto_core::audit::{Outcome, action};

use super::SqlStore;
use super::outbox_rows::insert_messages;
use crate::{AuditContext, CodeAttempt, CodeCheck, OutboxRow, PortalStore, SecureMessageRow, SessionRow, StoreResult, VerificationRow};

const MESSAGE_COLUMNS: &str = "id, external_id, sealed, category, created_at, created_by, expires_at, nudge_id, link_hash, link_expires_at, link_used_at, read_at";
const SESSION_COLUMNS: &str = "id_hash, external_id, verification_id, created_at, last_seen_at, expires_at, ended_at";

fn message_from(r: &AnyRow) -> Result<SecureMessageRow, sqlx::Error> {
    Ok(SecureMessageRow {
        id: r.try_get("id")?,
        external_id: r.try_get("external_id")?,
        sealed: r.try_get("sealed")?,
        category: r.try_get("category")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        expires_at: r.try_get("expires_at")?,
        nudge_id: r.try_get("nudge_id")?,
        link_hash: r.try_get("link_hash")?,
        link_expires_at: r.try_get("link_expires_at")?,
        link_used_at: r.try_get("link_used_at")?,
        read_at: r.try_get("read_at")?,
    })
}

fn session_from(r: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id_hash: r.try_get("id_hash")?,
        external_id: r.try_get("external_id")?,
        verification_id: r.try_get("verification_id")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        expires_at: r.try_get("expires_at")?,
        ended_at: r.try_get("ended_at")?,
    })
}

impl SqlStore {
    fn secure_object(&self, id: &str, external_id: &str) -> String {
        format!("secure_message:{id}/patient:{}", self.chain_key.patient_ref(external_id))
    }

    fn patient_object(&self, external_id: &str) -> String {
        format!("patient:{}", self.chain_key.patient_ref(external_id))
    }

    async fn insert_verification(tx: &mut sqlx::Transaction<'static, sqlx::Any>, v: &VerificationRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO portal_verifications (id, external_id, secure_message_id, channel, created_at, expires_at, attempts, state) VALUES ($1, $2, $3, $4, $5, $6, 0, 'pending')")
            .bind(v.id.as_str())
            .bind(v.external_id.as_str())
            .bind(v.secure_message_id.as_deref())
            .bind(v.channel.as_str())
            .bind(v.created_at)
            .bind(v.expires_at)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn insert_session(tx: &mut sqlx::Transaction<'static, sqlx::Any>, s: &SessionRow) -> StoreResult<()> {
        sqlx::query(AssertSqlSafe(format!("INSERT INTO portal_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)")))
            .bind(s.id_hash.as_slice())
            .bind(s.external_id.as_str())
            .bind(s.verification_id.as_deref())
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.expires_at)
            .bind(s.ended_at)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

impl PortalStore for SqlStore {
    async fn create_secure_message(&self, m: &SecureMessageRow, nudge: Option<&OutboxRow>, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        if let Some(nudge) = nudge {
            insert_messages(self, &mut tx, &mut head, std::slice::from_ref(nudge), ctx).await?;
        }
        sqlx::query(AssertSqlSafe(format!("INSERT INTO secure_messages ({MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")))
            .bind(m.id.as_str())
            .bind(m.external_id.as_str())
            .bind(m.sealed.as_slice())
            .bind(m.category.as_deref())
            .bind(m.created_at)
            .bind(m.created_by.as_str())
            .bind(m.expires_at)
            .bind(m.nudge_id.as_deref())
            .bind(m.link_hash.as_slice())
            .bind(m.link_expires_at)
            .bind(m.link_used_at)
            .bind(m.read_at)
            .execute(&mut *tx)
            .await?;
        head.append(&mut tx, &[ctx.event(action::SECURE_MESSAGE_CREATE, self.secure_object(&m.id, &m.external_id), Outcome::Success.as_str())]).await?;
        head.commit(tx).await?;
        Ok(())
    }

    async fn secure_message(&self, id: &str) -> StoreResult<Option<SecureMessageRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {MESSAGE_COLUMNS} FROM secure_messages WHERE id = $1"))).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| message_from(&r)).transpose()?)
    }

    async fn secure_message_by_link(&self, link_hash: &[u8]) -> StoreResult<Option<SecureMessageRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {MESSAGE_COLUMNS} FROM secure_messages WHERE link_hash = $1"))).bind(link_hash).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| message_from(&r)).transpose()?)
    }

    async fn secure_messages_of(&self, external_id: &str) -> StoreResult<Vec<SecureMessageRow>> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM secure_messages WHERE external_id = $1 ORDER BY created_at DESC, id");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(external_id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(message_from).collect::<Result<_, _>>()?)
    }

    async fn use_link(&self, id: &str, now: i64, v: &VerificationRow, session: &SessionRow, code: &OutboxRow, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let used = sqlx::query("UPDATE secure_messages SET link_used_at = $2 WHERE id = $1 AND link_used_at IS NULL AND link_expires_at > $2 AND expires_at > $2")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !used {
            return Ok(false);
        }
        Self::insert_verification(&mut tx, v).await?;
        Self::insert_session(&mut tx, session).await?;
        insert_messages(self, &mut tx, &mut head, std::slice::from_ref(code), ctx).await?;
        head.append(&mut tx, &[ctx.event(action::PORTAL_LINK, self.secure_object(id, &v.external_id), &format!("success:code_by_{}", v.channel))]).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn resend_code(&self, waiting: &[u8], old: &str, v: &VerificationRow, code: &OutboxRow, max_codes: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM portal_verifications WHERE external_id = $1 AND secure_message_id IS NOT DISTINCT FROM $2")
            .bind(v.external_id.as_str())
            .bind(v.secure_message_id.as_deref())
            .fetch_one(&mut *tx)
            .await?;
        if sent >= max_codes {
            return Ok(false);
        }
        let replaced = sqlx::query("UPDATE portal_verifications SET state = 'locked' WHERE id = $1 AND state = 'pending'").bind(old).execute(&mut *tx).await?.rows_affected() == 1;
        if !replaced {
            return Ok(false);
        }
        Self::insert_verification(&mut tx, v).await?;
        sqlx::query("UPDATE portal_sessions SET verification_id = $2, expires_at = $3 WHERE id_hash = $1 AND ended_at IS NULL").bind(waiting).bind(v.id.as_str()).bind(v.expires_at).execute(&mut *tx).await?;
        insert_messages(self, &mut tx, &mut head, std::slice::from_ref(code), ctx).await?;
        head.append(&mut tx, &[ctx.event(action::PORTAL_CODE, format!("{}/verification:{}", self.patient_object(&v.external_id), v.id), &format!("success:resent_by_{}", v.channel))]).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn purge_portal(&self, now: i64, window_start_before: i64) -> StoreResult<u64> {
        let day = 86_400_000_000_i64;
        let mut removed = sqlx::query("DELETE FROM portal_sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) OR expires_at < $1").bind(now - day).execute(&self.pool).await?.rows_affected();
        removed += sqlx::query("DELETE FROM portal_verifications WHERE expires_at < $1 AND id NOT IN (SELECT verification_id FROM portal_sessions WHERE verification_id IS NOT NULL)")
            .bind(now - day)
            .execute(&self.pool)
            .await?
            .rows_affected();
        // Staff sessions over for a day go too (their sign-in counts share the throttle table).
        removed += sqlx::query("DELETE FROM staff_sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) OR expires_at < $1").bind(now - day).execute(&self.pool).await?.rows_affected();
        removed += sqlx::query("DELETE FROM portal_throttle WHERE window_start < $1").bind(window_start_before).execute(&self.pool).await?.rows_affected();
        Ok(removed)
    }

    async fn verification(&self, id: &str) -> StoreResult<Option<VerificationRow>> {
        let row = sqlx::query("SELECT id, external_id, secure_message_id, channel, created_at, expires_at, attempts, state FROM portal_verifications WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(VerificationRow {
            id: r.try_get("id")?,
            external_id: r.try_get("external_id")?,
            secure_message_id: r.try_get("secure_message_id")?,
            channel: r.try_get("channel")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            attempts: r.try_get("attempts")?,
            state: r.try_get("state")?,
        }))
    }

    async fn check_code(&self, attempt: CodeAttempt<'_>, signed_in: &SessionRow, ctx: &AuditContext) -> StoreResult<CodeCheck> {
        let CodeAttempt { verification_id: id, right, max_attempts, now, waiting } = attempt;
        let (mut tx, mut head) = self.begin_write().await?;
        let object = self.patient_object(&signed_in.external_id);
        let open = "id = $1 AND state = 'pending' AND expires_at > $2 AND attempts < $3";
        let outcome = if right {
            let sql = format!("UPDATE portal_verifications SET state = 'verified' WHERE {open}");
            let changed = sqlx::query(AssertSqlSafe(sql)).bind(id).bind(now).bind(max_attempts).execute(&mut *tx).await?.rows_affected() == 1;
            if changed {
                sqlx::query("UPDATE portal_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL").bind(waiting).bind(now).execute(&mut *tx).await?;
                Self::insert_session(&mut tx, signed_in).await?;
                CodeCheck::Verified
            } else {
                CodeCheck::Over
            }
        } else {
            let sql = format!("UPDATE portal_verifications SET attempts = attempts + 1, state = CASE WHEN attempts + 1 >= $3 THEN 'locked' ELSE state END WHERE {open} RETURNING attempts");
            match sqlx::query(AssertSqlSafe(sql)).bind(id).bind(now).bind(max_attempts).fetch_optional(&mut *tx).await? {
                Some(row) => {
                    let attempts: i64 = row.try_get("attempts")?;
                    if attempts >= max_attempts {
                        sqlx::query("UPDATE portal_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL").bind(waiting).bind(now).execute(&mut *tx).await?;
                        CodeCheck::Over
                    } else {
                        CodeCheck::Wrong { left: max_attempts - attempts }
                    }
                }
                None => CodeCheck::Over,
            }
        };
        let text = match outcome {
            CodeCheck::Verified => "success".to_owned(),
            CodeCheck::Wrong { left } => format!("rejected:wrong_code:{left}_left"),
            CodeCheck::Over => "rejected:verification_over".to_owned(),
        };
        head.append(&mut tx, &[ctx.event(action::PORTAL_CODE, format!("{object}/verification:{id}"), &text)]).await?;
        head.commit(tx).await?;
        Ok(outcome)
    }

    async fn session(&self, id_hash: &[u8]) -> StoreResult<Option<SessionRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {SESSION_COLUMNS} FROM portal_sessions WHERE id_hash = $1"))).bind(id_hash).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| session_from(&r)).transpose()?)
    }

    async fn touch_session(&self, id_hash: &[u8], now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE portal_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2").bind(id_hash).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    async fn start_session(&self, session: &SessionRow, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        Self::insert_session(&mut tx, session).await?;
        head.append(&mut tx, &[ctx.event(action::PORTAL_SIGN_IN, self.patient_object(&session.external_id), "success:password")]).await?;
        head.commit(tx).await?;
        Ok(())
    }

    async fn end_session(&self, id_hash: &[u8], now: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let query = sqlx::query("UPDATE portal_sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL").bind(id_hash.to_vec()).bind(now);
        let object = match self.session(id_hash).await? {
            Some(s) => self.patient_object(&s.external_id),
            None => return Ok(false),
        };
        self.change_one(query, ctx.event(action::PORTAL_SIGN_OUT, object, Outcome::Success.as_str())).await
    }

    async fn portal_password(&self, external_id: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT password_hash FROM portal_accounts WHERE external_id = $1").bind(external_id).fetch_optional(&self.pool).await?)
    }

    async fn set_portal_password(&self, external_id: &str, hash: &str, now: i64, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO portal_accounts (external_id, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (external_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
        )
        .bind(external_id)
        .bind(hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        head.append(&mut tx, &[ctx.event(action::PORTAL_PASSWORD, self.patient_object(external_id), Outcome::Success.as_str())]).await?;
        head.commit(tx).await?;
        Ok(())
    }

    async fn count_sign_in_attempt(&self, key_hash: &[u8], now: i64, since: i64) -> StoreResult<i64> {
        let attempts: i64 = sqlx::query_scalar(
            "INSERT INTO portal_throttle (key_hash, failures, window_start) VALUES ($1, 1, $2) ON CONFLICT (key_hash) DO UPDATE SET \
             failures = CASE WHEN portal_throttle.window_start > $3 THEN portal_throttle.failures + 1 ELSE 1 END, \
             window_start = CASE WHEN portal_throttle.window_start > $3 THEN portal_throttle.window_start ELSE $2 END \
             RETURNING failures",
        )
        .bind(key_hash)
        .bind(now)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(attempts)
    }

    async fn end_other_sessions(&self, external_id: &str, keep: &[u8], now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE portal_sessions SET ended_at = $3 WHERE external_id = $1 AND id_hash <> $2 AND ended_at IS NULL").bind(external_id).bind(keep).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    async fn clear_sign_in_failures(&self, key_hash: &[u8]) -> StoreResult<()> {
        sqlx::query("DELETE FROM portal_throttle WHERE key_hash = $1").bind(key_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn record_secure_message_view(&self, id: &str, now: i64, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        let external_id: Option<String> = sqlx::query_scalar("SELECT external_id FROM secure_messages WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let Some(external_id) = external_id else { return Ok(()) };
        sqlx::query("UPDATE secure_messages SET read_at = $2 WHERE id = $1 AND read_at IS NULL").bind(id).bind(now).execute(&mut *tx).await?;
        head.append(&mut tx, &[ctx.event(action::SECURE_MESSAGE_VIEW, self.secure_object(id, &external_id), Outcome::Success.as_str())]).await?;
        head.commit(tx).await?;
        Ok(())
    }
}
