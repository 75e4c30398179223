//! A campaign's test send: each approved version it would send (A and B), rendered for a
//! sample patient named "Test" with the event properties given, to a seed list of staff
//! email addresses and phone numbers, through the same providers the worker uses. Marked as a
//! test (subject prefix, `X-Sotto-Test` header), kept out of the outbox, never counted;
//! audited with how many went.

use serde_json::{Value, json};

use sotto_core::FieldError;
use sotto_core::audit::action;
use sotto_core::contact::{Channel, EmailAddress, PhoneE164};
use sotto_core::dictionary::Surface;
use sotto_core::phi::Phi;
use sotto_core::scope::Scope;
use sotto_core::template::{RenderError, html_to_text, render_strict};
use sotto_store::Store;

use crate::deliver::{OutgoingMessage, Providers};
use crate::{App, AppError, RequestCtx};

/// The most staff addresses one test send reaches.
const MAX_SEEDS: usize = 20;

impl<S: Store> App<S> {
    /// Sends the campaign's approved versions to a seed list of staff.
    pub async fn campaign_test_send(&self, ctx: &RequestCtx, id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsWrite, &crate::path_object("campaign", "cmp_", id)).await?;
        crate::only_fields(body, &["to", "event"], "", "a test send")?;
        let list = body.get("to").and_then(Value::as_array).filter(|l| (1..=MAX_SEEDS).contains(&l.len()));
        let list = list.ok_or_else(|| AppError::invalid(FieldError::new("invalid_seed_list", "to", format!("to must list 1 to {MAX_SEEDS} staff email addresses or phone numbers"))))?;
        let mut seeds = Vec::new();
        for (i, raw) in list.iter().enumerate() {
            let field = format!("to[{i}]");
            let raw = raw.as_str().unwrap_or_default();
            let seed = if raw.contains('@') {
                (Channel::Email, EmailAddress::parse(&field, raw).map_err(AppError::invalid)?.expose().to_owned())
            } else {
                (Channel::Sms, PhoneE164::parse(&field, raw, &self.settings.default_region).map_err(AppError::invalid)?.expose().to_owned())
            };
            seeds.push(seed);
        }
        let row = self.campaign_row(id).await?;
        let m = self.material(&row).await?;
        let event = body.get("event").cloned().unwrap_or_else(|| json!({}));
        let context = {
            let mut c = self.render_context(json!({"patient": {"first_name": "Test"}, "event": event}));
            c["links"]["unsubscribe"] = json!(format!("{}/u/test", self.settings.public_url.trim_end_matches('/')));
            c
        };
        let providers = self.live_providers.get().cloned().or_else(|| self.settings.dev_mailbox.then(|| std::sync::Arc::new(Providers::sink(self.mailbox()))));
        let providers = providers.ok_or_else(|| AppError::Conflict { code: "no_worker", message: "test sends go through the dispatch worker's providers; run this process with its worker".into() })?;
        let mut results = Vec::new();
        for (arm, templates) in [("a", &m.spec.templates), ("b", &m.spec.variant_b)] {
            for (channel, template_id) in templates {
                let Some(version) = m.templates.get(template_id).and_then(Option::as_ref) else { continue };
                let rendered = render_strict(&version.content, &context).map_err(|e| match e {
                    RenderError::Failed { surface, .. } => AppError::invalid(FieldError::new("missing_context", "event", format!("the {} surface needs event properties the request does not give", surface.as_str()))),
                    RenderError::Blocked { .. } => AppError::Conflict { code: "rendered_text_blocked", message: "the rendered test message reveals health information".into() },
                })?;
                let surface = |s: Surface| rendered.surfaces.get(&s).cloned().unwrap_or_default();
                for (n, (seed_channel, to)) in seeds.iter().enumerate().filter(|(_, (c, _))| c == channel) {
                    let message_id = format!("test_{}", sotto_crypto::random_id(8));
                    let subject = format!("[TEST] {}", surface(if *channel == Channel::Email { Surface::EmailSubject } else { Surface::PushTitle }));
                    let (text, html) = match seed_channel {
                        Channel::Email => (html_to_text(&surface(Surface::EmailBody)), Some(Phi::new(surface(Surface::EmailBody)))),
                        _ => (format!("[TEST] {}", surface(Surface::SmsBody)), None),
                    };
                    let mut headers = vec![("X-Sotto-Test".to_owned(), row.id.clone())];
                    if *channel == Channel::Email {
                        headers.extend([
                            ("From".to_owned(), self.settings.email_from.clone()),
                            ("To".to_owned(), to.clone()),
                            ("Subject".to_owned(), subject.clone()),
                            ("Message-ID".to_owned(), crate::message_id_header(&message_id, &self.settings.email_from)),
                        ]);
                    }
                    let message = OutgoingMessage { id: message_id, channel: *channel, to: Phi::new(to.clone()), devices: Vec::new(), subject: Phi::new(subject), preview: Phi::new(String::new()), text: Phi::new(text), html, headers, at: ctx.now };
                    let outcome = match providers.route(*channel) {
                        Some((provider, _)) => provider.send(&message).await.map_or_else(|e| e.to_string(), |_| "sent".to_owned()),
                        None => "failed:no_provider_for_channel".to_owned(),
                    };
                    // The seed's position, never its address.
                    results.push(json!({"to": n, "arm": arm, "channel": channel.as_str(), "outcome": outcome}));
                }
            }
        }
        let sent = results.iter().filter(|r| r["outcome"] == "sent").count();
        let event = ctx.audit().event(action::CAMPAIGN_TEST, format!("campaign:{}", row.id), &format!("sent:{sent}"));
        self.store.append_audit(vec![event]).await?;
        Ok(json!({"test": true, "sent": sent, "results": results}))
    }
}

