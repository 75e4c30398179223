//! First-party click tracking for campaign messages: each link a template takes from Sotto
//! (`links.portal`, `links.confirm`, `links.reschedule`) becomes a redirect through Sotto
//! with a sealed token naming the message and the link, and the one-click unsubscribe link
//! names the message too; a click or an unsubscribe is recorded once per message. No third
//! party, no open tracking, nothing about the patient's device.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use sotto_core::contact::Channel;
use sotto_store::{AuditContext, Store};

use crate::{App, AppError, micros};

const PURPOSE: &str = "sotto link v1";
/// The links Sotto makes that are followed through its redirect.
const TRACKED: &[&str] = &["portal", "confirm", "reschedule"];

#[derive(Serialize, Deserialize)]
struct LinkClaim {
    m: String,
    l: String,
}

impl<S: Store> App<S> {
    /// Rewrites a campaign message's links in its render context.
    pub(crate) fn track_links(&self, context: &mut Value, message_id: &str, external_id: &str, channel: Channel, topic: Option<String>) -> Result<(), AppError> {
        let base = self.settings.public_url.trim_end_matches('/').to_owned();
        for name in TRACKED {
            if context["links"][*name].is_string() {
                let claim = LinkClaim { m: message_id.to_owned(), l: (*name).to_owned() };
                let token = self.keyring.seal_token(PURPOSE, &serde_json::to_vec(&claim).map_err(|_| AppError::Internal("link claim did not serialize"))?);
                context["links"][*name] = Value::String(format!("{base}/c/{token}"));
            }
        }
        context["links"]["unsubscribe"] = Value::String(self.message_unsubscribe_url(external_id, channel, topic, Some(message_id))?);
        Ok(())
    }

    /// Follows a tracked link: records the message's first click on it and answers where it
    /// leads. A token that does not open is not found, and says nothing more.
    pub async fn follow_link(&self, token: &str, now: jiff::Timestamp, request_id: &str) -> Result<String, AppError> {
        let plain = self.keyring.open_token(PURPOSE, token).map_err(|_| AppError::NotFound("link"))?;
        let claim: LinkClaim = serde_json::from_slice(&plain).map_err(|_| AppError::NotFound("link"))?;
        let links = self.render_links();
        let target = links[claim.l.as_str()].as_str().ok_or(AppError::NotFound("link"))?.to_owned();
        let ctx = AuditContext { actor: "patient:link".into(), request_id: request_id.to_owned(), source_ip: None, at_micros: micros(now) };
        self.store.record_engagement(&claim.m, "click", &claim.l, micros(now), &ctx).await?;
        Ok(target)
    }
}
