//! FHIR R4 ingestion: a Patient, an Appointment (created or updated), or a batch or
//! transaction Bundle of them, mapped through the core (everything clinical dropped), every
//! call checked by the firewall before any is stored, then ingested. A transaction stores all
//! or nothing; a batch answers entry by entry. Errors are OperationOutcomes.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use sotto_core::fhir::{Issue, Mapped, map_appointment, map_consent, map_patient, outcome, patient::patient_external_id};
use sotto_core::firewall::Firewall;
use sotto_core::ingest::parse_call;
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::{App, AppError, RequestCtx};

/// A FHIR answer: status, body (a resource, a Bundle or an OperationOutcome) and Location.
#[derive(Debug, Clone, PartialEq)]
pub struct FhirAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
    /// Where the resource is, for a 201.
    pub location: Option<String>,
}

fn refused(status: u16, issues: &[Issue]) -> FhirAnswer {
    FhirAnswer { status, body: outcome(issues), location: None }
}

/// One entry of a Bundle, read.
struct Entry<'a> {
    resource: &'a Value,
    kind: &'a str,
    /// The id a PUT's URL names.
    put_id: Option<String>,
}

impl<S: Store> App<S> {
    /// Takes one resource of `kind` (`Patient` or `Appointment`), created (`id` `None`) or
    /// updated (`PUT …/{id}`).
    pub async fn fhir_resource(&self, ctx: &RequestCtx, kind: &str, id: Option<&str>, body: &Value) -> Result<FhirAnswer, AppError> {
        self.require(ctx, Scope::EventsWrite, "fhir").await?;
        if kind == "Consent" {
            return self.fhir_consent(ctx, body).await;
        }
        let generated = format!("sotto-{}", sotto_crypto::random_id(8));
        let mapped = match self.map_resource(kind, body, id, &generated, &BTreeMap::new()) {
            Ok(m) => m,
            Err(issues) => return Ok(refused(422, &issues)),
        };
        if let Err(issues) = self.fhir_firewall(std::slice::from_ref(&mapped), "").await? {
            return Ok(refused(422, &issues));
        }
        self.fhir_store(ctx, std::slice::from_ref(&mapped)).await?;
        let issues: Vec<Issue> = mapped.dropped.iter().map(|d| Issue::dropped(d)).collect();
        let status = if id.is_some() { 200 } else { 201 };
        Ok(FhirAnswer { status, body: outcome(&issues), location: Some(format!("{kind}/{}", mapped.id)) })
    }

    /// A Consent that ends an authorization on file: revoked at once (consent:write), so queued
    /// marketing that needs it is denied at dispatch.
    async fn fhir_consent(&self, ctx: &RequestCtx, body: &Value) -> Result<FhirAnswer, AppError> {
        self.require(ctx, Scope::ConsentWrite, "fhir:consent").await?;
        let revocation = match map_consent(body, &self.settings.fhir) {
            Ok(r) => r,
            Err(issues) => return Ok(refused(422, &issues)),
        };
        let revoke = json!({"source": "api"});
        match self.revoke_authorization(ctx, &revocation.external_id, &revocation.authorization_id, &revoke).await {
            Ok(_) => {
                let issues: Vec<Issue> = revocation.dropped.iter().map(|d| Issue::dropped(d)).collect();
                Ok(FhirAnswer { status: 200, body: outcome(&issues), location: None })
            }
            Err(AppError::NotFound(_)) => Ok(refused(404, &[Issue::error("not-found", "Consent.identifier", "no such authorization of this patient is on file")])),
            Err(e) => Err(e),
        }
    }

    fn map_resource(&self, kind: &str, resource: &Value, put_id: Option<&str>, generated: &str, patients: &BTreeMap<String, String>) -> Result<Mapped, Vec<Issue>> {
        match kind {
            "Patient" => map_patient(resource, &self.settings.fhir),
            "Appointment" => map_appointment(resource, put_id, generated, &self.settings.fhir, patients),
            other => Err(vec![Issue::error("not-supported", "resourceType", format!("{} resources are not taken: Patient and Appointment are", if other.is_empty() { "these" } else { "other" }))]),
        }
    }

    /// Every mapped call through the firewall; the issues when any is refused (paths prefixed).
    async fn fhir_firewall(&self, mapped: &[Mapped], prefix: &str) -> Result<Result<(), Vec<Issue>>, AppError> {
        let dictionary = self.dictionary.get(&self.store).await?;
        let firewall = Firewall { dictionary: &dictionary, default_region: &self.settings.default_region };
        let issues: Vec<Issue> = mapped
            .iter()
            .flat_map(|m| m.calls.iter())
            .filter_map(|call| parse_call(&firewall, &with_message_id(call), None).err())
            .flatten()
            .map(|e| Issue::error("invalid", format!("{prefix}{}", e.field), format!("{} ({})", e.message, e.code)))
            .collect();
        Ok(if issues.is_empty() { Ok(()) } else { Err(issues) })
    }

    async fn fhir_store(&self, ctx: &RequestCtx, mapped: &[Mapped]) -> Result<(), AppError> {
        let calls: Vec<Value> = mapped.iter().flat_map(|m| m.calls.iter()).map(with_message_id).collect();
        let results = self.ingest_calls(ctx, &calls, None).await?;
        if results.iter().any(|r| r.status == crate::ItemStatus::Rejected) {
            return Err(AppError::Internal("a mapped FHIR call passed the firewall and was then refused"));
        }
        Ok(())
    }

