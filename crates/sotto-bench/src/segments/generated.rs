//! Segments generated from the language's grammar with a fixed seed, over the fields the
//! benchmark's population has, each with the same question in SQL for the peers. Hand-picked
//! questions favour whoever picked them; these are whatever the grammar yields.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use sotto_core::segment::{CmpOp, Condition, CountOp, EventWindow, Expr, Literal};

const TRAITS: &[(&str, &[&str])] = &[
    ("status", &["active", "inactive", "archived"]),
    ("preferred_channel", &["sms", "email", "push"]),
    ("membership_tier", &["standard", "silver", "gold"]),
];
const EVENTS: &[&str] = &["annual_checkup", "appointment_booked", "app_opened"];

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn condition(rng: &mut StdRng) -> Condition {
    let (field, values) = TRAITS[rng.random_range(0..TRAITS.len())];
    let value = |rng: &mut StdRng| Literal::Str(values[rng.random_range(0..values.len())].to_owned());
    match rng.random_range(0..4) {
        0 => Condition::Compare { field: field.into(), op: if rng.random_bool(0.7) { CmpOp::Eq } else { CmpOp::Ne }, value: value(rng) },
        1 => Condition::In { field: field.into(), values: (0..rng.random_range(1..3)).map(|_| value(rng)).collect() },
        2 => Condition::Has { field: "conditions".into(), code: format!("condition:{}", if rng.random_bool(0.3) { 457 } else { rng.random_range(200..260) }) },
        _ => {
            let event = EVENTS[rng.random_range(0..EVENTS.len())];
            let filter = (event == "appointment_booked" && rng.random_bool(0.5))
                .then(|| ("appointment_type".to_owned(), CmpOp::Eq, Literal::Str(format!("appt_type:{}", rng.random_range(1..13)))));
            let count = rng.random_bool(0.4).then(|| ([CountOp::AtLeast, CountOp::AtMost, CountOp::Exactly][rng.random_range(0..3)], rng.random_range(0..4)));
            let window = rng.random_bool(0.7).then(|| EventWindow::WithinDays(rng.random_range(30..900)));
            Condition::Did { event: event.into(), filter, count, window }
        }
    }
}

fn expr(rng: &mut StdRng, depth: u32) -> Expr {
    if depth == 0 || rng.random_bool(0.4) {
        return Expr::Cond(condition(rng));
    }
    match rng.random_range(0..5) {
        0 => Expr::Not(Box::new(expr(rng, depth - 1))),
        1 | 2 => Expr::And((0..rng.random_range(2..4)).map(|_| expr(rng, depth - 1)).collect()),
        _ => Expr::Or((0..rng.random_range(2..4)).map(|_| expr(rng, depth - 1)).collect()),
    }
}

/// The SQL predicate on `patients p` for an expression; `$NOW` is the evaluation time in
/// seconds. It means what the reference evaluator means (a missing value differs from
/// everything; no count means at least once).
pub fn sql(e: &Expr) -> String {
    match e {
        Expr::And(xs) => format!("({})", xs.iter().map(sql).collect::<Vec<_>>().join(" AND ")),
        Expr::Or(xs) => format!("({})", xs.iter().map(sql).collect::<Vec<_>>().join(" OR ")),
        Expr::Not(x) => format!("(NOT {})", sql(x)),
        Expr::Cond(c) => condition_sql(c),
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Str(s) => quoted(s),
        Literal::Num(n) => n.to_string(),
        Literal::Bool(b) => b.to_string(),
    }
}

fn condition_sql(c: &Condition) -> String {
    match c {
        Condition::Compare { field, op: CmpOp::Eq, value } => format!("p.{field} = {}", literal(value)),
        Condition::Compare { field, op: CmpOp::Ne, value } => format!("p.{field} IS DISTINCT FROM {}", literal(value)),
        Condition::In { field, values } => format!("p.{field} IN ({})", values.iter().map(literal).collect::<Vec<_>>().join(", ")),
        Condition::Has { code, .. } => format!("p.id IN (SELECT pid FROM conditions WHERE code = {})", quoted(code)),
        Condition::Did { event, filter, count, window } => {
            let mut pred = format!("event = {}", quoted(event));
            if let Some((prop, _, value)) = filter {
                pred.push_str(&format!(" AND {prop} = {}", literal(value)));
            }
            if let Some(EventWindow::WithinDays(days)) = window {
                pred.push_str(&format!(" AND ts > $NOW - {days} * 86400 AND ts <= $NOW"));
            }
            let having = |cmp: &str, n: u32| format!("p.id IN (SELECT pid FROM events WHERE {pred} GROUP BY pid HAVING count(*) {cmp} {n})");
            let not_having = |cmp: &str, n: u32| format!("p.id NOT IN (SELECT pid FROM events WHERE {pred} GROUP BY pid HAVING count(*) {cmp} {n})");
            match count {
                None => having(">=", 1),
                Some((CountOp::AtLeast, 0)) => "TRUE".into(),
                Some((CountOp::AtLeast, n)) => having(">=", *n),
                Some((CountOp::AtMost, n)) => not_having(">", *n),
                Some((CountOp::Exactly, 0)) => not_having(">=", 1),
                Some((CountOp::Exactly, n)) => having("=", *n),
            }
        }
        other => unreachable!("the generator makes no {other:?}"),
    }
}

/// `n` segments from the grammar with `seed`: (name, expression, SQL).
pub fn segments(n: usize, seed: u64) -> Vec<(String, Expr, String)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let e = expr(&mut rng, 3);
            let query = format!("SELECT p.id FROM patients p WHERE {}", sql(&e));
            (format!("generated_{i:02}"), e, query)
        })
        .collect()
}
