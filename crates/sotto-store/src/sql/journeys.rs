//! Journeys on the SQL store: versions with approval and review, events read into runs
//! (each event marked read in the transaction that changes its runs), and due runs moved in
//! the transaction that queues their messages, so a crash repeats nothing and loses nothing.
//! Claims skip rows other workers hold on PostgreSQL; SQLite runs one writer at a time.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row};

use sotto_core::audit::action;

use super::outbox_rows::insert_messages;
use super::bulk::insert_rows;
use super::gate_inputs::patients_in;
use super::SqlStore;
use crate::{AuditContext, JourneyApproval, JourneyIntake, JourneyRow, JourneyStore, PatientRecord, PendingEvent, RunAdvancer, RunCount, RunRow, StoreResult};

const JOURNEY_COLUMNS: &str = "id, version, name, definition, state, created_by, created_at, approved_by, approved_at, approved_hash, review_due, paused";
const RUN_COLUMNS: &str = "id, journey_id, version, run_key, external_id, step, waiting, context, state, wake_at, exit_reason, messages, started_at, updated_at";

fn journey_from_row(r: &AnyRow) -> Result<JourneyRow, sqlx::Error> {
    Ok(JourneyRow {
        id: r.try_get("id")?,
        version: r.try_get("version")?,
        name: r.try_get("name")?,
        definition: r.try_get("definition")?,
        state: r.try_get("state")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r.try_get("approved_at")?,
        approved_hash: r.try_get("approved_hash")?,
        review_due: r.try_get("review_due")?,
        paused: r.try_get::<i64, _>("paused")? != 0,
    })
}

