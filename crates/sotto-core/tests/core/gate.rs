//! The send gate: a table of cases, one per rule, and properties that must hold for any state.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::json;

use sotto_core::authorization::{AuthorizationSummary, Expiry};
use sotto_core::consent::{ConsentRecord, ConsentSource, ConsentState, ConsentStatus, Topic};
use sotto_core::contact::Channel;
use sotto_core::gate::{Decision, GatePolicy, Intent, PatientState, Reason, SentMessage, Suppression, candidate_zones, decide};
use sotto_core::purpose::{ConsentKind, Purpose};
use sotto_core::quiet_hours::Window;

fn at(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

/// 15:00 in Chicago on a January Thursday.
const NOON_ISH: &str = "2026-01-15T21:00:00Z";

fn consent(channel: Channel, topic: Option<&str>, status: ConsentStatus, kind: ConsentKind, when: &str) -> ConsentRecord {
    ConsentRecord {
        channel,
        topic: topic.map(|t| Topic::parse("topic", t).expect("topic")),
        status,
        kind,
        source: ConsentSource::WebForm,
        captured_at: at(when),
        evidence: json!({"form_version": "v1"}),
    }
}

fn auth(expiry: Expiry, revoked: Option<&str>, remuneration: bool) -> AuthorizationSummary {
    AuthorizationSummary { id: "auth-1".into(), signed_at: at("2025-06-01T00:00:00Z"), expiry, remuneration_disclosed: remuneration, revoked_at: revoked.map(at) }
}

fn base() -> PatientState {
    let records = [
        consent(Channel::Sms, None, ConsentStatus::OptedIn, ConsentKind::ExpressWritten, "2025-01-01T00:00:00Z"),
        consent(Channel::Email, None, ConsentStatus::OptedIn, ConsentKind::Express, "2025-01-01T00:00:00Z"),
    ];
    PatientState {
        consents: ConsentState::derive(&records),
        authorizations: vec![auth(Expiry::On("2027-01-01".parse().expect("date")), None, false)],
        reachable: [Channel::Email, Channel::Sms, Channel::Push].into_iter().collect(),
        verified: [Channel::Email, Channel::Sms].into_iter().collect(),
        timezone: Some(TimeZone::get("America/Chicago").expect("tz")),
        ..PatientState::default()
    }
}

fn intent(channel: Channel, purpose: Purpose) -> Intent {
    Intent { channel, purpose, topic: None, uses_phi: false, template_approved: true, lint_clean: true, provider_has_baa: true }
}

fn denied(d: &Decision) -> Vec<Reason> {
    match d {
        Decision::Deny { reasons } => reasons.clone(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn each_rule_denies_with_its_own_reason() {
    let now = at(NOON_ISH);
    let policy = GatePolicy::default();
    let sms_ops = intent(Channel::Sms, Purpose::Operations);
    assert_eq!(decide(&sms_ops, Some(&base()), &policy, now), Decision::Allow);

    type Case = (&'static str, Box<dyn Fn(&mut Intent, &mut PatientState)>, Reason);
    let cases: Vec<Case> = vec![
        ("unreadable state", Box::new(|_, _| {}), Reason::StateUnavailable),
        ("no sms consent", Box::new(|_, s| s.consents = ConsentState::default()), Reason::NoSmsConsent),
        ("sms opt-out after opt-in", Box::new(|_, s| {
            let mut records: Vec<ConsentRecord> = s.consents.iter().cloned().collect();
            records.push(consent(Channel::Sms, None, ConsentStatus::OptedOut, ConsentKind::Express, "2025-06-01T00:00:00Z"));
            s.consents = ConsentState::derive(&records);
        }), Reason::ChannelOptedOut),
        ("marketing sms on express consent", Box::new(|i, s| {
            i.purpose = Purpose::Marketing;
            s.consents = ConsentState::derive(&[consent(Channel::Sms, None, ConsentStatus::OptedIn, ConsentKind::Express, "2025-01-01T00:00:00Z")]);
        }), Reason::SmsWrittenConsentRequired),
        ("marketing push without opt-in", Box::new(|i, _| { i.channel = Channel::Push; i.purpose = Purpose::Marketing; }), Reason::NoMarketingOptIn),
        ("topic opt-out", Box::new(|i, s| {
            i.topic = Some(Topic::parse("t", "newsletter").expect("topic"));
            let mut records: Vec<ConsentRecord> = s.consents.iter().cloned().collect();
            records.push(consent(Channel::Sms, Some("newsletter"), ConsentStatus::OptedOut, ConsentKind::Express, "2025-02-01T00:00:00Z"));
            s.consents = ConsentState::derive(&records);
        }), Reason::TopicOptedOut),
        ("marketing with phi and no authorization", Box::new(|i, s| { i.purpose = Purpose::Marketing; i.uses_phi = true; s.authorizations.clear(); }), Reason::AuthorizationRequired),
        ("revoked authorization", Box::new(|i, s| {
            i.purpose = Purpose::Marketing; i.uses_phi = true;
            s.authorizations = vec![auth(Expiry::On("2027-01-01".parse().expect("date")), Some("2026-01-10T00:00:00Z"), false)];
        }), Reason::AuthorizationRevoked),
        ("expired authorization", Box::new(|i, s| {
            i.purpose = Purpose::Marketing; i.uses_phi = true;
            s.authorizations = vec![auth(Expiry::At(at("2026-01-01T00:00:00Z")), None, false)];
        }), Reason::AuthorizationExpired),
        ("remunerated without the statement", Box::new(|i, _| i.purpose = Purpose::MarketingRemunerated), Reason::AuthorizationLacksRemunerationStatement),
        ("hard bounce", Box::new(|i, s| { i.channel = Channel::Email; s.suppressions.push((Channel::Email, Suppression::HardBounce)); }), Reason::SuppressedHardBounce),
        ("complaint", Box::new(|i, s| { i.channel = Channel::Email; s.suppressions.push((Channel::Email, Suppression::Complaint)); }), Reason::SuppressedComplaint),
        ("no number", Box::new(|_, s| { s.reachable.remove(&Channel::Sms); }), Reason::NoContactForChannel),
        ("unverified number", Box::new(|_, s| { s.verified.remove(&Channel::Sms); }), Reason::ChannelUnverified),
        ("unapproved template", Box::new(|i, _| i.template_approved = false), Reason::TemplateNotApproved),
        ("lint failure", Box::new(|i, _| i.lint_clean = false), Reason::TemplateLintFailed),
        ("phi through a provider without a BAA", Box::new(|i, _| { i.uses_phi = true; i.provider_has_baa = false; }), Reason::ProviderWithoutBaa),
        ("manual suppression", Box::new(|_, s| s.suppressions.push((Channel::Sms, Suppression::Manual))), Reason::SuppressedManual),
        ("undeliverable number", Box::new(|_, s| s.suppressions.push((Channel::Sms, Suppression::Undeliverable))), Reason::SuppressedUndeliverable),
        ("no window shared by the channel and the state", Box::new(|_, s| s.state_of_residence = Some("FL".into())), Reason::QuietHoursNoCommonWindow),
    ];
    for (name, change, expected) in cases {
        let (mut i, mut s) = (sms_ops.clone(), base());
        change(&mut i, &mut s);
        let state = (name != "unreadable state").then_some(&s);
        let policy = if name.starts_with("no window") {
            GatePolicy { channel_windows: [(Channel::Sms, Window::hours(20, 22))].into_iter().collect(), ..policy.clone() }
        } else {
            policy.clone()
        };
        let reasons = denied(&decide(&i, state, &policy, now));
        assert_eq!(reasons, vec![expected], "{name}: exactly the one rule that was broken");
    }
}

#[test]
fn a_valid_authorization_allows_marketing_that_uses_phi_and_remuneration_needs_its_statement() {
    let policy = GatePolicy::default();
    let mut i = intent(Channel::Sms, Purpose::Marketing);
    i.uses_phi = true;
    assert_eq!(decide(&i, Some(&base()), &policy, at(NOON_ISH)), Decision::Allow);
    let mut s = base();
    s.authorizations = vec![auth(Expiry::Event("end of program".into()), None, true)];
    i.purpose = Purpose::MarketingRemunerated;
    assert_eq!(decide(&i, Some(&s), &policy, at(NOON_ISH)), Decision::Allow);
}

#[test]
fn quiet_hours_defer_to_the_opening_of_the_local_window() {
    let policy = GatePolicy::default();
    let i = intent(Channel::Sms, Purpose::Operations);
    // 07:59 in Chicago.
    let d = decide(&i, Some(&base()), &policy, at("2026-01-15T13:59:00Z"));
    assert_eq!(d, Decision::Defer { until: at("2026-01-15T14:00:00Z"), reasons: vec![Reason::QuietHours] });
    // Florida closes at 20:00: 20:30 in Miami waits until 08:00 the next morning.
    let mut s = base();
    s.timezone = Some(TimeZone::get("America/New_York").expect("tz"));
    s.state_of_residence = Some("FL".into());
    let d = decide(&i, Some(&s), &policy, at("2026-01-16T01:30:00Z"));
    assert_eq!(d, Decision::Defer { until: at("2026-01-16T13:00:00Z"), reasons: vec![Reason::QuietHours] });
    // An unknown zone in an unknown state sends only when it is 08:00-21:00 everywhere in the US.
    s.timezone = None;
    s.state_of_residence = None;
    let Decision::Defer { until, .. } = decide(&i, Some(&s), &policy, at("2026-01-15T14:00:00Z")) else { panic!("defer") };
    assert!(candidate_zones(&s).iter().all(|tz| Window::hours(8, 21).contains(until, tz)));
}

#[test]
fn a_full_frequency_cap_defers_until_the_oldest_send_leaves_the_window() {
    let policy = GatePolicy::default();
    let mut s = base();
    for hours_ago in [20, 10, 2] {
        s.sent.push(SentMessage { channel: Channel::Sms, purpose: Purpose::Operations, at: at(NOON_ISH) - SignedDuration::from_hours(hours_ago) });
    }
    let d = decide(&intent(Channel::Sms, Purpose::Operations), Some(&s), &policy, at(NOON_ISH));
    // The send 20 hours ago leaves the 24-hour window in 4 hours: 19:00 in Chicago.
    assert_eq!(d, Decision::Defer { until: at(NOON_ISH) + SignedDuration::from_hours(4), reasons: vec![Reason::FrequencyCap] });
    // Email is not under the SMS cap.
    assert_eq!(decide(&intent(Channel::Email, Purpose::Operations), Some(&s), &policy, at(NOON_ISH)), Decision::Allow);
}

fn arb_state() -> impl Strategy<Value = (PatientState, Intent, Timestamp)> {
    let zones = prop::sample::select(vec![None, Some("America/Chicago"), Some("America/Los_Angeles"), Some("Pacific/Honolulu"), Some("America/New_York")]);
    let states = prop::sample::select(vec![None, Some("FL"), Some("TX"), Some("CA"), Some("NY")]);
    let channels = prop::sample::select(vec![Channel::Email, Channel::Sms, Channel::Push]);
    let purposes = prop::sample::select(Purpose::ALL.to_vec());
    (zones, states, channels, purposes, any::<bool>(), 0i64..(400 * 24 * 3600), 0usize..6, any::<bool>(), any::<bool>()).prop_map(
        |(zone, state, channel, purpose, uses_phi, offset, sends, revoked, written)| {
            let now = at("2026-01-01T00:00:00Z") + SignedDuration::from_secs(offset);
            let mut s = base();
            s.timezone = zone.map(|z| TimeZone::get(z).expect("tz"));
            s.state_of_residence = state.map(str::to_owned);
            let kind = if written { ConsentKind::ExpressWritten } else { ConsentKind::Express };
            s.consents = ConsentState::derive(&[
                consent(Channel::Sms, None, ConsentStatus::OptedIn, kind, "2025-01-01T00:00:00Z"),
                consent(Channel::Email, None, ConsentStatus::OptedIn, kind, "2025-01-01T00:00:00Z"),
                consent(Channel::Push, None, ConsentStatus::OptedIn, kind, "2025-01-01T00:00:00Z"),
            ]);
            if revoked {
                s.authorizations = vec![auth(Expiry::On("2030-01-01".parse().expect("date")), Some("2025-12-31T00:00:00Z"), true)];
            }
            for k in 0..sends {
                s.sent.push(SentMessage { channel, purpose, at: now - SignedDuration::from_hours(3 * k as i64 + 1) });
            }
            let mut i = intent(channel, purpose);
            i.uses_phi = uses_phi;
            (s, i, now)
        },
    )
}

/// Several authorizations around `now`: each expires some hours before or after it, and is
/// revoked before it, after it, or not at all.
fn arb_authorizations() -> impl Strategy<Value = Vec<(i64, Option<i64>)>> {
    prop::collection::vec((-2_000i64..2_000, prop::option::of(-2_000i64..2_000)), 0..5)
}

proptest! {
    #[test]
    fn marketing_that_uses_phi_goes_only_under_an_authorization_valid_now((s, mut i, now) in arb_state(), auths in arb_authorizations()) {
        let mut s = s;
        let hours = SignedDuration::from_hours;
        s.authorizations = auths
            .iter()
            .enumerate()
            .map(|(n, (expires, revoked))| AuthorizationSummary {
                id: format!("auth-{n}"),
                signed_at: now - hours(3_000),
                expiry: Expiry::At(now + hours(*expires)),
                remuneration_disclosed: false,
                revoked_at: revoked.map(|r| now + hours(r)),
            })
            .collect();
        i.uses_phi = true;
        i.purpose = Purpose::Marketing;
        let valid_now = auths.iter().any(|(expires, revoked)| *expires > 0 && revoked.is_none_or(|r| r > 0));
        let d = decide(&i, Some(&s), &GatePolicy::default(), now);
        let authorization_reasons = [Reason::AuthorizationRequired, Reason::AuthorizationRevoked, Reason::AuthorizationExpired];
        let reasons = match &d {
            Decision::Deny { reasons } | Decision::Defer { reasons, .. } => reasons.clone(),
            Decision::Allow => Vec::new(),
        };
        let refused_for_authorization = reasons.iter().any(|r| authorization_reasons.contains(r));
        prop_assert_eq!(refused_for_authorization, !valid_now, "{:?} with {:?}", d, auths);
        if !valid_now {
            let revoked_by_now = auths.iter().any(|(_, revoked)| revoked.is_some_and(|r| r <= 0));
            let expected = if revoked_by_now { Reason::AuthorizationRevoked } else if auths.is_empty() { Reason::AuthorizationRequired } else { Reason::AuthorizationExpired };
            prop_assert!(reasons.contains(&expected), "{:?} should name {:?}", d, expected);
        }
    }

    #[test]
    fn a_deferral_is_always_in_the_future_and_inside_every_candidate_window((s, i, now) in arb_state()) {
        let policy = GatePolicy::default();
        if let Decision::Defer { until, reasons } = decide(&i, Some(&s), &policy, now) {
            prop_assert!(until > now);
            prop_assert!(!reasons.is_empty());
            let window = s.state_of_residence.as_ref().and_then(|st| policy.state_windows.get(st)).copied().unwrap_or(policy.window);
            for tz in candidate_zones(&s) {
                prop_assert!(window.contains(until, &tz), "{} outside the window in {:?}", until, tz.iana_name());
            }
            // Deciding again at `until` must not defer for the same reasons forever.
            let again = decide(&i, Some(&s), &policy, until);
            let stuck = matches!(again, Decision::Defer { until: u, .. } if u == until);
            prop_assert!(!stuck, "deciding again at the deferral instant defers to it again");
        }
    }

    #[test]
    fn the_decision_does_not_depend_on_the_order_of_sends_suppressions_or_authorizations((s, i, now) in arb_state(), extra in arb_authorizations()) {
        let policy = GatePolicy::default();
        let mut s = s;
        let hours = SignedDuration::from_hours;
        s.authorizations.extend(extra.iter().map(|(e, r)| AuthorizationSummary {
            id: "extra".into(),
            signed_at: now - hours(3_000),
            expiry: Expiry::At(now + hours(*e)),
            remuneration_disclosed: true,
            revoked_at: r.map(|r| now + hours(r)),
        }));
        s.suppressions.push((Channel::Push, Suppression::Manual));
        let mut reordered = s.clone();
        reordered.sent.reverse();
        reordered.suppressions.reverse();
        reordered.authorizations.reverse();
        prop_assert_eq!(decide(&i, Some(&s), &policy, now), decide(&i, Some(&reordered), &policy, now));
    }
}

#[test]
fn both_kinds_of_marketing_share_one_cap_and_a_cap_of_zero_blocks() {
    use sotto_core::gate::Cap;
    let now = at(NOON_ISH);
    let marketing_intent = || intent(Channel::Email, Purpose::Marketing);
    let mut state = PatientState { authorizations: vec![auth(Expiry::On("2027-01-01".parse().expect("date")), None, true)], ..base() };
    state.sent = vec![
        SentMessage { channel: Channel::Email, purpose: Purpose::Marketing, at: now - SignedDuration::from_hours(30) },
        SentMessage { channel: Channel::Email, purpose: Purpose::MarketingRemunerated, at: now - SignedDuration::from_hours(20) },
    ];
    let policy = GatePolicy::default();
    for purpose in [Purpose::Marketing, Purpose::MarketingRemunerated] {
        let message = Intent { purpose, ..marketing_intent() };
        match decide(&message, Some(&state), &policy, now) {
            Decision::Defer { until, reasons } => {
                assert_eq!(reasons, vec![Reason::FrequencyCap], "{purpose:?}");
                assert_eq!(until, now - SignedDuration::from_hours(30) + SignedDuration::from_hours(24 * 7), "{purpose:?}");
            }
            other => panic!("{purpose:?}: two marketing sends of either kind fill the weekly cap: {other:?}"),
        }
    }
    let blocked = GatePolicy { caps: vec![Cap { channel: Some(Channel::Email), purposes: vec![], window: SignedDuration::from_hours(24), max: 0 }], ..GatePolicy::default() };
    state.sent.clear();
    assert_eq!(decide(&marketing_intent(), Some(&state), &blocked, now), Decision::Deny { reasons: vec![Reason::FrequencyCap] });
}
