//! The pre-launch checklist every campaign must pass (providers under a BAA, data
//! categorized, names coded, content reviewed, an authorization basis consistent with the
//! purpose, access separated, a secure portal where content needs one, risk assessment and
//! training current), and the preflight: the gate run for every member at the planned send
//! time, nothing sent, counts by decision and reason with small counts suppressed.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};

use sotto_core::campaign::CampaignSpec;
use sotto_core::consent::Topic;
use sotto_core::contact::Channel;
use sotto_core::dictionary::DataClass;
use sotto_core::gate::{Decision, Intent, PatientState, decide};
use sotto_core::health_terms;
use sotto_core::scope::Scope;
use sotto_core::segment::{Expr, check};
use sotto_core::template::analyze;
use sotto_store::{CampaignRow, Store};

use crate::campaigns::stored_spec;
use crate::eligibility::reason_codes;
use crate::segments::{breakdown, suppressed};
use crate::worker::ApprovedVersion;
use crate::{App, AppError, RequestCtx};

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub name: &'static str,
    pub pass: bool,
    pub reason: String,
}

fn item(name: &'static str, failures: Vec<String>, ok: &str) -> Item {
    if failures.is_empty() { Item { name, pass: true, reason: ok.to_owned() } } else { Item { name, pass: false, reason: failures.join("; ") } }
}

/// The checklist as the API shows it.
pub(crate) fn items_json(items: &[Item]) -> Value {
    json!({"pass": items.iter().all(|i| i.pass), "items": items.iter().map(|i| json!({"item": i.name, "pass": i.pass, "reason": i.reason})).collect::<Vec<_>>()})
}

/// What a campaign's templates and segment are, read for the checklist and for sending.
pub(crate) struct Material {
    pub spec: CampaignSpec,
    pub expr: Option<Expr>,
    pub segment_name: Option<String>,
    pub segment_phi: bool,
    pub templates: BTreeMap<String, Option<ApprovedVersion>>,
}

impl Material {
    /// Whether the segment or any template's content uses PHI.
    pub(crate) fn uses_phi(&self) -> bool {
        self.segment_phi || self.templates.values().flatten().any(|t| analysis_uses_phi(&t.analysis))
    }
}

/// Whether an email's body offers the unsubscribe link in every language.
pub(crate) fn unsubscribes(content: &sotto_core::template::TemplateContent) -> bool {
    content.languages().all(|(_, surfaces)| surfaces.get(&sotto_core::dictionary::Surface::EmailBody).is_some_and(|b| b.contains("links.unsubscribe")))
}

/// Whether a version's stored analysis shows any variable that is health information.
fn analysis_uses_phi(analysis: &str) -> bool {
    let analysis: Value = serde_json::from_str(analysis).unwrap_or_default();
    analysis["variables"].as_array().into_iter().flatten().any(|v| {
        let class = serde_json::from_value::<DataClass>(v["class"].clone()).unwrap_or(DataClass::SensitivePhi);
        !matches!(class, DataClass::NonPhi | DataClass::Identifier)
    })
}

impl<S: Store> App<S> {
    /// Reads a campaign's segment and the latest approved version of each template.
    pub(crate) async fn material(&self, row: &CampaignRow) -> Result<Material, AppError> {
        let spec = stored_spec(row)?;
        let segment = self.store.segment(&spec.segment_id).await?;
        let expr = segment.as_ref().and_then(|s| serde_json::from_str(&s.expr).ok());
        let ids: Vec<String> = spec.templates.values().chain(spec.variant_b.values()).cloned().collect();
        let templates = self.approved_versions(&ids).await?;
        Ok(Material { segment_name: segment.as_ref().map(|s| s.name.clone()), segment_phi: segment.is_some_and(|s| s.touches_phi), expr, templates, spec })
    }

