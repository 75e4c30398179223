//! The segment language: a readable definition (`status = "active" and did annual_checkup
//! within 365 days`) or its JSON form, parsed into an expression, checked against the data
//! dictionary, and evaluated by a straightforward reference evaluator.

pub mod engine;
mod eval;
mod lexer;
mod parser;

use serde::{Deserialize, Serialize};

use crate::contact::Channel;
use crate::dictionary::{DataClass, Dictionary, FieldKind};
use crate::error::FieldError;

pub use engine::SegmentEngine;
pub use eval::{EventFact, Facts, compare_value, matches};
pub use parser::{MAX_NESTING, parse};

/// The longest string a definition may compare with.
pub const MAX_LITERAL: usize = 200;

/// The deepest expression tree a definition may have: each nesting level of the language
/// can add an `or`, an `and` and a `not`, and the top level an `or` and an `and`.
pub const MAX_EXPR_DEPTH: usize = 2 * MAX_NESTING + 2;

/// A literal value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Str(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

/// How an event count is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountOp {
    /// `at least N times`
    AtLeast,
    /// `at most N times`
    AtMost,
    /// `exactly N times`
    Exactly,
}

/// Which events count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventWindow {
    /// The last N days, moving with time.
    WithinDays(u32),
    /// Between two dates, inclusive (UTC days).
    Between(jiff::civil::Date, jiff::civil::Date),
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// `field op value`.
    Compare {
        /// The trait.
        field: String,
        /// The operator.
        op: CmpOp,
        /// The value.
        value: Literal,
    },
    /// `field in [values]`.
    In {
        /// The trait.
        field: String,
        /// The values.
        values: Vec<Literal>,
    },
    /// `field exists`.
    Exists {
        /// The trait.
        field: String,
    },
    /// `field has "code"` for multi-valued coded traits.
    Has {
        /// The trait.
        field: String,
        /// The code.
        code: String,
    },
    /// `did event [where property op value] [count] [window]`.
    Did {
        /// The event name.
        event: String,
        /// A property filter.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<(String, CmpOp, Literal)>,
        /// A count bound (default: at least once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<(CountOp, u32)>,
        /// A time window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<EventWindow>,
    },
    /// `consent sms opted_in` or `consent email topic "newsletter" opted_out`.
    Consent {
        /// The channel.
        channel: Channel,
        /// The topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        /// Opted in (true) or out (false).
        opted_in: bool,
    },
    /// `authorized for marketing`: holds a valid marketing authorization.
    Authorized,
}

/// A segment expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// One must hold.
    Or(Vec<Expr>),
    /// Must not hold.
    Not(Box<Expr>),
    /// A condition.
    Cond(Condition),
}

impl Expr {
    /// How many `and`, `or` and `not` nodes lie on the longest path from the root.
    /// Iterative, so it answers for a tree of any depth without recursion.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 0usize)];
        while let Some((e, d)) = stack.pop() {
            match e {
                Expr::And(xs) | Expr::Or(xs) => stack.extend(xs.iter().map(|x| (x, d + 1))),
                Expr::Not(x) => stack.push((x, d + 1)),
                Expr::Cond(_) => deepest = deepest.max(d),
            }
        }
        deepest
    }

    /// Refuses a tree deeper than [`MAX_EXPR_DEPTH`] (a JSON form given directly).
    pub fn check_depth(&self) -> Result<(), FieldError> {
        if self.depth() > MAX_EXPR_DEPTH {
            return Err(FieldError::new("too_deeply_nested", "definition", format!("a segment expression may be at most {MAX_EXPR_DEPTH} and, or and not deep")));
        }
        Ok(())
    }

    /// Every condition, depth first.
    pub fn conditions(&self) -> Vec<&Condition> {
        match self {
            Expr::And(xs) | Expr::Or(xs) => xs.iter().flat_map(Expr::conditions).collect(),
            Expr::Not(x) => x.conditions(),
            Expr::Cond(c) => vec![c],
        }
    }
}