fn run_from_row(r: &AnyRow) -> Result<RunRow, sqlx::Error> {
    Ok(RunRow {
        id: r.try_get("id")?,
        journey_id: r.try_get("journey_id")?,
        version: r.try_get("version")?,
        run_key: r.try_get("run_key")?,
        external_id: r.try_get("external_id")?,
        step: r.try_get("step")?,
        waiting: r.try_get::<i64, _>("waiting")? != 0,
        context: r.try_get("context")?,
        state: r.try_get("state")?,
        wake_at: r.try_get("wake_at")?,
        exit_reason: r.try_get("exit_reason")?,
        messages: r.try_get("messages")?,
        started_at: r.try_get("started_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

type Tx = sqlx::Transaction<'static, Any>;

/// Writes runs, new or changed, a chunk of rows per statement.
async fn save_runs(tx: &mut Tx, backend: super::Backend, runs: &[&RunRow]) -> Result<(), sqlx::Error> {
    let tail = "ON CONFLICT (journey_id, run_key) DO UPDATE SET version = excluded.version, external_id = excluded.external_id, step = excluded.step, \
                waiting = excluded.waiting, context = excluded.context, state = excluded.state, wake_at = excluded.wake_at, exit_reason = excluded.exit_reason, \
                messages = excluded.messages, started_at = excluded.started_at, updated_at = excluded.updated_at";
    insert_rows(backend, tx, &format!("INSERT INTO journey_runs ({RUN_COLUMNS})"), 14, tail, runs, |q, run| bind_run(q, run)).await?;
    Ok(())
}

/// Binds a run's columns in `RUN_COLUMNS` order.
fn bind_run<'q>(q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>, run: &'q RunRow) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    q.bind(run.id.as_str())
        .bind(run.journey_id.as_str())
        .bind(run.version)
        .bind(run.run_key.as_str())
        .bind(run.external_id.as_str())
        .bind(run.step.as_str())
        .bind(i64::from(run.waiting))
        .bind(run.context.as_str())
        .bind(run.state.as_str())
        .bind(run.wake_at)
        .bind(run.exit_reason.as_deref())
        .bind(run.messages.as_str())
        .bind(run.started_at)
        .bind(run.updated_at)
}

/// The profiles of the patients named, by external id.
async fn patients(tx: &mut Tx, backend: super::Backend, ids: impl Iterator<Item = String>) -> Result<BTreeMap<String, PatientRecord>, sqlx::Error> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort();
    ids.dedup();
    Ok(patients_in(tx, backend, &ids).await?.into_iter().map(|p| (p.external_id.clone(), p)).collect())
}

fn run_object(run: &RunRow) -> String {
    format!("journey:{}/run:{}", run.journey_id, run.id)
}

impl JourneyStore for SqlStore {
    async fn create_journey_version(&self, row: &JourneyRow, ctx: &AuditContext) -> StoreResult<bool> {
        let insert = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO journeys ({JOURNEY_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
             WHERE NOT EXISTS (SELECT 1 FROM journeys WHERE (id = $1 AND version = $2) OR (name = $3 AND id <> $1))"
        )))
        .bind(row.id.as_str())
        .bind(row.version)
        .bind(row.name.as_str())
        .bind(row.definition.as_str())
        .bind(row.state.as_str())
        .bind(row.created_by.as_str())
        .bind(row.created_at)
        .bind(row.approved_by.as_deref())
        .bind(row.approved_at)
        .bind(row.approved_hash.as_deref())
        .bind(row.review_due)
        .bind(i64::from(row.paused));
        self.change_one(insert, ctx.event(action::JOURNEY_WRITE, format!("journey:{}@{}", row.id, row.version), "created")).await
    }

    async fn journey_versions(&self, id: &str) -> StoreResult<Vec<JourneyRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {JOURNEY_COLUMNS} FROM journeys WHERE id = $1 ORDER BY version"))).bind(id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(journey_from_row).collect::<Result<_, _>>()?)
    }

    async fn journeys(&self) -> StoreResult<Vec<JourneyRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {JOURNEY_COLUMNS} FROM journeys ORDER BY id, version"))).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(journey_from_row).collect::<Result<_, _>>()?)
    }

    async fn approve_journey(&self, id: &str, version: i64, approval: &JourneyApproval, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let approved = sqlx::query("UPDATE journeys SET state = 'approved', approved_by = $1, approved_at = $2, approved_hash = $3, review_due = $4 WHERE id = $5 AND version = $6 AND state = 'submitted' AND created_by <> $1")
            .bind(approval.approver.as_str())
            .bind(approval.at)
            .bind(approval.hash.as_str())
            .bind(approval.review_due)
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !approved {
            return Ok(false);
        }
        sqlx::query("UPDATE journeys SET state = 'superseded' WHERE id = $1 AND version <> $2 AND state = 'approved'").bind(id).bind(version).execute(&mut *tx).await?;
        let mut moved = 0;
        for step in &approval.move_runs {
            let afresh = if step.reenter { "waiting = 0, wake_at = $5," } else { "" };
            let sql = format!("UPDATE journey_runs SET version = $1, step = $2, {afresh} updated_at = $5 WHERE journey_id = $3 AND state = 'active' AND version = $6 AND step = $4");
            moved += sqlx::query(AssertSqlSafe(sql)).bind(version).bind(step.to.as_str()).bind(id).bind(step.from.as_str()).bind(approval.at).bind(step.version).execute(&mut *tx).await?.rows_affected();
        }
        head.append(&mut tx, &[ctx.event(action::JOURNEY_APPROVE, format!("journey:{id}@{version}"), &format!("approved:{}:moved:{moved}", approval.hash))]).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn submit_journey(&self, id: &str, version: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let update = sqlx::query("UPDATE journeys SET state = 'submitted' WHERE id = $1 AND version = $2 AND state = 'draft'").bind(id).bind(version);
        self.change_one(update, ctx.event(action::JOURNEY_WRITE, format!("journey:{id}@{version}"), "submitted")).await
    }

    async fn review_journey(&self, id: &str, version: i64, review_due: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let update = sqlx::query("UPDATE journeys SET review_due = $1 WHERE id = $2 AND version = $3 AND state = 'approved'").bind(review_due).bind(id).bind(version);
        self.change_one(update, ctx.event(action::JOURNEY_APPROVE, format!("journey:{id}@{version}"), "reviewed")).await
    }

    async fn archive_journey(&self, id: &str, ctx: &AuditContext) -> StoreResult<bool> {
        let update = sqlx::query("UPDATE journeys SET state = 'archived' WHERE id = $1 AND state IN ('draft', 'submitted', 'approved')").bind(id);
        self.change_many(update, ctx.event(action::JOURNEY_CONTROL, format!("journey:{id}"), "archived")).await
    }

    async fn pause_journey(&self, id: &str, paused: bool, ctx: &AuditContext) -> StoreResult<bool> {
        let update = sqlx::query("UPDATE journeys SET paused = $1 WHERE id = $2 AND paused <> $1").bind(i64::from(paused)).bind(id);
        let outcome = if paused { "paused" } else { "resumed" };
        self.change_many(update, ctx.event(action::JOURNEY_CONTROL, format!("journey:{id}"), outcome)).await
    }

    async fn journey_intake(&self, limit: i64, intake: &dyn JourneyIntake, now: i64, ctx: &AuditContext) -> StoreResult<usize> {
        // A read first, so an idle scheduler never takes the write lock.
        if sqlx::query("SELECT 1 FROM events WHERE journeyed = 0 LIMIT 1").fetch_optional(&self.pool).await?.is_none() {
            return Ok(0);
        }
        let (mut tx, mut head) = self.begin_write().await?;
        let sql = format!("SELECT id, external_id, name, properties, occurred_at FROM events WHERE journeyed = 0 ORDER BY id LIMIT $1 {}", self.skip_locked());
        let events: Vec<PendingEvent> = sqlx::query(AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| Ok(PendingEvent { id: r.try_get("id")?, external_id: r.try_get("external_id")?, name: r.try_get("name")?, properties: r.try_get("properties")?, occurred_at: r.try_get("occurred_at")? }))
            .collect::<Result<_, sqlx::Error>>()?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut runs: BTreeMap<(String, String), Option<RunRow>> = BTreeMap::new();
        let mut dirty: BTreeMap<(String, String), bool> = BTreeMap::new();
        let people = patients(&mut tx, self.backend, events.iter().map(|e| e.external_id.clone())).await?;
        let mut audit = Vec::new();
        for event in &events {
            let keys = intake.keys(event);
            let mut current = Vec::with_capacity(keys.len());
            for key in &keys {
                if !runs.contains_key(key) {
                    let sql = format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE journey_id = $1 AND run_key = $2");
                    let found = sqlx::query(AssertSqlSafe(sql)).bind(key.0.as_str()).bind(key.1.as_str()).fetch_optional(&mut *tx).await?.map(|r| run_from_row(&r)).transpose()?;
                    runs.insert(key.clone(), found);
                }
                current.push(runs[key].clone());
            }
            for change in intake.apply(event, &current, people.get(&event.external_id)) {
                let key = (change.run.journey_id.clone(), change.run.run_key.clone());
                let before = runs.get(&key).cloned().flatten();
                if before.as_ref().is_none_or(|b| b.state == "done") && change.run.state == "active" {
                    audit.push(ctx.event(action::JOURNEY_RUN, run_object(&change.run), "started"));
                }
                if before.as_ref().is_some_and(|b| b.state == "active") && change.run.state == "done" {
                    audit.push(ctx.event(action::JOURNEY_RUN, run_object(&change.run), &format!("ended:{}", change.run.exit_reason.as_deref().unwrap_or("exit"))));
                }
                if change.withdraw {
                    let ids: Vec<&str> = change.run.messages.split_whitespace().collect();
                    if !ids.is_empty() {
                        // Undecided claims too: the worker holding one finds it gone and leaves it.
                        let sql = format!(
                            "UPDATE outbox SET state = 'cancelled', claimed_by = NULL, lease_until = NULL, updated_at = $1 \
                             WHERE (state IN ('queued', 'deferred') OR (state = 'sending' AND decision IS NULL)) AND id IN ({})",
                            super::gate_inputs::placeholders(2, ids.len())
                        );
                        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now);
                        for id in ids {
                            query = query.bind(id);
                        }
                        query.execute(&mut *tx).await?;
                    }
                }
                dirty.insert(key.clone(), true);
                runs.insert(key, Some(change.run));
            }
        }
        let changed: Vec<&RunRow> = dirty.keys().filter_map(|key| runs.get(key).and_then(Option::as_ref)).collect();
        save_runs(&mut tx, self.backend, &changed).await?;
        let sql = format!("UPDATE events SET journeyed = 1 WHERE id IN ({})", super::gate_inputs::placeholders(1, events.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for event in &events {
            query = query.bind(event.id);
        }
        query.execute(&mut *tx).await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(events.len())
    }

    async fn advance_due_runs(&self, now: i64, limit: i64, advancer: &dyn RunAdvancer, ctx: &AuditContext) -> StoreResult<usize> {
        if sqlx::query("SELECT 1 FROM journey_runs WHERE state = 'active' AND wake_at <= $1 LIMIT 1").bind(now).fetch_optional(&self.pool).await?.is_none() {
            return Ok(0);
        }
        let (mut tx, mut head) = self.begin_write().await?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM journey_runs r WHERE r.state = 'active' AND r.wake_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM journeys j WHERE j.id = r.journey_id AND (j.paused <> 0 OR (j.state = 'approved' AND j.review_due <= $1))) \
             ORDER BY r.wake_at, r.id LIMIT $2 {}",
            self.skip_locked()
        );
        let due: Vec<RunRow> = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(&mut *tx).await?.iter().map(run_from_row).collect::<Result<_, _>>()?;
        let people = patients(&mut tx, self.backend, due.iter().map(|r| r.external_id.clone())).await?;
        let mut audit = Vec::new();
        let mut moved_runs = Vec::with_capacity(due.len());
        let mut messages = Vec::new();
        for run in &due {
            let (mut moved, queued) = advancer.advance(run, people.get(&run.external_id));
            for m in &queued {
                moved.messages = if moved.messages.is_empty() { m.id.clone() } else { format!("{} {}", moved.messages, m.id) };
            }
            if moved.state == "done" {
                audit.push(ctx.event(action::JOURNEY_RUN, run_object(&moved), &format!("ended:{}", moved.exit_reason.as_deref().unwrap_or("completed"))));
            }
            messages.extend(queued);
            moved_runs.push(moved);
        }
        insert_messages(self, &mut tx, &mut head, &messages, ctx).await?;
        save_runs(&mut tx, self.backend, &moved_runs.iter().collect::<Vec<_>>()).await?;
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(due.len())
    }

    async fn journey_run_counts(&self, id: &str) -> StoreResult<Vec<RunCount>> {
        let rows = sqlx::query("SELECT state, step, exit_reason, COUNT(*) AS n FROM journey_runs WHERE journey_id = $1 GROUP BY state, step, exit_reason ORDER BY state, step")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| Ok(RunCount { state: r.try_get("state")?, step: r.try_get("step")?, exit_reason: r.try_get("exit_reason")?, count: r.try_get("n")? }))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn start_runs(&self, runs: &[RunRow], restart_ended_before: Option<i64>, ctx: &AuditContext) -> StoreResult<usize> {
        if runs.is_empty() {
            return Ok(0);
        }
        let (mut tx, mut head) = self.begin_write().await?;
        if self.backend == super::Backend::Postgres {
            // One leader starts time-based runs; the others find the lock taken and leave it.
            let leads: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(7310575183461248623)").fetch_one(&mut *tx).await?;
            if !leads {
                return Ok(0);
            }
        }
        let tail = match restart_ended_before {
            None => "ON CONFLICT (journey_id, run_key) DO NOTHING RETURNING id, journey_id".to_owned(),
            // A number this process computed, never text from outside.
            Some(cutoff) => format!(
                "ON CONFLICT (journey_id, run_key) DO UPDATE SET version = excluded.version, external_id = excluded.external_id, step = excluded.step, \
                 waiting = excluded.waiting, context = excluded.context, state = excluded.state, wake_at = excluded.wake_at, exit_reason = NULL, messages = '', \
                 started_at = excluded.started_at, updated_at = excluded.updated_at \
                 WHERE journey_runs.state = 'done' AND journey_runs.started_at <= {cutoff} RETURNING id, journey_id"
            ),
        };
        let started = insert_rows(self.backend, &mut tx, &format!("INSERT INTO journey_runs ({RUN_COLUMNS})"), 14, &tail, runs, bind_run).await?;
        let mut audit = Vec::with_capacity(started.len());
        for row in &started {
            let (id, journey): (String, String) = (row.try_get("id")?, row.try_get("journey_id")?);
            audit.push(ctx.event(action::JOURNEY_RUN, format!("journey:{journey}/run:{id}"), "started"));
        }
        head.append(&mut tx, &audit).await?;
        head.commit(tx).await?;
        Ok(started.len())
    }

    async fn journey_run_keys(&self, journey_id: &str) -> StoreResult<Vec<(String, String, i64)>> {
        let rows = sqlx::query("SELECT run_key, state, started_at FROM journey_runs WHERE journey_id = $1").bind(journey_id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("run_key")?, r.try_get("state")?, r.try_get("started_at")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    async fn patient_traits(&self, after: &str, limit: i64) -> StoreResult<Vec<(String, String, Option<String>)>> {
        let rows = sqlx::query("SELECT external_id, traits, timezone FROM patients WHERE external_id > $1 ORDER BY external_id LIMIT $2").bind(after).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("external_id")?, r.try_get("traits")?, r.try_get("timezone")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    async fn active_runs_for_patient(&self, external_id: &str) -> StoreResult<Vec<RunRow>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE external_id = $1 AND state = 'active' ORDER BY wake_at, id");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(external_id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(run_from_row).collect::<Result<_, _>>()?)
    }

    async fn runs_for_key(&self, run_key: &str) -> StoreResult<Vec<RunRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE run_key = $1 ORDER BY started_at"))).bind(run_key).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(run_from_row).collect::<Result<_, _>>()?)
    }
}