    /// Runs every item of the checklist now.
    pub(crate) async fn checklist(&self, row: &CampaignRow, m: &Material, now: Timestamp) -> Result<Vec<Item>, AppError> {
        let today = now.to_zoned(TimeZone::UTC).date();
        let spec = &m.spec;
        let mut baa = Vec::new();
        for channel in &spec.channels {
            match self.settings.providers.get(channel) {
                None => baa.push(format!("no provider is configured for {channel}")),
                Some(p) if !p.baa_in_force(today) => baa.push(format!("the {channel} provider {} has no BAA in force", p.name)),
                Some(_) => {}
            }
        }
        let dictionary = self.dictionary.get(&self.store).await?;
        let mut data = Vec::new();
        match &m.expr {
            None => data.push("the segment no longer exists".to_owned()),
            Some(expr) => {
                if let Err(errors) = check(expr, &dictionary) {
                    data.push(format!("the segment uses fields the dictionary does not declare as usable ({})", errors.iter().map(|e| e.code).collect::<Vec<_>>().join(", ")));
                }
            }
        }
        let mut reviewed = Vec::new();
        for (channel, id) in spec.templates.iter().chain(&spec.variant_b) {
            match m.templates.get(id).and_then(Option::as_ref) {
                None => reviewed.push(format!("the {channel} template has no approved version")),
                Some(t) if !t.clean => reviewed.push(format!("the {channel} template's approved version no longer passes the linter and the dictionary")),
                Some(t) => {
                    if analyze(&t.content, &dictionary).is_err() {
                        data.push(format!("the {channel} template uses a field the dictionary does not allow"));
                    }
                    if spec.purpose.is_marketing() && *channel == Channel::Email && !unsubscribes(&t.content) {
                        reviewed.push("marketing email must offer the unsubscribe link in every language; the approved version does not".to_owned());
                    }
                }
            }
        }
        let mut names = Vec::new();
        for (what, name) in [("campaign", Some(&row.name)), ("segment", m.segment_name.as_ref())] {
            if let Some(name) = name
                && health_terms::check_name(what, name).is_err()
            {
                names.push(format!("the {what} name reveals health information"));
            }
        }
        let mut basis = Vec::new();
        let authorized = spec.authorization_basis.as_deref() == Some("hipaa_authorization");
        if spec.purpose == sotto_core::purpose::Purpose::MarketingRemunerated && !authorized {
            basis.push("remunerated marketing needs authorization_basis hipaa_authorization, with authorizations that state the remuneration".to_owned());
        } else if spec.purpose.is_marketing() && m.uses_phi() && !authorized {
            basis.push("marketing whose segment or content uses PHI needs authorization_basis hipaa_authorization; each recipient's authorization is then checked at send".to_owned());
        }
        let access = match &row.approved_by {
            Some(approver) if *approver != row.created_by => Vec::new(),
            _ => vec!["awaiting approval by someone other than its author (a compliance key)".to_owned()],
        };
        let links_portal = m.templates.values().flatten().any(|t| t.content.languages().any(|(_, surfaces)| surfaces.values().any(|s| s.contains("links.portal"))));
        let portal = if links_portal && !self.settings.compliance.portal_configured { vec!["a template links to the secure portal, and no portal is configured".to_owned()] } else { Vec::new() };
        let year_ago = today.saturating_sub(1.year());
        let mut current = Vec::new();
        for (what, date) in [("security risk assessment", self.settings.compliance.last_risk_assessment), ("staff privacy and security training", self.settings.compliance.last_staff_training)] {
            match date {
                None => current.push(format!("no date is recorded for the last {what}")),
                Some(d) if d <= year_ago => current.push(format!("the last {what} was more than a year ago ({d})")),
                Some(_) => {}
            }
        }
        Ok(vec![
            item("providers_baa", baa, "every channel's provider has a BAA in force"),
            item("data_categorized", data, "every field the segment and templates use is declared and allowed"),
            item("names_coded", names, "the campaign and segment names reveal no health information"),
            item("content_reviewed", reviewed, "every template's approved version is lint-clean"),
            item("authorization_basis", basis, "the authorization basis fits the purpose"),
            item("access_separated", access, "approved by someone other than its author"),
            item("secure_portal", portal, "no template needs a portal that is missing"),
            item("audit_training_current", current, "risk assessment and training are less than a year old"),
        ])
    }

    /// The checklist of a campaign, run now.
    pub async fn campaign_checklist(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsRead, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        let m = self.material(&row).await?;
        Ok(items_json(&self.checklist(&row, &m, ctx.now).await?))
    }

    /// The members of the campaign's segment now, as external ids.
    pub(crate) async fn campaign_members(&self, m: &Material, now: Timestamp) -> Result<Vec<String>, AppError> {
        let Some(expr) = m.expr.clone() else { return Ok(Vec::new()) };
        self.evaluate_members(expr, now).await
    }

