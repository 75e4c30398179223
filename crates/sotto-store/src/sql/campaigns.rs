//! Campaigns on the SQL store: drafts edited and deleted only as drafts, approval, a launch
//! that pins versions and queues every message in one transaction, and pause, resume and
//! cancel applied to the messages not yet sent. Every change is audited.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use sotto_core::audit::{Outcome, action};

use super::SqlStore;
use super::outbox_rows::insert_messages;
use crate::{AuditContext, CampaignControl, CampaignRow, CampaignStore, MessageCount, OutboxRow, ReportLine, ReportScope, StoreResult};

const COLUMNS: &str = "id, name, spec, state, pinned, created_by, created_at, updated_at, approved_by, approved_at, launched_at, audience, second_approved_by, second_approved_at";

fn campaign_from_row(r: &AnyRow) -> Result<CampaignRow, sqlx::Error> {
    Ok(CampaignRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        spec: r.try_get("spec")?,
        state: r.try_get("state")?,
        pinned: r.try_get("pinned")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r.try_get("approved_at")?,
        launched_at: r.try_get("launched_at")?,
        audience: r.try_get("audience")?,
        second_approved_by: r.try_get("second_approved_by")?,
        second_approved_at: r.try_get("second_approved_at")?,
    })
}

fn object(id: &str) -> String {
    format!("campaign:{id}")
}

impl CampaignStore for SqlStore {
    async fn create_campaign(&self, row: &CampaignRow, ctx: &AuditContext) -> StoreResult<bool> {
        let insert = sqlx::query(AssertSqlSafe(format!("INSERT INTO campaigns ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (name) DO NOTHING")))
            .bind(row.id.as_str())
            .bind(row.name.as_str())
            .bind(row.spec.as_str())
            .bind(row.state.as_str())
            .bind(row.pinned.as_str())
            .bind(row.created_by.as_str())
            .bind(row.created_at)
            .bind(row.updated_at)
            .bind(row.approved_by.as_deref())
            .bind(row.approved_at)
            .bind(row.launched_at)
            .bind(row.audience)
            .bind(row.second_approved_by.as_deref())
            .bind(row.second_approved_at);
        self.change_one(insert, ctx.event(action::CAMPAIGN_WRITE, object(&row.id), "created")).await
    }

