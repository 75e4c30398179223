//! What the staff console reads beyond the API's use cases: the dashboard's figures (counts
//! only, small ones suppressed), the list of segments, a segment definition's size while it
//! is typed (never stored, never its members), and the linter's answer for a draft surface.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use sotto_core::dictionary::Surface;
use sotto_core::lint::{Report, lint};
use sotto_core::scope::Scope;
use sotto_core::segment::{check, parse};

use crate::{App, AppError, RequestCtx, micros, suppressed, time_text};

/// The longest draft the console lints or sizes while typing.
const MAX_DRAFT: usize = 16 * 1024;

impl<S: sotto_store::Store> App<S> {
    /// The dashboard: messages by state, today's gate decisions by reason, running campaigns
    /// and live journeys, each as the principal may read them. Counts of 1 to 10 are suppressed.
    pub async fn dashboard(&self, ctx: &RequestCtx, day_start: Timestamp) -> Result<Value, AppError> {
        let outbox: BTreeMap<String, Value> = self.store.outbox_counts().await?.into_iter().map(|(state, n)| (state, suppressed(n.max(0) as u64))).collect();
        let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
        let mut decisions: BTreeMap<String, i64> = BTreeMap::new();
        for (decision, why, n) in self.store.decision_counts(micros(day_start)).await? {
            *decisions.entry(decision).or_default() += n;
            for reason in why.split_whitespace() {
                *reasons.entry(reason.to_owned()).or_default() += n;
            }
        }
        let shown = |m: BTreeMap<String, i64>| m.into_iter().map(|(k, n)| (k, suppressed(n.max(0) as u64))).collect::<BTreeMap<_, _>>();
        let campaigns = if ctx.principal.scopes.contains(&Scope::CampaignsRead) {
            let all = self.list_campaigns(ctx).await?;
            all["campaigns"].as_array().map(|c| c.iter().filter(|c| matches!(c["state"].as_str(), Some("launched" | "sending" | "paused" | "approved"))).cloned().collect()).unwrap_or_default()
        } else {
            Vec::new()
        };
        let journeys = if ctx.principal.scopes.contains(&Scope::JourneysRead) {
            let all = self.list_journeys(ctx).await?;
            all["journeys"].as_array().map(|j| j.iter().filter(|j| j["state"].as_str() == Some("approved")).cloned().collect()).unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(json!({
            "since": day_start.to_string(),
            "outbox": outbox,
            "decisions": shown(decisions),
            "reasons": shown(reasons),
            "campaigns": campaigns,
            "journeys": journeys,
        }))
    }

    /// Every segment with its definition (names and definitions are checked free of health
    /// terms and identifiers when made).
    pub async fn list_segments(&self, ctx: &RequestCtx) -> Result<Value, AppError> {
        self.require(ctx, Scope::SegmentsRead, "segments").await?;
        let rows = self.store.segments().await?;
        Ok(json!({"segments": rows.iter().map(|r| json!({"id": r.id, "name": r.name, "definition": r.definition, "touches_phi": r.touches_phi, "created_at": time_text(r.created_at), "created_by": r.created_by})).collect::<Vec<_>>()}))
    }

    /// The size a segment definition would have now, or the errors that stop it, without
    /// storing anything: for those who write segments, audited, and with none shown like 1 to
    /// 10 (so a draft cannot tell whether one patient matches).
    pub async fn draft_segment_size(&self, ctx: &RequestCtx, definition: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::SegmentsWrite, "segments").await?;
        if definition.trim().is_empty() {
            return Ok(json!({"empty": true}));
        }
        if definition.len() > MAX_DRAFT {
            return Ok(json!({"errors": [{"field": "definition", "message": "the definition is too long"}]}));
        }
        let expr = match parse(definition) {
            Ok(expr) => expr,
            Err(e) => return Ok(json!({"errors": [e]})),
        };
        let dictionary = self.dictionary.get(&self.store).await?;
        let touches_phi = match check(&expr, &dictionary) {
            Ok(t) => t,
            Err(errors) => return Ok(json!({"errors": errors})),
        };
        let now = ctx.now;
        let size = self.read_engine(move |engine| engine.evaluate(&expr, now).len()).await?;
        let event = ctx.audit().event(sotto_core::audit::action::SEGMENT_SIZE, "segment:draft".into(), if touches_phi { "success:reads_phi" } else { "success" });
        self.store.append_audit(vec![event]).await?;
        let shown = if size <= 10 { json!(sotto_core::disclosure::disclose(1)) } else { suppressed(size as u64) };
        Ok(json!({"size": shown, "touches_phi": touches_phi}))
    }

    /// The linter's report for a draft surface, with the text split at the findings so a page
    /// can highlight them.
    pub async fn lint_draft(&self, ctx: &RequestCtx, surface: Surface, text: &str) -> Result<(Report, Vec<(String, Option<usize>)>), AppError> {
        self.require(ctx, Scope::ContentLint, "lint").await?;
        let text: String = text.chars().take(MAX_DRAFT).collect();
        let report = tokio::task::spawn_blocking({
            let text = text.clone();
            move || lint(&text, surface)
        })
        .await
        .map_err(|_| AppError::Internal("lint failed"))?;
        let mut pieces = Vec::new();
        let mut at = 0;
        for (i, f) in report.findings.iter().enumerate() {
            let (start, end) = (f.span.0.max(at).min(text.len()), f.span.1.min(text.len()));
            if start >= end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
                continue;
            }
            pieces.push((text[at..start].to_owned(), None));
            pieces.push((text[start..end].to_owned(), Some(i)));
            at = end;
        }
        pieces.push((text[at..].to_owned(), None));
        Ok((report, pieces))
    }
}

/// What the audit log page filters on: each a prefix or an exact value, empty for any.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    /// An actor, such as `user:usr_…` or `key:…` (a prefix).
    #[serde(default)]
    pub actor: String,
    /// An action, such as `staff.` or `campaign.launch` (a prefix).
    #[serde(default)]
    pub action: String,
    /// An outcome, such as `success` or `denied` (a prefix).
    #[serde(default)]
    pub outcome: String,
}

impl<S: sotto_store::Store> App<S> {
    /// The newest audit entries that match a filter, newest first, from the last `window`
    /// entries of the chain (reading it is audited, as any read of the trail).
    pub async fn audit_tail(&self, ctx: &RequestCtx, filter: &AuditFilter, limit: usize, window: i64) -> Result<Vec<Value>, AppError> {
        self.require(ctx, Scope::AuditRead, "audit").await?;
        let (head, _) = self.store.audit_head().await?;
        let mut after = (head - window).max(0);
        let mut matched = Vec::new();
        while after < head {
            let page = self.audit_entries(ctx, after, 1000, Some(head)).await?;
            for r in &page.entries {
                let e = &r.event;
                if e.actor.starts_with(filter.actor.trim()) && e.action.starts_with(filter.action.trim()) && e.outcome.starts_with(filter.outcome.trim()) {
                    matched.push(json!({"seq": r.seq, "at": time_text(e.at_micros), "actor": e.actor, "action": e.action, "object": e.object, "outcome": e.outcome, "request_id": e.request_id, "source_ip": e.source_ip}));
                }
            }
            match page.next_after {
                Some(next) => after = next,
                None => break,
            }
        }
        matched.reverse();
        matched.truncate(limit);
        Ok(matched)
    }
}
