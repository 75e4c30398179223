//! Ingestion and patient reads on the SQL store.

use sqlx::any::AnyRow;
use sqlx::{Acquire, AnyConnection, Row};

use sotto_core::audit::{AuditEvent, Outcome, action};

use super::{ChainHead, SqlStore};
use crate::{
    AuditContext, EventRecord, IndexKind, IngestJob, IngestStore, IngestWrite, PatientRecord, PatientStore, ProfileMerger, StoreError,
    StoreResult, WriteOutcome,
};

const SELECT_PATIENT: &str = "SELECT external_id, key_version, wrapped_key, identifiers, email_index, phone_index, \
     timezone, language, preferred_channel, traits, created_at, updated_at FROM patients WHERE external_id = $1";

fn patient_from_row(row: &AnyRow) -> Result<PatientRecord, sqlx::Error> {
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

impl IngestStore for SqlStore {
    async fn ingest<C: Send + Sync>(
        &self,
        writes: &[IngestWrite<C>],
        merger: &dyn ProfileMerger<C>,
        ctx: &AuditContext,
        extra_audit: Vec<AuditEvent>,
    ) -> StoreResult<Vec<WriteOutcome>> {
        let (mut tx, mut head) = self.begin_write().await?;
        let outcomes = apply_job(&mut tx, &mut head, writes, merger, ctx, extra_audit).await?;
        head.commit(tx).await?;
        Ok(outcomes)
    }

    async fn ingest_group<C: Send + Sync>(&self, jobs: &[IngestJob<C>], merger: &dyn ProfileMerger<C>) -> StoreResult<Vec<StoreResult<Vec<WriteOutcome>>>> {
        if let [job] = jobs {
            // One job needs no savepoint: the transaction is the job.
            let outcome = self.ingest(&job.writes, merger, &job.ctx, job.extra_audit.clone()).await;
            return match outcome {
                Err(e) if !matches!(e, StoreError::Aborted(_)) => Err(e),
                other => Ok(vec![other]),
            };
        }
        let (mut tx, mut head) = self.begin_write().await?;
        let mut results = Vec::with_capacity(jobs.len());
        for job in jobs {
            let before = head.clone();
            let mut savepoint = tx.begin().await?;
            match apply_job(&mut savepoint, &mut head, &job.writes, merger, &job.ctx, job.extra_audit.clone()).await {
                Ok(outcomes) => {
                    savepoint.commit().await?;
                    results.push(Ok(outcomes));
                }
                Err(e) if e.is_unavailable() => return Err(e),
                Err(e) => {
                    savepoint.rollback().await?;
                    head = before;
                    results.push(Err(e));
                }
            }
        }
        head.commit(tx).await?;
        Ok(results)
    }
}

/// Applies one request's writes and audit entries on an open transaction or savepoint.
async fn apply_job<C>(
    conn: &mut AnyConnection,
    head: &mut ChainHead,
    writes: &[IngestWrite<C>],
    merger: &dyn ProfileMerger<C>,
    ctx: &AuditContext,
    extra_audit: Vec<AuditEvent>,
) -> StoreResult<Vec<WriteOutcome>> {
    let now = ctx.at_micros;
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut audit = extra_audit;
    for write in writes {
        let (message_id, external_id, kind, act) = match write {
            IngestWrite::Identify { message_id, external_id, .. } => (message_id, external_id, "identify", action::PATIENT_IDENTIFY),
            IngestWrite::Track(e) => (&e.message_id, &e.external_id, "track", action::EVENT_TRACK),
        };
        let fresh = sqlx::query("INSERT INTO ingested_messages (message_id, kind, received_at) VALUES ($1, $2, $3) ON CONFLICT (message_id) DO NOTHING")
            .bind(message_id)
            .bind(kind)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1;
        let object = format!("patient:{external_id}/message:{message_id}");
        if !fresh {
            outcomes.push(WriteOutcome::Duplicate);
            audit.push(ctx.event(act, object, Outcome::Duplicate.as_str()));
            continue;
        }
        match write {
            IngestWrite::Identify { external_id, changes, .. } => {
                let existing = sqlx::query(SELECT_PATIENT)
                    .bind(external_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| patient_from_row(&r))
                    .transpose()?;
                let record = merger.merge(external_id, existing.as_ref(), changes, now).map_err(StoreError::Aborted)?;
                upsert_patient(conn, &record).await?;
            }
            IngestWrite::Track(event) => {
                sqlx::query("INSERT INTO patients (external_id, traits, created_at, updated_at) VALUES ($1, '{}', $2, $2) ON CONFLICT (external_id) DO NOTHING")
                    .bind(&event.external_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("INSERT INTO events (message_id, external_id, name, properties, occurred_at, received_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&event.message_id)
                    .bind(&event.external_id)
                    .bind(&event.name)
                    .bind(&event.properties)
                    .bind(event.occurred_at)
                    .bind(event.received_at)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        outcomes.push(WriteOutcome::Accepted);
        audit.push(ctx.event(act, object, Outcome::Success.as_str()));
    }
    head.append(conn, &audit).await?;
    Ok(outcomes)
}

async fn upsert_patient(conn: &mut AnyConnection, p: &PatientRecord) -> Result<(), sqlx::Error> {
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
