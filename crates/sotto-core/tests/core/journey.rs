//! Journeys in the core: definitions refused with the path into them (a step that points
//! nowhere, a cycle without a delay), and runs moved on a clock the test holds: delays
//! relative to the appointment at a local time across a daylight-saving change (a moment
//! already past skipped), waits that
//! end by an event or a timeout, branches, and a follow-up chosen by a coded type.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

use sotto_core::journey::{Journey, Position, RunFacts, advance, parse_journey, rewake};

fn appointment_journey() -> Journey {
    let body = json!({
        "name": "Appointment journey", "purpose": "treatment", "run_key": "appointment_id",
        "trigger": {"event": "appointment_booked"}, "exit_on": ["appointment_cancelled"],
        "steps": [
            {"id": "confirmation", "type": "send", "channels": ["email"], "template_id": "tpl_confirm", "next": "two_days_before"},
            {"id": "two_days_before", "type": "delay", "until": {"property": "appointment_start", "days": -2, "local_time": "10:00"}, "next": "preparation"},
            {"id": "preparation", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": "tpl_prep_sms", "email": "tpl_prep_email"}, "next": "confirm_wait"},
            {"id": "confirm_wait", "type": "wait", "event": "appointment_confirmed", "timeout": "20h", "next": "confirmed", "timeout_next": "unconfirmed"},
            {"id": "confirmed", "type": "send", "channels": ["sms"], "template_id": "tpl_reminder", "next": "after"},
            {"id": "unconfirmed", "type": "send", "channels": ["sms"], "template_id": "tpl_please_confirm", "next": "after"},
            {"id": "after", "type": "delay", "until": {"property": "appointment_start", "days": 2, "local_time": "10:00"}, "next": "follow_up"},
            {"id": "follow_up", "type": "send", "channels": ["email"], "by": "appointment_type", "choices": {"PROC": "tpl_check_in", "SCREEN": "tpl_next_steps"}}
        ]
    });
    parse_journey(&body).expect("a valid journey").1
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("instant")
}

fn facts<'a>(properties: &'a Map<String, Value>, happened: &'a BTreeSet<String>, tz: &'a TimeZone, traits: &'a Map<String, Value>) -> RunFacts<'a> {
    RunFacts { properties, traits, happened, timezone: Some(tz) }
}

#[test]
fn a_run_sends_the_confirmation_then_waits_until_ten_two_days_before_across_the_change_to_standard_time() {
    let journey = appointment_journey();
    let chicago = TimeZone::get("America/Chicago").expect("zone");
    // Booked on Thursday 29 October (CDT) for Tuesday 3 November (CST): two days before is
    // Sunday 1 November, the day clocks go back.
    let props = json!({"appointment_id": "A1", "appointment_start": "2026-11-03T15:00:00Z", "appointment_type": "PROC"}).as_object().cloned().expect("object");
    let (none, traits) = (BTreeSet::new(), Map::new());
    let booked = advance(&journey, "confirmation", false, &facts(&props, &none, &chicago, &traits), at("2026-10-29T14:00:00Z"));
    assert_eq!(booked.sends.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["confirmation"]);
    assert_eq!(booked.position, Position::Waiting { step: "two_days_before".into(), wake_at: at("2026-11-01T16:00:00Z") }, "10:00 CST");

    let woken = advance(&journey, "two_days_before", true, &facts(&props, &none, &chicago, &traits), at("2026-11-01T16:00:00Z"));
    assert_eq!(woken.sends.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["preparation"]);
    assert_eq!(woken.position, Position::Waiting { step: "confirm_wait".into(), wake_at: at("2026-11-02T12:00:00Z") });

    // The same delay before the change lands at 10:00 CDT.
    let earlier = json!({"appointment_id": "A2", "appointment_start": "2026-10-30T15:00:00Z"}).as_object().cloned().expect("object");
    let booked = advance(&journey, "confirmation", false, &facts(&earlier, &none, &chicago, &traits), at("2026-10-20T14:00:00Z"));
    assert_eq!(booked.position, Position::Waiting { step: "two_days_before".into(), wake_at: at("2026-10-28T15:00:00Z") }, "10:00 CDT");
}

#[test]
fn a_wait_goes_on_by_its_event_or_by_its_timeout_and_the_follow_up_is_chosen_by_the_coded_type() {
    let journey = appointment_journey();
    let tz = TimeZone::get("America/New_York").expect("zone");
    let props = json!({"appointment_id": "A1", "appointment_start": "2026-12-10T15:00:00Z", "appointment_type": "SCREEN"}).as_object().cloned().expect("object");
    let traits = Map::new();
    let confirmed = BTreeSet::from(["appointment_confirmed".to_owned()]);
    let by_event = advance(&journey, "confirm_wait", true, &facts(&props, &confirmed, &tz, &traits), at("2026-12-08T18:00:00Z"));
    assert_eq!(by_event.sends[0].step, "confirmed");
    let none = BTreeSet::new();
    let by_timeout = advance(&journey, "confirm_wait", true, &facts(&props, &none, &tz, &traits), at("2026-12-09T11:00:00Z"));
    assert_eq!(by_timeout.sends[0].step, "unconfirmed");
    assert_eq!(by_timeout.position, Position::Waiting { step: "after".into(), wake_at: at("2026-12-12T15:00:00Z") });
    let follow = advance(&journey, "after", true, &facts(&props, &none, &tz, &traits), at("2026-12-12T15:00:00Z"));
    assert_eq!(follow.sends[0].templates.values().collect::<Vec<_>>(), ["tpl_next_steps"]);
    assert_eq!(follow.position, Position::Done { reason: "completed" });
    let unknown = json!({"appointment_start": "2026-12-10T15:00:00Z", "appointment_type": "OTHER"}).as_object().cloned().expect("object");
    assert!(advance(&journey, "follow_up", false, &facts(&unknown, &none, &tz, &traits), at("2026-12-12T15:00:00Z")).sends.is_empty(), "a code without a choice sends nothing");
}

#[test]
fn a_rescheduled_appointment_moves_the_relative_delay_and_a_moment_already_past_is_skipped() {
    let journey = appointment_journey();
    let tz = TimeZone::get("America/New_York").expect("zone");
    let (none, traits) = (BTreeSet::new(), Map::new());
    let moved = json!({"appointment_start": "2026-12-20T15:00:00Z"}).as_object().cloned().expect("object");
    assert_eq!(rewake(&journey, "two_days_before", &facts(&moved, &none, &tz, &traits), at("2026-12-01T00:00:00Z")), Some(at("2026-12-18T15:00:00Z")));
    assert_eq!(rewake(&journey, "confirm_wait", &facts(&moved, &none, &tz, &traits), at("2026-12-01T00:00:00Z")), None, "only relative delays move");
    let soon = json!({"appointment_start": "2026-12-02T15:00:00Z"}).as_object().cloned().expect("object");
    let booked = advance(&journey, "confirmation", false, &facts(&soon, &none, &tz, &traits), at("2026-12-01T12:00:00Z"));
    assert_eq!(booked.path, ["confirmation", "two_days_before", "preparation", "confirm_wait"]);
    assert_eq!((booked.sends.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), booked.skipped.clone()), (vec!["confirmation"], vec!["preparation".to_owned()]), "two days before has passed: its preparation is skipped");
    let just = advance(&journey, "confirmation", false, &facts(&soon, &none, &tz, &traits), at("2026-11-30T15:30:00Z"));
    assert_eq!(just.sends.len(), 2, "half an hour late is still on time: confirmation and preparation");
}

