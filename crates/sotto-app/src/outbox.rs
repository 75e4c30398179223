//! The transactional send API and the outbox's operations: queueing a message under an
//! idempotency key (the same key answers the same message), its status (never the body or the
//! address), requeueing, and the kill switch that pauses all sending.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use sotto_core::FieldError;
use sotto_core::consent::Topic;
use sotto_core::contact::Channel;
use sotto_core::firewall::Firewall;
use sotto_core::purpose::Purpose;
use sotto_core::scope::Scope;
use sotto_store::{DispatchControl, OutboxRow, Store};

use crate::{App, AppError, RequestCtx, micros, time_text};

const FIELDS: &[&str] = &["patient", "template_id", "channel", "purpose", "topic", "context", "urgent", "uses_phi", "not_before"];
/// The longest idempotency key taken.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

fn missing(field: &'static str, what: &str) -> FieldError {
    FieldError::new("missing_field", field, format!("{field} is required: {what}"))
}

/// A message's public view: ids, status, decision and reasons, attempts and times.
pub fn message_view(row: &OutboxRow) -> Value {
    json!({
        "id": row.id,
        "status": row.state,
        "source": row.source,
        "channel": row.channel,
        "purpose": row.purpose,
        "topic": row.topic,
        "template_id": row.template_id,
        "template_version": row.template_version,
        "urgent": row.urgent,
        "decision": row.decision,
        "reasons": row.reasons.split_whitespace().collect::<Vec<_>>(),
        "attempts": row.attempts,
        "last_error": row.last_error,
        "provider": row.provider,
        "provider_message_id": row.provider_message_id,
        "not_before": time_text(row.not_before),
        "next_attempt_at": time_text(row.next_attempt_at),
        "created_at": time_text(row.created_at),
        "updated_at": time_text(row.updated_at),
        "sent_at": row.sent_at.map(time_text),
    })
}

