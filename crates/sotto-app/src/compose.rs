//! A rendered template turned into what a provider is handed: the recipient for the channel,
//! the email's headers (From, To, Subject, Date, a Message-ID derived from the outbox id, and
//! RFC 8058 one-click unsubscribe headers on marketing email), its text and HTML parts.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use sotto_core::contact::Channel;
use sotto_core::dictionary::Surface;
use sotto_core::phi::Phi;
use sotto_core::template::{Rendered, html_to_text};
use sotto_store::OutboxRow;

use crate::deliver::OutgoingMessage;
use crate::merge::Identifiers;

/// The domain of a From address such as `Clinic <no-reply@clinic.example>`.
pub fn sender_domain(from: &str) -> &str {
    from.rsplit('@').next().unwrap_or("localhost").trim_end_matches('>').trim()
}

/// The Message-ID of an outbox message: the same for every attempt, so a receiver (or a
/// count at a sink) sees one message however often it was handed over.
pub fn message_id_header(id: &str, from: &str) -> String {
    format!("<{id}@{}>", sender_domain(from))
}

/// Builds the message for a provider; fails with a stable code when the patient has no
/// contact for the channel.
pub(crate) fn compose(claim: &OutboxRow, channel: Channel, ids: &Identifiers, rendered: &Rendered, from: &str, unsubscribe: Option<&str>, now: Timestamp) -> Result<OutgoingMessage, &'static str> {
    let surface = |s: Surface| rendered.surfaces.get(&s).cloned().unwrap_or_default();
    let mut devices = Vec::new();
    let (to, subject, preview, text, html) = match channel {
        Channel::Email => {
            let body = surface(Surface::EmailBody);
            let to = ids.email.clone().ok_or("no_email_address")?;
            (to, surface(Surface::EmailSubject), surface(Surface::EmailPreview), html_to_text(&body), Some(body))
        }
        Channel::Sms => (ids.phone.clone().ok_or("no_phone_number")?, String::new(), String::new(), surface(Surface::SmsBody), None),
        Channel::Push => {
            let tokens = ids.other.get("push_tokens").and_then(Value::as_array).map(|t| t.iter().filter_map(Value::as_str).collect::<Vec<_>>()).unwrap_or_default();
            let first = tokens.first().ok_or("no_push_token")?.to_string();
            devices = tokens.into_iter().map(|t| Phi::new(t.to_owned())).collect();
            (first, surface(Surface::PushTitle), String::new(), surface(Surface::PushBody), None)
        }
    };
    let mut headers = Vec::new();
    if channel == Channel::Email {
        let date = jiff::fmt::rfc2822::to_string(&now.to_zoned(TimeZone::UTC)).map_err(|_| "date_unformattable")?;
        headers.push(("From".to_owned(), from.to_owned()));
        headers.push(("To".to_owned(), to.clone()));
        headers.push(("Subject".to_owned(), subject.clone()));
        headers.push(("Date".to_owned(), date));
        headers.push(("Message-ID".to_owned(), message_id_header(&claim.id, from)));
        if let Some(url) = unsubscribe {
            headers.push(("List-Unsubscribe".to_owned(), format!("<{url}>")));
            headers.push(("List-Unsubscribe-Post".to_owned(), "List-Unsubscribe=One-Click".to_owned()));
        }
    }
    Ok(OutgoingMessage { id: claim.id.clone(), channel, to: Phi::new(to), devices, subject: Phi::new(subject), preview: Phi::new(preview), text: Phi::new(text), html: html.map(Phi::new), headers, at: now })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_is_derived_from_the_outbox_id_and_the_sending_domain() {
        assert_eq!(message_id_header("msg_00ff", "Sotto Clinic <no-reply@clinic.example>"), "<msg_00ff@clinic.example>");
        assert_eq!(sender_domain("no-reply@mail.clinic.example"), "mail.clinic.example");
    }
}
