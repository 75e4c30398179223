//! Outbox rows on the SQL store: their columns, reading and binding them, and inserting new
//! messages inside a write transaction, each audited by opaque references only.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use sotto_core::audit::{Outcome, action};

use super::SqlStore;
use crate::{AuditContext, OutboxRow, StoreResult};

/// How many columns an outbox row has.
pub(super) const COLUMN_COUNT: usize = 28;

pub(super) const COLUMNS: &str = "id, idempotency_key, source, external_id, channel, purpose, topic, template_id, template_version, uses_phi, urgent, context, state, decision, \
     reasons, attempts, not_before, next_attempt_at, claimed_by, lease_until, provider, provider_message_id, last_error, created_at, updated_at, sent_at, campaign_id, journey_ref";

pub(super) fn outbox_from_row(r: &AnyRow) -> Result<OutboxRow, sqlx::Error> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        idempotency_key: r.try_get("idempotency_key")?,
        source: r.try_get("source")?,
        external_id: r.try_get("external_id")?,
        channel: r.try_get("channel")?,
        purpose: r.try_get("purpose")?,
        topic: r.try_get("topic")?,
        template_id: r.try_get("template_id")?,
        template_version: r.try_get("template_version")?,
        uses_phi: r.try_get::<i64, _>("uses_phi")? != 0,
        urgent: r.try_get::<i64, _>("urgent")? != 0,
        context: r.try_get("context")?,
        state: r.try_get("state")?,
        decision: r.try_get("decision")?,
        reasons: r.try_get("reasons")?,
        attempts: r.try_get("attempts")?,
        not_before: r.try_get("not_before")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        claimed_by: r.try_get("claimed_by")?,
        lease_until: r.try_get("lease_until")?,
        provider: r.try_get("provider")?,
        provider_message_id: r.try_get("provider_message_id")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        sent_at: r.try_get("sent_at")?,
        campaign_id: r.try_get("campaign_id")?,
        journey_ref: r.try_get("journey_ref")?,
    })
}

/// Binds a row's 27 columns in the order of `COLUMNS`.
pub(super) fn bind_row<'q>(q: Query<'q, Any, AnyArguments>, r: &'q OutboxRow) -> Query<'q, Any, AnyArguments> {
    q.bind(r.id.as_str())
        .bind(r.idempotency_key.as_str())
        .bind(r.source.as_str())
        .bind(r.external_id.as_str())
        .bind(r.channel.as_str())
        .bind(r.purpose.as_str())
        .bind(r.topic.as_deref())
        .bind(r.template_id.as_str())
        .bind(r.template_version)
        .bind(i64::from(r.uses_phi))
        .bind(i64::from(r.urgent))
        .bind(r.context.as_str())
        .bind(r.state.as_str())
        .bind(r.decision.as_deref())
        .bind(r.reasons.as_str())
        .bind(r.attempts)
        .bind(r.not_before)
        .bind(r.next_attempt_at)
        .bind(r.claimed_by.as_deref())
        .bind(r.lease_until)
        .bind(r.provider.as_deref())
        .bind(r.provider_message_id.as_deref())
        .bind(r.last_error.as_deref())
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.sent_at)
        .bind(r.campaign_id.as_deref())
        .bind(r.journey_ref.as_deref())
}

/// Inserts messages inside a write transaction, each new one audited; a key already queued
/// is left as it is. Answers how many were new.
pub(super) async fn insert_messages(store: &SqlStore, tx: &mut sqlx::Transaction<'static, Any>, head: &mut super::ChainHead, rows: &[OutboxRow], ctx: &AuditContext) -> StoreResult<u64> {
    let inserted = super::bulk::insert_rows(
        store.backend,
        tx,
        &format!("INSERT INTO outbox ({COLUMNS})"),
        COLUMN_COUNT,
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, external_id, source, channel, purpose",
        rows,
        bind_row,
    )
    .await?;
    let mut events = Vec::with_capacity(inserted.len());
    for row in &inserted {
        let (id, external_id): (String, String) = (row.try_get("id")?, row.try_get("external_id")?);
        let outcome = format!("{}:{}:{}:{}", Outcome::Success.as_str(), row.try_get::<String, _>("source")?, row.try_get::<String, _>("channel")?, row.try_get::<String, _>("purpose")?);
        events.push(ctx.event(action::MESSAGE_QUEUE, object(store, &id, &external_id), &outcome));
    }
    head.append(tx, &events).await?;
    Ok(inserted.len() as u64)
}

/// The audit object naming a message and its patient by opaque references only.
pub(super) fn object(store: &SqlStore, id: &str, external_id: &str) -> String {
    format!("message:{id}/patient:{}", store.chain_key.patient_ref(external_id))
}