    /// Takes a batch or transaction Bundle of Patients and Appointments.
    pub async fn fhir_bundle(&self, ctx: &RequestCtx, body: &Value) -> Result<FhirAnswer, AppError> {
        self.require(ctx, Scope::EventsWrite, "fhir").await?;
        if body["resourceType"] != "Bundle" {
            return Ok(refused(422, &[Issue::error("invalid", "resourceType", "POST /fhir takes a Bundle")]));
        }
        let kind = body["type"].as_str().unwrap_or_default();
        if kind != "batch" && kind != "transaction" {
            return Ok(refused(422, &[Issue::error("not-supported", "Bundle.type", "Bundle.type must be batch or transaction")]));
        }
        let entries = body["entry"].as_array().cloned().unwrap_or_default();
        let read: Vec<Result<Entry<'_>, Issue>> = entries.iter().enumerate().map(|(i, e)| read_entry(e, i)).collect();
        // Patients first, so that an Appointment may name a Patient of the same Bundle.
        let mut patients = BTreeMap::new();
        for (entry, raw) in read.iter().zip(&entries) {
            if let Ok(e) = entry
                && e.kind == "Patient"
                && let Some(external) = patient_external_id(e.resource, &self.settings.fhir)
            {
                patients.extend(raw["fullUrl"].as_str().map(|u| (u.to_owned(), external.clone())));
                patients.extend(e.resource["id"].as_str().map(|id| (format!("Patient/{id}"), external.clone())));
            }
        }
        let mut outcomes: Vec<Result<Mapped, Vec<Issue>>> = Vec::with_capacity(read.len());
        for (i, entry) in read.into_iter().enumerate() {
            let prefix = format!("Bundle.entry[{i}].");
            let mapped = match entry {
                Err(issue) => Err(vec![issue]),
                Ok(e) => self.map_resource(e.kind, e.resource, e.put_id.as_deref(), &format!("sotto-{}", sotto_crypto::random_id(8)), &patients).map_err(|issues| prefixed(issues, &prefix)),
            };
            let checked = match mapped {
                Ok(m) => match self.fhir_firewall(std::slice::from_ref(&m), &prefix).await? {
                    Ok(()) => Ok(m),
                    Err(issues) => Err(issues),
                },
                Err(issues) => Err(issues),
            };
            outcomes.push(checked);
        }
        if kind == "transaction" {
            let issues: Vec<Issue> = outcomes.iter().filter_map(|o| o.as_ref().err()).flatten().cloned().collect();
            if !issues.is_empty() {
                return Ok(refused(422, &issues));
            }
            let mapped: Vec<Mapped> = outcomes.into_iter().filter_map(Result::ok).collect();
            self.fhir_store(ctx, &mapped).await?;
            let entries: Vec<Value> = mapped.iter().map(|m| entry_response("201 Created", m)).collect();
            return Ok(FhirAnswer { status: 200, body: json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}), location: None });
        }
        let mut responses = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            responses.push(match o {
                Ok(m) => {
                    self.fhir_store(ctx, std::slice::from_ref(&m)).await?;
                    entry_response("201 Created", &m)
                }
                Err(issues) => json!({"response": {"status": "422 Unprocessable Entity", "outcome": outcome(&issues)}}),
            });
        }
        Ok(FhirAnswer { status: 200, body: json!({"resourceType": "Bundle", "type": "batch-response", "entry": responses}), location: None })
    }
}

fn prefixed(issues: Vec<Issue>, prefix: &str) -> Vec<Issue> {
    let local = |e: &str| e.strip_prefix("Appointment.").or_else(|| e.strip_prefix("Patient.")).unwrap_or(e).to_owned();
    issues.into_iter().map(|i| Issue { expression: format!("{prefix}resource.{}", local(&i.expression)), ..i }).collect()
}

fn entry_response(status: &str, m: &Mapped) -> Value {
    let kind = if m.calls.first().is_some_and(|c| c["type"] == "identify") { "Patient" } else { "Appointment" };
    let issues: Vec<Issue> = m.dropped.iter().map(|d| Issue::dropped(d)).collect();
    json!({"response": {"status": status, "location": format!("{kind}/{}", m.id), "outcome": outcome(&issues)}})
}

/// A call with a fresh message id (a resource sent again is new information, not a retry).
fn with_message_id(call: &Value) -> Value {
    let mut call = call.clone();
    if call.get("messageId").is_none() {
        call["messageId"] = Value::String(format!("fhir-{}", sotto_crypto::random_id(10)));
    }
    call
}

/// A Bundle entry's resource and what its request does.
fn read_entry(entry: &Value, index: usize) -> Result<Entry<'_>, Issue> {
    let at = |field: &str| format!("Bundle.entry[{index}].{field}");
    let resource = entry.get("resource").filter(|r| r.is_object()).ok_or_else(|| Issue::error("not-supported", at("request"), "only entries that create or update a Patient or an Appointment are taken"))?;
    let kind = resource["resourceType"].as_str().unwrap_or_default();
    if kind != "Patient" && kind != "Appointment" {
        return Err(Issue::error("not-supported", at("resource"), "only Patient and Appointment resources are taken; clinical resources never are"));
    }
    let method = entry["request"]["method"].as_str().unwrap_or("POST");
    let url = entry["request"]["url"].as_str().unwrap_or(kind);
    let put_id = match method {
        "POST" => None,
        "PUT" => url.strip_prefix(&format!("{kind}/")).filter(|id| !id.is_empty() && !id.contains(['/', '?'])).map(str::to_owned).ok_or_else(|| Issue::error("invalid", at("request.url"), "a PUT names the resource as Type/id"))?.into(),
        _ => return Err(Issue::error("not-supported", at("request.method"), "only POST and PUT are taken")),
    };
    Ok(Entry { resource, kind, put_id })
}