    async fn campaign(&self, id: &str) -> StoreResult<Option<CampaignRow>> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM campaigns WHERE id = $1"))).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| campaign_from_row(&r)).transpose()?)
    }

    async fn campaigns(&self) -> StoreResult<Vec<CampaignRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM campaigns ORDER BY created_at DESC, id"))).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(campaign_from_row).collect::<Result<_, _>>()?)
    }

    async fn campaigns_in_state(&self, state: &str) -> StoreResult<Vec<CampaignRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!("SELECT {COLUMNS} FROM campaigns WHERE state = $1 ORDER BY id"))).bind(state).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(campaign_from_row).collect::<Result<_, _>>()?)
    }

    async fn edit_campaign(&self, id: &str, name: &str, spec: &str, at: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        // A name another campaign holds is refused by the unique index; the draft stays as it was.
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM campaigns WHERE name = $1 AND id <> $2").bind(name).bind(id).fetch_one(&mut *tx).await?;
        if taken > 0 {
            return Ok(false);
        }
        let changed = sqlx::query("UPDATE campaigns SET name = $1, spec = $2, updated_at = $3 WHERE id = $4 AND state = 'draft'")
            .bind(name)
            .bind(spec)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if changed {
            head.append(&mut tx, &[ctx.event(action::CAMPAIGN_WRITE, object(id), "edited")]).await?;
            head.commit(tx).await?;
        }
        Ok(changed)
    }

    async fn delete_campaign(&self, id: &str, ctx: &AuditContext) -> StoreResult<bool> {
        let delete = sqlx::query("DELETE FROM campaigns WHERE id = $1 AND state = 'draft'").bind(id);
        self.change_one(delete, ctx.event(action::CAMPAIGN_WRITE, object(id), "deleted")).await
    }

    async fn approve_campaign(&self, id: &str, approver: &str, at: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let approve = sqlx::query("UPDATE campaigns SET state = 'approved', approved_by = $1, approved_at = $2, updated_at = $2 WHERE id = $3 AND state = 'draft' AND created_by <> $1")
            .bind(approver)
            .bind(at)
            .bind(id);
        self.change_one(approve, ctx.event(action::CAMPAIGN_APPROVE, object(id), Outcome::Success.as_str())).await
    }

    async fn second_approve_campaign(&self, id: &str, approver: &str, at: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let approve = sqlx::query(
            "UPDATE campaigns SET second_approved_by = $1, second_approved_at = $2, updated_at = $2 \
             WHERE id = $3 AND state = 'approved' AND second_approved_by IS NULL AND created_by <> $1 AND approved_by <> $1",
        )
        .bind(approver)
        .bind(at)
        .bind(id);
        self.change_one(approve, ctx.event(action::CAMPAIGN_APPROVE, object(id), "second")).await
    }

    async fn launch_campaign(&self, id: &str, pinned: &str, messages: &[OutboxRow], arms: &[(String, &'static str)], at: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        // Taking the state first makes a second launch, racing this one, find it launched.
        let launched = sqlx::query("UPDATE campaigns SET state = 'launched', pinned = $1, launched_at = $2, updated_at = $2, audience = $3 WHERE id = $4 AND state = 'approved'")
            .bind(pinned)
            .bind(at)
            .bind(messages.len() as i64)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if !launched {
            return Ok(false);
        }
        head.append(&mut tx, &[ctx.event(action::CAMPAIGN_LAUNCH, object(id), Outcome::Success.as_str())]).await?;
        for chunk in messages.chunks(5_000) {
            insert_messages(self, &mut tx, &mut head, chunk, ctx).await?;
        }
        super::bulk::insert_rows(self.backend, &mut tx, "INSERT INTO campaign_recipients (campaign_id, external_id, arm)", 3, "", arms, |q, (patient, arm)| {
            q.bind(id.to_owned()).bind(patient.as_str()).bind(*arm)
        })
        .await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn control_campaign(&self, id: &str, control: CampaignControl, at: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (from, to, held_from, held_to, outcome) = match control {
            CampaignControl::Pause => ("('launched')", "paused", "('queued', 'deferred')", "held", "paused"),
            CampaignControl::Resume => ("('paused')", "launched", "('held')", "queued", "resumed"),
            CampaignControl::Cancel => ("('draft', 'approved', 'launched', 'paused')", "cancelled", "('queued', 'deferred', 'held')", "cancelled", "cancelled"),
            CampaignControl::Resend => ("('launched')", "launched", "('failed', 'dead')", "queued", "resent"),
        };
        let (mut tx, mut head) = self.begin_write().await?;
        let moved = sqlx::query(AssertSqlSafe(format!("UPDATE campaigns SET state = $1, updated_at = $2 WHERE id = $3 AND state IN {from}"))).bind(to).bind(at).bind(id).execute(&mut *tx).await?.rows_affected() == 1;
        if !moved {
            return Ok(false);
        }
        // Messages a worker holds now are left to it; the gate still decides each one.
        // Held messages keep their schedule (a local send time, the throttle's spacing); a
        // message sent again starts its attempts afresh and is decided again at dispatch.
        let reset = match control {
            CampaignControl::Resend => ", next_attempt_at = $2, attempts = 0, last_error = NULL, decision = NULL, reasons = ''",
            CampaignControl::Resume => ", next_attempt_at = CASE WHEN not_before > $2 THEN not_before ELSE $2 END",
            CampaignControl::Pause | CampaignControl::Cancel => "",
        };
        let messages = sqlx::query(AssertSqlSafe(format!("UPDATE outbox SET state = $1, updated_at = $2{reset} WHERE campaign_id = $3 AND state IN {held_from}")))
            .bind(held_to)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        head.append(&mut tx, &[ctx.event(action::CAMPAIGN_CONTROL, object(id), &format!("{outcome}:{messages}"))]).await?;
        head.commit(tx).await?;
        Ok(true)
    }

    async fn record_engagement(&self, message_id: &str, kind: &str, link: &str, at: i64, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE id = $1").bind(message_id).fetch_one(&mut *tx).await?;
        if known == 0 {
            return Ok(false);
        }
        let inserted = sqlx::query("INSERT INTO engagements (message_id, kind, link, first_at) VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, kind, link) DO NOTHING")
            .bind(message_id)
            .bind(kind)
            .bind(link)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if inserted {
            head.append(&mut tx, &[ctx.event(action::MESSAGE_ENGAGEMENT, format!("message:{message_id}"), &format!("{kind}:{link}"))]).await?;
            head.commit(tx).await?;
        }
        Ok(inserted)
    }

    async fn report_lines(&self, scope: ReportScope<'_>) -> StoreResult<Vec<ReportLine>> {
        let (filter, id) = match scope {
            ReportScope::Campaign(id) => ("o.campaign_id = $1", id),
            ReportScope::Template(id) => ("o.template_id = $1", id),
        };
        let sql = format!(
            "SELECT o.template_id, o.template_version, o.state, o.reasons, COUNT(*) AS n, \
               SUM(CASE WHEN EXISTS (SELECT 1 FROM engagements e WHERE e.message_id = o.id AND e.kind = 'click') THEN 1 ELSE 0 END) AS clicked, \
               SUM(CASE WHEN EXISTS (SELECT 1 FROM engagements e WHERE e.message_id = o.id AND e.kind = 'unsubscribe') THEN 1 ELSE 0 END) AS unsubscribed \
             FROM outbox o WHERE {filter} GROUP BY o.template_id, o.template_version, o.state, o.reasons ORDER BY o.template_id, o.template_version, o.state, o.reasons"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(ReportLine {
                    template_id: r.try_get("template_id")?,
                    template_version: r.try_get("template_version")?,
                    state: r.try_get("state")?,
                    reasons: r.try_get("reasons")?,
                    count: r.try_get("n")?,
                    clicked: r.try_get("clicked")?,
                    unsubscribed: r.try_get("unsubscribed")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn conversions(&self, id: &str, event: &str, from: i64, until: i64) -> StoreResult<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT r.arm, COUNT(*) AS recipients, \
               SUM(CASE WHEN EXISTS (SELECT 1 FROM events e WHERE e.external_id = r.external_id AND e.name = $2 AND e.occurred_at >= $3 AND e.occurred_at < $4) THEN 1 ELSE 0 END) AS converted \
             FROM campaign_recipients r WHERE r.campaign_id = $1 GROUP BY r.arm ORDER BY r.arm",
        )
        .bind(id)
        .bind(event)
        .bind(from)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("arm")?, r.try_get("recipients")?, r.try_get("converted")?))).collect::<Result<_, sqlx::Error>>().map_err(Into::into)
    }

    async fn campaign_counts(&self, id: &str) -> StoreResult<Vec<MessageCount>> {
        let rows = sqlx::query("SELECT state, decision, reasons, COUNT(*) AS n FROM outbox WHERE campaign_id = $1 GROUP BY state, decision, reasons ORDER BY state, decision, reasons")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(MessageCount { state: r.try_get("state")?, decision: r.try_get("decision")?, reasons: r.try_get("reasons")?, count: r.try_get("n")? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
