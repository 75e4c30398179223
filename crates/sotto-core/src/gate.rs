//! The send gate: one pure function that decides, for one message at one moment, whether it
//! may go now, must wait, or must not go, with stable reason codes. It fails closed when the
//! patient's state could not be read.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::authorization::{AuthorizationSummary, Validity};
use crate::consent::{ConsentState, ConsentStatus, Topic};
use crate::contact::Channel;
use crate::purpose::Purpose;
use crate::quiet_hours::{US_ZONES, Window, next_allowed, zones, zones_for_state};

/// What is to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The channel.
    pub channel: Channel,
    /// The declared purpose.
    pub purpose: Purpose,
    /// The preference topic, if the message belongs to one.
    pub topic: Option<Topic>,
    /// Whether targeting or content uses PHI.
    pub uses_phi: bool,
    /// Whether the template version is approved.
    pub template_approved: bool,
    /// Whether the rendered content passed the linter.
    pub lint_clean: bool,
    /// Whether the provider that would carry it has a BAA on file.
    pub provider_has_baa: bool,
}

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    /// A hard bounce.
    HardBounce,
    /// A spam complaint.
    Complaint,
    /// Put on the list by an operator.
    Manual,
    /// The provider reported the number unreachable, unknown or a landline.
    Undeliverable,
}

/// A message that was sent, for frequency caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentMessage {
    /// The channel.
    pub channel: Channel,
    /// The purpose.
    pub purpose: Purpose,
    /// When.
    pub at: Timestamp,
}

/// Everything the gate needs to know about the patient.
#[derive(Debug, Clone, Default)]
pub struct PatientState {
    /// Current consent.
    pub consents: ConsentState,
    /// Marketing authorizations.
    pub authorizations: Vec<AuthorizationSummary>,
    /// Suppressions per channel.
    pub suppressions: Vec<(Channel, Suppression)>,
    /// Channels for which the patient has a contact (address, number, token).
    pub reachable: BTreeSet<Channel>,
    /// Channels whose contact is verified.
    pub verified: BTreeSet<Channel>,
    /// The patient's IANA zone, when known.
    pub timezone: Option<TimeZone>,
    /// The US state of residence, when known.
    pub state_of_residence: Option<String>,
    /// Recent sends.
    pub sent: Vec<SentMessage>,
}

/// A frequency cap: at most `max` messages within any `window`. A cap of 0 blocks every
/// message it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    /// Limited to one channel, or all.
    pub channel: Option<Channel>,
    /// The purposes that count together against it; empty means every purpose.
    pub purposes: Vec<Purpose>,
    /// The sliding window.
    pub window: SignedDuration,
    /// The most messages in it.
    pub max: usize,
}

impl Cap {
    fn applies(&self, channel: Channel, purpose: Purpose) -> bool {
        self.channel.is_none_or(|c| c == channel) && (self.purposes.is_empty() || self.purposes.contains(&purpose))
    }
}

/// The deployment's rules.
#[derive(Debug, Clone)]
pub struct GatePolicy {
    /// The default quiet-hours window (08:00–21:00).
    pub window: Window,
    /// Narrower windows per channel.
    pub channel_windows: BTreeMap<Channel, Window>,
    /// Narrower windows per US state (Florida and Oklahoma: 08:00–20:00).
    pub state_windows: BTreeMap<String, Window>,
    /// Frequency caps.
    pub caps: Vec<Cap>,
    /// Channels whose contact must be verified before sending.
    pub require_verified: BTreeSet<Channel>,
}

impl Default for GatePolicy {
    fn default() -> Self {
        let day = SignedDuration::from_hours(24);
        Self {
            window: Window::hours(8, 21),
            channel_windows: BTreeMap::new(),
            state_windows: [("FL", Window::hours(8, 20)), ("OK", Window::hours(8, 20))].into_iter().map(|(s, w)| (s.to_owned(), w)).collect(),
            caps: vec![
                Cap { channel: Some(Channel::Sms), purposes: Vec::new(), window: day, max: 3 },
                // Marketing of either kind shares one cap.
                Cap { channel: None, purposes: vec![Purpose::Marketing, Purpose::MarketingRemunerated], window: day * 7, max: 2 },
            ],
            require_verified: [Channel::Email, Channel::Sms].into_iter().collect(),
        }
    }
}

