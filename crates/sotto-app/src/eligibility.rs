//! The gate at the edge of the app: the patient's state as the gate sees it, explanations for
//! compliance officers, dispatch-time decisions (recorded with reason codes, no PHI), and the
//! report that counts decisions by reason.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use sotto_core::FieldError;
use sotto_core::audit::{Outcome, action};
use sotto_core::consent::Topic;
use sotto_core::contact::Channel;
use sotto_core::gate::{Decision, Intent, PatientState, decide};
use sotto_core::ids::ExternalId;
use sotto_core::purpose::Purpose;
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::gate_state::state_from_inputs;
use crate::dispatch::Dispatch;
use crate::{App, AppError, RequestCtx, micros};


pub(crate) fn decision_name(d: &Decision) -> &'static str {
    match d {
        Decision::Allow => "allow",
        Decision::Defer { .. } => "defer",
        Decision::Deny { .. } => "deny",
    }
}

pub(crate) fn reason_codes(d: &Decision) -> String {
    match d {
        Decision::Allow => String::new(),
        Decision::Defer { reasons, .. } | Decision::Deny { reasons } => reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" "),
    }
}

/// An eligibility question: a message's channel, purpose and topic, whether it uses PHI,
/// and optionally the template it would use.
#[derive(Debug, Clone)]
pub struct Question {
    /// The channel.
    pub channel: Channel,
    /// The purpose.
    pub purpose: Purpose,
    /// The topic.
    pub topic: Option<Topic>,
    /// Whether targeting or content uses PHI.
    pub uses_phi: bool,
    /// The template, when the question names one.
    pub template_id: Option<String>,
}

/// Parses the eligibility question from query parameters.
pub fn parse_intent(query: &BTreeMap<String, String>, now: Timestamp) -> Result<(Question, Timestamp), AppError> {
    let mut errors = Vec::new();
    let channel = match query.get("channel") {
        Some(c) => Channel::parse("channel", c).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(FieldError::new("missing_field", "channel", "channel is required: email, sms or push"));
            None
        }
    };
    let purpose = match query.get("purpose") {
        Some(p) => Purpose::parse("purpose", p).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(FieldError::new("missing_field", "purpose", "purpose is required: treatment, operations, marketing or marketing_remunerated"));
            None
        }
    };
    let topic = query.get("topic").and_then(|t| Topic::parse("topic", t).map_err(|e| errors.push(e)).ok());
    let flag = |key: &str, default: bool, errors: &mut Vec<FieldError>| match query.get(key).map(String::as_str) {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(_) => {
            errors.push(FieldError::new("invalid_value", key, format!("{key} must be true or false")));
            default
        }
    };
    let uses_phi = flag("uses_phi", false, &mut errors);
    let template_id = query.get("template_id").cloned();
    let at = match query.get("at") {
        Some(t) => t.parse::<Timestamp>().map_err(|_| errors.push(FieldError::new("invalid_timestamp", "at", "at must be an RFC 3339 timestamp"))).unwrap_or(now),
        None => now,
    };
    if query.keys().any(|key| !["channel", "purpose", "topic", "uses_phi", "template_id", "at"].contains(&key.as_str())) {
        errors.push(FieldError::new("unknown_field", "query", "the query has a parameter this question does not take; allowed: channel, purpose, topic, uses_phi, template_id, at"));
    }
    match (channel, purpose) {
        (Some(channel), Some(purpose)) if errors.is_empty() => {
            Ok((Question { channel, purpose, topic, uses_phi, template_id }, at))
        }
        _ => Err(AppError::Invalid(errors)),
    }
}

impl<S: Store> App<S> {
    /// Everything the gate needs about one patient, read now.
    pub async fn gate_state(&self, id: &ExternalId, now: Timestamp) -> Result<PatientState, AppError> {
        let inputs = self.store.gate_inputs(&[id.as_str().to_owned()], self.sends_horizon(now)).await?;
        let inputs = inputs.get(id.as_str()).ok_or(AppError::NotFound("patient"))?;
        state_from_inputs(&self.keyring, inputs)
    }

