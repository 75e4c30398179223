//! Campaigns as drafts: created from a checked request whose segment and templates exist
//! and fit (each template of its channel, marketing email with an unsubscribe link), listed,
//! read, edited and deleted while still drafts. Launch, approval and progress live in
//! `campaign_launch.rs`; the checklist and preflight in `campaign_checklist.rs`.

use jiff::Timestamp;
use serde_json::{Value, json};

use sotto_core::FieldError;
use sotto_core::campaign::{CampaignSpec, Schedule, parse_campaign};
use sotto_core::scope::Scope;
use sotto_store::{CampaignRow, Store};

use crate::{App, AppError, RequestCtx, micros};

/// A stored spec, read back.
pub(crate) fn stored_spec(row: &CampaignRow) -> Result<CampaignSpec, AppError> {
    serde_json::from_str(&row.spec).map_err(|_| AppError::Store(sotto_store::StoreError::Corrupt("campaign spec".into())))
}

/// A schedule as the API writes it.
pub(crate) fn schedule_summary(schedule: &Schedule) -> Value {
    match schedule {
        Schedule::Now => json!({"now": true}),
        Schedule::At(at) => json!({"at": at.to_string()}),
        Schedule::Local { date, time } => json!({"date": date.to_string(), "local_time": time.strftime("%H:%M").to_string()}),
    }
}

/// An instant stored in microseconds as the API writes it, or null.
pub(crate) fn when(micros: Option<i64>) -> Value {
    micros.and_then(|m| Timestamp::from_microsecond(m).ok()).map_or(Value::Null, |t| json!(t.to_string()))
}

/// A campaign as the API shows it.
pub(crate) fn campaign_view(row: &CampaignRow) -> Result<Value, AppError> {
    let spec = stored_spec(row)?;
    let pinned: Value = serde_json::from_str(&row.pinned).unwrap_or_default();
    Ok(json!({
        "id": row.id, "name": row.name, "state": row.state,
        "segment_id": spec.segment_id, "channels": spec.channels, "template_id": spec.templates,
        "purpose": spec.purpose.as_str(), "topic": spec.topic, "authorization_basis": spec.authorization_basis,
        "schedule": schedule_summary(&spec.schedule), "throttle_per_minute": spec.throttle_per_minute,
        "variant_b": spec.variant_b, "split_percent": spec.split_percent, "holdout_percent": spec.holdout_percent, "conversion": spec.conversion.as_ref().map(|c| json!({"event": c.event, "within_days": c.within_days})),
        "created_by": row.created_by, "created_at": when(Some(row.created_at)), "approved_by": row.approved_by, "approved_at": when(row.approved_at), "second_approved_by": row.second_approved_by,
        "launched_at": when(row.launched_at), "audience": row.audience.map(|n| crate::segments::suppressed(n.max(0) as u64)), "pinned_versions": pinned,
    }))
}

