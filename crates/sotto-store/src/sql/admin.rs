//! Dictionary declarations, API keys, the audit chain and health on the SQL store.

use sqlx::Row;

use sotto_core::audit::{AuditEvent, AuditRecord, Outcome, action};
use sotto_core::dictionary::{FieldKind, FieldSpec};

use super::SqlStore;
use crate::{ApiKeyRecord, AuditContext, AuditStore, DictionaryStore, HealthStore, KeyStore, StoreError, StoreResult};

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Trait => "trait",
        FieldKind::Event => "event",
        FieldKind::Property => "property",
    }
}

impl HealthStore for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }
}

impl DictionaryStore for SqlStore {
    async fn declared_fields(&self) -> StoreResult<Vec<FieldSpec>> {
        let rows = sqlx::query("SELECT spec FROM dictionary_fields ORDER BY kind, name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let text: String = r.try_get("spec")?;
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("dictionary field: {e}")))
            })
            .collect()
    }

    async fn declare_field(&self, spec: &FieldSpec, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let text = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let created = sqlx::query("INSERT INTO dictionary_fields (kind, name, spec, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, name) DO NOTHING")
            .bind(kind_name(spec.kind))
            .bind(&spec.name)
            .bind(text)
            .bind(ctx.at_micros)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let outcome = if created { Outcome::Success.as_str() } else { "rejected:field_exists" };
        let object = format!("dictionary:{}/{}", kind_name(spec.kind), spec.name);
        head.append(&mut tx, &[ctx.event(action::DICTIONARY_DECLARE, object, outcome)]).await?;
        head.commit(tx).await?;
        Ok(created)
    }
}

impl KeyStore for SqlStore {
    async fn create_api_key(&self, key: &ApiKeyRecord, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query("INSERT INTO api_keys (id, name, scopes, secret_hash, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.scopes)
            .bind(key.secret_hash.clone())
            .bind(key.created_at)
            .bind(key.expires_at)
            .bind(key.revoked_at)
            .execute(&mut *tx)
            .await?;
        let event = ctx.event(action::API_KEY_CREATE, format!("api_key:{}", key.id), Outcome::Success.as_str());
        head.append(&mut tx, &[event]).await?;
        head.commit(tx).await
    }

    async fn api_key_by_hash(&self, hash: &[u8]) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query("SELECT id, name, scopes, secret_hash, created_at, expires_at, revoked_at FROM api_keys WHERE secret_hash = $1")
            .bind(hash.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(key_record).transpose()?)
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        let rows = sqlx::query("SELECT id, name, scopes, secret_hash, created_at, expires_at, revoked_at FROM api_keys ORDER BY created_at DESC, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(key_record).collect::<Result<_, _>>()?)
    }

    async fn revoke_api_key(&self, id: &str, at: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let revoked = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let (object, outcome) = if revoked { (format!("api_key:{id}"), Outcome::Success.as_str()) } else { ("api_key:unknown".to_owned(), "rejected:not_found") };
        head.append(&mut tx, &[ctx.event(action::API_KEY_REVOKE, object, outcome)]).await?;
        head.commit(tx).await?;
        Ok(revoked)
    }
}

fn key_record(r: &sqlx::any::AnyRow) -> Result<ApiKeyRecord, sqlx::Error> {
    Ok(ApiKeyRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scopes: r.try_get("scopes")?,
        secret_hash: r.try_get("secret_hash")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl AuditStore for SqlStore {
    async fn append_audit(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        head.append(&mut tx, &events).await?;
        head.commit(tx).await
    }

    async fn audit_page(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, object, outcome, request_id, source_ip, prev_hash, hash FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let record = |r: &sqlx::any::AnyRow| -> Result<AuditRecord, sqlx::Error> {
            Ok(AuditRecord {
                seq: r.try_get("seq")?,
                event: AuditEvent {
                    at_micros: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    object: r.try_get("object")?,
                    outcome: r.try_get("outcome")?,
                    request_id: r.try_get("request_id")?,
                    source_ip: r.try_get("source_ip")?,
                },
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        };
        Ok(rows.iter().map(record).collect::<Result<_, _>>()?)
    }

    async fn audit_head(&self) -> StoreResult<(i64, Vec<u8>)> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
        Ok((row.try_get("seq")?, row.try_get("hash")?))
    }
}
