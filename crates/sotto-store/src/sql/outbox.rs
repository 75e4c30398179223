//! The outbox on the SQL store: idempotent queueing, claims (per engine), decisions with the
//! frequency-cap slot taken in the same transaction, hand-off results, lease recovery, and the
//! dispatch kill switch.

use std::collections::BTreeMap;

use sqlx::{AssertSqlSafe, Row};

use sotto_core::audit::{Outcome, action};

use super::gate_inputs::{placeholders, read_inputs};
use super::outbox_rows::{COLUMN_COUNT, COLUMNS, bind_row, insert_messages, object, outbox_from_row};
use super::SqlStore;
use super::webhooks::{Fact, queue};
use serde_json::json;
use crate::{AuditContext, ClaimScope, DecisionRow, Decided, DispatchControl, Finish, GateInputs, OutboxDecider, OutboxRow, OutboxStore, StoreResult, Verdict};

impl OutboxStore for SqlStore {
    async fn enqueue_message(&self, row: &OutboxRow, ctx: &AuditContext) -> StoreResult<(OutboxRow, bool)> {
        let (mut tx, mut head) = self.begin_write().await?;
        let sql = format!("INSERT INTO outbox ({COLUMNS}) VALUES ({}) ON CONFLICT (idempotency_key) DO NOTHING", placeholders(1, COLUMN_COUNT));
        let inserted = bind_row(sqlx::query(AssertSqlSafe(sql)), row)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        let stored = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM outbox WHERE idempotency_key = $1")))
            .bind(row.idempotency_key.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let stored = outbox_from_row(&stored)?;
        if inserted {
            let outcome = format!("{}:{}:{}:{}", Outcome::Success.as_str(), stored.source, stored.channel, stored.purpose);
            head.append(&mut tx, &[ctx.event(action::MESSAGE_QUEUE, object(self, &stored.id, &stored.external_id), &outcome)]).await?;
        }
        head.commit(tx).await?;
        Ok((stored, inserted))
    }

    async fn enqueue_messages(&self, rows: &[OutboxRow], ctx: &AuditContext) -> StoreResult<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (mut tx, mut head) = self.begin_write().await?;
        let inserted = insert_messages(self, &mut tx, &mut head, rows, ctx).await?;
        head.commit(tx).await?;
        Ok(inserted)
    }