    /// The gate's view of many patients, read in one pass (a fixed number of statements);
    /// patients without a profile are left out.
    pub async fn gate_states(&self, ids: &[String], now: Timestamp) -> Result<BTreeMap<String, PatientState>, AppError> {
        let inputs = self.store.gate_inputs(ids, self.sends_horizon(now)).await?;
        self.states_from(&inputs)
    }

    /// The gate's view of each patient whose inputs were read.
    pub(crate) fn states_from(&self, inputs: &BTreeMap<String, sotto_store::GateInputs>) -> Result<BTreeMap<String, PatientState>, AppError> {
        inputs.iter().map(|(id, i)| Ok((id.clone(), state_from_inputs(&self.keyring, i)?))).collect()
    }

    /// How far back sends count: as far as the longest configured cap reaches.
    pub(crate) fn sends_horizon(&self, now: Timestamp) -> i64 {
        let horizon = self.settings.gate.caps.iter().map(|c| c.window).max().unwrap_or(SignedDuration::ZERO);
        micros(now - horizon)
    }

    /// Explains whether a patient would get a message, and why not.
    pub async fn eligibility(&self, ctx: &RequestCtx, external_id: &str, query: &BTreeMap<String, String>) -> Result<Value, AppError> {
        self.require(ctx, Scope::ConsentRead, "eligibility").await?;
        let id = ExternalId::parse("external_id", external_id).map_err(AppError::invalid)?;
        let (question, at) = parse_intent(query, ctx.now)?;
        // The provider's BAA always comes from configuration; the template's approval and
        // lint state from storage when a template is named, and are reported as unchecked
        // otherwise.
        let (intent, template) = match &question.template_id {
            Some(template_id) => {
                let dispatch = Dispatch { channel: question.channel, purpose: question.purpose, topic: question.topic.clone(), uses_phi: question.uses_phi, template_id: template_id.clone() };
                (self.dispatch_intent(&dispatch, at).await?, "checked")
            }
            None => (
                Intent {
                    channel: question.channel,
                    purpose: question.purpose,
                    topic: question.topic.clone(),
                    uses_phi: question.uses_phi,
                    template_approved: true,
                    lint_clean: true,
                    provider_has_baa: self.provider_has_baa(question.channel, at),
                },
                "not checked: pass template_id",
            ),
        };
        let state = self.gate_state(&id, at).await?;
        let decision = decide(&intent, Some(&state), &self.settings.gate, at);
        let event = ctx.audit().event(action::CONSENT_READ, format!("patient:{}/eligibility", self.keyring.patient_ref(id.as_str())), Outcome::Success.as_str());
        self.store.append_audit(vec![event]).await?;
        let mut answer = serde_json::to_value(&decision).unwrap_or_default();
        answer["template"] = json!(template);
        Ok(answer)
    }

    /// Decisions since `since`, counted by decision and by reason.
    pub async fn decision_summary(&self, ctx: &RequestCtx, since: Timestamp) -> Result<Value, AppError> {
        self.require(ctx, Scope::Compliance, "decisions").await?;
        let mut by_decision: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_reason: BTreeMap<String, i64> = BTreeMap::new();
        for (decision, reasons, n) in self.store.decision_counts(micros(since)).await? {
            *by_decision.entry(decision).or_default() += n;
            for reason in reasons.split_whitespace() {
                *by_reason.entry(reason.to_owned()).or_default() += n;
            }
        }
        let total: i64 = by_decision.values().sum();
        let shown = |counts: BTreeMap<String, i64>| -> BTreeMap<String, Value> { counts.into_iter().map(|(k, n)| (k, crate::suppressed(n.max(0) as u64))).collect() };
        Ok(json!({
            "since": since.to_string(),
            "total": crate::suppressed(total.max(0) as u64),
            "by_decision": shown(by_decision),
            "by_reason": shown(by_reason),
            "disclosure": "counts of 1 to 10 are shown as \"fewer than 11\"; larger counts are rounded to the nearest 5",
        }))
    }
}
