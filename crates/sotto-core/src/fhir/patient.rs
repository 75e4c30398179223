//! A FHIR Patient to an identify call: the external id from the configured identifier system
//! (or the logical id), names, telecoms, birth date and address as sealed identifiers, the
//! language; gender, narrative, contacts and every other element dropped and named.

use serde_json::{Map, Value, json};

use super::{FhirSettings, Issue, Mapped, check_type, unused};
use crate::contact::{EmailAddress, Language, PhoneE164};

const USED: &[&str] = &["resourceType", "id", "meta", "identifier", "name", "telecom", "birthDate", "address", "communication"];

/// The external id of a Patient: the value of its identifier in the configured system, else
/// its logical id.
pub fn patient_external_id(resource: &Value, settings: &FhirSettings) -> Option<String> {
    match &settings.patient_system {
        Some(system) => resource["identifier"].as_array()?.iter().find(|i| i["system"].as_str() == Some(system.as_str()))?["value"].as_str().map(str::to_owned),
        None => resource["id"].as_str().map(str::to_owned),
    }
}

/// Maps a Patient.
pub fn map_patient(resource: &Value, settings: &FhirSettings) -> Result<Mapped, Vec<Issue>> {
    check_type(resource, "Patient")?;
    let external_id = patient_external_id(resource, settings).filter(|v| !v.is_empty()).ok_or_else(|| {
        let path = if settings.patient_system.is_some() { "Patient.identifier" } else { "Patient.id" };
        vec![Issue::error("required", path, "the Patient has no identifier of the configured system (the external id)")]
    })?;
    let mut dropped = unused(resource, "Patient", USED);
    if settings.patient_system.is_none() && resource.get("identifier").is_some() {
        // The logical id names the patient: the identifiers are not kept.
        dropped.push("Patient.identifier".into());
    }
    let mut traits = Map::new();
    let names = resource["name"].as_array().cloned().unwrap_or_default();
    let name = names.iter().find(|n| matches!(n["use"].as_str(), Some("official" | "usual"))).or(names.first());
    if let Some(name) = name {
        if let Some(given) = name["given"].as_array().and_then(|g| g.first()).and_then(Value::as_str) {
            traits.insert("first_name".into(), json!(given));
        }
        if let Some(family) = name["family"].as_str() {
            traits.insert("last_name".into(), json!(family));
        }
    }
    let telecoms = resource["telecom"].as_array().cloned().unwrap_or_default();
    let mut phones: Vec<(bool, String)> = Vec::new();
    for (i, t) in telecoms.iter().enumerate() {
        let value = t["value"].as_str().unwrap_or_default();
        match t["system"].as_str() {
            Some("email") => match EmailAddress::parse("email", value) {
                Ok(e) if !traits.contains_key("email") => {
                    traits.insert("email".into(), json!(e.lookup_key()));
                }
                Ok(_) => {}
                Err(_) => dropped.push(format!("Patient.telecom[{i}]")),
            },
            Some("phone" | "sms") if t["use"].as_str() != Some("old") => match PhoneE164::parse("phone", value, &settings.region) {
                Ok(p) => phones.push((t["use"].as_str() != Some("mobile"), p.expose().to_owned())),
                Err(_) => dropped.push(format!("Patient.telecom[{i}]")),
            },
            _ => dropped.push(format!("Patient.telecom[{i}]")),
        }
    }
    phones.sort_by_key(|(not_mobile, _)| *not_mobile);
    if let Some((_, phone)) = phones.into_iter().next() {
        traits.insert("phone".into(), json!(phone));
    }
    if let Some(birth) = resource["birthDate"].as_str().filter(|b| b.len() == 10 && b.parse::<jiff::civil::Date>().is_ok()) {
        traits.insert("birth_date".into(), json!(birth));
    } else if resource.get("birthDate").is_some() {
        dropped.push("Patient.birthDate".into());
    }
    if let Some(address) = resource["address"].as_array().and_then(|a| a.first()) {
        let mut parts: Vec<String> = address["line"].as_array().map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default();
        for key in ["city", "state", "postalCode", "country"] {
            parts.extend(address[key].as_str().map(str::to_owned));
        }
        if !parts.is_empty() {
            traits.insert("address".into(), json!(parts.join(", ")));
        }
    }
    let language = resource["communication"].as_array().and_then(|c| c.first()).and_then(|c| c["language"]["coding"].as_array()).and_then(|c| c.first()).and_then(|c| c["code"].as_str());
    match language.map(|l| (l, Language::parse("language", l))) {
        Some((l, Ok(_))) => {
            traits.insert("language".into(), json!(l));
        }
        Some((_, Err(_))) => dropped.push("Patient.communication".into()),
        None => {}
    }
    let id = resource["id"].as_str().unwrap_or(&external_id).to_owned();
    // The caller gives each call its message id.
    let call = json!({"type": "identify", "userId": external_id, "traits": traits});
    Ok(Mapped { external_id, id, calls: vec![call], dropped })
}
