//! One dispatch round: claim a batch, decide it inside the transaction that records the
//! decisions and takes the cap slots (state read in one pass for the batch), render each
//! allowed message from the approved version, lint it again, hand it to the channel's
//! provider, and record how each hand-off ended.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use sotto_core::contact::Channel;
use sotto_core::gate::{Decision, GatePolicy, Intent, PatientState, SentMessage, decide};
use sotto_core::purpose::Purpose;
use sotto_core::template::{RenderError, TemplateContent, VersionStatus, analyze, render};
use sotto_crypto::Keyring;
use sotto_store::{AuditContext, Finish, GateInputs, OutboxDecider, OutboxRow, Store, Verdict};

use crate::campaign_pacing::LaunchedCampaigns;
use crate::compose::compose;
use crate::deliver::{OutgoingMessage, PUSH_TOKENS_INVALID, Providers, SendError};
use crate::eligibility::reason_codes;
use crate::gate_state::{identifiers, state_from_inputs};
use crate::{App, AppError, micros};

/// How a worker claims and sends.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Messages claimed per round.
    pub batch: i64,
    /// How long a claim holds before another worker may recover it.
    pub lease: SignedDuration,
    /// How long to wait when nothing is due.
    pub idle_poll: Duration,
    /// Hand-offs tried before a message is dead.
    pub max_attempts: i64,
    /// Hand-offs in flight at once: claims are decided and handed over in chunks of this size.
    pub concurrency: usize,
    /// How long a provider may take before the message is `uncertain`.
    pub send_timeout: Duration,
    /// The first retry's delay; each retry doubles it, up to an hour, with jitter.
    pub retry_base: SignedDuration,
    /// Sending pauses by itself when a channel's providers fail this share of their last
    /// hand-offs...
    pub pause_error_rate: f64,
    /// ...over at least this many of them.
    pub pause_min_sample: usize,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            batch: 1000,
            lease: SignedDuration::from_mins(5),
            idle_poll: Duration::from_millis(500),
            max_attempts: 8,
            concurrency: 256,
            // A backstop above the providers' own timeouts (SMTP: 30 s per command).
            send_timeout: Duration::from_secs(120),
            retry_base: SignedDuration::from_secs(30),
            pause_error_rate: 0.5,
            pause_min_sample: 50,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Messages claimed.
    pub claimed: usize,
    /// Handed over and accepted.
    pub sent: usize,
    /// Waiting (quiet hours, caps).
    pub deferred: usize,
    /// Back in the queue until their patient's local send time.
    pub waiting: usize,
    /// Refused by the gate or the linter.
    pub denied: usize,
    /// Failed, retried, dead or uncertain.
    pub failed: usize,
    /// Whether sending is paused.
    pub paused: bool,
}

/// An approved version as dispatch uses it.
#[derive(Debug)]
pub(crate) struct ApprovedVersion {
    pub version: i64,
    pub content: TemplateContent,
    pub analysis: String,
    /// Whether it still passes analysis against today's dictionary.
    pub clean: bool,
}

/// How one provider hand-off ended.
struct Handoff {
    id: String,
    finish: Finish,
    channel: Channel,
    backup: bool,
    ok: bool,
    patient: String,
    stale: Vec<sotto_core::phi::Phi<String>>,
    /// Whether it went to the channel's provider (not a sandbox key's sink).
    real: bool,
    /// Which attempt it was.
    attempt: i64,
    /// How long the provider took.
    seconds: f64,
}

/// What every chunk of one round shares.
struct Round<'a> {
    worker: &'a str,
    templates: &'a BTreeMap<String, Option<ApprovedVersion>>,
    providers: &'a Providers,
    settings: &'a DispatchSettings,
    launched: &'a LaunchedCampaigns,
}

/// The gate over a claimed batch, from the state the store read in the deciding transaction.
struct BatchDecider<'a> {
    keyring: &'a Keyring,
    gate: &'a GatePolicy,
    urgent_gate: GatePolicy,
    requested_gate: GatePolicy,
    templates: &'a BTreeMap<String, Option<ApprovedVersion>>,
    baa: BTreeMap<Channel, bool>,
    launched: &'a LaunchedCampaigns,
    now: Timestamp,
}