/// Checks every name against the dictionary and says whether the segment touches PHI
/// (operational or coded fields, or health events).
pub fn check(expr: &Expr, dictionary: &Dictionary) -> Result<bool, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut phi = false;
    for (n, cond) in expr.conditions().into_iter().enumerate() {
        let look = |kind, name: &str, errors: &mut Vec<FieldError>, phi: &mut bool| look(dictionary, kind, name, n + 1, errors, phi);
        match cond {
            Condition::Compare { field, .. } | Condition::In { field, .. } | Condition::Exists { field } => {
                look(FieldKind::Trait, field, &mut errors, &mut phi);
            }
            Condition::Has { field, .. } => {
                if look(FieldKind::Trait, field, &mut errors, &mut phi).is_some_and(|c| c != DataClass::Coded) {
                    errors.push(FieldError::new("not_coded", "definition", format!("has works on coded multi-valued traits; {field} is not coded")));
                }
            }
            Condition::Did { event, filter, .. } => {
                look(FieldKind::Event, event, &mut errors, &mut phi);
                if let Some((prop, _, _)) = filter {
                    look(FieldKind::Property, prop, &mut errors, &mut phi);
                }
            }
            Condition::Consent { .. } | Condition::Authorized => {}
        }
    }
    // Values are compared with declared fields, but a value typed into a definition is text
    // like any other: one that reveals health information is refused, without repeating it.
    for (n, cond) in expr.conditions().into_iter().enumerate() {
        let literals: Vec<&Literal> = match cond {
            Condition::Compare { value, .. } => vec![value],
            Condition::In { values, .. } => values.iter().collect(),
            Condition::Did { filter: Some((_, _, value)), .. } => vec![value],
            _ => Vec::new(),
        };
        if literals.iter().any(|l| matches!(l, Literal::Str(s) if s.len() > MAX_LITERAL)) {
            errors.push(FieldError::new("value_too_long", "definition", format!("condition {} compares with a value longer than {MAX_LITERAL} bytes", n + 1)));
        } else if literals.iter().any(|l| matches!(l, Literal::Str(s) if crate::health_terms::find(s).is_some())) {
            errors.push(FieldError::new("health_term_in_definition", "definition", format!("condition {} compares with a value that reveals health information; use coded fields and the code vault", n + 1)));
        }
    }
    for cond in expr.conditions() {
        if let Condition::Has { field, code } = cond
            && let Some(prefix) = dictionary.get(FieldKind::Trait, field).and_then(|s| s.code_prefix.as_deref())
            && crate::firewall::check_code(prefix, code, "definition").is_err()
        {
            errors.push(FieldError::new("plaintext_in_coded_field", "definition", format!("{field} holds codes such as {prefix}457, never plaintext")));
        }
    }
    if errors.is_empty() { Ok(phi) } else { Err(errors) }
}

/// The class of a name used by condition number `n`; an undeclared name is the client's own
/// text, so its error names the condition, not the name.
fn look(dictionary: &Dictionary, kind: FieldKind, name: &str, n: usize, errors: &mut Vec<FieldError>, phi: &mut bool) -> Option<DataClass> {
    let what = match kind {
        FieldKind::Trait => "trait",
        FieldKind::Event => "event",
        FieldKind::Property => "event property",
    };
    match dictionary.get(kind, name) {
        None => errors.push(FieldError::new("undeclared_field", "definition", format!("condition {n} (counted from 1, left to right) uses a {what} that is not declared in the data dictionary"))),
        Some(spec) if spec.class == DataClass::SensitivePhi => {
            errors.push(FieldError::new("sensitive_field", "definition", format!("{what} {name} is sensitive PHI and cannot be used in segments")))
        }
        Some(spec) if spec.class == DataClass::Identifier => {
            errors.push(FieldError::new("identifier_in_segment", "definition", format!("{what} {name} is an identifier; segments use attributes, codes and events")))
        }
        Some(spec) => {
            *phi |= matches!(spec.class, DataClass::OperationalPhi | DataClass::Coded);
            return Some(spec.class);
        }
    }
    None
}
