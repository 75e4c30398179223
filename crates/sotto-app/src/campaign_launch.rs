//! A campaign from approval to its last message: approval by someone other than its author,
//! launch (the checklist run again, the approved versions pinned, every member queued with
//! the key campaign, patient and channel; each patient's local send time and the throttle
//! are kept by the worker), pause, resume and cancel, and progress counted from its messages.

use serde_json::{Value, json};

use sotto_core::campaign::Arm;
use sotto_core::scope::Scope;
use sotto_store::{CampaignControl, OutboxRow, Store};

use crate::campaign_checklist::Item;
use crate::campaigns::campaign_view;
use crate::segments::{breakdown, suppressed};
use crate::{App, AppError, RequestCtx, micros};

fn failing(items: &[Item]) -> AppError {
    let failures: Vec<String> = items.iter().filter(|i| !i.pass).map(|i| format!("{}: {}", i.name, i.reason)).collect();
    AppError::Conflict { code: "checklist_failed", message: format!("the pre-launch checklist fails: {}", failures.join("; ")) }
}

impl<S: Store> App<S> {
    /// Approves a draft: someone other than its author, holding the compliance scope, once
    /// every other item of the checklist passes.
    pub async fn approve_campaign(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::Compliance, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        if row.created_by == ctx.principal.actor {
            return Err(AppError::Conflict { code: "self_approval", message: "a campaign is approved by someone other than its author".into() });
        }
        if row.state == "approved" && row.second_approved_by.is_none() && self.settings.compliance.second_approval_above.is_some() {
            if row.approved_by.as_deref() == Some(ctx.principal.actor.as_str()) {
                return Err(AppError::Conflict { code: "self_approval", message: "the second approval comes from someone other than the first approver".into() });
            }
            if !self.store.second_approve_campaign(id, &ctx.principal.actor, micros(ctx.now), &ctx.audit()).await? {
                return Err(AppError::Conflict { code: "campaign_not_draft", message: "the campaign changed while it was being approved; read it again".into() });
            }
            return campaign_view(&self.campaign_row(id).await?);
        }
        if row.state != "draft" {
            return Err(AppError::Conflict { code: "campaign_not_draft", message: format!("only a draft is approved; this campaign is {}", row.state) });
        }
        let m = self.material(&row).await?;
        let items = self.checklist(&row, &m, ctx.now).await?;
        let others: Vec<Item> = items.into_iter().filter(|i| i.name != "access_separated").collect();
        if others.iter().any(|i| !i.pass) {
            return Err(failing(&others));
        }
        if !self.store.approve_campaign(id, &ctx.principal.actor, micros(ctx.now), &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "campaign_not_draft", message: "the campaign changed while it was being approved; read it again".into() });
        }
        campaign_view(&self.campaign_row(id).await?)
    }

    /// Launches an approved campaign; a campaign already launched is answered as it is.
    pub async fn launch_campaign(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsWrite, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        match row.state.as_str() {
            "approved" => {}
            "draft" => return Err(AppError::Conflict { code: "campaign_not_approved", message: "approve the campaign first (a compliance key held by someone other than its author)".into() }),
            _ => return campaign_view(&row),
        }
        let m = self.material(&row).await?;
        let items = self.checklist(&row, &m, ctx.now).await?;
        if items.iter().any(|i| !i.pass) {
            return Err(failing(&items));
        }
        let pinned: serde_json::Map<String, Value> = m.templates.iter().filter_map(|(id, v)| Some((id.clone(), json!(v.as_ref()?.version)))).collect();
        let members = self.campaign_members(&m, ctx.now).await?;
        let audience = members.len() as u64;
        if let Some(cap) = self.settings.compliance.audience_cap
            && audience > cap
        {
            return Err(AppError::Conflict { code: "audience_over_cap", message: format!("the audience is larger than the configured cap of {cap}; narrow the segment") });
        }
        if self.settings.compliance.second_approval_above.is_some_and(|above| audience > above) && row.second_approved_by.is_none() {
            return Err(AppError::Conflict {
                code: "second_approval_required",
                message: "the audience is larger than the size that needs a second compliance approval: approve again with another compliance key".into(),
            });
        }
        let uses_phi = m.uses_phi();
        // Not before the first moment any message can be due; the worker holds each one until
        // its patient's local time, and paces the campaign by its throttle.
        let at = micros(sotto_core::campaign::earliest_due(&m.spec.schedule, ctx.now));
        let mut rows = Vec::with_capacity(members.len());
        let mut arms = Vec::with_capacity(members.len());
        for chunk in members.chunks(1_000) {
            let states = self.gate_states(chunk, ctx.now).await?;
            for member in chunk {
                let state = states.get(member);
                let channel = Self::member_channel(&m.spec, state);
                let (holdout_draw, split_draw) = self.draws(id, member);
                let arm = sotto_core::campaign::arm(&m.spec, holdout_draw, split_draw);
                arms.push((member.clone(), arm.as_str()));
                let template = match arm {
                    Arm::Holdout => continue,
                    Arm::B => m.spec.variant_b.get(&channel).or_else(|| m.spec.templates.get(&channel)),
                    Arm::A => m.spec.templates.get(&channel),
                };
                let Some(template_id) = template else { continue };
                let version = pinned.get(template_id).and_then(Value::as_i64);
                let message_id = self.keyring.message_ref(&format!("campaign:{id}/{member}/{channel}"));
                rows.push(OutboxRow {
                    source: "campaign".into(),
                    campaign_id: Some(id.to_owned()),
                    channel: channel.as_str().to_owned(),
                    purpose: m.spec.purpose.as_str().to_owned(),
                    topic: m.spec.topic.clone(),
                    template_id: template_id.clone(),
                    template_version: version,
                    uses_phi,
                    not_before: at,
                    next_attempt_at: at,
                    ..OutboxRow::queued(message_id, member.clone(), micros(ctx.now))
                });
            }
        }
        let pinned = Value::Object(pinned).to_string();
        self.store.launch_campaign(id, &pinned, &rows, &arms, micros(ctx.now), &ctx.audit()).await?;
        campaign_view(&self.campaign_row(id).await?)
    }

    /// Two uniform draws in 0..100 for a recipient, from a keyed hash of the campaign and the
    /// patient: random to anyone without the key, the same if drawn again.
    fn draws(&self, campaign: &str, member: &str) -> (u8, u8) {
        let digest = self.keyring.message_ref(&format!("campaign-arm:{campaign}/{member}"));
        let hex = digest.trim_start_matches("msg_");
        let draw = |at: usize| hex.get(at..at + 4).and_then(|h| u16::from_str_radix(h, 16).ok()).map_or(0, |n| (n % 100) as u8);
        (draw(0), draw(4))
    }

    /// Pauses, resumes or cancels a campaign.
    pub async fn control_campaign(&self, ctx: &RequestCtx, id: &str, control: CampaignControl) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsWrite, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        if !self.store.control_campaign(id, control, micros(ctx.now), &ctx.audit()).await? {
            let verb = match control {
                CampaignControl::Pause => "paused (only a launched campaign)",
                CampaignControl::Resume => "resumed (only a paused campaign)",
                CampaignControl::Cancel => "cancelled (it was cancelled already)",
                CampaignControl::Resend => "resent (only a launched campaign's failed messages)",
            };
            return Err(AppError::Conflict { code: "campaign_state", message: format!("this campaign is {} and cannot be {verb}", row.state) });
        }
        campaign_view(&self.campaign_row(id).await?)
    }

    /// Where a campaign's messages stand, every count of 1 to 10 suppressed.
    pub async fn campaign_progress(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsRead, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        let counts = self.store.campaign_counts(id).await?;
        let count = |states: &[&str]| counts.iter().filter(|c| states.contains(&c.state.as_str())).map(|c| c.count.max(0) as u64).sum::<u64>();
        let by_reason = |state: &str| {
            let mut out = std::collections::BTreeMap::new();
            for c in counts.iter().filter(|c| c.state == state) {
                for reason in c.reasons.split_whitespace() {
                    *out.entry(reason.to_owned()).or_insert(0u64) += c.count.max(0) as u64;
                }
            }
            breakdown(count(&[state]), &out)
        };
        let total = count(&["queued", "held", "deferred", "sending", "sent", "delivered", "bounced", "failed", "dead", "uncertain", "denied", "cancelled"]);
        let pending = count(&["queued", "held", "deferred", "sending"]);
        // In steps of ten, so polling a small campaign cannot count its messages one by one.
        let percent = if pending == 0 { 100 } else { ((total - pending) * 100).checked_div(total).unwrap_or(0) / 10 * 10 };
        Ok(json!({
            "id": row.id, "state": row.state, "finished": pending == 0, "percent_done": percent,
            "queued": suppressed(count(&["queued", "held"])), "sending": suppressed(count(&["sending"])), "deferred": by_reason("deferred"),
            "sent": suppressed(count(&["sent", "delivered"])), "delivered": suppressed(count(&["delivered"])), "bounced": suppressed(count(&["bounced"])),
            "failed": suppressed(count(&["failed", "dead"])), "uncertain": suppressed(count(&["uncertain"])), "cancelled": suppressed(count(&["cancelled"])),
            "denied": by_reason("denied"),
        }))
    }
}

