//! Patient reads and the profile upsert on the SQL store.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::SqlStore;
use crate::{EventRecord, IndexKind, PatientRecord, PatientStore, StoreResult};

pub(super) const SELECT_PATIENT: &str = "SELECT external_id, key_version, wrapped_key, identifiers, email_index, phone_index, \
     timezone, language, preferred_channel, traits, created_at, updated_at FROM patients WHERE external_id = $1";

pub(super) fn patient_from_row(row: &AnyRow) -> Result<PatientRecord, sqlx::Error> {
    Ok(PatientRecord {
        external_id: row.try_get("external_id")?,
        key_version: row.try_get("key_version")?,
        wrapped_key: row.try_get("wrapped_key")?,
        identifiers: row.try_get("identifiers")?,
        email_index: row.try_get("email_index")?,
        phone_index: row.try_get("phone_index")?,
        timezone: row.try_get("timezone")?,
        language: row.try_get("language")?,
        preferred_channel: row.try_get("preferred_channel")?,
        traits: row.try_get("traits")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<EventRecord, sqlx::Error> {
    Ok(EventRecord {
        message_id: row.try_get("message_id")?,
        external_id: row.try_get("external_id")?,
        name: row.try_get("name")?,
        properties: row.try_get("properties")?,
        occurred_at: row.try_get("occurred_at")?,
        received_at: row.try_get("received_at")?,
    })
}

pub(super) async fn upsert_patient(conn: &mut AnyConnection, p: &PatientRecord) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO patients (external_id, key_version, wrapped_key, identifiers, email_index, phone_index, timezone, language, preferred_channel, traits, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (external_id) DO UPDATE SET key_version = excluded.key_version, wrapped_key = excluded.wrapped_key, \
         identifiers = excluded.identifiers, email_index = excluded.email_index, phone_index = excluded.phone_index, \
         timezone = excluded.timezone, language = excluded.language, preferred_channel = excluded.preferred_channel, \
         traits = excluded.traits, updated_at = excluded.updated_at",
    )
    .bind(&p.external_id)
    .bind(p.key_version)
    .bind(p.wrapped_key.clone())
    .bind(p.identifiers.clone())
    .bind(p.email_index.clone())
    .bind(p.phone_index.clone())
    .bind(p.timezone.clone())
    .bind(p.language.clone())
    .bind(p.preferred_channel.clone())
    .bind(&p.traits)
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl PatientStore for SqlStore {
    async fn patient(&self, external_id: &str) -> StoreResult<Option<PatientRecord>> {
        let row = sqlx::query(SELECT_PATIENT)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| patient_from_row(&r)).transpose()?)
    }

    async fn patients_by_index(&self, kind: IndexKind, index: &[u8]) -> StoreResult<Vec<String>> {
        let sql = match kind {
            IndexKind::Email => "SELECT external_id FROM patients WHERE email_index = $1 ORDER BY external_id",
            IndexKind::Phone => "SELECT external_id FROM patients WHERE phone_index = $1 ORDER BY external_id",
        };
        let rows = sqlx::query(sql).bind(index.to_vec()).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.try_get("external_id")).collect::<Result<_, _>>()?)
    }

    async fn events_of(&self, external_id: &str, limit: i64) -> StoreResult<Vec<EventRecord>> {
        let rows = sqlx::query(
            "SELECT message_id, external_id, name, properties, occurred_at, received_at FROM events \
             WHERE external_id = $1 ORDER BY occurred_at, id LIMIT $2",
        )
        .bind(external_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }

    async fn counts(&self) -> StoreResult<(i64, i64)> {
        let row = sqlx::query("SELECT (SELECT COUNT(*) FROM patients) AS patients, (SELECT COUNT(*) FROM events) AS events")
            .fetch_one(&self.pool)
            .await?;
        Ok((row.try_get("patients")?, row.try_get("events")?))
    }
}
