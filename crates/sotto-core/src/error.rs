//! Field-level problems found while parsing input: a stable code, a field path and a message.

use serde::Serialize;

/// One problem with one field of an input, safe to return to a client.
///
/// The message is written from the field name and the rule, never from the refused value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// A stable, machine-readable code such as `sensitive_field`.
    pub code: &'static str,
    /// The path of the field in the request, such as `properties.diagnosis`.
    pub field: String,
    /// A lowercase explanation that names the rule, never the value.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, field: field.into(), message: message.into() }
    }

    /// Prefixes the field path with a parent, as in `batch[3].` + `properties.x`.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// Joins a parent path and a key.
pub fn path(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// Refuses keys of `object` outside `allowed`, without naming them: a key the route does
/// not know is the client's own text, which may be anything. `what` names the object
/// ("a consent", "the statements") and `field` its path.
pub fn refuse_unknown(object: &serde_json::Map<String, serde_json::Value>, allowed: &[&str], field: &str, what: &str) -> Option<FieldError> {
    let unknown = object.keys().filter(|k| !allowed.contains(&k.as_str())).count();
    (unknown > 0).then(|| {
        FieldError::new(
            "unknown_field",
            field,
            format!("{what} has {unknown} field(s) it does not take, not repeated here; allowed: {}", allowed.join(", ")),
        )
    })
}
