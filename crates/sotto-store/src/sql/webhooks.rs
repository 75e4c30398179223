//! Outbound webhooks: subscriptions, deliveries queued inside the transaction that made their
//! event (nothing when no subscription wants it), claimed with a lease, and finished.

use serde_json::{Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use sotto_core::audit::action;

use super::SqlStore;
use crate::{AuditContext, DeliveryEnd, DeliveryRow, DueDelivery, StoreResult, SubscriptionRow, WebhookStore};

/// An event a webhook may carry: its type and its data (ids, states and codes only).
pub(super) struct Fact {
    pub kind: &'static str,
    pub data: Value,
}

/// Queues a delivery of each fact to every live subscription that wants its type, in the
/// transaction that made the facts. One small read when no subscription exists.
pub(super) async fn queue(tx: &mut Transaction<'static, Any>, facts: &[Fact], now: i64) -> StoreResult<()> {
    if facts.is_empty() {
        return Ok(());
    }
    let subscriptions: Vec<(String, String)> = sqlx::query_as("SELECT id, events FROM webhook_subscriptions WHERE disabled_at IS NULL").fetch_all(&mut **tx).await?;
    if subscriptions.is_empty() {
        return Ok(());
    }
    let at = jiff::Timestamp::from_microsecond(now).map(|t| t.to_string()).unwrap_or_default();
    for fact in facts {
        let event_id = format!("evt_{}", sotto_crypto::random_id(8));
        let payload = json!({"id": event_id, "type": fact.kind, "created_at": at, "data": fact.data}).to_string();
        for (subscription, _) in subscriptions.iter().filter(|(_, events)| events.split_whitespace().any(|e| e == fact.kind)) {
            sqlx::query("INSERT INTO webhook_deliveries (id, subscription_id, event_type, payload, created_at, state, attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $5)")
                .bind(format!("{event_id}/{subscription}"))
                .bind(subscription.as_str())
                .bind(fact.kind)
                .bind(payload.as_str())
                .bind(now)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

const DELIVERY_COLUMNS: &str = "d.id, d.subscription_id, d.event_type, d.payload, d.created_at, d.state, d.attempts, d.next_attempt_at, d.last_status, d.last_error";

fn delivery_from(r: &AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        id: r.try_get("id")?,
        subscription_id: r.try_get("subscription_id")?,
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        created_at: r.try_get("created_at")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
    })
}

impl WebhookStore for SqlStore {
    async fn create_subscription(&self, row: &SubscriptionRow, ctx: &AuditContext) -> StoreResult<()> {
        let (mut tx, mut head) = self.begin_write().await?;
        sqlx::query("INSERT INTO webhook_subscriptions (id, url, events, sealed_secret, created_at, created_by, disabled_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)")
            .bind(row.id.as_str())
            .bind(row.url.as_str())
            .bind(row.events.as_str())
            .bind(row.sealed_secret.as_str())
            .bind(row.created_at)
            .bind(row.created_by.as_str())
            .execute(&mut *tx)
            .await?;
        head.append(&mut tx, &[ctx.event(action::WEBHOOK_SUBSCRIPTION, format!("webhook:{}", row.id), "success:created")]).await?;
        head.commit(tx).await
    }

    async fn subscriptions(&self) -> StoreResult<Vec<SubscriptionRow>> {
        let rows = sqlx::query("SELECT id, url, events, sealed_secret, created_at, created_by, disabled_at FROM webhook_subscriptions ORDER BY created_at DESC, id").fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(SubscriptionRow {
                    id: r.try_get("id")?,
                    url: r.try_get("url")?,
                    events: r.try_get("events")?,
                    sealed_secret: r.try_get("sealed_secret")?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                    disabled_at: r.try_get("disabled_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn disable_subscription(&self, id: &str, now: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let changed = sqlx::query("UPDATE webhook_subscriptions SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL").bind(id).bind(now).execute(&mut *tx).await?.rows_affected() == 1;
        if !changed {
            return Ok(false);
        }
        sqlx::query("UPDATE webhook_deliveries SET state = 'failed', last_error = 'subscription_disabled' WHERE subscription_id = $1 AND state = 'pending'").bind(id).execute(&mut *tx).await?;
        head.append(&mut tx, &[ctx.event(action::WEBHOOK_SUBSCRIPTION, format!("webhook:{id}"), "success:disabled")]).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn deliveries(&self, subscription_id: &str, limit: i64) -> StoreResult<Vec<DeliveryRow>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE d.subscription_id = $1 ORDER BY d.created_at DESC, d.id LIMIT $2");
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(subscription_id).bind(limit).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(delivery_from).collect::<Result<_, _>>()?)
    }

    async fn claim_deliveries(&self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<DueDelivery>> {
        let mut tx = self.pool.begin().await?;
        let pick = format!("SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2 {}", self.skip_locked());
        let ids: Vec<String> = sqlx::query_scalar(AssertSqlSafe(pick)).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = $2 WHERE id = $1").bind(id.as_str()).bind(lease_until).execute(&mut *tx).await?;
            let sql = format!("SELECT {DELIVERY_COLUMNS}, s.url, s.sealed_secret FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id WHERE d.id = $1");
            let row = sqlx::query(AssertSqlSafe(sql)).bind(id.as_str()).fetch_one(&mut *tx).await?;
            out.push(DueDelivery { delivery: delivery_from(&row)?, url: row.try_get("url")?, sealed_secret: row.try_get("sealed_secret")? });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn finish_delivery(&self, id: &str, end: &DeliveryEnd, now: i64) -> StoreResult<()> {
        let query = match end {
            DeliveryEnd::Delivered { status } => {
                sqlx::query("UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = $2, last_error = NULL, delivered_at = $3 WHERE id = $1 AND state = 'pending'").bind(id).bind(*status).bind(now)
            }
            DeliveryEnd::Retry { at, status, error } => sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $2, last_status = $3, last_error = $4 WHERE id = $1 AND state = 'pending'")
                .bind(id)
                .bind(*at)
                .bind(*status)
                .bind(error.as_str()),
            DeliveryEnd::Failed { status, error } => sqlx::query("UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, last_status = $2, last_error = $3 WHERE id = $1 AND state = 'pending'")
                .bind(id)
                .bind(*status)
                .bind(error.as_str()),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }
}
