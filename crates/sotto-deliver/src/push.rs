//! Push notifications: each of a patient's device tokens goes to the service it belongs to
//! (APNs or FCM), with a generic payload (the approved template's title and body, no data
//! fields); a token the service calls invalid is reported stale so the patient's profile
//! forgets it. One message is accepted when any device took it.

use sotto_app::deliver::{Accepted, OutgoingMessage, PUSH_TOKENS_INVALID, Provider, SendError, SendFuture};
use sotto_core::phi::Phi;

use crate::apns::ApnsProvider;
use crate::fcm::FcmProvider;

/// How one device's notification ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceOutcome {
    /// The service took it, with its id.
    Sent(String),
    /// The service says the token is not (or no longer) a device.
    Stale,
    /// It failed for another reason.
    Failed(SendError),
}

/// Which service a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Apns,
    Fcm,
}

/// `apns:` or `fcm:` say it outright; otherwise a token of 64 or more hex digits is an APNs
/// device token and anything else an FCM registration token. Answers the token without prefix.
pub(crate) fn service_of(token: &str) -> (Service, &str) {
    if let Some(t) = token.strip_prefix("apns:") {
        (Service::Apns, t)
    } else if let Some(t) = token.strip_prefix("fcm:") {
        (Service::Fcm, t)
    } else if token.len() >= 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        (Service::Apns, token)
    } else {
        (Service::Fcm, token)
    }
}

/// The push provider: FCM, APNs or both.
#[derive(Debug)]
pub struct PushProvider {
    fcm: Option<FcmProvider>,
    apns: Option<ApnsProvider>,
    name: &'static str,
}

impl PushProvider {
    /// A provider sending through the services given; at least one must be.
    pub fn new(fcm: Option<FcmProvider>, apns: Option<ApnsProvider>) -> Option<Self> {
        let name = match (&fcm, &apns) {
            (Some(_), Some(_)) => "fcm+apns",
            (Some(_), None) => "fcm",
            (None, Some(_)) => "apns",
            (None, None) => return None,
        };
        Some(Self { fcm, apns, name })
    }

    async fn one(&self, token: &str, m: &OutgoingMessage) -> DeviceOutcome {
        let (title, body) = (m.subject.expose().as_str(), m.text.expose().as_str());
        match service_of(token) {
            (Service::Apns, t) => match &self.apns {
                Some(apns) => apns.notify(t, &m.id, title, body).await,
                None => DeviceOutcome::Failed(SendError::Permanent("push_no_apns_configured".into())),
            },
            (Service::Fcm, t) => match &self.fcm {
                Some(fcm) => fcm.notify(t, title, body).await,
                None => DeviceOutcome::Failed(SendError::Permanent("push_no_fcm_configured".into())),
            },
        }
    }
}

/// One message's ending from its devices' outcomes: accepted when any device took it (with
/// the stale tokens); otherwise uncertain if any device might have it, transient if any is
/// worth retrying, the tokens' invalidity when every one is stale, else the first failure.
pub(crate) fn combine(outcomes: Vec<(Phi<String>, DeviceOutcome)>) -> Result<Accepted, SendError> {
    let mut sent = Vec::new();
    let mut stale = Vec::new();
    let mut failures = Vec::new();
    for (token, outcome) in outcomes {
        match outcome {
            DeviceOutcome::Sent(id) => sent.push(id),
            DeviceOutcome::Stale => stale.push(token),
            DeviceOutcome::Failed(e) => failures.push(e),
        }
    }
    if let Some(first) = sent.first() {
        let id = if sent.len() > 1 { format!("{first} (+{} devices)", sent.len() - 1) } else { first.clone() };
        return Ok(Accepted { provider_message_id: id, stale_devices: stale });
    }
    if let Some(e) = failures.iter().find(|e| matches!(e, SendError::Uncertain(_))).or_else(|| failures.iter().find(|e| matches!(e, SendError::Transient(_)))) {
        return Err(e.clone());
    }
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Err(SendError::Permanent(PUSH_TOKENS_INVALID.into())),
    }
}

impl Provider for PushProvider {
    fn name(&self) -> &str {
        self.name
    }

    fn send<'a>(&'a self, m: &'a OutgoingMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let devices = if m.devices.is_empty() { std::slice::from_ref(&m.to) } else { m.devices.as_slice() };
            let mut outcomes = Vec::with_capacity(devices.len());
            for token in devices {
                outcomes.push((token.clone(), self.one(token.expose(), m).await));
            }
            combine(outcomes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_to_the_service_they_belong_to() {
        let apns = "a".repeat(64);
        assert_eq!(service_of(&apns), (Service::Apns, apns.as_str()));
        assert_eq!(service_of("apns:abc"), (Service::Apns, "abc"));
        assert_eq!(service_of("fcm:abc"), (Service::Fcm, "abc"));
        assert_eq!(service_of("dXk3:APA91bH-long-registration-token"), (Service::Fcm, "dXk3:APA91bH-long-registration-token"));
    }

    #[test]
    fn a_message_is_accepted_when_any_device_took_it_and_names_the_stale_ones() {
        let t = |s: &str| Phi::new(s.to_owned());
        let accepted = combine(vec![(t("a"), DeviceOutcome::Stale), (t("b"), DeviceOutcome::Sent("id-b".into())), (t("c"), DeviceOutcome::Sent("id-c".into()))]).expect("accepted");
        assert_eq!(accepted.provider_message_id, "id-b (+1 devices)");
        assert_eq!(accepted.stale_devices, vec![t("a")]);
        assert_eq!(combine(vec![(t("a"), DeviceOutcome::Stale), (t("b"), DeviceOutcome::Stale)]), Err(SendError::Permanent(PUSH_TOKENS_INVALID.into())));
        let mixed = vec![
            (t("a"), DeviceOutcome::Failed(SendError::Permanent("apns_BadTopic".into()))),
            (t("b"), DeviceOutcome::Failed(SendError::Transient("fcm_http_503".into()))),
            (t("c"), DeviceOutcome::Failed(SendError::Uncertain("fcm_timeout".into()))),
        ];
        assert_eq!(combine(mixed), Err(SendError::Uncertain("fcm_timeout".into())), "a device that may have it is never retried");
        assert_eq!(combine(vec![(t("a"), DeviceOutcome::Failed(SendError::Permanent("apns_BadTopic".into())))]), Err(SendError::Permanent("apns_BadTopic".into())));
    }
}