    async fn outbox_message(&self, id: &str) -> StoreResult<Option<OutboxRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| outbox_from_row(&r)).transpose()?)
    }

    async fn claim_outbox(&self, worker: &str, now: i64, lease_until: i64, limit: i64, scope: ClaimScope<'_>) -> StoreResult<Vec<OutboxRow>> {
        // The same statement on both engines but for the row locks.
        let lock = self.skip_locked();
        let (which, binds): (String, &[String]) = match scope {
            ClaimScope::AllExcept([]) => ("(campaign_id IS NULL OR campaign_id IN (SELECT c.id FROM campaigns c WHERE c.state = 'launched'))".into(), &[]),
            ClaimScope::AllExcept(except) => (
                format!("(campaign_id IS NULL OR (campaign_id IN (SELECT c.id FROM campaigns c WHERE c.state = 'launched') AND campaign_id NOT IN ({})))", placeholders(5, except.len())),
                except,
            ),
            ClaimScope::Campaign(_) => ("campaign_id = $5 AND campaign_id IN (SELECT c.id FROM campaigns c WHERE c.state = 'launched')".into(), &[]),
        };
        let sql = format!(
            "UPDATE outbox SET state = 'sending', claimed_by = $1, lease_until = $2, decision = NULL, updated_at = $3 \
             WHERE id IN (SELECT id FROM outbox WHERE state IN ('queued', 'deferred') AND next_attempt_at <= $3 AND {which} \
               ORDER BY next_attempt_at, id LIMIT $4 {lock}) \
             RETURNING {COLUMNS}"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(worker).bind(lease_until).bind(now).bind(limit);
        if let ClaimScope::Campaign(id) = scope {
            query = query.bind(id);
        }
        for id in binds {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut claims = rows.iter().map(outbox_from_row).collect::<Result<Vec<_>, _>>()?;
        claims.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(claims)
    }

    async fn decide_claimed(
        &self,
        worker: &str,
        claims: &[OutboxRow],
        sends_since: i64,
        now: i64,
        decider: &dyn OutboxDecider,
        ctx: &AuditContext,
    ) -> StoreResult<Decided> {
        if claims.is_empty() {
            return Ok((Vec::new(), BTreeMap::new()));
        }
        let (mut tx, mut head) = self.begin_write().await?;
        let ids: Vec<&str> = claims.iter().map(|c| c.id.as_str()).collect();
        let sql = format!("SELECT id FROM outbox WHERE state = 'sending' AND claimed_by = $1 AND decision IS NULL AND id IN ({})", placeholders(2, ids.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(worker);
        for id in &ids {
            query = query.bind(*id);
        }
        let still: std::collections::BTreeSet<String> = query.fetch_all(&mut *tx).await?.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
        let held: Vec<OutboxRow> = claims.iter().filter(|c| still.contains(&c.id)).cloned().collect();
        let patients: Vec<String> = held.iter().map(|c| c.external_id.clone()).collect();
        let inputs = read_inputs(&mut tx, self.backend, &self.chain_key, &patients, sends_since).await?;
        let verdicts = decider.decide(&held, &inputs);
        if verdicts.len() != held.len() {
            return Err(crate::StoreError::Aborted("the decider answered a different number of verdicts than claims".into()));
        }
        let mut decisions = Vec::with_capacity(held.len());
        let mut facts = Vec::new();
        for (claim, verdict) in held.iter().zip(&verdicts) {
            let patient = self.chain_key.patient_ref(&claim.external_id);
            let (name, reasons) = match verdict {
                Verdict::Allow { template_version } => {
                    // A sandbox key's message reaches no patient, so it takes no cap slot.
                    if claim.source != "sandbox" {
                        sqlx::query("INSERT INTO sends (external_id, channel, purpose, sent_at, outbox_id) VALUES ($1, $2, $3, $4, $5)")
                            .bind(patient.as_str())
                            .bind(claim.channel.as_str())
                            .bind(claim.purpose.as_str())
                            .bind(now)
                            .bind(claim.id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query("UPDATE outbox SET decision = 'allow', reasons = '', template_version = $1, updated_at = $2 WHERE id = $3")
                        .bind(*template_version)
                        .bind(now)
                        .bind(claim.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    ("allow", String::new())
                }
                Verdict::Defer { until, reasons } => {
                    sqlx::query("UPDATE outbox SET state = 'deferred', decision = 'defer', reasons = $1, next_attempt_at = $2, claimed_by = NULL, lease_until = NULL, updated_at = $3 WHERE id = $4")
                        .bind(reasons.as_str())
                        .bind(*until)
                        .bind(now)
                        .bind(claim.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    ("defer", reasons.clone())
                }
                Verdict::Wait { until } => {
                    sqlx::query("UPDATE outbox SET state = 'queued', decision = NULL, next_attempt_at = $1, claimed_by = NULL, lease_until = NULL, updated_at = $2 WHERE id = $3")
                        .bind(*until)
                        .bind(now)
                        .bind(claim.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    continue;
                }
                Verdict::Deny { reasons } => {
                    sqlx::query("UPDATE outbox SET state = 'denied', decision = 'deny', reasons = $1, claimed_by = NULL, lease_until = NULL, updated_at = $2 WHERE id = $3")
                        .bind(reasons.as_str())
                        .bind(now)
                        .bind(claim.id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    facts.push(Fact { kind: "message.denied", data: json!({"message_id": claim.id, "channel": claim.channel, "status": "denied", "reasons": reasons.split_whitespace().collect::<Vec<_>>()}) });
                    ("deny", reasons.clone())
                }
            };
            decisions.push(DecisionRow { decided_at: now, patient, channel: claim.channel.clone(), purpose: claim.purpose.clone(), decision: name.into(), reasons });
        }
        self.insert_decisions(&mut tx, &mut head, &decisions, ctx).await?;
        queue(&mut tx, &facts, now).await?;
        head.commit(tx).await?;
        Ok((held.into_iter().zip(verdicts).collect(), inputs))
    }

    async fn finish_outbox(&self, worker: &str, results: &[(String, Finish)], now: i64, ctx: &AuditContext) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let (mut tx, mut head) = self.begin_write().await?;
        let mut events = Vec::with_capacity(results.len());
        let mut facts = Vec::new();
        for (id, finish) in results {
            const HELD: &str = "WHERE id = $1 AND state = 'sending' AND claimed_by = $2 RETURNING external_id, channel, purpose, template_version";
            const FREE: &str = "attempts = attempts + 1, claimed_by = NULL, lease_until = NULL, updated_at = $5";
            let query = match finish {
                // A message that went out is recorded as sent even when its lease ran out
                // meanwhile and recovery had marked it uncertain.
                Finish::Sent { provider, provider_message_id } => sqlx::query(AssertSqlSafe(format!(
                    "UPDATE outbox SET state = 'sent', provider = $3, provider_message_id = $4, sent_at = $5, last_error = NULL, {FREE} \
                     WHERE id = $1 AND ((state = 'sending' AND claimed_by = $2) OR (state = 'uncertain' AND last_error = 'lease_expired_after_allow')) \
                     RETURNING external_id, channel, purpose, template_version"
                )))
                    .bind(id.as_str())
                    .bind(worker)
                    .bind(provider.as_str())
                    .bind(provider_message_id.as_str()),
                Finish::Retry { at, error } => sqlx::query(AssertSqlSafe(format!("UPDATE outbox SET state = 'queued', decision = NULL, next_attempt_at = $3, last_error = $4, {FREE} {HELD}")))
                    .bind(id.as_str())
                    .bind(worker)
                    .bind(*at)
                    .bind(error.as_str()),
                Finish::Failed { error } | Finish::Dead { error } | Finish::Uncertain { error } => sqlx::query(AssertSqlSafe(format!("UPDATE outbox SET state = $3, last_error = $4, {FREE} {HELD}")))
                    .bind(id.as_str())
                    .bind(worker)
                    .bind(finish.state())
                    .bind(error.as_str()),
                Finish::Refused { reasons } => sqlx::query(AssertSqlSafe(format!("UPDATE outbox SET state = 'denied', decision = 'deny', last_error = 'render_refused', reasons = $3, claimed_by = NULL, lease_until = NULL, updated_at = $4 {HELD}")))
                    .bind(id.as_str())
                    .bind(worker)
                    .bind(reasons.as_str()),
            };
            let query = query.bind(now);
            // An uncertain message keeps its cap slot: it may have gone out.
            let release = !matches!(finish, Finish::Sent { .. } | Finish::Uncertain { .. });
            let outcome = match finish {
                Finish::Retry { error, .. } => format!("retry:{error}"),
                Finish::Failed { error } | Finish::Dead { error } | Finish::Uncertain { error } => format!("{}:{error}", finish.state()),
                Finish::Refused { reasons } => format!("refused:{}", reasons.replace(' ', ",")),
                Finish::Sent { .. } => String::new(),
            };
            let Some(row) = query.fetch_optional(&mut *tx).await? else { continue };
            let external_id: String = row.try_get("external_id")?;
            if release {
                sqlx::query("DELETE FROM sends WHERE outbox_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
            }
            let channel: String = row.try_get("channel")?;
            let fact = match finish {
                Finish::Sent { .. } => Some(("message.sent", json!({"message_id": id, "channel": channel, "status": "sent"}))),
                Finish::Failed { error } | Finish::Dead { error } => Some(("message.failed", json!({"message_id": id, "channel": channel, "status": finish.state(), "error": error}))),
                Finish::Refused { reasons } => Some(("message.denied", json!({"message_id": id, "channel": channel, "status": "denied", "reasons": reasons.split_whitespace().collect::<Vec<_>>()}))),
                Finish::Retry { .. } | Finish::Uncertain { .. } => None,
            };
            facts.extend(fact.map(|(kind, data)| Fact { kind, data }));
            let (act, outcome) = match finish {
                Finish::Sent { provider, .. } => {
                    let version: Option<i64> = row.try_get("template_version")?;
                    let (channel, purpose): (String, String) = (row.try_get("channel")?, row.try_get("purpose")?);
                    (action::MESSAGE_SEND, format!("{}:{channel}:{purpose}:v{}:{provider}", Outcome::Success.as_str(), version.unwrap_or_default()))
                }
                _ => (action::MESSAGE_OUTCOME, outcome),
            };
            events.push(ctx.event(act, object(self, id, &external_id), &outcome));
        }
        queue(&mut tx, &facts, now).await?;
        head.append(&mut tx, &events).await?;
        head.commit(tx).await
    }

    async fn recover_outbox(&self, now: i64, ctx: &AuditContext) -> StoreResult<(u64, u64)> {
        let (mut tx, mut head) = self.begin_write().await?;
        let requeued = sqlx::query("UPDATE outbox SET state = 'queued', claimed_by = NULL, lease_until = NULL, updated_at = $1 WHERE state = 'sending' AND lease_until < $1 AND decision IS NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let uncertain = sqlx::query(
            "UPDATE outbox SET state = 'uncertain', last_error = 'lease_expired_after_allow', claimed_by = NULL, lease_until = NULL, updated_at = $1 \
             WHERE state = 'sending' AND lease_until < $1 AND decision = 'allow' RETURNING id, external_id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(uncertain.len());
        for row in &uncertain {
            let (id, external_id): (String, String) = (row.try_get("id")?, row.try_get("external_id")?);
            events.push(ctx.event(action::MESSAGE_OUTCOME, object(self, &id, &external_id), "uncertain:lease_expired_after_allow"));
        }
        head.append(&mut tx, &events).await?;
        head.commit(tx).await?;
        Ok((requeued, uncertain.len() as u64))
    }

    async fn release_claims(&self, worker: &str, now: i64) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE outbox SET state = 'queued', claimed_by = NULL, lease_until = NULL, updated_at = $2 WHERE state = 'sending' AND claimed_by = $1 AND decision IS NULL")
            .bind(worker)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn requeue_message(&self, id: &str, now: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE outbox SET state = 'queued', decision = NULL, next_attempt_at = $2, claimed_by = NULL, lease_until = NULL, updated_at = $2 \
             WHERE id = $1 AND state IN ('dead', 'uncertain') RETURNING external_id",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let requeued = row.is_some();
        let (object, outcome) = match &row {
            Some(r) => (object(self, id, &r.try_get::<String, _>("external_id")?), Outcome::Success.as_str()),
            None => ("message:unknown".to_owned(), "not_requeueable"),
        };
        if requeued {
            sqlx::query("DELETE FROM sends WHERE outbox_id = $1").bind(id).execute(&mut *tx).await?;
        }
        head.append(&mut tx, &[ctx.event(action::MESSAGE_REQUEUE, object, outcome)]).await?;
        head.commit(tx).await?;
        Ok(requeued)
    }

    async fn record_delivery(&self, provider: &str, provider_message_id: &str, state: &str, error: Option<&str>, now: i64, ctx: &AuditContext) -> StoreResult<Option<(String, String)>> {
        let (mut tx, mut head) = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE outbox SET state = $1, last_error = COALESCE($2, last_error), updated_at = $3 \
             WHERE provider = $4 AND provider_message_id = $5 AND state IN ('sent', 'delivered', 'bounced') RETURNING id, external_id, channel",
        )
        .bind(state)
        .bind(error)
        .bind(now)
        .bind(provider)
        .bind(provider_message_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (id, external_id, channel): (String, String, String) = (row.try_get("id")?, row.try_get("external_id")?, row.try_get("channel")?);
        let outcome = match error {
            Some(e) => format!("{state}:{e}"),
            None => state.to_owned(),
        };
        let fact = Fact { kind: if state == "delivered" { "message.delivered" } else if state == "bounced" { "message.bounced" } else { "message.failed" }, data: json!({"message_id": id, "channel": channel, "status": state, "error": error}) };
        queue(&mut tx, &[fact], now).await?;
        head.append(&mut tx, &[ctx.event(action::MESSAGE_OUTCOME, object(self, &id, &external_id), &outcome)]).await?;
        head.commit(tx).await?;
        Ok(Some((external_id, channel)))
    }

    async fn outbox_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state ORDER BY state").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| Ok((r.try_get("state")?, r.try_get("n")?))).collect::<Result<_, sqlx::Error>>()?)
    }

    async fn oldest_pending(&self) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT MIN(created_at) FROM outbox WHERE state IN ('queued', 'deferred')").fetch_one(&self.pool).await?)
    }

    async fn gate_inputs(&self, external_ids: &[String], sends_since: i64) -> StoreResult<BTreeMap<String, GateInputs>> {
        let mut conn = self.pool.acquire().await?;
        read_inputs(&mut conn, self.backend, &self.chain_key, external_ids, sends_since).await
    }

    async fn dispatch_control(&self) -> StoreResult<DispatchControl> {
        let row = sqlx::query("SELECT paused, reason, changed_at FROM dispatch_control WHERE id = 1").fetch_one(&self.pool).await?;
        Ok(DispatchControl { paused: row.try_get::<i64, _>("paused")? != 0, reason: row.try_get("reason")?, changed_at: row.try_get("changed_at")? })
    }

    async fn set_dispatch_control(&self, control: &DispatchControl, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query("UPDATE dispatch_control SET paused = $1, reason = $2, changed_at = $3 WHERE id = 1")
            .bind(i64::from(control.paused))
            .bind(control.reason.as_str())
            .bind(control.changed_at)
            .execute(&mut *tx)
            .await?;
        let outcome = if control.paused { "paused" } else { "resumed" };
        head.append(&mut tx, &[ctx.event(action::DISPATCH_CONTROL, "dispatch".into(), outcome)]).await?;
        head.commit(tx).await
    }
}