/// A stable reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The patient's state could not be read; the gate fails closed.
    StateUnavailable,
    /// The template version is not approved.
    TemplateNotApproved,
    /// The content did not pass the linter.
    TemplateLintFailed,
    /// PHI-bearing content through a provider without a BAA.
    ProviderWithoutBaa,
    /// The address hard-bounced.
    SuppressedHardBounce,
    /// The recipient complained.
    SuppressedComplaint,
    /// An operator suppressed the address.
    SuppressedManual,
    /// The provider reported the number unreachable, unknown or a landline.
    SuppressedUndeliverable,
    /// No address, number or token for the channel.
    NoContactForChannel,
    /// The contact is not verified.
    ChannelUnverified,
    /// The patient opted out of the channel.
    ChannelOptedOut,
    /// No SMS consent on file.
    NoSmsConsent,
    /// Marketing texts need prior express written consent.
    SmsWrittenConsentRequired,
    /// Marketing needs an opt-in on this channel.
    NoMarketingOptIn,
    /// The patient opted out of the topic.
    TopicOptedOut,
    /// Marketing using PHI needs a HIPAA authorization.
    AuthorizationRequired,
    /// The authorization expired.
    AuthorizationExpired,
    /// The authorization was revoked.
    AuthorizationRevoked,
    /// Remunerated marketing needs an authorization that states remuneration.
    AuthorizationLacksRemunerationStatement,
    /// The candidate zones share no sending window.
    QuietHoursNoCommonWindow,
    /// Outside the sending window: deferred.
    QuietHours,
    /// Over a frequency cap: deferred.
    FrequencyCap,
}

impl Reason {
    /// Every reason, for reports.
    pub const ALL: [Reason; 22] = [Reason::StateUnavailable, Reason::TemplateNotApproved, Reason::TemplateLintFailed, Reason::ProviderWithoutBaa, Reason::SuppressedHardBounce, Reason::SuppressedComplaint, Reason::SuppressedManual, Reason::SuppressedUndeliverable, Reason::NoContactForChannel, Reason::ChannelUnverified, Reason::ChannelOptedOut, Reason::NoSmsConsent, Reason::SmsWrittenConsentRequired, Reason::NoMarketingOptIn, Reason::TopicOptedOut, Reason::AuthorizationRequired, Reason::AuthorizationExpired, Reason::AuthorizationRevoked, Reason::AuthorizationLacksRemunerationStatement, Reason::QuietHoursNoCommonWindow, Reason::QuietHours, Reason::FrequencyCap];

    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::StateUnavailable => "state_unavailable",
            Reason::TemplateNotApproved => "template_not_approved",
            Reason::TemplateLintFailed => "template_lint_failed",
            Reason::ProviderWithoutBaa => "provider_without_baa",
            Reason::SuppressedHardBounce => "suppressed_hard_bounce",
            Reason::SuppressedComplaint => "suppressed_complaint",
            Reason::SuppressedManual => "suppressed_manual",
            Reason::SuppressedUndeliverable => "suppressed_undeliverable",
            Reason::NoContactForChannel => "no_contact_for_channel",
            Reason::ChannelUnverified => "channel_unverified",
            Reason::ChannelOptedOut => "channel_opted_out",
            Reason::NoSmsConsent => "no_sms_consent",
            Reason::SmsWrittenConsentRequired => "sms_written_consent_required",
            Reason::NoMarketingOptIn => "no_marketing_opt_in",
            Reason::TopicOptedOut => "topic_opted_out",
            Reason::AuthorizationRequired => "authorization_required",
            Reason::AuthorizationExpired => "authorization_expired",
            Reason::AuthorizationRevoked => "authorization_revoked",
            Reason::AuthorizationLacksRemunerationStatement => "authorization_lacks_remuneration_statement",
            Reason::QuietHoursNoCommonWindow => "quiet_hours_no_common_window",
            Reason::QuietHours => "quiet_hours",
            Reason::FrequencyCap => "frequency_cap",
        }
    }

    /// Parses a stable code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code)
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Send now.
    Allow,
    /// Send at `until`, not before.
    Defer {
        /// The earliest instant the message may go.
        until: Timestamp,
        /// Why it waits.
        reasons: Vec<Reason>,
    },
    /// Do not send.
    Deny {
        /// Every reason that forbids it.
        reasons: Vec<Reason>,
    },
}

/// The candidate zones of a patient: their own, else their state's, else every US zone.
pub fn candidate_zones(state: &PatientState) -> Vec<TimeZone> {
    if let Some(tz) = &state.timezone {
        return vec![tz.clone()];
    }
    let names = state.state_of_residence.as_deref().and_then(zones_for_state).unwrap_or(US_ZONES);
    zones(names)
}

