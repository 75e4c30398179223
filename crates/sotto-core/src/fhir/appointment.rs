//! A FHIR Appointment to an appointment event: its status to the event (booked, pending and
//! proposed as booked, or rescheduled when it is an update; cancelled and entered-in-error as
//! cancelled; fulfilled; noshow; arrived and checked-in), its Patient participant to the
//! external id, its start, and its type codes to a vault code through the table. Reasons,
//! description, comments, instructions and every other element are dropped and named.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{FhirSettings, Issue, Mapped, check_type, mapped_code, unused};

const USED: &[&str] = &["resourceType", "id", "meta", "status", "start", "participant", "appointmentType", "serviceType", "specialty"];

/// The event an Appointment's status means (`update`: it came as a PUT).
fn event_of(status: &str, update: bool) -> Option<&'static str> {
    Some(match status {
        "booked" | "pending" | "proposed" if update => "appointment_rescheduled",
        "booked" | "pending" | "proposed" => "appointment_booked",
        "cancelled" | "entered-in-error" => "appointment_cancelled",
        "fulfilled" => "appointment_completed",
        "noshow" => "appointment_no_show",
        "arrived" | "checked-in" => "appointment_arrived",
        _ => return None,
    })
}

/// Maps an Appointment. `id` is the id from the URL of a PUT (else the resource's own, else
/// `generated`); `patients` resolves references to Patients of the same Bundle (`fullUrl` or
/// `Patient/{id}`) to their external ids.
pub fn map_appointment(resource: &Value, id: Option<&str>, generated: &str, settings: &FhirSettings, patients: &BTreeMap<String, String>) -> Result<Mapped, Vec<Issue>> {
    check_type(resource, "Appointment")?;
    let mut issues = Vec::new();
    let status = resource["status"].as_str().unwrap_or_default();
    let event = event_of(status, id.is_some());
    if event.is_none() {
        issues.push(Issue::error(if status.is_empty() { "required" } else { "not-supported" }, "Appointment.status", "status must be proposed, pending, booked, arrived, checked-in, fulfilled, cancelled, noshow or entered-in-error"));
    }
    let external_id = patient_of(resource, settings, patients);
    if external_id.is_none() {
        issues.push(Issue::error("required", "Appointment.participant", "no participant is a Patient Sotto can name (a reference to Patient/{id}, to a Patient of the Bundle, or an identifier of the configured system)"));
    }
    if let Some(body) = resource.get("id").and_then(Value::as_str).filter(|_| id.is_some())
        && Some(body) != id
    {
        issues.push(Issue::error("invalid", "Appointment.id", "the resource's id must be the id in the URL"));
    }
    let mut props = Map::new();
    if let Some(start) = resource.get("start") {
        match start.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
            Some(t) => {
                props.insert("appointment_start".into(), json!(t.to_string()));
            }
            None => issues.push(Issue::error("invalid", "Appointment.start", "start must be an instant with its offset")),
        }
    }
    let (Some(event), Some(external_id), true) = (event, external_id, issues.is_empty()) else { return Err(issues) };
    let appointment_id = id.or(resource["id"].as_str()).unwrap_or(generated).to_owned();
    props.insert("appointment_id".into(), json!(appointment_id));
    let mut dropped = unused(resource, "Appointment", USED);
    let concepts: Vec<(&str, &Value)> = [("appointmentType", &resource["appointmentType"])]
        .into_iter()
        .chain(resource["serviceType"].as_array().into_iter().flatten().map(|c| ("serviceType", c)))
        .chain(resource["specialty"].as_array().into_iter().flatten().map(|c| ("specialty", c)))
        .collect();
    for (path, concept) in concepts {
        if concept.is_null() {
            continue;
        }
        match mapped_code(concept, &settings.codes) {
            Some(code) if !props.contains_key("appointment_type") => {
                props.insert("appointment_type".into(), json!(code));
            }
            Some(_) => {}
            None => {
                let path = format!("Appointment.{path}");
                if !dropped.contains(&path) {
                    dropped.push(path);
                }
            }
        }
    }
    let call = json!({"type": "track", "userId": external_id, "event": event, "properties": props});
    Ok(Mapped { external_id, id: appointment_id, calls: vec![call], dropped })
}

/// The external id of the Appointment's Patient participant.
fn patient_of(resource: &Value, settings: &FhirSettings, patients: &BTreeMap<String, String>) -> Option<String> {
    resource["participant"].as_array()?.iter().find_map(|p| {
        let actor = &p["actor"];
        let reference = actor["reference"].as_str().unwrap_or_default();
        if let Some(found) = patients.get(reference) {
            return Some(found.clone());
        }
        match &settings.patient_system {
            Some(system) if actor["identifier"]["system"].as_str() == Some(system.as_str()) => actor["identifier"]["value"].as_str().map(str::to_owned),
            Some(_) => None,
            None => reference.strip_prefix("Patient/").filter(|id| !id.is_empty() && !id.contains('/')).map(str::to_owned),
        }
    })
}
