//! Secure messages: the subject and body (which may carry PHI) sealed with the patient's data
//! key and kept inside Sotto; the patient learns of them from a generic nudge sent through the
//! outbox (gate and linter as always) whose portal link is a single-use secret. The sender
//! reads the status (sent, nudged, read), never the content.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use sotto_core::FieldError;
use sotto_core::contact::Channel;
use sotto_core::scope::Scope;
use sotto_core::template::TemplateContent;
use sotto_store::{OutboxRow, SecureMessageRow, Store};

use crate::gate_state::contact_channels;
use crate::{App, AppError, RequestCtx, micros, time_text};

const FIELDS: &[&str] = &["subject", "body", "category", "expires_at", "nudge"];
/// The longest subject and body taken.
const MAX_SUBJECT: usize = 200;
const MAX_BODY: usize = 20_000;
/// The context key naming the secure message a nudge is for (no dictionary name starts with
/// `$`, so no client can set it).
pub(crate) const NUDGE_KEY: &str = "$secure_message";
/// The context key naming the verification a code message carries the code of.
pub(crate) const CODE_KEY: &str = "$verification";
/// The built-in templates of the portal's one-time codes, by channel.
pub(crate) const CODE_TEMPLATES: [(&str, Channel); 2] = [("sotto_portal_code_email", Channel::Email), ("sotto_portal_code_sms", Channel::Sms)];

/// Whether a template id is one of Sotto's own (never queued through the API).
pub(crate) fn is_builtin_template(id: &str) -> bool {
    CODE_TEMPLATES.iter().any(|(t, _)| *t == id)
}

/// The built-in content of a one-time code message, in English and Spanish.
pub(crate) fn code_content(channel: Channel) -> TemplateContent {
    let content = match channel {
        Channel::Email => json!({
            "channel": "email",
            "surfaces": {
                "email_subject": "Your sign-in code",
                "email_preview": "Your code works for 10 minutes.",
                "email_body": "<p>Your {{ clinic.name }} sign-in code is <strong>{{ event.code }}</strong>.</p><p>It works for 10 minutes. If you did not ask for it, you can ignore this email.</p>",
            },
            "variants": {"es": {
                "email_subject": "Su código para entrar",
                "email_preview": "Su código sirve por 10 minutos.",
                "email_body": "<p>Su código para entrar a {{ clinic.name }} es <strong>{{ event.code }}</strong>.</p><p>Sirve por 10 minutos. Si usted no lo pidió, puede ignorar este correo.</p>",
            }},
        }),
        _ => json!({
            "channel": "sms",
            "surfaces": {"sms_body": "{{ clinic.name }}: your sign-in code is {{ event.code }}. It works for 10 minutes."},
            "variants": {"es": {"sms_body": "{{ clinic.name }}: su código para entrar es {{ event.code }}. Sirve por 10 minutos."}},
        }),
    };
    serde_json::from_value(content).expect("the built-in code messages are valid content")
}

impl<S: Store> App<S> {
    /// The single-use link secret of a secure message, bound to its patient; derived, so it is
    /// never stored and every attempt of the nudge carries the same link.
    pub(crate) fn link_secret(&self, secure_message_id: &str, external_id: &str) -> String {
        self.keyring.derived_token("sotto portal link v1", &format!("{secure_message_id}/{external_id}"))
    }

    /// The six-digit one-time code of a verification, bound to its patient; derived, never
    /// stored.
    pub(crate) fn one_time_code(&self, verification_id: &str, external_id: &str) -> String {
        let secret = self.keyring.derived_secret("sotto portal code v1", &format!("{verification_id}/{external_id}"));
        let n = u64::from_be_bytes(secret[..8].try_into().expect("eight bytes"));
        format!("{:06}", n % 1_000_000)
    }

    /// Where a nudge's portal link leads.
    pub(crate) fn portal_link(&self, secure_message_id: &str, external_id: &str) -> String {
        format!("{}/portal/t/{}", self.settings.public_url.trim_end_matches('/'), self.link_secret(secure_message_id, external_id))
    }

