//! Inbound SMS: STOP and plain-language requests opt the number out at once with one
//! confirmation, START opts back in, HELP answers, and replies to a journey's texts (confirm,
//! reschedule, anything else) become events for the patient's runs. Known and unknown numbers get the same
//! answers, so a reply never reveals whether a number belongs to a patient.

use jiff::SignedDuration;
use serde_json::json;

use sotto_core::audit::{Outcome, action};
use sotto_core::consent::{ConsentRecord, ConsentSource, ConsentStatus};
use sotto_core::contact::{Channel, PhoneE164};
use sotto_core::purpose::ConsentKind;
use sotto_core::scope::Scope;
use sotto_core::sms_keywords::{SmsCommand, classify};
use sotto_store::{IndexKind, Store};

use crate::consent::to_row;
use crate::{App, AppError, RequestCtx, micros};

/// A repeated STOP within this window gets no second confirmation (REQ-513).
const CONFIRMATION_WINDOW: SignedDuration = SignedDuration::from_hours(1);

/// What to answer the sender with, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReply {
    /// The reply text; `None` sends nothing back.
    pub text: Option<String>,
}

impl<S: Store> App<S> {
    /// Authenticates a provider's signed webhook: `path` is the request path and query, and
    /// `params` the form fields. A bad or unexpected signature is refused like a bad key.
    pub fn authenticate_sms_webhook(&self, signature: &str, path: &str, params: &[(String, String)]) -> Result<crate::Principal, AppError> {
        let invalid = AppError::Unauthenticated { code: "invalid_signature", message: "the webhook signature does not verify; check the provider auth token and SOTTO_PUBLIC_URL" };
        let Some(secret) = &self.settings.sms_webhook_secret else {
            return Err(invalid);
        };
        let url = format!("{}{path}", self.settings.public_url.trim_end_matches('/'));
        if !sotto_crypto::webhook::verify_form_signature(secret, &url, params, signature) {
            return Err(invalid);
        }
        Ok(crate::Principal { actor: "provider:sms".into(), scopes: vec![Scope::InboundWrite] })
    }

    /// Handles one inbound text from `from` (any phone format) with body `body`.
    pub async fn inbound_sms(&self, ctx: &RequestCtx, from: &str, body: &str) -> Result<SmsReply, AppError> {
        self.require(ctx, Scope::InboundWrite, "sms:inbound").await?;
        let command = classify(body);
        let brand = &self.settings.sms_brand;
        let Ok(phone) = PhoneE164::parse("From", from, &self.settings.default_region) else {
            return Ok(SmsReply { text: None });
        };
        let index = self.keyring.blind_index("phone", phone.expose());
        let patients = self.store.patients_by_index(IndexKind::Phone, &index).await?;
        let (status, kind, reply) = match command {
            SmsCommand::OptOut => (
                Some(ConsentStatus::OptedOut),
                "stop_confirmation",
                format!("{brand}: you are unsubscribed and will receive no more messages. Reply START to resubscribe."),
            ),
            SmsCommand::OptIn => (
                Some(ConsentStatus::OptedIn),
                "start_confirmation",
                format!("{brand}: you are resubscribed. Msg & data rates may apply. Reply HELP for help, STOP to opt out."),
            ),
            SmsCommand::Help => (
                None,
                "help",
                format!("{brand}: for help, contact {}. Msg & data rates may apply. Reply STOP to opt out.", self.settings.sms_help_contact),
            ),
            SmsCommand::Confirm | SmsCommand::Reschedule | SmsCommand::Other => {
                let kind = match command {
                    SmsCommand::Confirm => "confirm",
                    SmsCommand::Reschedule => "reschedule",
                    _ => "other",
                };
                self.store.append_audit(vec![ctx.audit().event(action::SMS_INBOUND, format!("sms:{kind}"), Outcome::Success.as_str())]).await?;
                self.record_reply(ctx, &patients, command).await?;
                // The same answer whether or not the number is a patient's.
                let text = match command {
                    SmsCommand::Confirm => Some(format!("{brand}: thank you, we received your reply.")),
                    SmsCommand::Reschedule => Some(format!("{brand}: thank you, the clinic will contact you to find a new time.")),
                    _ => None,
                };
                return Ok(SmsReply { text });
            }
        };
        let audit = vec![ctx.audit().event(action::SMS_INBOUND, format!("sms:{kind}"), Outcome::Success.as_str())];
        if let Some(status) = status {
            let record = ConsentRecord {
                channel: Channel::Sms,
                topic: None,
                status,
                kind: ConsentKind::Express,
                source: ConsentSource::SmsKeyword,
                captured_at: ctx.now,
                evidence: json!({"method": if command == SmsCommand::OptOut { "sms_opt_out" } else { "sms_opt_in" }, "request_id": ctx.request_id}),
            };
            let rows: Vec<_> = patients.iter().map(|p| to_row(p, &record, ctx)).collect();
            // Kept for the number too, so a STOP from a number that is nobody's yet applies
            // the moment it is attached to a patient.
            self.store.record_number_consent(&index, status.as_str(), micros(ctx.now), &rows, &ctx.audit(), audit).await?;
            self.refresh_permissions(&patients).await?;
        } else {
            self.store.append_audit(audit).await?;
        }
        let first = self.store.claim_sms_reply(&index, kind, micros(ctx.now), CONFIRMATION_WINDOW.as_micros() as i64).await?;
        Ok(SmsReply { text: (first || command == SmsCommand::Help).then_some(reply) })
    }
}
