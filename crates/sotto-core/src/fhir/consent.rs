//! A FHIR Consent, where it maps to what Sotto keeps: the end of a HIPAA marketing
//! authorization on file (status `inactive`, `rejected` or `entered-in-error`, naming the
//! authorization by an identifier of the system `urn:sotto:authorization`). A new
//! authorization needs every element of the signed form, which a Consent does not carry: it is
//! refused with a reason. Everything else in the resource is dropped and named.

use serde_json::Value;

use super::{FhirSettings, Issue, check_type, unused};

/// The identifier system that names a Sotto authorization.
pub const AUTHORIZATION_SYSTEM: &str = "urn:sotto:authorization";

const USED: &[&str] = &["resourceType", "id", "meta", "status", "patient", "identifier"];

/// A Consent read: whose authorization ends, and what was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The patient's external id.
    pub external_id: String,
    /// The authorization (`auth_…`).
    pub authorization_id: String,
    /// FHIRPaths dropped.
    pub dropped: Vec<String>,
}

/// Maps a Consent to the revocation of an authorization.
pub fn map_consent(resource: &Value, settings: &FhirSettings) -> Result<Revocation, Vec<Issue>> {
    check_type(resource, "Consent")?;
    let mut issues = Vec::new();
    match resource["status"].as_str() {
        Some("inactive" | "rejected" | "entered-in-error") => {}
        Some(_) => issues.push(Issue::error(
            "not-supported",
            "Consent.status",
            "a Consent maps to Sotto only as the end of an authorization on file (inactive, rejected or entered-in-error); record a new authorization with every element of its signed form through POST /v1/patients/{id}/authorizations",
        )),
        None => issues.push(Issue::error("required", "Consent.status", "status is required")),
    }
    let reference = resource["patient"]["reference"].as_str().unwrap_or_default();
    let external_id = match &settings.patient_system {
        Some(system) if resource["patient"]["identifier"]["system"].as_str() == Some(system.as_str()) => resource["patient"]["identifier"]["value"].as_str().map(str::to_owned),
        Some(_) => None,
        None => reference.strip_prefix("Patient/").filter(|id| !id.is_empty() && !id.contains('/')).map(str::to_owned),
    };
    if external_id.is_none() {
        issues.push(Issue::error("required", "Consent.patient", "the Consent must name its Patient (Patient/{id}, or an identifier of the configured system)"));
    }
    let authorization = resource["identifier"].as_array().into_iter().flatten().find(|i| i["system"].as_str() == Some(AUTHORIZATION_SYSTEM)).and_then(|i| i["value"].as_str()).map(str::to_owned);
    if authorization.is_none() {
        issues.push(Issue::error("required", "Consent.identifier", "the Consent must name the authorization it ends, as an identifier of the system urn:sotto:authorization"));
    }
    match (external_id, authorization, issues.is_empty()) {
        (Some(external_id), Some(authorization_id), true) => Ok(Revocation { external_id, authorization_id, dropped: unused(resource, "Consent", USED) }),
        _ => Err(issues),
    }
}