    /// When a member's message is planned: the schedule's instant, or the local time in the
    /// patient's zone (UTC when the patient's is unknown); never before `now`. The worker
    /// keeps the same time at dispatch, from the zone the patient has then.
    pub(crate) fn planned_at(spec: &CampaignSpec, state: Option<&PatientState>, now: Timestamp) -> Timestamp {
        sotto_core::campaign::due_at(&spec.schedule, state.and_then(|s| s.timezone.as_ref()), now)
    }

    /// The channel a member gets: the first of the campaign's channels they can be reached on,
    /// else the first (where the gate then says why not).
    pub(crate) fn member_channel(spec: &CampaignSpec, state: Option<&PatientState>) -> Channel {
        spec.channels.iter().copied().find(|c| state.is_some_and(|s| s.reachable.contains(c) && s.verified.contains(c))).unwrap_or(spec.channels[0])
    }

    /// Runs the gate for every member at the planned send time without sending anything.
    pub async fn campaign_preflight(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsRead, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        let m = self.material(&row).await?;
        let members = self.campaign_members(&m, ctx.now).await?;
        let uses_phi = m.uses_phi();
        let topic = m.spec.topic.as_deref().and_then(|t| Topic::parse("topic", t).ok());
        let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut counts: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
        let mut by_channel: BTreeMap<Channel, u64> = BTreeMap::new();
        // The store reads two chunks ahead while this task builds and decides the current one.
        let horizon = self.sends_horizon(ctx.now);
        let read = |chunk: &[String]| {
            let (store, ids) = (self.store.clone(), chunk.to_vec());
            tokio::spawn(async move { store.gate_inputs(&ids, horizon).await })
        };
        let chunks: Vec<&[String]> = members.chunks(2_000).collect();
        let mut ahead = std::collections::VecDeque::new();
        for (n, chunk) in chunks.iter().enumerate() {
            while ahead.len() < 3 && n + ahead.len() < chunks.len() {
                ahead.push_back(read(chunks[n + ahead.len()]));
            }
            let inputs = ahead.pop_front().ok_or(AppError::Internal("preflight read"))?.await.map_err(|_| AppError::Internal("preflight read"))??;
            let states = self.states_from(&inputs)?;
            for member in *chunk {
                let state = states.get(member);
                let channel = Self::member_channel(&m.spec, state);
                let template = m.spec.templates.get(&channel).and_then(|id| m.templates.get(id)).and_then(Option::as_ref);
                let intent = Intent {
                    channel,
                    purpose: m.spec.purpose,
                    topic: topic.clone(),
                    uses_phi,
                    template_approved: template.is_some(),
                    lint_clean: template.is_some_and(|t| t.clean),
                    provider_has_baa: self.provider_has_baa(channel, ctx.now),
                };
                let at = Self::planned_at(&m.spec, state, ctx.now);
                let decision = decide(&intent, state, &self.settings.gate, at);
                let (kind, reasons) = match &decision {
                    Decision::Allow => {
                        *by_channel.entry(channel).or_default() += 1;
                        ("would_send", String::new())
                    }
                    d @ Decision::Defer { .. } => ("deferred", reason_codes(d)),
                    d @ Decision::Deny { .. } => ("denied", reason_codes(d)),
                };
                *totals.entry(kind).or_default() += 1;
                // A member denied for two reasons counts under each.
                for reason in reasons.split_whitespace() {
                    *counts.entry((kind, reason.to_owned())).or_default() += 1;
                }
            }
        }
        let total = |kind: &str| totals.get(kind).copied().unwrap_or(0);
        let reasons = |kind: &str| breakdown(total(kind), &counts.iter().filter(|((k, _), _)| *k == kind).map(|((_, r), n)| (r.clone(), *n)).collect());
        Ok(json!({
            "members": suppressed(members.len() as u64),
            "would_send": suppressed(total("would_send")),
            "would_send_by_channel": by_channel.iter().map(|(c, n)| (c.as_str(), suppressed(*n))).collect::<BTreeMap<_, _>>(),
            "deferred": reasons("deferred"),
            "denied": reasons("denied"),
            "planned": crate::campaigns::schedule_summary(&m.spec.schedule),
        }))
    }
}