    /// Stores a secure message sealed with the patient's data key and queues its nudge on
    /// the first channel listed that the patient has a verified contact for.
    pub async fn create_secure_message(&self, ctx: &RequestCtx, external_id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::SecureMessagesWrite, "secure_messages").await?;
        crate::only_fields(body, FIELDS, "", "a secure message")?;
        crate::only_fields(body.get("nudge").unwrap_or(&Value::Null), &["channels", "template_id"], "nudge", "a nudge")?;
        let id = self.existing_patient(external_id).await?;
        let parsed = parse_request(body, ctx.now, &self.settings.portal.categories)?;
        let record = self.store.patient(id.as_str()).await?.ok_or(AppError::NotFound("patient"))?;
        let (_, verified) = contact_channels(&self.keyring, &record)?;
        let Some(channel) = parsed.channels.iter().copied().find(|c| verified.contains(c)) else {
            return Err(AppError::invalid(FieldError::new("no_verified_channel", "nudge.channels", "the patient has no verified contact on any channel listed; verify one or list another")));
        };
        let template_id = parsed.template_for(channel)?;
        let template = self.store.template(&template_id).await?.filter(|t| !is_builtin_template(&t.id)).ok_or(AppError::NotFound("template"))?;
        if template.channel != channel.as_str() {
            return Err(AppError::invalid(FieldError::new("channel_mismatch", "nudge.template_id", format!("the template is for {}, and the nudge goes by {channel}", template.channel))));
        }
        if self.approved_versions(std::slice::from_ref(&template.id)).await?.get(&template.id).is_none_or(Option::is_none) {
            return Err(AppError::Conflict { code: "template_not_approved", message: "the nudge's template has no approved version; submit one for review".into() });
        }
        let key = self.data_key_of(&record, ctx.now).await?;
        let sm_id = format!("sm_{}", sotto_crypto::random_id(8));
        let owner = crate::merge::key_owner(id.as_str());
        let content = json!({"subject": parsed.subject, "body": parsed.body}).to_string();
        let sealed = key.seal(format!("{owner}/secure_message:{sm_id}").as_bytes(), content.as_bytes());
        let nudge_id = format!("msg_{}", sotto_crypto::random_id(8));
        let now = micros(ctx.now);
        let nudge = OutboxRow {
            channel: channel.as_str().to_owned(),
            purpose: "treatment".into(),
            template_id: template.id.clone(),
            context: json!({ NUDGE_KEY: sm_id }).to_string(),
            ..OutboxRow::queued(nudge_id.clone(), id.as_str().to_owned(), now)
        };
        let link_expires = parsed.expires_at.min(ctx.now + self.settings.portal.link_lifetime);
        let row = SecureMessageRow {
            id: sm_id.clone(),
            external_id: id.as_str().to_owned(),
            sealed,
            category: parsed.category,
            created_at: now,
            created_by: ctx.principal.actor.clone(),
            expires_at: micros(parsed.expires_at),
            nudge_id: Some(nudge_id),
            link_hash: sotto_crypto::digest(&self.link_secret(&sm_id, id.as_str())),
            link_expires_at: micros(link_expires),
            link_used_at: None,
            read_at: None,
        };
        self.store.create_secure_message(&row, Some(&nudge), &ctx.audit()).await?;
        self.outbox_notify.notify_waiters();
        self.secure_message_view(&row).await
    }

    /// A secure message's status: created, nudged (the nudge was handed over) or read.
    pub async fn secure_message_status(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::SecureMessagesRead, "secure_messages").await?;
        let row = self.store.secure_message(id).await?.ok_or(AppError::NotFound("secure message"))?;
        let object = format!("secure_message:{}/patient:{}", row.id, self.keyring.patient_ref(&row.external_id));
        self.store.append_audit(vec![ctx.audit().event(sotto_core::audit::action::SECURE_MESSAGE_STATUS, object, "success")]).await?;
        self.secure_message_view(&row).await
    }

    async fn secure_message_view(&self, row: &SecureMessageRow) -> Result<Value, AppError> {
        let nudge = match &row.nudge_id {
            Some(id) => self.store.outbox_message(id).await?,
            None => None,
        };
        let nudged = nudge.as_ref().is_some_and(|n| n.state == "sent");
        let status = if row.read_at.is_some() { "read" } else if nudged { "nudged" } else { "sent" };
        Ok(json!({
            "id": row.id,
            "status": status,
            "category": row.category,
            "created_at": time_text(row.created_at),
            "expires_at": time_text(row.expires_at),
            "read_at": row.read_at.map(time_text),
            "nudge": nudge.map(|n| json!({"message_id": n.id, "channel": n.channel, "status": n.state, "sent_at": n.sent_at.map(time_text)})),
        }))
    }
}

/// A secure message request, read.
struct Request {
    subject: String,
    body: String,
    category: Option<String>,
    expires_at: Timestamp,
    channels: Vec<Channel>,
    templates: Value,
}