#[test]
fn definitions_that_point_nowhere_or_loop_without_a_delay_are_refused_with_the_path() {
    let base = |steps: Value| json!({"name": "Loop", "purpose": "treatment", "run_key": "appointment_id", "trigger": {"event": "appointment_booked"}, "steps": steps});
    let codes = |body: Value| parse_journey(&body).expect_err("refused").into_iter().map(|e| (e.code, e.field)).collect::<Vec<_>>();
    assert_eq!(codes(base(json!([{"id": "a", "type": "send", "channels": ["email"], "template_id": "t", "next": "nowhere"}]))), [("unknown_step", "steps[0].next".to_owned())]);
    let looped = json!([
        {"id": "a", "type": "send", "channels": ["email"], "template_id": "t", "next": "b"},
        {"id": "b", "type": "branch", "condition": {"happened": "appointment_confirmed"}, "then": "a", "else": "c"},
        {"id": "c", "type": "exit"}
    ]);
    assert_eq!(codes(base(looped)).first().map(|(c, _)| *c), Some("cycle_without_delay"));
    let waited = json!([
        {"id": "a", "type": "send", "channels": ["email"], "template_id": "t", "next": "b"},
        {"id": "b", "type": "delay", "duration": "1d", "next": "a"}
    ]);
    assert!(parse_journey(&base(waited)).is_ok(), "a delay breaks the loop");
    let mut named = base(json!([{"id": "a", "type": "exit"}]));
    named["name"] = json!("HIV outreach");
    assert_eq!(codes(named)[0].1, "name");
    assert_eq!(codes(base(json!([{"id": "a", "type": "delay", "duration": "soon"}])))[0], ("invalid_delay", "steps[0]".to_owned()));
    assert_eq!(codes(base(json!([{"id": "a", "type": "send", "channels": ["sms", "email"], "template_id": {"sms": "t"}}])))[0], ("channel_without_template", "steps[0].template_id".to_owned()));
    assert_eq!(codes(base(json!([{"id": "a", "type": "branch", "then": "b", "else": "b"}, {"id": "b", "type": "exit"}])))[0], ("missing_field", "steps[0].condition".to_owned()));
    let mut listed = base(json!([{"id": "a", "type": "exit"}]));
    listed["exit_on"] = json!("appointment_cancelled");
    assert_eq!(codes(listed)[0], ("invalid_events", "exit_on".to_owned()), "a list, never a bare name");
    let huge = json!([{"id": "a", "type": "delay", "until": {"property": "appointment_start", "days": i64::MIN, "local_time": "10:00"}}]);
    assert_eq!(codes(base(huge))[0].0, "invalid_delay", "no overflow");
    assert_eq!(codes(base(json!([{"id": "a", "type": "delay", "duration": "527040d"}])))[0].0, "invalid_delay", "at most a year and a day");
    let chain: Vec<Value> = (0..=sotto_core::journey::MAX_STEPS).map(|i| json!({"id": format!("s{i}"), "type": "send", "channels": ["email"], "template_id": "t", "next": format!("s{}", i + 1)})).collect();
    assert_eq!(codes(base(Value::Array(chain)))[0], ("too_many_steps", "steps".to_owned()));
    let mut marketing = base(json!([{"id": "a", "type": "send", "channels": ["email"], "template_id": "t", "purpose": "marketing"}]));
    assert_eq!(codes(marketing.clone()), [("authorization_basis_required", "authorization_basis".to_owned())], "a marketing step in a treatment journey");
    marketing["authorization_basis"] = json!("hipaa_authorization");
    let (_, journey) = parse_journey(&marketing).expect("with its basis");
    assert_eq!(journey.purposes().len(), 2);
    let free_text = json!([
        {"id": "a", "type": "branch", "condition": {"property": "appointment_type", "equals": "HIV positive"}, "then": "b", "else": "b"},
        {"id": "b", "type": "exit", "note": "anything"}
    ]);
    assert_eq!(codes(base(free_text)), [("health_term_in_definition", "steps[0].condition.equals".to_owned()), ("unknown_field", "steps[1]".to_owned())]);
}
