//! The segment language: the issue's examples parse and mean what they say, errors carry
//! positions, names are checked against the dictionary, and the JSON form round-trips.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use sotto_core::consent::ConsentState;
use sotto_core::default_dictionary::default_dictionary;
use sotto_core::segment::{CmpOp, Condition, CountOp, EventFact, EventWindow, Expr, Facts, Literal, check, matches, parse};

const SEED_EXAMPLE: &str = r#"status = "active" and conditions has "condition:457" and not did annual_checkup within 365 days and preferred_channel = "sms""#;
const COUNTS: &str = r#"did annual_checkup at least 2 times within 730 days or conditions has "condition:214""#;
const NOT_IN: &str = r#"not (status = "inactive") and preferred_channel in ["email", "push"]"#;

fn now() -> Timestamp {
    "2026-11-22T12:00:00Z".parse().expect("time")
}

fn traits(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn checkup(days_ago: i64) -> EventFact {
    EventFact { name: "annual_checkup".into(), at: now() - SignedDuration::from_hours(24 * days_ago), properties: Map::new() }
}

fn member(expr: &Expr, t: Value, events: &[EventFact]) -> bool {
    let consents = ConsentState::default();
    let traits = traits(t);
    matches(expr, &Facts { traits: &traits, events, consents: &consents, authorized: false }, now())
}

#[test]
fn the_seed_example_parses_into_four_conditions_and_touches_phi() {
    let expr = parse(SEED_EXAMPLE).expect("parse");
    let Expr::And(items) = &expr else { panic!("and: {expr:?}") };
    assert_eq!(items.len(), 4);
    assert_eq!(items[0], Expr::Cond(Condition::Compare { field: "status".into(), op: CmpOp::Eq, value: Literal::Str("active".into()) }));
    assert_eq!(items[2], Expr::Not(Box::new(Expr::Cond(Condition::Did { event: "annual_checkup".into(), filter: None, count: None, window: Some(EventWindow::WithinDays(365)) }))));
    assert_eq!(check(&expr, &default_dictionary()), Ok(true));
}

#[test]
fn the_seed_example_means_what_it_says() {
    let expr = parse(SEED_EXAMPLE).expect("parse");
    let ideal = json!({"status": "active", "conditions": ["condition:457"], "preferred_channel": "sms"});
    assert!(member(&expr, ideal.clone(), &[checkup(400)]));
    assert!(!member(&expr, ideal.clone(), &[checkup(100)]), "had a checkup within a year");
    assert!(!member(&expr, json!({"status": "active", "conditions": ["condition:214"], "preferred_channel": "sms"}), &[]));
    assert!(!member(&expr, json!({"status": "active", "conditions": ["condition:457"], "preferred_channel": "email"}), &[]));
}

#[test]
fn counts_windows_negation_and_lists_mean_what_they_say() {
    let counts = parse(COUNTS).expect("parse");
    assert!(member(&counts, json!({}), &[checkup(10), checkup(400)]));
    assert!(!member(&counts, json!({}), &[checkup(10), checkup(800)]));
    assert!(member(&counts, json!({"conditions": ["condition:214"]}), &[]));
    let not_in = parse(NOT_IN).expect("parse");
    assert!(member(&not_in, json!({"status": "active", "preferred_channel": "push"}), &[]));
    assert!(!member(&not_in, json!({"status": "inactive", "preferred_channel": "push"}), &[]));
    assert!(!member(&not_in, json!({"status": "active", "preferred_channel": "sms"}), &[]));
    let between = parse(r#"did annual_checkup between "2026-01-01" and "2026-06-30" exactly 1 times"#).expect("parse");
    let jan = EventFact { at: "2026-01-01T00:00:00Z".parse().expect("t"), ..checkup(0) };
    let jul = EventFact { at: "2026-07-01T00:00:00Z".parse().expect("t"), ..checkup(0) };
    assert!(member(&between, json!({}), &[jan.clone(), jul]));
    assert!(!member(&between, json!({}), &[jan.clone(), jan]));
    let filtered = parse(r#"did appointment_booked where appointment_type = "appt_type:12" at most 0 times"#).expect("parse");
    let Expr::Cond(Condition::Did { count, filter, .. }) = &filtered else { panic!("did") };
    assert_eq!(*count, Some((CountOp::AtMost, 0)));
    assert!(filter.is_some());
}

#[test]
fn parse_errors_give_line_column_and_what_was_expected() {
    let cases = [
        ("status = ", "line 1, column 10: expected a value"),
        ("status = \"active\" and\n  (did annual_checkup within days)", "line 2, column 30: expected a whole number"),
        ("status == \"x\"", "line 1, column 9: expected a value"),
        ("did", "line 1, column 4: expected an event name"),
        ("status = \"active\" or", "line 1, column 21: expected a trait name"),
        ("(status = \"active\"", "line 1, column 19: expected )"),
        ("status = \"active", "line 1, column 10: this string is not closed"),
        ("preferred_channel in [\"sms\" \"email\"]", "line 1, column 29: expected , or ]"),
    ];
    for (src, expected) in cases {
        let err = parse(src).expect_err(src);
        assert_eq!(err.code, "invalid_segment");
        assert!(err.message.starts_with(expected), "{src:?}: {}", err.message);
    }
}

#[test]
fn names_are_checked_against_the_dictionary() {
    let dict = default_dictionary();
    let code = |src: &str| check(&parse(src).expect(src), &dict).expect_err(src)[0].code;
    assert_eq!(code(r#"diagnosis = "diabetes""#), "sensitive_field");
    assert_eq!(code(r#"favourite_colour = "blue""#), "undeclared_field");
    assert_eq!(code(r#"email = "a@example.org""#), "identifier_in_segment");
    assert_eq!(code("did chemo_session"), "undeclared_field");
    assert_eq!(code(r#"conditions has "diabetes""#), "plaintext_in_coded_field");
    assert_eq!(code(r#"status has "x:1""#), "not_coded");
    assert_eq!(check(&parse(r#"membership_tier = "gold" and consent sms opted_in"#).expect("parse"), &dict), Ok(false));
}

#[test]
fn the_json_form_round_trips() {
    for src in [SEED_EXAMPLE, COUNTS, NOT_IN, r#"consent email topic "newsletter" opted_out or authorized for marketing"#] {
        let expr = parse(src).expect(src);
        let json = serde_json::to_value(&expr).expect("json");
        assert_eq!(serde_json::from_value::<Expr>(json).expect("back"), expr, "{src}");
    }
}

proptest! {
    #[test]
    fn parsing_any_text_never_panics(src in "[a-z_\"=!<>()\\[\\], 0-9:.-]{0,60}") {
        let _ = parse(&src);
    }
}

#[test]
fn a_number_in_a_definition_reads_back_from_its_stored_form_exactly() {
    // Found by the segment fuzz target: without serde_json's exact float parsing, a long
    // number read back from the stored JSON form differed in its last bit.
    let expr = parse(&format!("status = {}", "3".repeat(53))).expect("parse");
    let stored = serde_json::to_string(&expr).expect("json");
    assert_eq!(serde_json::from_str::<Expr>(&stored).expect("read back"), expr);
}

#[test]
fn a_number_too_large_for_a_double_is_refused_with_its_position() {
    // Found by the segment fuzz target: it parsed as infinity, was stored as null, and the
    // segment could never be read back.
    let err = parse(&format!("score < {}", "2".repeat(400))).expect_err("refused");
    assert_eq!(err.code, "invalid_segment");
    assert!(err.message.contains("line 1, column 9") && err.message.contains("too large"), "{}", err.message);
}
