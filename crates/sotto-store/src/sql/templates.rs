//! Message templates, their versions and their reviews on the SQL store.

use sqlx::Row;
use sqlx::any::AnyRow;

use sotto_core::audit::{Outcome, action};

use super::SqlStore;
use crate::{AuditContext, Review, StoreResult, TemplateRow, TemplateStore, TemplateVersionRow};

const VERSION_COLUMNS: &str = "template_id, version, content, analysis, status, author, created_at, submitted_at, reviewer, reviewed_at, review_comment";

fn template_from_row(r: &AnyRow) -> Result<TemplateRow, sqlx::Error> {
    Ok(TemplateRow { id: r.try_get("id")?, name: r.try_get("name")?, channel: r.try_get("channel")?, created_at: r.try_get("created_at")?, created_by: r.try_get("created_by")? })
}

fn version_from_row(r: &AnyRow) -> Result<TemplateVersionRow, sqlx::Error> {
    Ok(TemplateVersionRow {
        template_id: r.try_get("template_id")?,
        version: r.try_get("version")?,
        content: r.try_get("content")?,
        analysis: r.try_get("analysis")?,
        status: r.try_get("status")?,
        author: r.try_get("author")?,
        created_at: r.try_get("created_at")?,
        submitted_at: r.try_get("submitted_at")?,
        reviewer: r.try_get("reviewer")?,
        reviewed_at: r.try_get("reviewed_at")?,
        review_comment: r.try_get("review_comment")?,
    })
}

async fn insert_version(tx: &mut sqlx::Transaction<'static, sqlx::Any>, v: &TemplateVersionRow) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO template_versions (template_id, version, content, analysis, status, author, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (template_id, version) DO NOTHING",
    )
    .bind(v.template_id.as_str())
    .bind(v.version)
    .bind(v.content.as_str())
    .bind(v.analysis.as_str())
    .bind(v.status.as_str())
    .bind(v.author.as_str())
    .bind(v.created_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

impl TemplateStore for SqlStore {
    async fn create_template(&self, t: &TemplateRow, first: &TemplateVersionRow, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let created = sqlx::query("INSERT INTO templates (id, name, channel, created_at, created_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING")
            .bind(t.id.as_str())
            .bind(t.name.as_str())
            .bind(t.channel.as_str())
            .bind(t.created_at)
            .bind(t.created_by.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if created {
            insert_version(&mut tx, first).await?;
        }
        let outcome = if created { Outcome::Success.as_str() } else { "rejected:name_exists" };
        head.append(&mut tx, &[ctx.event(action::TEMPLATE_CREATE, format!("template:{}/v{}", t.id, first.version), outcome)]).await?;
        head.commit(tx).await?;
        Ok(created)
    }

    async fn add_template_version(&self, v: &TemplateVersionRow, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let added = insert_version(&mut tx, v).await?;
        let outcome = if added { Outcome::Success.as_str() } else { "rejected:version_exists" };
        head.append(&mut tx, &[ctx.event(action::TEMPLATE_VERSION, format!("template:{}/v{}", v.template_id, v.version), outcome)]).await?;
        head.commit(tx).await?;
        Ok(added)
    }

    async fn review_template_version(&self, template_id: &str, version: i64, review: &Review, ctx: &AuditContext) -> StoreResult<bool> {
        let (mut tx, mut head) = self.begin_write().await?;
        let moved = if review.to == "submitted" {
            sqlx::query("UPDATE template_versions SET status = $1, submitted_at = $2 WHERE template_id = $3 AND version = $4 AND status = $5")
                .bind(review.to)
                .bind(ctx.at_micros)
                .bind(template_id)
                .bind(version)
                .bind(review.from)
                .execute(&mut *tx)
                .await?
        } else {
            sqlx::query(
                "UPDATE template_versions SET status = $1, reviewer = $2, reviewed_at = $3, review_comment = $4 \
                 WHERE template_id = $5 AND version = $6 AND status = $7 AND author <> $2",
            )
            .bind(review.to)
            .bind(review.reviewer.as_deref().unwrap_or_default())
            .bind(ctx.at_micros)
            .bind(review.comment.as_deref())
            .bind(template_id)
            .bind(version)
            .bind(review.from)
            .execute(&mut *tx)
            .await?
        }
        .rows_affected()
            == 1;
        let act = match review.to {
            "submitted" => action::TEMPLATE_SUBMIT,
            "approved" => action::TEMPLATE_APPROVE,
            _ => action::TEMPLATE_REJECT,
        };
        let outcome = if moved { Outcome::Success.as_str() } else { "rejected:wrong_status" };
        head.append(&mut tx, &[ctx.event(act, format!("template:{template_id}/v{version}"), outcome)]).await?;
        head.commit(tx).await?;
        Ok(moved)
    }

    async fn template(&self, id: &str) -> StoreResult<Option<TemplateRow>> {
        let row = sqlx::query("SELECT id, name, channel, created_at, created_by FROM templates WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| template_from_row(&r)).transpose()?)
    }

    async fn templates(&self) -> StoreResult<Vec<TemplateRow>> {
        let rows = sqlx::query("SELECT id, name, channel, created_at, created_by FROM templates ORDER BY name").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(template_from_row).collect::<Result<_, _>>()?)
    }

    async fn template_versions(&self, template_id: &str) -> StoreResult<Vec<TemplateVersionRow>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM template_versions WHERE template_id = $1 ORDER BY version");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(template_id).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(version_from_row).collect::<Result<_, _>>()?)
    }
}