impl BatchDecider<'_> {
    fn one(&self, claim: &OutboxRow, state: Option<&mut PatientState>) -> Verdict {
        let deny = |reason: &str| Verdict::Deny { reasons: reason.to_owned() };
        if let Some(until) = self.launched.wait_until(claim, state.as_ref().and_then(|s| s.timezone.as_ref()), self.now) {
            return Verdict::Wait { until: micros(until) };
        }
        let (Ok(channel), Ok(purpose)) = (Channel::parse("channel", &claim.channel), Purpose::parse("purpose", &claim.purpose)) else {
            return deny("invalid_message");
        };
        let topic = claim.topic.as_deref().and_then(|t| sotto_core::consent::Topic::parse("topic", t).ok());
        let template = self.templates.get(&template_key(claim)).and_then(Option::as_ref);
        let intent = Intent {
            channel,
            purpose,
            topic,
            uses_phi: claim.uses_phi,
            template_approved: template.is_some(),
            lint_clean: template.is_some_and(|t| t.clean),
            provider_has_baa: self.baa.get(&channel).copied().unwrap_or(false),
        };
        // Urgent care messages pass frequency caps, never consent, suppression or the linter.
        let policy = if crate::secure_messages::is_builtin_template(&claim.template_id) {
            &self.requested_gate
        } else if claim.urgent {
            &self.urgent_gate
        } else {
            self.gate
        };
        let decision = decide(&intent, state.as_deref(), policy, self.now);
        match decision {
            Decision::Allow => match template {
                Some(t) => {
                    // Later messages of the same batch count this one against the caps.
                    if let Some(state) = state {
                        state.sent.push(SentMessage { channel, purpose, at: self.now });
                    }
                    Verdict::Allow { template_version: t.version }
                }
                None => deny("template_not_approved"),
            },
            d @ Decision::Defer { until, .. } => Verdict::Defer { until: micros(until), reasons: reason_codes(&d) },
            d @ Decision::Deny { .. } => Verdict::Deny { reasons: reason_codes(&d) },
        }
    }
}

impl OutboxDecider for BatchDecider<'_> {
    fn decide(&self, claims: &[OutboxRow], inputs: &BTreeMap<String, GateInputs>) -> Vec<Verdict> {
        let mut states: BTreeMap<&str, Option<PatientState>> = BTreeMap::new();
        claims
            .iter()
            .map(|c| {
                let state = states.entry(c.external_id.as_str()).or_insert_with(|| inputs.get(&c.external_id).and_then(|i| state_from_inputs(self.keyring, i).ok()));
                self.one(c, state.as_mut())
            })
            .collect()
    }
}

/// The template version a message renders: the one its campaign pinned at launch, else the
/// latest approved.
pub(crate) fn template_key(claim: &OutboxRow) -> String {
    match (&claim.campaign_id, claim.template_version) {
        (Some(_), Some(version)) => format!("{}@{version}", claim.template_id),
        _ => claim.template_id.clone(),
    }
}

