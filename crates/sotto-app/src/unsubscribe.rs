//! Email unsubscribe links (RFC 8058): an opaque, purpose-bound token names the patient,
//! channel and topic; a POST unsubscribes at once, a GET only shows what would happen.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use sotto_core::FieldError;
use sotto_core::audit::{Outcome, action};
use sotto_core::consent::{ConsentRecord, ConsentSource, ConsentState, ConsentStatus, Topic};
use sotto_core::contact::Channel;
use sotto_core::purpose::ConsentKind;
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::consent::{from_row, to_row};
use crate::{App, AppError, RequestCtx};

const PURPOSE: &str = "sotto unsubscribe v1";

#[derive(Serialize, Deserialize)]
struct Claim {
    e: String,
    c: Channel,
    t: Option<String>,
    /// The message the link came in, for its campaign's report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
}

/// What an unsubscribe token stands for (no PHI: shown on the confirmation page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeTarget {
    /// The channel.
    pub channel: Channel,
    /// The topic, or the whole channel.
    pub topic: Option<String>,
}

impl<S: Store> App<S> {
    /// Issues a one-click unsubscribe URL for a patient's channel (and topic).
    pub async fn unsubscribe_link(&self, ctx: &RequestCtx, external_id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::ConsentWrite, "unsubscribe").await?;
        crate::only_fields(body, &["channel", "topic"], "", "an unsubscribe link request")?;
        let id = self.existing_patient(external_id).await?;
        let channel = body.get("channel").and_then(Value::as_str).ok_or_else(|| AppError::invalid(FieldError::new("missing_field", "channel", "channel is required")))?;
        let channel = Channel::parse("channel", channel).map_err(AppError::invalid)?;
        let topic = match body.get("topic") {
            None | Some(Value::Null) => None,
            Some(t) => Some(Topic::parse("topic", t.as_str().unwrap_or_default()).map_err(AppError::invalid)?),
        };
        let url = self.unsubscribe_url(id.as_str(), channel, topic.map(|t| t.as_str().to_owned()))?;
        let event = ctx.audit().event(action::UNSUBSCRIBE_LINK, format!("patient:{}/unsubscribe:{channel}", self.keyring.patient_ref(id.as_str())), Outcome::Success.as_str());
        self.store.append_audit(vec![event]).await?;
        Ok(json!({ "url": url }))
    }

    /// A one-click unsubscribe URL; the token is sealed, so the URL names nobody.
    pub(crate) fn unsubscribe_url(&self, external_id: &str, channel: Channel, topic: Option<String>) -> Result<String, AppError> {
        self.message_unsubscribe_url(external_id, channel, topic, None)
    }

    /// A one-click unsubscribe URL that also names the message it came in (for reports).
    pub(crate) fn message_unsubscribe_url(&self, external_id: &str, channel: Channel, topic: Option<String>, message: Option<&str>) -> Result<String, AppError> {
        let claim = Claim { e: external_id.to_owned(), c: channel, t: topic, m: message.map(str::to_owned) };
        let token = self.keyring.seal_token(PURPOSE, &serde_json::to_vec(&claim).map_err(|_| AppError::Internal("unsubscribe claim did not serialize"))?);
        Ok(format!("{}/u/{token}", self.settings.public_url.trim_end_matches('/')))
    }

    fn claim(&self, token: &str) -> Result<Claim, AppError> {
        let plain = self.keyring.open_token(PURPOSE, token).map_err(|_| AppError::NotFound("unsubscribe link"))?;
        serde_json::from_slice(&plain).map_err(|_| AppError::NotFound("unsubscribe link"))
    }

    /// What a token would unsubscribe from, without changing anything (for the GET page).
    pub fn unsubscribe_target(&self, token: &str) -> Result<UnsubscribeTarget, AppError> {
        let claim = self.claim(token)?;
        Ok(UnsubscribeTarget { channel: claim.c, topic: claim.t })
    }

    /// Unsubscribes at once; repeating it changes nothing.
    pub async fn unsubscribe(&self, ctx: &RequestCtx, token: &str) -> Result<UnsubscribeTarget, AppError> {
        let claim = self.claim(token)?;
        let topic = claim.t.as_deref().map(|t| Topic::parse("topic", t)).transpose().map_err(AppError::invalid)?;
        let history = self.store.consents_of(&claim.e).await?.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let current = ConsentState::derive(&history);
        let already = current.get(claim.c, topic.as_ref()).is_some_and(|r| r.status == ConsentStatus::OptedOut);
        if !already {
            let record = ConsentRecord {
                channel: claim.c,
                topic,
                status: ConsentStatus::OptedOut,
                kind: ConsentKind::Express,
                source: ConsentSource::EmailUnsubscribe,
                captured_at: ctx.now,
                evidence: json!({"method": "one_click", "request_id": ctx.request_id}),
            };
            self.store.append_consents(&[to_row(&claim.e, &record, ctx)], &ctx.audit(), vec![]).await?;
            self.refresh_permissions(std::slice::from_ref(&claim.e)).await?;
        }
        if let Some(message) = &claim.m {
            self.store.record_engagement(message, "unsubscribe", "", crate::micros(ctx.now), &ctx.audit()).await?;
        }
        Ok(UnsubscribeTarget { channel: claim.c, topic: claim.t })
    }
}
