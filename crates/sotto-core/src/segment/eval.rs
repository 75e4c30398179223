//! The reference evaluator: the plain meaning of a segment for one patient, written for
//! clarity rather than speed. The indexed engine must agree with it on every population.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use super::{CmpOp, Condition, CountOp, EventWindow, Expr, Literal};
use crate::consent::{ConsentState, ConsentStatus, Topic};

/// One event of a patient.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFact {
    /// The event name.
    pub name: String,
    /// When it happened.
    pub at: Timestamp,
    /// Its properties.
    pub properties: Map<String, Value>,
}

/// What the evaluator knows about one patient.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Traits (non-identifier).
    pub traits: &'a Map<String, Value>,
    /// Events.
    pub events: &'a [EventFact],
    /// Current consent.
    pub consents: &'a ConsentState,
    /// Whether a valid marketing authorization is on file.
    pub authorized: bool,
}

/// Compares a stored value with a literal, with the language's rules for missing values.
pub fn compare_value(actual: Option<&Value>, op: CmpOp, expected: &Literal) -> bool {
    let Some(actual) = actual.filter(|v| !v.is_null()) else {
        // A missing value is different from everything and compares with nothing.
        return op == CmpOp::Ne;
    };
    let ordering = match (actual, expected) {
        (Value::String(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::Number(a), Literal::Num(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ordering) {
        (CmpOp::Eq, Some(o)) => o.is_eq(),
        (CmpOp::Ne, Some(o)) => o.is_ne(),
        (CmpOp::Ne, None) => true,
        (CmpOp::Lt, Some(o)) => o.is_lt(),
        (CmpOp::Le, Some(o)) => o.is_le(),
        (CmpOp::Gt, Some(o)) => o.is_gt(),
        (CmpOp::Ge, Some(o)) => o.is_ge(),
        _ => false,
    }
}

/// Whether an instant falls in an event window evaluated at `now`.
pub fn in_window(window: Option<&EventWindow>, at: Timestamp, now: Timestamp) -> bool {
    match window {
        None => true,
        Some(EventWindow::WithinDays(days)) => at <= now && at > now - SignedDuration::from_hours(24 * i64::from(*days)),
        Some(EventWindow::Between(from, to)) => {
            let day = at.to_zoned(jiff::tz::TimeZone::UTC).date();
            *from <= day && day <= *to
        }
    }
}

fn count_ok(count: Option<(CountOp, u32)>, n: usize) -> bool {
    let n = n as u64;
    match count {
        None => n >= 1,
        Some((CountOp::AtLeast, k)) => n >= u64::from(k),
        Some((CountOp::AtMost, k)) => n <= u64::from(k),
        Some((CountOp::Exactly, k)) => n == u64::from(k),
    }
}

fn condition(cond: &Condition, f: &Facts<'_>, now: Timestamp) -> bool {
    match cond {
        Condition::Compare { field, op, value } => compare_value(f.traits.get(field), *op, value),
        Condition::In { field, values } => values.iter().any(|v| compare_value(f.traits.get(field), CmpOp::Eq, v)),
        Condition::Exists { field } => f.traits.get(field).is_some_and(|v| !v.is_null()),
        Condition::Has { field, code } => f.traits.get(field).and_then(Value::as_array).is_some_and(|a| a.iter().any(|v| v.as_str() == Some(code))),
        Condition::Did { event, filter, count, window } => {
            let n = f
                .events
                .iter()
                .filter(|e| &e.name == event && in_window(window.as_ref(), e.at, now))
                .filter(|e| filter.as_ref().is_none_or(|(p, op, v)| compare_value(e.properties.get(p), *op, v)))
                .count();
            count_ok(*count, n)
        }
        Condition::Consent { channel, topic, opted_in } => {
            let topic = topic.as_deref().and_then(|t| Topic::parse("topic", t).ok());
            let status = f.consents.get(*channel, topic.as_ref()).map(|r| r.status);
            if *opted_in { status == Some(ConsentStatus::OptedIn) } else { status == Some(ConsentStatus::OptedOut) }
        }
        Condition::Authorized => f.authorized,
    }
}

/// Whether a patient is a member at `now`.
pub fn matches(expr: &Expr, facts: &Facts<'_>, now: Timestamp) -> bool {
    match expr {
        Expr::And(xs) => xs.iter().all(|x| matches(x, facts, now)),
        Expr::Or(xs) => xs.iter().any(|x| matches(x, facts, now)),
        Expr::Not(x) => !matches(x, facts, now),
        Expr::Cond(c) => condition(c, facts, now),
    }
}
