//! The indexed engine agrees with the reference evaluator: random populations, events, consent
//! and segments, evaluated both ways, before and after incremental updates.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use sotto_core::authorization::{AuthorizationSummary, Expiry};
use sotto_core::consent::{ConsentRecord, ConsentSource, ConsentState, ConsentStatus, Topic};
use sotto_core::contact::Channel;
use sotto_core::purpose::ConsentKind;
use sotto_core::segment::{CmpOp, Condition, CountOp, EventFact, EventWindow, Expr, Facts, Literal, SegmentEngine, matches};

fn now() -> Timestamp {
    "2026-11-22T12:00:00Z".parse().expect("time")
}

#[derive(Debug, Clone)]
struct Person {
    traits: Map<String, Value>,
    events: Vec<EventFact>,
    sms: Option<bool>,
    /// Newsletter topic consent on email.
    newsletter: Option<bool>,
    /// Authorizations as (hours until expiry, hours until revocation) around `now`.
    auths: Vec<(i64, Option<i64>)>,
}

impl Person {
    fn authorizations(&self) -> Vec<AuthorizationSummary> {
        let hours = SignedDuration::from_hours;
        self.auths
            .iter()
            .enumerate()
            .map(|(i, (expires, revoked))| AuthorizationSummary {
                id: format!("a{i}"),
                signed_at: now() - hours(5_000),
                expiry: Expiry::At(now() + hours(*expires)),
                remuneration_disclosed: false,
                revoked_at: revoked.map(|r| now() + hours(r)),
            })
            .collect()
    }

    /// What the reference evaluator is told: an authorization valid now.
    fn authorized(&self) -> bool {
        self.auths.iter().any(|(expires, revoked)| *expires > 0 && revoked.is_none_or(|r| r > 0))
    }
}

fn person() -> impl Strategy<Value = Person> {
    let status = prop::option::of(prop::sample::select(vec!["active", "inactive"]));
    let channel = prop::option::of(prop::sample::select(vec!["sms", "email", "push"]));
    let conditions = prop::collection::vec(1u8..6, 0..3);
    let score = prop::option::of(0i64..10);
    let events = prop::collection::vec((prop::sample::select(vec!["annual_checkup", "appointment_booked"]), 0i64..800, 1u8..4), 0..6);
    let auths = prop::collection::vec((-500i64..500, prop::option::of(-500i64..500)), 0..3);
    let consent = (prop::option::of(any::<bool>()), prop::option::of(any::<bool>()));
    (status, channel, conditions, score, events, consent, auths).prop_map(|(status, channel, conditions, score, events, (sms, newsletter), auths)| {
        let mut traits = Map::new();
        if let Some(s) = status {
            traits.insert("status".into(), json!(s));
        }
        if let Some(c) = channel {
            traits.insert("preferred_channel".into(), json!(c));
        }
        if !conditions.is_empty() {
            traits.insert("conditions".into(), json!(conditions.iter().map(|c| format!("condition:{c}")).collect::<Vec<_>>()));
        }
        if let Some(s) = score {
            traits.insert("score".into(), json!(s));
        }
        let events = events
            .into_iter()
            .map(|(name, days_ago, kind)| EventFact {
                name: name.into(),
                at: now() - SignedDuration::from_hours(24 * days_ago),
                properties: [("appointment_type".to_owned(), json!(format!("appt_type:{kind}")))].into_iter().collect(),
            })
            .collect();
        Person { traits, events, sms, newsletter, auths }
    })
}