impl Request {
    /// The template of the nudge on `channel`: one id for any channel, or one per channel.
    fn template_for(&self, channel: Channel) -> Result<String, AppError> {
        let id = match &self.templates {
            Value::String(id) => Some(id.clone()),
            Value::Object(by_channel) => by_channel.get(channel.as_str()).and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        id.ok_or_else(|| AppError::invalid(FieldError::new("missing_field", "nudge.template_id", format!("nudge.template_id names no template for {channel}"))))
    }
}

fn parse_request(body: &Value, now: Timestamp, categories: &[String]) -> Result<Request, AppError> {
    let mut errors = Vec::new();
    let mut text = |field: &'static str, max: usize| match body.get(field).and_then(Value::as_str).map(str::trim) {
        Some(t) if !t.is_empty() && t.chars().count() <= max => t.to_owned(),
        Some(t) if !t.is_empty() => {
            errors.push(FieldError::new("too_long", field, format!("{field} may be at most {max} characters")));
            String::new()
        }
        _ => {
            errors.push(FieldError::new("missing_field", field, format!("{field} is required: a non-empty string")));
            String::new()
        }
    };
    let (subject, text_body) = (text("subject", MAX_SUBJECT), text("body", MAX_BODY));
    let category = match body.get("category") {
        None | Some(Value::Null) => None,
        // Only the deployment's own codes: a category is kept in the clear and shown in statuses.
        Some(Value::String(c)) if categories.contains(c) => Some(c.clone()),
        Some(_) => {
            errors.push(FieldError::new("unknown_category", "category", format!("category must be one of {}", categories.join(", "))));
            None
        }
    };
    let default_expiry = now + SignedDuration::from_hours(24 * 90);
    let expires_at = match body.get("expires_at") {
        None | Some(Value::Null) => default_expiry,
        Some(v) => match v.as_str().and_then(|t| t.parse::<Timestamp>().ok()) {
            Some(t) if t > now && t <= now + SignedDuration::from_hours(24 * 366) => t,
            _ => {
                errors.push(FieldError::new("invalid_expires_at", "expires_at", "expires_at must be an RFC 3339 timestamp in the future, within a year"));
                default_expiry
            }
        },
    };
    let nudge = body.get("nudge");
    let channels: Vec<Channel> = match nudge.and_then(|n| n.get("channels")).and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Channel::parse(&format!("nudge.channels[{i}]"), c.as_str().unwrap_or_default()).map_err(|e| errors.push(e)).ok())
            .collect(),
        _ => {
            errors.push(FieldError::new("missing_field", "nudge.channels", "nudge.channels is required: the channels to tell the patient by, in order of preference"));
            Vec::new()
        }
    };
    let templates = nudge.and_then(|n| n.get("template_id")).cloned().unwrap_or(Value::Null);
    if !matches!(templates, Value::String(_) | Value::Object(_)) {
        errors.push(FieldError::new("missing_field", "nudge.template_id", "nudge.template_id is required: a template id, or an object of one per channel"));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(Request { subject, body: text_body, category, expires_at, channels, templates })
}

/// The gate's rules for a message the patient just asked for (a one-time code): no frequency
/// cap and no quiet hours, since it is wanted now; consent, suppression, verification and
/// everything else apply as always.
pub(crate) fn requested_policy(gate: &sotto_core::gate::GatePolicy) -> sotto_core::gate::GatePolicy {
    let all_day = sotto_core::quiet_hours::Window { start: jiff::civil::Time::midnight(), end: jiff::civil::Time::MAX };
    sotto_core::gate::GatePolicy { window: all_day, channel_windows: Default::default(), state_windows: Default::default(), caps: Vec::new(), ..gate.clone() }
}

/// The approved version of a built-in template (the one-time code messages), if `id` is one.
pub(crate) fn builtin_version(id: &str) -> Option<crate::worker::ApprovedVersion> {
    let (_, channel) = CODE_TEMPLATES.iter().find(|(t, _)| *t == id)?;
    // Rendering lints the result like any message's; the content has no patient variable.
    Some(crate::worker::ApprovedVersion { version: 1, content: code_content(*channel), analysis: "{}".into(), clean: true })
}

impl<S: Store> App<S> {
    /// Fills what Sotto itself puts in a message's render context: a nudge's single-use
    /// portal link and a code message's one-time code, both bound to the message's patient.
    pub(crate) fn portal_context(&self, context: &mut Value, external_id: &str) {
        let Some(event) = context["event"].as_object_mut() else { return };
        let (nudge, code) = (event.remove(NUDGE_KEY), event.remove(CODE_KEY));
        if let Some(Value::String(sm)) = nudge {
            context["links"]["portal"] = Value::String(self.portal_link(&sm, external_id));
        }
        if let Some(Value::String(verification)) = code {
            context["event"]["code"] = Value::String(self.one_time_code(&verification, external_id));
        }
    }
}
