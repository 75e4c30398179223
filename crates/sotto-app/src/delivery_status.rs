//! What providers report after a hand-off: delivery statuses update the message's record, and
//! answers that say the number cannot or must not get texts feed suppression: an
//! unsubscribed recipient (the provider's own STOP handling) becomes an opt-out of the number,
//! an unreachable, unknown or landline number a suppression of the patient's SMS.

use serde_json::{Value, json};

use sotto_core::audit::{Outcome, action};
use sotto_core::consent::ConsentStatus;
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::{App, AppError, RequestCtx, micros};

/// A delivery status a provider reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Still on its way (queued, accepted, sending, sent): nothing changes.
    InProgress,
    /// Delivered to the handset or mailbox.
    Delivered,
    /// The carrier or mailbox refused it.
    Undelivered,
    /// The provider could not send it.
    Failed,
}

impl DeliveryStatus {
    /// Reads a Twilio-style `MessageStatus`.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "queued" | "accepted" | "scheduled" | "sending" | "sent" => DeliveryStatus::InProgress,
            "delivered" | "read" => DeliveryStatus::Delivered,
            "undelivered" => DeliveryStatus::Undelivered,
            "failed" | "canceled" => DeliveryStatus::Failed,
            _ => return None,
        })
    }
}

/// What an SMS error code means for the number, if anything.
pub fn sms_error_effect(code: &str) -> Option<&'static str> {
    match code {
        "21610" => Some("unsubscribed"),
        "30003" => Some("unreachable"),
        "30005" => Some("unknown_number"),
        "30006" => Some("landline"),
        _ => None,
    }
}

impl<S: Store> App<S> {
    /// Applies a provider's status report for one of its message ids. Unknown ids answer
    /// `matched: false` (a provider may report on messages sent before Sotto).
    pub async fn provider_status(&self, ctx: &RequestCtx, provider: &str, provider_message_id: &str, status: DeliveryStatus, error_code: Option<&str>) -> Result<Value, AppError> {
        self.require(ctx, Scope::InboundWrite, "provider:status").await?;
        let code = error_code.filter(|c| !c.is_empty() && c.len() <= 12 && c.bytes().all(|b| b.is_ascii_alphanumeric()));
        let (state, error) = match status {
            DeliveryStatus::InProgress => return Ok(json!({"matched": true, "changed": false})),
            DeliveryStatus::Delivered => ("delivered", None),
            DeliveryStatus::Undelivered => ("bounced", Some(format!("{provider}_{}", code.unwrap_or("undelivered")))),
            DeliveryStatus::Failed => ("failed", Some(format!("{provider}_{}", code.unwrap_or("failed")))),
        };
        let Some((external_id, channel)) = self.store.record_delivery(provider, provider_message_id, state, error.as_deref(), micros(ctx.now), &ctx.audit()).await? else {
            return Ok(json!({"matched": false}));
        };
        if let Some(effect) = code.and_then(sms_error_effect).filter(|_| channel == "sms") {
            self.suppress_number(ctx, &external_id, effect).await?;
        }
        Ok(json!({"matched": true, "changed": true, "status": state}))
    }

    /// Applies a report about an email Sotto sent (its Message-ID's local part is the outbox
    /// id): a hard bounce marks the message bounced and suppresses the address, a complaint
    /// suppresses it, a soft bounce is recorded in the audit chain only (the relay retries).
    pub async fn email_report(&self, ctx: &RequestCtx, kind: crate::deliver::ReportKind, message_id: &str, status: &str) -> Result<Value, AppError> {
        use crate::deliver::ReportKind;
        self.require(ctx, Scope::InboundWrite, "email:report").await?;
        let id = message_id.split('@').next().unwrap_or_default();
        let ours = id.strip_prefix("msg_").is_some_and(|h| h.len() == 24 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(row) = (if ours { self.store.outbox_message(id).await? } else { None }).filter(|r| r.channel == "email") else {
            return Ok(json!({"matched": false}));
        };
        let status: String = status.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').take(32).collect();
        let object = format!("message:{id}/patient:{}", self.keyring.patient_ref(&row.external_id));
        let (kind_name, reason) = match kind {
            ReportKind::HardBounce => ("hard_bounce", Some("hard_bounce")),
            ReportKind::Complaint => ("complaint", Some("complaint")),
            ReportKind::SoftBounce => ("soft_bounce", None),
        };
        if kind == ReportKind::HardBounce
            && let (Some(provider), Some(pid)) = (&row.provider, &row.provider_message_id)
        {
            self.store.record_delivery(provider, pid, "bounced", Some(&format!("smtp_{status}")), micros(ctx.now), &ctx.audit()).await?;
        }
        match reason {
            Some(reason) => {
                let evidence = json!({"report": if kind == ReportKind::Complaint { "arf" } else { "dsn" }, "status": status, "message": id}).to_string();
                self.store.add_suppression(&row.external_id, "email", reason, &evidence, &ctx.audit()).await?;
                self.refresh_permissions(std::slice::from_ref(&row.external_id)).await?;
            }
            None => {
                let event = ctx.audit().event(action::MESSAGE_OUTCOME, object, &format!("soft_bounce:{status}"));
                self.store.append_audit(vec![event]).await?;
            }
        }
        Ok(json!({"matched": true, "kind": kind_name, "status": status, "message": id}))
    }

    /// Keeps an SMS error's effect: an opt-out of the patient's number, or a suppression.
    async fn suppress_number(&self, ctx: &RequestCtx, external_id: &str, effect: &str) -> Result<(), AppError> {
        if effect == "unsubscribed" {
            let Some(index) = self.store.patient(external_id).await?.and_then(|p| p.phone_index) else { return Ok(()) };
            let event = ctx.audit().event(action::SMS_INBOUND, format!("patient:{}/provider_opt_out", self.keyring.patient_ref(external_id)), Outcome::Success.as_str());
            self.store.record_number_consent(&index, ConsentStatus::OptedOut.as_str(), micros(ctx.now), &[], &ctx.audit(), vec![event]).await?;
        } else {
            let evidence = json!({"report": "sms_status", "effect": effect}).to_string();
            self.store.add_suppression(external_id, "sms", &format!("undeliverable_{effect}"), &evidence, &ctx.audit()).await?;
        }
        self.refresh_permissions(&[external_id.to_owned()]).await
    }
}
