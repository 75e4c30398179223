//! The consent ledger, authorizations, suppressions, sends, gate decisions and SMS replies on
//! the SQL store.

use sqlx::any::AnyRow;
use sqlx::Row;

use sotto_core::audit::{AuditEvent, Outcome, action};

use super::bulk::insert_rows;
use super::SqlStore;
use super::webhooks::{Fact, queue};
use serde_json::json;
use crate::{AuditContext, AuthorizationRow, ConsentRow, ConsentStore, DecisionRow, RevokeOutcome, SendRow, StoreResult};

pub(super) fn consent_from_row(r: &AnyRow) -> Result<ConsentRow, sqlx::Error> {
    Ok(ConsentRow {
        external_id: r.try_get("external_id")?,
        channel: r.try_get("channel")?,
        topic: r.try_get("topic")?,
        status: r.try_get("status")?,
        kind: r.try_get("kind")?,
        source: r.try_get("source")?,
        captured_at: r.try_get("captured_at")?,
        evidence: r.try_get("evidence")?,
        recorded_at: r.try_get("recorded_at")?,
        actor: r.try_get("actor")?,
    })
}

pub(super) fn authorization_from_row(r: &AnyRow) -> Result<AuthorizationRow, sqlx::Error> {
    Ok(AuthorizationRow {
        id: r.try_get("id")?,
        external_id: r.try_get("external_id")?,
        form_version: r.try_get("form_version")?,
        signed_at: r.try_get("signed_at")?,
        expires_at: r.try_get("expires_at")?,
        expires_on: r.try_get("expires_on")?,
        expiration_event: r.try_get("expiration_event")?,
        remuneration_involved: r.try_get::<i64, _>("remuneration_involved")? != 0,
        document: r.try_get("document")?,
        created_at: r.try_get("created_at")?,
        retain_until: r.try_get("retain_until")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl SqlStore {
    /// Writes gate decisions and their audit entries inside a write transaction.
    pub(super) async fn insert_decisions(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, head: &mut super::ChainHead, rows: &[DecisionRow], ctx: &AuditContext) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        insert_rows(self.backend, tx, "INSERT INTO gate_decisions (decided_at, external_id, channel, purpose, decision, reasons)", 6, "", rows, |q, r| {
            q.bind(r.decided_at).bind(r.patient.as_str()).bind(r.channel.as_str()).bind(r.purpose.as_str()).bind(r.decision.as_str()).bind(r.reasons.as_str())
        })
        .await?;
        let events: Vec<_> = rows
            .iter()
            .map(|r| {
                let outcome = if r.reasons.is_empty() { r.decision.clone() } else { format!("{}:{}", r.decision, r.reasons.replace(' ', ",")) };
                ctx.event(action::GATE_DECIDE, format!("patient:{}/{}/{}", r.patient, r.channel, r.purpose), &outcome)
            })
            .collect();
        head.append(tx, &events).await
    }

    /// Appends ledger rows and their audit entries inside a write transaction.
    async fn insert_consents(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, head: &mut super::ChainHead, rows: &[ConsentRow], ctx: &AuditContext, audit: Vec<AuditEvent>) -> StoreResult<()> {
        if !rows.is_empty() {
            insert_rows(
                self.backend,
                tx,
                "INSERT INTO consents (external_id, channel, topic, status, kind, source, captured_at, evidence, recorded_at, actor)",
                10,
                "",
                rows,
                |q, r| {
                    q.bind(r.external_id.as_str())
                        .bind(r.channel.as_str())
                        .bind(r.topic.as_deref())
                        .bind(r.status.as_str())
                        .bind(r.kind.as_str())
                        .bind(r.source.as_str())
                        .bind(r.captured_at)
                        .bind(r.evidence.as_str())
                        .bind(r.recorded_at)
                        .bind(r.actor.as_str())
                },
            )
            .await?;
        }
        let mut events: Vec<AuditEvent> = rows
            .iter()
            .map(|r| {
                let object = format!("patient:{}/consent:{}:{}", self.chain_key.patient_ref(&r.external_id), r.channel, r.topic.as_deref().unwrap_or("*"));
                ctx.event(action::CONSENT_RECORD, object, &format!("{}:{}", Outcome::Success.as_str(), r.status))
            })
            .collect();
        events.extend(audit);
        let facts: Vec<Fact> = rows
            .iter()
            .map(|r| Fact { kind: "consent.changed", data: json!({"patient": r.external_id, "channel": r.channel, "topic": r.topic, "status": r.status, "source": r.source}) })
            .collect();
        queue(tx, &facts, ctx.at_micros).await?;
        head.append(tx, &events).await
    }
}

impl ConsentStore for SqlStore {
    async fn append_consents(&self, rows: &[ConsentRow], ctx: &AuditContext, audit: Vec<AuditEvent>) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        self.insert_consents(&mut tx, &mut head, rows, ctx, audit).await?;
        head.commit(tx).await
    }

    async fn record_number_consent(&self, phone_index: &[u8], status: &str, at: i64, rows: &[ConsentRow], ctx: &AuditContext, audit: Vec<AuditEvent>) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query("INSERT INTO sms_number_consents (phone_index, status, captured_at) VALUES ($1, $2, $3)")
            .bind(phone_index.to_vec())
            .bind(status)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        let mut audit = audit;
        audit.push(ctx.event(action::CONSENT_RECORD, "sms_number".to_owned(), &format!("{}:{status}", Outcome::Success.as_str())));
        self.insert_consents(&mut tx, &mut head, rows, ctx, audit).await?;
        head.commit(tx).await
    }

    async fn number_consent(&self, phone_index: &[u8]) -> StoreResult<Option<(String, i64)>> {
        let row = sqlx::query("SELECT status, captured_at FROM sms_number_consents WHERE phone_index = $1 ORDER BY id DESC LIMIT 1")
            .bind(phone_index.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Ok::<_, sqlx::Error>((r.try_get("status")?, r.try_get("captured_at")?))).transpose()?)
    }

    async fn consents_of(&self, external_id: &str) -> StoreResult<Vec<ConsentRow>> {
        let rows = sqlx::query(
            "SELECT external_id, channel, topic, status, kind, source, captured_at, evidence, recorded_at, actor FROM consents \
             WHERE external_id = $1 ORDER BY id",
        )
        .bind(external_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(consent_from_row).collect::<Result<_, _>>()?)
    }

    async fn create_authorization_form(&self, version: &str, language: &str, body: &str, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let created = sqlx::query("INSERT INTO authorization_forms (version, language, body, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (version) DO NOTHING")
            .bind(version)
            .bind(language)
            .bind(body)
            .bind(ctx.at_micros)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let outcome = if created { Outcome::Success.as_str() } else { "rejected:form_version_exists" };
        head.append(&mut tx, &[ctx.event(action::AUTHORIZATION_FORM_CREATE, format!("authorization_form:{version}"), outcome)]).await?;
        head.commit(tx).await?;
        Ok(created)
    }

    async fn authorization_form(&self, version: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT body FROM authorization_forms WHERE version = $1").bind(version).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get("body")).transpose()?)
    }

    async fn create_authorization(&self, row: &AuthorizationRow, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO authorizations (id, external_id, form_version, signed_at, expires_at, expires_on, expiration_event, \
             remuneration_involved, document, created_at, retain_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(row.id.as_str())
        .bind(row.external_id.as_str())
        .bind(row.form_version.as_str())
        .bind(row.signed_at)
        .bind(row.expires_at)
        .bind(row.expires_on.as_deref())
        .bind(row.expiration_event.as_deref())
        .bind(i64::from(row.remuneration_involved))
        .bind(row.document.as_slice())
        .bind(row.created_at)
        .bind(row.retain_until)
        .execute(&mut *tx)
        .await?;
        let object = format!("patient:{}/authorization:{}", self.chain_key.patient_ref(&row.external_id), row.id);
        head.append(&mut tx, &[ctx.event(action::AUTHORIZATION_CREATE, object, Outcome::Success.as_str())]).await?;
        head.commit(tx).await
    }

    async fn revoke_authorization(&self, external_id: &str, id: &str, at: i64, source: &str, ctx: &AuditContext) -> StoreResult<RevokeOutcome> {
        let (mut tx, mut head) = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM authorizations WHERE id = $1 AND external_id = $2")
            .bind(id)
            .bind(external_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(RevokeOutcome::NotFound);
        }
        let inserted = sqlx::query(
            "INSERT INTO authorization_revocations (authorization_id, revoked_at, source, recorded_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (authorization_id) DO NOTHING",
        )
        .bind(id)
        .bind(at)
        .bind(source)
        .bind(ctx.at_micros)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            let fact = Fact { kind: "authorization.revoked", data: json!({"patient": external_id, "authorization_id": id, "source": source}) };
            queue(&mut tx, &[fact], ctx.at_micros).await?;
        }
        let outcome = if inserted { RevokeOutcome::Revoked } else { RevokeOutcome::AlreadyRevoked };
        let text = if inserted { "success" } else { "duplicate" };
        let object = format!("patient:{}/authorization:{id}", self.chain_key.patient_ref(external_id));
        head.append(&mut tx, &[ctx.event(action::AUTHORIZATION_REVOKE, object, text)]).await?;
        head.commit(tx).await?;
        Ok(outcome)
    }

    async fn authorizations_of(&self, external_id: &str) -> StoreResult<Vec<AuthorizationRow>> {
        let rows = sqlx::query(
            "SELECT a.id, a.external_id, a.form_version, a.signed_at, a.expires_at, a.expires_on, a.expiration_event, \
             a.remuneration_involved, a.document, a.created_at, a.retain_until, r.revoked_at \
             FROM authorizations a LEFT JOIN authorization_revocations r ON r.authorization_id = a.id \
             WHERE a.external_id = $1 ORDER BY a.created_at, a.id",
        )
        .bind(external_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(authorization_from_row).collect::<Result<_, _>>()?)
    }

    async fn ensure_patient_key(&self, external_id: &str, wrapped: &[u8], key_version: i64, now: i64) -> StoreResult<Vec<u8>> {
        let (mut tx, head) = self.begin_write().await?;
        sqlx::query("INSERT INTO patients (external_id, traits, created_at, updated_at) VALUES ($1, '{}', $2, $2) ON CONFLICT (external_id) DO NOTHING")
            .bind(external_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE patients SET wrapped_key = $1, key_version = $2 WHERE external_id = $3 AND wrapped_key IS NULL")
            .bind(wrapped)
            .bind(key_version)
            .bind(external_id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT wrapped_key FROM patients WHERE external_id = $1").bind(external_id).fetch_one(&mut *tx).await?;
        let key: Vec<u8> = row.try_get("wrapped_key")?;
        head.commit(tx).await?;
        Ok(key)
    }

    async fn add_suppression(&self, external_id: &str, channel: &str, reason: &str, evidence: &str, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query("INSERT INTO suppressions (external_id, channel, reason, created_at, evidence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(external_id)
            .bind(channel)
            .bind(reason)
            .bind(ctx.at_micros)
            .bind(evidence)
            .execute(&mut *tx)
            .await?;
        let object = format!("patient:{}/suppression:{channel}:{reason}", self.chain_key.patient_ref(external_id));
        head.append(&mut tx, &[ctx.event(action::SUPPRESSION_ADD, object, Outcome::Success.as_str())]).await?;
        head.commit(tx).await
    }

    async fn suppressions_of(&self, external_id: &str) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT channel, reason FROM suppressions WHERE external_id = $1 ORDER BY channel, reason")
            .bind(external_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("channel")?, r.try_get("reason")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    async fn record_send(&self, row: &SendRow, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query("INSERT INTO sends (external_id, channel, purpose, sent_at) VALUES ($1, $2, $3, $4)")
            .bind(row.patient.as_str())
            .bind(row.channel.as_str())
            .bind(row.purpose.as_str())
            .bind(row.sent_at)
            .execute(&mut *tx)
            .await?;
        let object = format!("patient:{}/{}/{}", row.patient, row.channel, row.purpose);
        head.append(&mut tx, &[ctx.event(action::MESSAGE_SEND, object, Outcome::Success.as_str())]).await?;
        head.commit(tx).await
    }

    async fn sends_of(&self, patient: &str, since: i64) -> StoreResult<Vec<SendRow>> {
        let rows = sqlx::query("SELECT external_id, channel, purpose, sent_at FROM sends WHERE external_id = $1 AND sent_at >= $2 ORDER BY sent_at")
            .bind(patient)
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        let send = |r: &AnyRow| -> Result<SendRow, sqlx::Error> {
            Ok(SendRow { patient: r.try_get("external_id")?, channel: r.try_get("channel")?, purpose: r.try_get("purpose")?, sent_at: r.try_get("sent_at")? })
        };
        Ok(rows.iter().map(send).collect::<Result<_, _>>()?)
    }

    async fn record_decisions(&self, rows: &[DecisionRow], ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        self.insert_decisions(&mut tx, &mut head, rows, ctx).await?;
        head.commit(tx).await
    }

    async fn decision_counts(&self, since: i64) -> StoreResult<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT decision, reasons, COUNT(*) AS n FROM gate_decisions WHERE decided_at >= $1 GROUP BY decision, reasons ORDER BY decision, reasons")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("decision")?, r.try_get("reasons")?, r.try_get("n")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    async fn claim_sms_reply(&self, phone_index: &[u8], kind: &str, now: i64, window_micros: i64) -> StoreResult<bool> {
        let (mut tx, head) = self.begin_write().await?;
        // The latest confirmation to this number decides: the same kind within the window
        // means this one was already confirmed (a START in between resets it).
        let latest = sqlx::query("SELECT kind, created_at FROM sms_replies WHERE phone_index = $1 AND kind <> 'help' ORDER BY id DESC LIMIT 1")
            .bind(phone_index)
            .fetch_optional(&mut *tx)
            .await?;
        let recent = match latest {
            Some(row) => row.try_get::<String, _>("kind")? == kind && row.try_get::<i64, _>("created_at")? > now - window_micros,
            None => false,
        };
        if !recent {
            sqlx::query("INSERT INTO sms_replies (phone_index, kind, created_at) VALUES ($1, $2, $3)")
                .bind(phone_index)
                .bind(kind)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        head.commit(tx).await?;
        Ok(!recent)
    }
}