/// Decides one message. `state` is `None` when it could not be read.
pub fn decide(intent: &Intent, state: Option<&PatientState>, policy: &GatePolicy, now: Timestamp) -> Decision {
    let Some(state) = state else {
        return Decision::Deny { reasons: vec![Reason::StateUnavailable] };
    };
    let mut deny = Vec::new();
    let channel = intent.channel;
    if !intent.template_approved {
        deny.push(Reason::TemplateNotApproved);
    }
    if !intent.lint_clean {
        deny.push(Reason::TemplateLintFailed);
    }
    if intent.uses_phi && !intent.provider_has_baa {
        deny.push(Reason::ProviderWithoutBaa);
    }
    for (c, why) in &state.suppressions {
        if *c == channel {
            deny.push(match why {
                Suppression::HardBounce => Reason::SuppressedHardBounce,
                Suppression::Complaint => Reason::SuppressedComplaint,
                Suppression::Manual => Reason::SuppressedManual,
                Suppression::Undeliverable => Reason::SuppressedUndeliverable,
            });
        }
    }
    if !state.reachable.contains(&channel) {
        deny.push(Reason::NoContactForChannel);
    } else if policy.require_verified.contains(&channel) && !state.verified.contains(&channel) {
        deny.push(Reason::ChannelUnverified);
    }
    deny.extend(consent_reasons(intent, &state.consents));
    let zones = candidate_zones(state);
    if intent.purpose.needs_authorization(intent.uses_phi) {
        deny.extend(authorization_reason(intent.purpose, &state.authorizations, now, &zones));
    }
    let mut window = policy.window;
    let narrower = [policy.channel_windows.get(&channel), state.state_of_residence.as_ref().and_then(|s| policy.state_windows.get(s))];
    for w in narrower.into_iter().flatten() {
        match window.intersect(*w) {
            Some(both) => window = both,
            None => deny.push(Reason::QuietHoursNoCommonWindow),
        }
    }
    if policy.caps.iter().any(|cap| cap.max == 0 && cap.applies(channel, intent.purpose)) {
        deny.push(Reason::FrequencyCap);
    }
    if !deny.is_empty() {
        deny.sort();
        deny.dedup();
        return Decision::Deny { reasons: deny };
    }
    let cap_until = policy.caps.iter().filter_map(|cap| cap_release(cap, intent, &state.sent, now)).max();
    let from = cap_until.unwrap_or(now).max(now);
    let Some(until) = next_allowed(from, window, &zones) else {
        return Decision::Deny { reasons: vec![Reason::QuietHoursNoCommonWindow] };
    };
    let mut reasons = Vec::new();
    if cap_until.is_some() {
        reasons.push(Reason::FrequencyCap);
    }
    if until > from {
        reasons.push(Reason::QuietHours);
    }
    if until > now { Decision::Defer { until, reasons } } else { Decision::Allow }
}

fn consent_reasons(intent: &Intent, consents: &ConsentState) -> Vec<Reason> {
    let mut out = Vec::new();
    let current = consents.get(intent.channel, None);
    match current.map(|c| c.status) {
        Some(ConsentStatus::OptedOut) => out.push(Reason::ChannelOptedOut),
        Some(ConsentStatus::OptedIn) => {
            let kind = current.map(|c| c.kind);
            if intent.channel == Channel::Sms && kind < Some(intent.purpose.sms_consent_needed()) {
                out.push(Reason::SmsWrittenConsentRequired);
            }
        }
        None if intent.channel == Channel::Sms => out.push(Reason::NoSmsConsent),
        None if intent.purpose.needs_opt_in() => out.push(Reason::NoMarketingOptIn),
        None => {}
    }
    if let Some(topic) = &intent.topic
        && consents.get(intent.channel, Some(topic)).is_some_and(|c| c.status == ConsentStatus::OptedOut)
    {
        out.push(Reason::TopicOptedOut);
    }
    out
}

fn authorization_reason(purpose: Purpose, auths: &[AuthorizationSummary], now: Timestamp, zones: &[TimeZone]) -> Option<Reason> {
    let remunerated = purpose == Purpose::MarketingRemunerated;
    let valid: Vec<&AuthorizationSummary> = auths.iter().filter(|a| a.validity(now, zones) == Validity::Valid).collect();
    if valid.iter().any(|a| !remunerated || a.remuneration_disclosed) {
        return None;
    }
    if !valid.is_empty() {
        return Some(Reason::AuthorizationLacksRemunerationStatement);
    }
    let states: Vec<Validity> = auths.iter().map(|a| a.validity(now, zones)).collect();
    Some(if states.contains(&Validity::Revoked) {
        Reason::AuthorizationRevoked
    } else if states.contains(&Validity::Expired) {
        Reason::AuthorizationExpired
    } else {
        Reason::AuthorizationRequired
    })
}

/// When a cap that applies to this message frees a slot, if it is full now.
fn cap_release(cap: &Cap, intent: &Intent, sent: &[SentMessage], now: Timestamp) -> Option<Timestamp> {
    if cap.max == 0 || !cap.applies(intent.channel, intent.purpose) {
        return None;
    }
    let start = now - cap.window;
    // A send stamped a little after `now` (another worker's clock) still holds its slot.
    let mut times: Vec<Timestamp> = sent.iter().filter(|s| cap.applies(s.channel, s.purpose) && s.at > start).map(|s| s.at).collect();
    if times.len() < cap.max {
        return None;
    }
    times.sort();
    // The slot frees when the send that makes the count reach `max` leaves the window.
    Some(times[times.len() - cap.max] + cap.window)
}