/// The delay before retry number `attempt` (1 for the first), doubled each time up to an
/// hour, spread by `jitter` in [0, 1) over ±20%.
pub fn retry_delay(base: SignedDuration, attempt: i64, jitter: f64) -> SignedDuration {
    let doubled = base.as_secs_f64() * 2f64.powi(attempt.clamp(1, 20) as i32 - 1);
    let capped = doubled.min(3_600.0);
    SignedDuration::from_secs_f64(capped * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

impl<S: Store> App<S> {
    /// The latest approved version of each template (`tpl_…`), or a pinned version
    /// (`tpl_…@3`) while it is still approved, checked against today's dictionary.
    pub(crate) async fn approved_versions(&self, ids: &[String]) -> Result<BTreeMap<String, Option<ApprovedVersion>>, AppError> {
        let dictionary = self.dictionary.get(&self.store).await?;
        let mut out = BTreeMap::new();
        for key in ids {
            if out.contains_key(key) {
                continue;
            }
            if let Some(builtin) = crate::secure_messages::builtin_version(key) {
                out.insert(key.clone(), Some(builtin));
                continue;
            }
            let (id, pinned) = match key.split_once('@') {
                Some((id, v)) => (id, v.parse::<i64>().ok()),
                None => (key.as_str(), None),
            };
            let versions = self.store.template_versions(id).await?;
            let approved = versions.iter().rev().filter(|v| pinned.is_none_or(|p| v.version == p)).find(|v| v.status == VersionStatus::Approved.as_str()).and_then(|row| {
                let content: TemplateContent = serde_json::from_str(&row.content).ok()?;
                let clean = analyze(&content, &dictionary).is_ok();
                Some(ApprovedVersion { version: row.version, content, analysis: row.analysis.clone(), clean })
            });
            out.insert(key.clone(), approved);
        }
        Ok(out)
    }

    /// Claims, decides, renders and hands over one batch as `worker`.
    pub async fn dispatch_round(&self, worker: &str, providers: &Providers, settings: &DispatchSettings, now: Timestamp) -> Result<RoundReport, AppError> {
        let mut report = RoundReport::default();
        if self.store.dispatch_control().await?.paused {
            report.paused = true;
            return Ok(report);
        }
        // A rate-limited provider must get through a batch well within its lease.
        let limit = providers.slowest_rate().map_or(settings.batch, |rate| settings.batch.min((rate * settings.lease.as_secs_f64() / 2.0).max(1.0) as i64));
        let launched = self.launched_campaigns().await?;
        let claims = self.claim_due(worker, now, now + settings.lease, limit, &launched).await?;
        report.claimed = claims.len();
        if claims.is_empty() {
            return Ok(report);
        }
        let template_ids: Vec<String> = claims.iter().map(template_key).collect();
        let templates = self.approved_versions(&template_ids).await?;
        // Each chunk is decided just before its hand-offs, so a consent change committed while
        // an earlier chunk was being sent applies to the later ones.
        let started = std::time::Instant::now();
        for (n, chunk) in claims.chunks(settings.concurrency.max(1)).enumerate() {
            // A pause (by an operator, or by the worker itself) stops the round between chunks;
            // the claims not decided yet go back to the queue.
            if n > 0 && self.store.dispatch_control().await?.paused {
                self.store.release_claims(worker, micros(Timestamp::now())).await?;
                report.paused = true;
                break;
            }
            let at = now + SignedDuration::try_from(started.elapsed()).unwrap_or_default();
            let round = Round { worker, templates: &templates, providers, settings, launched: &launched };
            self.dispatch_chunk(&round, chunk, at, &mut report).await?;
        }
        tracing::info!(claimed = report.claimed, sent = report.sent, deferred = report.deferred, denied = report.denied, failed = report.failed, "dispatch round");
        Ok(report)
    }

    /// Decides one chunk of claims, hands the allowed ones over at once, records the results.
    async fn dispatch_chunk(&self, round: &Round<'_>, claims: &[OutboxRow], now: Timestamp, report: &mut RoundReport) -> Result<(), AppError> {
        let Round { worker, templates, providers, settings, launched } = *round;
        let mut urgent_gate = self.settings.gate.clone();
        urgent_gate.caps.clear();
        let baa = [Channel::Email, Channel::Sms, Channel::Push].into_iter().map(|c| (c, self.provider_has_baa(c, now))).collect();
        let requested_gate = crate::secure_messages::requested_policy(&self.settings.gate);
        let decider = BatchDecider { keyring: &self.keyring, gate: &self.settings.gate, urgent_gate, requested_gate, templates, baa, launched, now };
        let audit = AuditContext { actor: format!("system:dispatch/{worker}"), request_id: String::new(), source_ip: None, at_micros: micros(now) };
        let (decided, inputs) = self.store.decide_claimed(worker, claims, self.sends_horizon(now), micros(now), &decider, &audit).await?;
        self.return_waiting_tokens(launched, &decided).await?;
        self.metrics.verdicts(&decided);
        let mut results: Vec<(String, Finish)> = Vec::new();
        let mut handoffs = tokio::task::JoinSet::new();
        let mut needed = BTreeMap::new();
        for (claim, verdict) in &decided {
            if let (Verdict::Allow { .. }, Ok(channel)) = (verdict, Channel::parse("channel", &claim.channel)) {
                *needed.entry(channel).or_insert(0) += 1;
            }
        }
        let mut pacer = crate::pacing::Pacer::new(&self.store, providers, needed);
        for (claim, verdict) in decided {
            let version = match verdict {
                Verdict::Allow { template_version } => template_version,
                Verdict::Defer { .. } => {
                    report.deferred += 1;
                    continue;
                }
                Verdict::Deny { .. } => {
                    report.denied += 1;
                    continue;
                }
                Verdict::Wait { .. } => {
                    report.waiting += 1;
                    continue;
                }
            };
            let prepared = self.prepare(&claim, version, templates, inputs.get(&claim.external_id), now);
            let route = |m: &OutgoingMessage| match claim.source.as_str() {
                "sandbox" => Some((std::sync::Arc::new(crate::deliver::SinkProvider::new(self.mailbox())) as std::sync::Arc<dyn crate::deliver::Provider>, false)),
                _ => providers.route(m.channel),
            };
            let (message, (provider, backup)) = match prepared.and_then(|m| Ok((route(&m).ok_or(Finish::Failed { error: "no_provider_for_channel".into() })?, m))) {
                Ok((route, message)) => (message, route),
                Err(finish) => {
                    results.push((claim.id.clone(), finish));
                    continue;
                }
            };
            pacer.take(message.channel).await;
            let timeout = settings.send_timeout;
            let attempts = claim.attempts + 1;
            let (max, base) = (settings.max_attempts, settings.retry_base);
            let patient = claim.external_id.clone();
            let real = claim.source != "sandbox";
            handoffs.spawn(async move {
                let started = std::time::Instant::now();
                let answer = tokio::time::timeout(timeout, provider.send(&message)).await;
                let seconds = started.elapsed().as_secs_f64();
                let mut stale = Vec::new();
                let finish = match answer {
                    Ok(Ok(accepted)) => {
                        stale = accepted.stale_devices;
                        Finish::Sent { provider: provider.name().to_owned(), provider_message_id: accepted.provider_message_id }
                    }
                    Ok(Err(SendError::Transient(code))) if attempts >= max => Finish::Dead { error: code },
                    Ok(Err(SendError::Transient(code))) => Finish::Retry { at: micros(Timestamp::now() + retry_delay(base, attempts, rand::random::<f64>())), error: code },
                    Ok(Err(SendError::Permanent(code))) => {
                        if code == PUSH_TOKENS_INVALID {
                            stale = message.devices.clone();
                        }
                        Finish::Failed { error: code }
                    }
                    Ok(Err(SendError::Uncertain(code))) => Finish::Uncertain { error: code },
                    Err(_) => Finish::Uncertain { error: "provider_timeout".into() },
                };
                // Only answers that say nothing of the recipient count against the provider.
                let ok = matches!(finish, Finish::Sent { .. } | Finish::Failed { .. });
                Handoff { id: message.id, finish, channel: message.channel, backup, ok, patient, stale, real, attempt: attempts, seconds }
            });
        }
        let mut channels = Vec::new();
        while let Some(done) = handoffs.join_next().await {
            match done {
                Ok(h) => {
                    if h.real {
                        providers.record(h.channel, h.backup, h.ok);
                        channels.push(h.channel);
                        self.metrics.handoff(h.channel.as_str(), h.seconds, &h.finish);
                    }
                    if !h.stale.is_empty() {
                        self.forget_push_tokens(&h.id, h.attempt, &h.patient, h.stale, &audit).await;
                    }
                    results.push((h.id, h.finish));
                }
                Err(e) => tracing::error!(panicked = e.is_panic(), "a provider hand-off task ended abnormally; its message stays claimed until its lease ends"),
            }
        }
        channels.sort();
        channels.dedup();
        for channel in channels {
            if let Some(reason) = providers.failing(channel, settings.pause_error_rate, settings.pause_min_sample) {
                tracing::error!(%channel, reason = %reason, "sending paused");
                let control = sotto_store::DispatchControl { paused: true, reason, changed_at: micros(Timestamp::now()) };
                self.store.set_dispatch_control(&control, &audit).await?;
            }
        }
        for (_, finish) in &results {
            match finish {
                Finish::Sent { .. } => report.sent += 1,
                Finish::Refused { .. } => report.denied += 1,
                _ => report.failed += 1,
            }
        }
        self.store.finish_outbox(worker, &results, micros(Timestamp::now()), &audit).await?;
        Ok(())
    }

    /// Renders an allowed message for its patient; a refusal says how the message ends.
    fn prepare(&self, claim: &OutboxRow, version: i64, templates: &BTreeMap<String, Option<ApprovedVersion>>, inputs: Option<&GateInputs>, now: Timestamp) -> Result<OutgoingMessage, Finish> {
        let failed = |code: &str| Finish::Failed { error: code.to_owned() };
        let template = templates.get(&template_key(claim)).and_then(Option::as_ref).filter(|t| t.version == version).ok_or_else(|| failed("template_version_changed"))?;
        let inputs = inputs.ok_or_else(|| failed("patient_missing"))?;
        let ids = identifiers(&self.keyring, inputs).map_err(|_| failed("identifiers_unreadable"))?;
        let channel = Channel::parse("channel", &claim.channel).map_err(|_| failed("invalid_message"))?;
        let event: Value = serde_json::from_str(&claim.context).unwrap_or(Value::Object(Default::default()));
        let topic = if Purpose::parse("purpose", &claim.purpose).is_ok_and(Purpose::is_marketing) { claim.topic.clone() } else { None };
        let mut context = self.send_context(&inputs.patient, &ids, event, channel, &template.analysis, topic.clone()).map_err(|_| failed("context_unavailable"))?;
        self.portal_context(&mut context, &claim.external_id);
        if claim.campaign_id.is_some() {
            self.track_links(&mut context, &claim.id, &inputs.patient.external_id, channel, topic).map_err(|_| failed("context_unavailable"))?;
        }
        let rendered = render(&template.content.in_language(inputs.patient.language.as_deref()), &context).map_err(|e| match e {
            RenderError::Blocked { .. } => Finish::Refused { reasons: "template_lint_failed".into() },
            _ => failed("render_failed"),
        })?;
        let marketing = Purpose::parse("purpose", &claim.purpose).is_ok_and(Purpose::is_marketing);
        let unsubscribe = context["links"]["unsubscribe"].as_str().unwrap_or_default();
        compose(claim, channel, &ids, &rendered, &self.settings.email_from, marketing.then_some(unsubscribe), now).map_err(failed)
    }
}