impl<S: Store> App<S> {
    /// Queues a transactional message. Answers its view and whether it is new (a repeated
    /// key answers the message that key made, whatever the body).
    pub async fn queue_message(&self, ctx: &RequestCtx, idempotency_key: Option<&str>, body: &Value) -> Result<(Value, bool), AppError> {
        self.require(ctx, Scope::MessagesSend, "messages").await?;
        self.take_send_token(ctx)?;
        let key = match idempotency_key.map(str::trim) {
            None | Some("") => return Err(AppError::invalid(missing("Idempotency-Key", "send a unique key per message in the Idempotency-Key header"))),
            Some(k) if k.len() > MAX_IDEMPOTENCY_KEY || !k.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(AppError::invalid(FieldError::new("invalid_idempotency_key", "Idempotency-Key", format!("the key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters without spaces"))));
            }
            Some(k) => k,
        };
        // The key is the caller's text: only its keyed hash is stored, scoped to the caller.
        let id = self.keyring.message_ref(&format!("{}/{key}", ctx.principal.actor));
        if let Some(existing) = self.store.outbox_message(&id).await? {
            // A retry answers the same message; the same key for another message is a mistake.
            let same = [("patient", &existing.external_id), ("template_id", &existing.template_id), ("channel", &existing.channel), ("purpose", &existing.purpose)]
                .iter()
                .all(|(field, stored)| body.get(*field).and_then(Value::as_str).is_none_or(|given| given == stored.as_str()));
            if !same {
                return Err(AppError::Conflict { code: "idempotency_key_reused", message: "this Idempotency-Key was used for another message; use a new key for each message".into() });
            }
            return Ok((message_view(&existing), false));
        }
        crate::only_fields(body, FIELDS, "", "a message")?;
        let row = self.parse_message(ctx, &id, body).await?;
        let (stored, created) = self.store.enqueue_message(&row, &ctx.audit()).await?;
        if created {
            self.outbox_notify.notify_waiters();
        }
        Ok((message_view(&stored), created))
    }

    /// One token of the caller's sending rate, or 429 with when to come back.
    fn take_send_token(&self, ctx: &RequestCtx) -> Result<(), AppError> {
        let mut limits = self.send_limits.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = limits.entry(ctx.principal.actor.clone()).or_insert_with(|| sotto_core::rate::TokenBucket::new(self.settings.send_rate, ctx.now));
        bucket.take(ctx.now).map_err(|wait| AppError::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64))
    }

    async fn parse_message(&self, ctx: &RequestCtx, id: &str, body: &Value) -> Result<OutboxRow, AppError> {
        let text = |field: &'static str| body.get(field).and_then(Value::as_str);
        let mut errors = Vec::new();
        let patient = match text("patient") {
            Some(p) => sotto_core::ids::ExternalId::parse("patient", p).map_err(|e| errors.push(e)).ok(),
            None => {
                errors.push(missing("patient", "the patient's external id"));
                None
            }
        };
        let channel = match text("channel") {
            Some(c) => Channel::parse("channel", c).map_err(|e| errors.push(e)).ok(),
            None => {
                errors.push(missing("channel", "email, sms or push"));
                None
            }
        };
        let purpose = match text("purpose") {
            Some(p) => Purpose::parse("purpose", p).map_err(|e| errors.push(e)).ok(),
            None => {
                errors.push(missing("purpose", "treatment, operations, marketing or marketing_remunerated"));
                None
            }
        };
        let topic = match body.get("topic") {
            None | Some(Value::Null) => None,
            Some(t) => Topic::parse("topic", t.as_str().unwrap_or_default()).map_err(|e| errors.push(e)).ok(),
        };
        let flag = |field: &'static str, default: bool, errors: &mut Vec<FieldError>| match body.get(field) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(FieldError::new("invalid_type", field, format!("{field} must be true or false")));
                default
            }
        };
        // Unless told otherwise, assume the content uses PHI: the stricter rules apply.
        let uses_phi = flag("uses_phi", true, &mut errors);
        let urgent = flag("urgent", false, &mut errors);
        if urgent && purpose.is_some_and(Purpose::is_marketing) {
            errors.push(FieldError::new("urgent_marketing", "urgent", "only care messages (treatment, operations) may be urgent"));
        }
        let not_before = match body.get("not_before") {
            None | Some(Value::Null) => ctx.now,
            Some(v) => v.as_str().and_then(|t| t.parse::<Timestamp>().ok()).unwrap_or_else(|| {
                errors.push(FieldError::new("invalid_timestamp", "not_before", "not_before must be an RFC 3339 timestamp"));
                ctx.now
            }),
        };
        let context = match body.get("context") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(props)) => {
                let dictionary = self.dictionary.get(&self.store).await?;
                let firewall = Firewall { dictionary: &dictionary, default_region: &self.settings.default_region };
                firewall.check_properties(props, "context").unwrap_or_else(|e| {
                    errors.extend(e);
                    Map::new()
                })
            }
            Some(_) => {
                errors.push(FieldError::new("invalid_type", "context", "context must be an object of declared event properties"));
                Map::new()
            }
        };
        let template_id = text("template_id");
        if template_id.is_none() {
            errors.push(missing("template_id", "the id of a template with an approved version"));
        }
        let (Some(patient), Some(channel), Some(purpose), Some(template_id), true) = (patient, channel, purpose, template_id, errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        let template = self.store.template(template_id).await?.filter(|t| !crate::secure_messages::is_builtin_template(&t.id)).ok_or(AppError::NotFound("template"))?;
        if template.channel != channel.as_str() {
            return Err(AppError::invalid(FieldError::new("channel_mismatch", "channel", format!("the template is for {}, not {channel}", template.channel))));
        }
        let record = self.store.patient(patient.as_str()).await?.ok_or(AppError::NotFound("patient"))?;
        self.check_context(&record, &template.id, channel, &context).await?;
        // A sandbox key's messages are gated as in production, then kept by the sink.
        let source = if ctx.principal.scopes.contains(&Scope::Sandbox) { "sandbox" } else { "transactional" };
        Ok(OutboxRow {
            source: source.to_owned(),
            channel: channel.as_str().to_owned(),
            purpose: purpose.as_str().to_owned(),
            topic: topic.map(|t| t.as_str().to_owned()),
            template_id: template.id,
            uses_phi,
            urgent,
            context: Value::Object(context).to_string(),
            not_before: micros(not_before),
            next_attempt_at: micros(not_before),
            ..OutboxRow::queued(id.to_owned(), patient.as_str().to_owned(), micros(ctx.now))
        })
    }

    /// Renders the latest approved version once with the request's context, so a message whose
    /// template needs an event property the request lacks is refused now, naming the surface,
    /// rather than failing at dispatch. (No approved version: the gate denies it at dispatch.)
    async fn check_context(&self, record: &sotto_store::PatientRecord, template_id: &str, channel: Channel, context: &Map<String, Value>) -> Result<(), AppError> {
        let versions = self.approved_versions(&[template_id.to_owned()]).await?;
        let Some(Some(version)) = versions.get(template_id) else { return Ok(()) };
        let ids = crate::merge::open_identifiers(&self.keyring, record).map_err(|_| AppError::Crypto)?.map(|(_, ids)| ids).unwrap_or_default();
        let render_ctx = self.send_context(record, &ids, Value::Object(context.clone()), channel, &version.analysis, None)?;
        match sotto_core::template::render_strict(&version.content.in_language(record.language.as_deref()), &render_ctx) {
            Err(sotto_core::template::RenderError::Failed { surface, .. }) => Err(AppError::invalid(FieldError::new(
                "missing_context",
                "context",
                format!("the approved version of this template cannot render its {} surface from this context: give the event properties it uses", surface.as_str()),
            ))),
            _ => Ok(()),
        }
    }

    /// A message's status, decision, reasons, attempts and times.
    pub async fn message(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::MessagesRead, "messages").await?;
        let row = self.store.outbox_message(id).await?.ok_or(AppError::NotFound("message"))?;
        Ok(message_view(&row))
    }

    /// Messages counted by status, and whether sending is paused.
    pub async fn dispatch_status(&self, ctx: &RequestCtx) -> Result<Value, AppError> {
        self.require(ctx, Scope::MessagesRead, "dispatch").await?;
        let counts: Map<String, Value> = self.store.outbox_counts().await?.into_iter().map(|(s, n)| (s, json!(n))).collect();
        let control = self.store.dispatch_control().await?;
        let changed_at = (control.changed_at > 0).then(|| time_text(control.changed_at));
        Ok(json!({"paused": control.paused, "reason": control.reason, "changed_at": changed_at, "messages": counts}))
    }

    /// Pauses (with a reason) or resumes all sending at once.
    pub async fn set_paused(&self, ctx: &RequestCtx, paused: bool, reason: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::DispatchManage, "dispatch").await?;
        if reason.chars().count() > 200 || sotto_core::health_terms::find(reason).is_some() {
            return Err(AppError::invalid(FieldError::new("invalid_reason", "reason", "the reason must be at most 200 characters and name no health information")));
        }
        let control = DispatchControl { paused, reason: if paused { reason.to_owned() } else { String::new() }, changed_at: micros(ctx.now) };
        self.store.set_dispatch_control(&control, &ctx.audit()).await?;
        if !paused {
            self.outbox_notify.notify_waiters();
        }
        self.dispatch_status(ctx).await
    }

    /// Moves a dead or uncertain message back to the queue.
    pub async fn requeue(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::DispatchManage, "messages").await?;
        if !self.store.requeue_message(id, micros(ctx.now), &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "not_requeueable", message: "only a dead or uncertain message can be requeued".into() });
        }
        self.outbox_notify.notify_waiters();
        self.message(ctx, id).await
    }
}
