//! The code vault, segment definitions and the engine's build pages on the SQL store.

use sqlx::Row;
use sqlx::any::AnyRow;

use sotto_core::audit::{Outcome, action};

use super::SqlStore;
use super::consent::consent_from_row;
use crate::{AuditContext, ConsentRow, EventRecord, ProfileFacts, SegmentRow, SegmentStore, StoreResult};

fn segment_from_row(r: &AnyRow) -> Result<SegmentRow, sqlx::Error> {
    Ok(SegmentRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        definition: r.try_get("definition")?,
        expr: r.try_get("expr")?,
        touches_phi: r.try_get::<i64, _>("touches_phi")? != 0,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

impl SegmentStore for SqlStore {
    async fn put_code(&self, code: &str, sealed: &[u8], ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO vault_codes (code, meaning, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (code) DO UPDATE SET meaning = excluded.meaning, updated_at = excluded.updated_at",
        )
        .bind(code)
        .bind(sealed)
        .bind(ctx.at_micros)
        .execute(&mut *tx)
        .await?;
        head.append(&mut tx, &[ctx.event(action::VAULT_WRITE, format!("vault:{code}"), Outcome::Success.as_str())]).await?;
        head.commit(tx).await
    }

    async fn code(&self, code: &str) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT meaning FROM vault_codes WHERE code = $1").bind(code).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get("meaning")).transpose()?)
    }

    async fn create_segment(&self, row: &SegmentRow, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let created = sqlx::query(
            "INSERT INTO segments (id, name, definition, expr, touches_phi, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(row.id.as_str())
        .bind(row.name.as_str())
        .bind(row.definition.as_str())
        .bind(row.expr.as_str())
        .bind(i64::from(row.touches_phi))
        .bind(row.created_at)
        .bind(row.created_by.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let outcome = if created { Outcome::Success.as_str() } else { "rejected:name_exists" };
        head.append(&mut tx, &[ctx.event(action::SEGMENT_CREATE, format!("segment:{}", row.id), outcome)]).await?;
        head.commit(tx).await?;
        Ok(created)
    }

    async fn segments(&self) -> StoreResult<Vec<SegmentRow>> {
        let rows = sqlx::query("SELECT id, name, definition, expr, touches_phi, created_at, created_by FROM segments ORDER BY created_at DESC, id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(segment_from_row).collect::<Result<_, _>>()?)
    }

    async fn segment(&self, id: &str) -> StoreResult<Option<SegmentRow>> {
        let row = sqlx::query("SELECT id, name, definition, expr, touches_phi, created_at, created_by FROM segments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| segment_from_row(&r)).transpose()?)
    }

    async fn profile_page(&self, after: &str, limit: i64) -> StoreResult<Vec<ProfileFacts>> {
        let rows = sqlx::query("SELECT external_id, timezone, language, preferred_channel, traits FROM patients WHERE external_id > $1 ORDER BY external_id LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let facts = |r: &AnyRow| -> Result<ProfileFacts, sqlx::Error> {
            Ok(ProfileFacts {
                external_id: r.try_get("external_id")?,
                timezone: r.try_get("timezone")?,
                language: r.try_get("language")?,
                preferred_channel: r.try_get("preferred_channel")?,
                traits: r.try_get("traits")?,
            })
        };
        Ok(rows.iter().map(facts).collect::<Result<_, _>>()?)
    }

    async fn event_page(&self, after_id: i64, limit: i64) -> StoreResult<Vec<(i64, EventRecord)>> {
        let rows = sqlx::query("SELECT id, message_id, external_id, name, properties, occurred_at, received_at FROM events WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let event = |r: &AnyRow| -> Result<(i64, EventRecord), sqlx::Error> {
            Ok((
                r.try_get("id")?,
                EventRecord {
                    message_id: r.try_get("message_id")?,
                    external_id: r.try_get("external_id")?,
                    name: r.try_get("name")?,
                    properties: r.try_get("properties")?,
                    occurred_at: r.try_get("occurred_at")?,
                    received_at: r.try_get("received_at")?,
                },
            ))
        };
        Ok(rows.iter().map(event).collect::<Result<_, _>>()?)
    }

    async fn authorization_holders(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT external_id FROM authorizations ORDER BY external_id").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.try_get("external_id")).collect::<Result<_, _>>()?)
    }

    async fn consent_page(&self, after_id: i64, limit: i64) -> StoreResult<Vec<(i64, ConsentRow)>> {
        let rows = sqlx::query(
            "SELECT id, external_id, channel, topic, status, kind, source, captured_at, evidence, recorded_at, actor FROM consents \
             WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("id")?, consent_from_row(r)?))).collect::<Result<_, sqlx::Error>>()?)
    }
}
