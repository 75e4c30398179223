//! FHIR R4 as Sotto takes it: Patient and Appointment resources (alone, or in a batch or
//! transaction Bundle) mapped to ingestion calls, and a Consent that ends an authorization. Names, telecoms, birth date and address
//! become sealed identifiers; coded types map to vault codes through a table, never their
//! display text; every other element (narrative, reasons, comments, instructions, …) is
//! dropped and named by its path. Problems are OperationOutcome issues naming an expression.

pub mod appointment;
pub mod consent;
pub mod patient;

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub use appointment::map_appointment;
pub use consent::map_consent;
pub use patient::map_patient;

/// How a deployment reads FHIR resources.
#[derive(Debug, Clone, Default)]
pub struct FhirSettings {
    /// The Patient identifier system whose value is the external id; without one, the
    /// Patient's logical id (`Patient/{id}`) is.
    pub patient_system: Option<String>,
    /// Codings (`system|code`, or `code`) of appointmentType, serviceType and specialty to
    /// appointment-type vault codes (`appt_type:5`).
    pub codes: BTreeMap<String, String>,
    /// The region national phone numbers are read in.
    pub region: String,
}

/// One OperationOutcome issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// `error` or `information`.
    pub severity: &'static str,
    /// An issue-type code: `required`, `invalid`, `not-supported`, `structure`, `informational`.
    pub code: &'static str,
    /// The FHIRPath of the element, such as `Appointment.participant`.
    pub expression: String,
    /// What is wrong, never a value.
    pub diagnostics: String,
}

impl Issue {
    /// An error at `expression`.
    pub fn error(code: &'static str, expression: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Self { severity: "error", code, expression: expression.into(), diagnostics: diagnostics.into() }
    }

    /// An element dropped before anything was stored.
    pub fn dropped(expression: &str) -> Self {
        Self { severity: "information", code: "informational", expression: expression.to_owned(), diagnostics: format!("{expression} dropped: never stored") }
    }
}

/// An OperationOutcome of these issues.
pub fn outcome(issues: &[Issue]) -> Value {
    // An OperationOutcome has at least one issue: a clean answer says so.
    let accepted = [Issue { severity: "information", code: "informational", expression: String::new(), diagnostics: "accepted; nothing was dropped".into() }];
    let issues = if issues.is_empty() { &accepted[..] } else { issues };
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut issue = json!({"severity": i.severity, "code": i.code, "diagnostics": i.diagnostics});
            if !i.expression.is_empty() {
                issue["expression"] = json!([i.expression]);
            }
            issue
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

/// A resource mapped: the external id it concerns, its calls and the paths dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The patient's external id.
    pub external_id: String,
    /// The resource's id (the appointment id for an Appointment).
    pub id: String,
    /// Ingestion calls.
    pub calls: Vec<Value>,
    /// FHIRPaths dropped.
    pub dropped: Vec<String>,
}

/// The top-level elements of `resource` not in `used`, as `Kind.element` paths.
fn unused(resource: &Value, kind: &str, used: &[&str]) -> Vec<String> {
    resource.as_object().map(|o| o.keys().filter(|k| !used.contains(&k.as_str())).map(|k| format!("{kind}.{k}")).collect()).unwrap_or_default()
}

/// The vault code of the first coding of a CodeableConcept that the table maps.
fn mapped_code(concept: &Value, codes: &BTreeMap<String, String>) -> Option<String> {
    concept["coding"].as_array()?.iter().find_map(|c| {
        let code = c["code"].as_str()?;
        let system = c["system"].as_str().unwrap_or_default();
        codes.get(&format!("{system}|{code}")).or_else(|| codes.get(code)).cloned()
    })
}

/// The resource's type, checked.
fn check_type(resource: &Value, kind: &str) -> Result<(), Vec<Issue>> {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == kind => Ok(()),
        Some(_) => Err(vec![Issue::error("invalid", "resourceType", format!("this endpoint takes a {kind} resource"))]),
        None => Err(vec![Issue::error("structure", "resourceType", "resourceType is required")]),
    }
}
