//! The gate at the edge of the app: the patient's state as the gate sees it, explanations for
//! compliance officers, dispatch-time decisions (recorded with reason codes, no PHI), and the
//! report that counts decisions by reason.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use sotto_core::FieldError;
use sotto_core::audit::{Outcome, action};
use sotto_core::consent::{ConsentRecord, ConsentState, ConsentStatus, Topic};
use sotto_core::contact::Channel;
use sotto_core::gate::{Decision, Intent, PatientState, SentMessage, Suppression, decide};
use sotto_core::ids::ExternalId;
use sotto_core::purpose::Purpose;
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::consent::{from_row, summary};
use crate::merge::open_identifiers;
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
        let record = self.store.patient(id.as_str()).await?.ok_or(AppError::NotFound("patient"))?;
        let traits: Map<String, Value> = serde_json::from_str(&record.traits).unwrap_or_default();
        let ids = open_identifiers(&self.keyring, &record).map_err(|_| AppError::Crypto)?.map(|(_, ids)| ids).unwrap_or_default();
        let mut state = PatientState::default();
        let has_tokens = ids.other.get("push_tokens").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
        for (channel, present, verified) in [
            (Channel::Email, ids.email.is_some(), traits.get("email_verified") == Some(&Value::Bool(true))),
            (Channel::Sms, ids.phone.is_some(), traits.get("phone_verified") == Some(&Value::Bool(true))),
            (Channel::Push, has_tokens, has_tokens),
        ] {
            if present {
                state.reachable.insert(channel);
            }
            if verified {
                state.verified.insert(channel);
            }
        }
        state.timezone = record.timezone.as_deref().and_then(|tz| TimeZone::get(tz).ok());
        state.state_of_residence = traits.get("state_of_residence").and_then(Value::as_str).map(str::to_owned);
        let mut history = self.store.consents_of(id.as_str()).await?.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        // A STOP from the patient's number after their latest SMS consent record wins, even
        // if it was sent before the number was theirs.
        if let Some(index) = &record.phone_index
            && let Some((status, at)) = self.store.number_consent(index).await?
            && status == ConsentStatus::OptedOut.as_str()
            && let Ok(at) = Timestamp::from_microsecond(at)
            && history.iter().filter(|r| r.channel == Channel::Sms && r.topic.is_none()).all(|r| r.captured_at < at)
        {
            history.push(ConsentRecord {
                channel: Channel::Sms,
                topic: None,
                status: ConsentStatus::OptedOut,
                kind: sotto_core::purpose::ConsentKind::Express,
                source: sotto_core::consent::ConsentSource::SmsKeyword,
                captured_at: at,
                evidence: serde_json::json!({"method": "sms_number_opt_out"}),
            });
        }
        state.consents = ConsentState::derive(&history);
        state.authorizations = self.store.authorizations_of(id.as_str()).await?.iter().map(summary).collect();
        for (channel, reason) in self.store.suppressions_of(id.as_str()).await? {
            let why = match reason.as_str() {
                "hard_bounce" => Suppression::HardBounce,
                "complaint" => Suppression::Complaint,
                _ => Suppression::Manual,
            };
            if let Ok(c) = Channel::parse("channel", &channel) {
                state.suppressions.push((c, why));
            }
        }
        // Sends as far back as the longest configured cap reaches.
        let horizon = self.settings.gate.caps.iter().map(|c| c.window).max().unwrap_or(SignedDuration::ZERO);
        for send in self.store.sends_of(&self.keyring.patient_ref(id.as_str()), micros(now - horizon)).await? {
            if let (Ok(channel), Ok(purpose), Ok(at)) = (Channel::parse("c", &send.channel), Purpose::parse("p", &send.purpose), Timestamp::from_microsecond(send.sent_at)) {
                state.sent.push(SentMessage { channel, purpose, at });
            }
        }
        Ok(state)
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