fn literal() -> impl Strategy<Value = (String, Literal)> {
    prop_oneof![
        prop::sample::select(vec!["active", "inactive", "other"]).prop_map(|v| ("status".to_owned(), Literal::Str(v.into()))),
        prop::sample::select(vec!["sms", "email", "push"]).prop_map(|v| ("preferred_channel".to_owned(), Literal::Str(v.into()))),
        (0i64..10).prop_map(|n| ("score".to_owned(), Literal::Num(n as f64))),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    let ops = prop::sample::select(vec![CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge]);
    let count = prop::option::of((prop::sample::select(vec![CountOp::AtLeast, CountOp::AtMost, CountOp::Exactly]), 0u32..4));
    let window = prop::option::of(prop_oneof![
        (1u32..800).prop_map(EventWindow::WithinDays),
        (0i64..800, 0i64..400).prop_map(|(a, len)| {
            let from = (now() - SignedDuration::from_hours(24 * a)).to_zoned(jiff::tz::TimeZone::UTC).date();
            let to = from.checked_add(jiff::Span::new().days(len)).unwrap_or(from);
            EventWindow::Between(from, to)
        }),
    ]);
    prop_oneof![
        (literal(), ops).prop_map(|((field, value), op)| Condition::Compare { field, op, value }),
        prop::collection::vec(literal(), 1..3).prop_map(|ls| Condition::In { field: ls[0].0.clone(), values: ls.into_iter().map(|(_, v)| v).collect() }),
        prop::sample::select(vec!["status", "score", "conditions", "missing"]).prop_map(|f| Condition::Exists { field: f.into() }),
        (1u8..6).prop_map(|c| Condition::Has { field: "conditions".into(), code: format!("condition:{c}") }),
        (prop::sample::select(vec!["annual_checkup", "appointment_booked", "never"]), prop::option::of(1u8..4), count, window).prop_map(|(event, kind, count, window)| Condition::Did {
            event: event.into(),
            filter: kind.map(|k| ("appointment_type".to_owned(), CmpOp::Eq, Literal::Str(format!("appt_type:{k}")))),
            count,
            window,
        }),
        any::<bool>().prop_map(|opted_in| Condition::Consent { channel: Channel::Sms, topic: None, opted_in }),
        any::<bool>().prop_map(|opted_in| Condition::Consent { channel: Channel::Email, topic: Some("newsletter".into()), opted_in }),
        Just(Condition::Authorized),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    condition().prop_map(Expr::Cond).prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn consent_state(p: &Person) -> ConsentState {
    let record = |channel, topic: Option<&str>, inn: bool| ConsentRecord {
        channel,
        topic: topic.map(|t| Topic::parse("topic", t).expect("topic")),
        status: if inn { ConsentStatus::OptedIn } else { ConsentStatus::OptedOut },
        kind: ConsentKind::Express,
        source: ConsentSource::Api,
        captured_at: now(),
        evidence: Value::Null,
    };
    let records: Vec<ConsentRecord> = p
        .sms
        .map(|inn| record(Channel::Sms, None, inn))
        .into_iter()
        .chain(p.newsletter.map(|inn| record(Channel::Email, Some("newsletter"), inn)))
        .collect();
    ConsentState::derive(&records)
}

fn load(engine: &mut SegmentEngine, id: &str, p: &Person) {
    engine.update_traits(id, p.traits.iter().map(|(k, v)| (k.as_str(), Some(v))));
    for e in &p.events {
        engine.add_event(id, &e.name, e.at, e.properties.clone());
    }
    engine.set_consents(id, consent_state(p));
    engine.set_authorizations(id, p.authorizations());
}

fn agree(engine: &SegmentEngine, people: &[Person], expr: &Expr) -> Result<(), TestCaseError> {
    let members = engine.evaluate(expr, now());
    for (i, p) in people.iter().enumerate() {
        let consents = consent_state(p);
        let expected = matches(expr, &Facts { traits: &p.traits, events: &p.events, consents: &consents, authorized: p.authorized() }, now());
        prop_assert_eq!(members.contains(i as u32), expected, "patient {} in {:?}: {:?}", i, expr, p);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_engine_and_the_reference_evaluator_agree(people in prop::collection::vec(person(), 1..40), segments in prop::collection::vec(expr(), 1..6)) {
        let mut engine = SegmentEngine::new();
        for (i, p) in people.iter().enumerate() {
            load(&mut engine, &format!("p{i}"), p);
        }
        for s in &segments {
            agree(&engine, &people, s)?;
        }
    }

    #[test]
    fn incremental_updates_keep_the_engine_in_agreement(people in prop::collection::vec(person(), 1..20), updates in prop::collection::vec((0usize..20, person()), 1..10), segment in expr()) {
        let mut engine = SegmentEngine::new();
        let mut people = people;
        for (i, p) in people.iter().enumerate() {
            load(&mut engine, &format!("p{i}"), p);
        }
        for (who, change) in updates {
            let i = who % people.len();
            // Replace the traits wholesale, add the new events, replace consent.
            let removed: Vec<String> = people[i].traits.keys().filter(|k| !change.traits.contains_key(*k)).cloned().collect();
            engine.update_traits(&format!("p{i}"), removed.iter().map(|k| (k.as_str(), None)));
            engine.update_traits(&format!("p{i}"), change.traits.iter().map(|(k, v)| (k.as_str(), Some(v))));
            for e in &change.events {
                engine.add_event(&format!("p{i}"), &e.name, e.at, e.properties.clone());
            }
            engine.set_consents(&format!("p{i}"), consent_state(&change));
            engine.set_authorizations(&format!("p{i}"), change.authorizations());
            people[i].traits = change.traits;
            people[i].events.extend(change.events);
            people[i].sms = change.sms;
            people[i].newsletter = change.newsletter;
            people[i].auths = change.auths;
        }
        agree(&engine, &people, &segment)?;
    }
}

#[test]
fn entries_and_exits_are_reported_since_a_previous_membership() {
    let mut engine = SegmentEngine::new();
    let active = Expr::Cond(Condition::Compare { field: "status".into(), op: CmpOp::Eq, value: Literal::Str("active".into()) });
    engine.update_traits("a", [("status", Some(&json!("active")))]);
    engine.update_traits("b", [("status", Some(&json!("inactive")))]);
    let before = engine.evaluate(&active, now());
    engine.update_traits("a", [("status", Some(&json!("inactive")))]);
    engine.update_traits("b", [("status", Some(&json!("active")))]);
    let (_, entered, left) = engine.changes(&before, &active, now());
    assert_eq!(entered.iter().filter_map(|n| engine.external_id(n)).collect::<Vec<_>>(), ["b"]);
    assert_eq!(left.iter().filter_map(|n| engine.external_id(n)).collect::<Vec<_>>(), ["a"]);
}
