//! The `[fhir]` table: the Patient identifier system whose value is the external id, and the
//! codings of appointment types mapped to vault codes, checked at start.

use std::collections::BTreeMap;

use anyhow::bail;
use serde::Deserialize;

use sotto_core::fhir::FhirSettings;

/// `[fhir]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirFile {
    patient_identifier_system: Option<String>,
    codes: Option<BTreeMap<String, String>>,
}

/// The FHIR settings from `[fhir]`, defaults where it is silent.
pub fn resolve(file: Option<FhirFile>, region: &str) -> anyhow::Result<FhirSettings> {
    let file = file.unwrap_or_default();
    let codes = file.codes.unwrap_or_default();
    for (coding, vault) in &codes {
        let body = vault.strip_prefix("appt_type:").unwrap_or_default();
        if coding.is_empty() || body.is_empty() || !body.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') {
            bail!("[fhir.codes] maps a coding (\"system|code\" or \"code\") to an appointment-type vault code such as \"appt_type:5\"; one entry is not of that form");
        }
    }
    if file.patient_identifier_system.as_deref().is_some_and(|s| s.trim().is_empty()) {
        bail!("[fhir] patient_identifier_system must be a system URI such as \"urn:oid:1.2.36.146.595.217.0.1\", or left out to use the Patient's logical id");
    }
    Ok(FhirSettings { patient_system: file.patient_identifier_system, codes, region: region.to_owned() })
}
