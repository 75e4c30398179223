//! Ingestion on the SQL store. A group of requests is applied with a handful of multi-row
//! statements; if any request in it fails, the group is retried request by request under
//! savepoints, so one bad request never takes the others down with it.

use std::collections::{BTreeSet, HashSet};

use sqlx::{Acquire, AnyConnection, Row};

use sotto_core::audit::{AuditEvent, Outcome, action};

use super::bulk::insert_rows;
use super::patients::{SELECT_PATIENT, patient_from_row, upsert_patient};
use super::{ChainHead, SqlStore};
use crate::{AuditContext, IngestJob, IngestStore, IngestWrite, ProfileMerger, StoreError, StoreResult, WriteOutcome};

/// One request's part of a group, borrowed.
struct JobRef<'a, C> {
    writes: &'a [IngestWrite<C>],
    ctx: &'a AuditContext,
    extra_audit: &'a [AuditEvent],
}

fn job_refs<C>(jobs: &[IngestJob<C>]) -> Vec<JobRef<'_, C>> {
    jobs.iter().map(|j| JobRef { writes: &j.writes, ctx: &j.ctx, extra_audit: &j.extra_audit }).collect()
}

fn keys<C>(write: &IngestWrite<C>) -> (&str, &str, &'static str, &'static str) {
    match write {
        IngestWrite::Identify { message_id, external_id, .. } => (message_id, external_id, "identify", action::PATIENT_IDENTIFY),
        IngestWrite::Track(e) => (&e.message_id, &e.external_id, "track", action::EVENT_TRACK),
    }
}

/// Applies jobs on an open transaction or savepoint; returns each job's outcomes.
async fn apply_jobs<C>(conn: &mut AnyConnection, head: &mut ChainHead, jobs: &[JobRef<'_, C>], merger: &dyn ProfileMerger<C>) -> StoreResult<Vec<Vec<WriteOutcome>>> {
    // Idempotency keys: the first occurrence in the group is a candidate; the database says
    // which candidates are new.
    let mut seen = HashSet::new();
    let candidates: Vec<(&str, &str, i64)> = jobs
        .iter()
        .flat_map(|j| j.writes.iter().map(move |w| (w, j.ctx.at_micros)))
        .filter_map(|(w, at)| {
            let (message_id, _, kind, _) = keys(w);
            seen.insert(message_id).then_some((message_id, kind, at))
        })
        .collect();
    let backend = head.backend;
    let inserted = insert_rows(
        backend,
        conn,
        "INSERT INTO ingested_messages (message_id, kind, received_at)",
        3,
        "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
        &candidates,
        |q, (id, kind, at)| q.bind(*id).bind(*kind).bind(*at),
    )
    .await?;
    let mut fresh: HashSet<String> = inserted.iter().map(|r| r.try_get::<String, _>("message_id")).collect::<Result<_, _>>()?;

    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut audit = Vec::new();
    let mut stubs = BTreeSet::new();
    let mut events = Vec::new();
    for job in jobs {
        audit.extend_from_slice(job.extra_audit);
        let mut job_outcomes = Vec::with_capacity(job.writes.len());
        for write in job.writes {
            let (message_id, external_id, _, act) = keys(write);
            let object = format!("patient:{}/message:{}", head.key.patient_ref(external_id), head.key.message_ref(message_id));
            // `remove` makes a repeat of the same id later in the group a duplicate.
            if !fresh.remove(message_id) {
                job_outcomes.push(WriteOutcome::Duplicate);
                audit.push(job.ctx.event(act, object, Outcome::Duplicate.as_str()));
                continue;
            }
            match write {
                IngestWrite::Identify { external_id, changes, .. } => {
                    let existing = sqlx::query(SELECT_PATIENT).bind(external_id).fetch_optional(&mut *conn).await?;
                    let existing = existing.map(|r| patient_from_row(&r)).transpose()?;
                    let record = merger.merge(external_id, existing.as_ref(), changes, job.ctx.at_micros).map_err(StoreError::Aborted)?;
                    upsert_patient(conn, &record).await?;
                }
                IngestWrite::Track(event) => {
                    stubs.insert((event.external_id.as_str(), job.ctx.at_micros));
                    events.push(event);
                }
            }
            job_outcomes.push(WriteOutcome::Accepted);
            audit.push(job.ctx.event(act, object, Outcome::Success.as_str()));
        }
        outcomes.push(job_outcomes);
    }
    let mut stub_ids = HashSet::new();
    let stubs: Vec<(&str, i64)> = stubs.into_iter().filter(|(id, _)| stub_ids.insert(*id)).collect();
    insert_rows(backend, conn, "INSERT INTO patients (external_id, traits, created_at, updated_at)", 4, "ON CONFLICT (external_id) DO NOTHING", &stubs, |q, (id, at)| {
        q.bind(*id).bind("{}").bind(*at).bind(*at)
    })
    .await?;
    insert_rows(backend, conn, "INSERT INTO events (message_id, external_id, name, properties, occurred_at, received_at)", 6, "", &events, |q, e| {
        q.bind(e.message_id.as_str()).bind(e.external_id.as_str()).bind(e.name.as_str()).bind(e.properties.as_str()).bind(e.occurred_at).bind(e.received_at)
    })
    .await?;
    head.append(conn, &audit).await?;
    Ok(outcomes)
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
        let job = JobRef { writes, ctx, extra_audit: &extra_audit };
        let mut outcomes = apply_jobs(&mut tx, &mut head, &[job], merger).await?;
        head.commit(tx).await?;
        Ok(outcomes.pop().unwrap_or_default())
    }

    async fn ingest_group<C: Send + Sync>(&self, jobs: &[IngestJob<C>], merger: &dyn ProfileMerger<C>) -> StoreResult<Vec<StoreResult<Vec<WriteOutcome>>>> {
        let (mut tx, mut head) = self.begin_write().await?;
        match apply_jobs(&mut tx, &mut head, &job_refs(jobs), merger).await {
            Ok(outcomes) => {
                head.commit(tx).await?;
                return Ok(outcomes.into_iter().map(Ok).collect());
            }
            Err(e) if e.is_unavailable() => return Err(e),
            Err(e) if jobs.len() == 1 => return Ok(vec![Err(e)]),
            Err(_) => tx.rollback().await?,
        }
        // Slow path: find the failing requests one by one.
        let (mut tx, mut head) = self.begin_write().await?;
        let mut results = Vec::with_capacity(jobs.len());
        for job in job_refs(jobs) {
            let before = head.clone();
            let mut savepoint = tx.begin().await?;
            match apply_jobs(&mut savepoint, &mut head, &[job], merger).await {
                Ok(mut outcomes) => {
                    savepoint.commit().await?;
                    results.push(Ok(outcomes.pop().unwrap_or_default()));
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