impl<S: Store> App<S> {
    /// Reads and checks a campaign request against what exists: the segment, a template of
    /// each channel, and marketing email that carries an unsubscribe link.
    async fn checked_spec(&self, body: &Value, now: Timestamp) -> Result<(String, CampaignSpec), AppError> {
        let (name, spec) = parse_campaign(body, now).map_err(AppError::Invalid)?;
        let mut errors = Vec::new();
        if self.store.segment(&spec.segment_id).await?.is_none() {
            errors.push(FieldError::new("unknown_segment", "segment_id", "no segment has this id"));
        }
        let named = |key: &str, n: usize, channel: &sotto_core::contact::Channel| if n == 1 { key.to_owned() } else { format!("{key}.{channel}") };
        let all = spec.templates.iter().map(|(c, id)| (named("template_id", spec.templates.len(), c), c, id)).chain(spec.variant_b.iter().map(|(c, id)| (named("variant_b", spec.variant_b.len(), c), c, id)));
        let all: Vec<_> = all.collect();
        let ids: Vec<String> = all.iter().map(|(_, _, id)| (*id).clone()).collect();
        let approved = self.approved_versions(&ids).await?;
        for (field, channel, id) in all {
            let version = approved.get(id).and_then(Option::as_ref);
            match self.store.template(id).await? {
                None => errors.push(FieldError::new("unknown_template", field, "no template has this id")),
                Some(t) if t.channel != channel.as_str() => errors.push(FieldError::new("channel_mismatch", field, format!("this template is for {}, not {channel}", t.channel))),
                Some(_) => match version {
                    None => errors.push(FieldError::new("template_not_approved", field, "this template has no approved version: submit one for review first")),
                    Some(v) if spec.purpose.is_marketing() && *channel == sotto_core::contact::Channel::Email && !crate::campaign_checklist::unsubscribes(&v.content) => {
                        errors.push(FieldError::new("purpose_not_allowed", field, "marketing email must carry the unsubscribe link ({{ links.unsubscribe }}); this template does not"));
                    }
                    Some(_) => {}
                },
            }
        }
        if errors.is_empty() { Ok((name, spec)) } else { Err(AppError::Invalid(errors)) }
    }

    /// Creates a draft campaign.
    pub async fn create_campaign(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsWrite, "campaigns").await?;
        let (name, spec) = self.checked_spec(body, ctx.now).await?;
        let row = CampaignRow {
            id: format!("cmp_{}", sotto_crypto::random_id(8)),
            name,
            spec: serde_json::to_string(&spec).map_err(|_| AppError::Internal("campaign spec did not serialize"))?,
            state: "draft".into(),
            pinned: "{}".into(),
            created_by: ctx.principal.actor.clone(),
            created_at: micros(ctx.now),
            updated_at: micros(ctx.now),
            approved_by: None,
            approved_at: None,
            launched_at: None,
            audience: None,
            second_approved_by: None,
            second_approved_at: None,
        };
        if !self.store.create_campaign(&row, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "campaign_exists", message: "a campaign with this name exists".into() });
        }
        campaign_view(&row)
    }

    /// Every campaign, newest first.
    pub async fn list_campaigns(&self, ctx: &RequestCtx) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsRead, "campaigns").await?;
        let rows = self.store.campaigns().await?;
        Ok(json!({"campaigns": rows.iter().map(campaign_view).collect::<Result<Vec<_>, _>>()?}))
    }

    /// One campaign, as stored.
    pub(crate) async fn campaign_row(&self, id: &str) -> Result<CampaignRow, AppError> {
        self.store.campaign(id).await?.ok_or(AppError::NotFound("campaign"))
    }

    /// One campaign.
    pub async fn get_campaign(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsRead, &crate::path_object("campaign", "cmp_", id)).await?;
        campaign_view(&self.campaign_row(id).await?)
    }

    /// Replaces a draft with a new request (the whole campaign, checked again).
    pub async fn edit_campaign(&self, ctx: &RequestCtx, id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsWrite, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        if row.state != "draft" {
            return Err(AppError::Conflict { code: "campaign_not_draft", message: format!("only a draft can be edited; this campaign is {}", row.state) });
        }
        let (name, spec) = self.checked_spec(body, ctx.now).await?;
        let spec_json = serde_json::to_string(&spec).map_err(|_| AppError::Internal("campaign spec did not serialize"))?;
        if !self.store.edit_campaign(id, &name, &spec_json, micros(ctx.now), &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "campaign_exists", message: "another campaign has this name, or this one is no longer a draft".into() });
        }
        campaign_view(&self.campaign_row(id).await?)
    }

    /// Deletes a draft.
    pub async fn delete_campaign(&self, ctx: &RequestCtx, id: &str) -> Result<(), AppError> {
        self.require(ctx, Scope::CampaignsWrite, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        if row.state != "draft" || !self.store.delete_campaign(id, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "campaign_not_draft", message: format!("only a draft can be deleted; this campaign is {}", row.state) });
        }
        Ok(())
    }
}
