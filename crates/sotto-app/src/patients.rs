//! Patient views: masked by default, unmasked only with `patients:read_phi`, and every read
//! audited. Exact lookups by email or phone go through the blind index, never a URL.

use serde::Serialize;
use serde_json::{Map, Value};

use sotto_core::audit::{Outcome, action};
use sotto_core::contact::{EmailAddress, PhoneE164};
use sotto_core::ids::ExternalId;
use sotto_core::scope::Scope;
use sotto_core::FieldError;
use sotto_store::{IndexKind, PatientRecord, Store};

use crate::merge::{Identifiers, open_identifiers};
use crate::{App, AppError, RequestCtx, time_text};

/// Which view of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewKind {
    /// Identifiers masked: for everyday work.
    Masked,
    /// Identifiers in full: PHI, audited.
    Full,
}

/// A profile as returned by the API.
#[derive(Debug, Clone, Serialize)]
pub struct PatientView {
    /// The source system's id.
    pub external_id: String,
    /// Masked or full.
    pub view: ViewKind,
    /// Email address (masked in the masked view).
    pub email: Option<String>,
    /// Phone number (masked in the masked view).
    pub phone: Option<String>,
    /// Other identifiers: names and push tokens; masked values show an initial or a count.
    pub identifiers: Map<String, Value>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Language tag.
    pub language: Option<String>,
    /// Preferred channel.
    pub preferred_channel: Option<String>,
    /// Declared non-identifier traits.
    pub traits: Value,
    /// When the profile was created (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

fn mask_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.chars().next().map(|c| format!("{c}.")).unwrap_or_default()),
        Value::Array(items) => Value::String(format!("{} item(s)", items.len())),
        _ => Value::String("***".into()),
    }
}

fn view(record: &PatientRecord, ids: Identifiers, kind: ViewKind) -> PatientView {
    let full = kind == ViewKind::Full;
    let email = ids.email.map(|e| if full { e } else { EmailAddress::from_stored(e).masked() });
    let phone = ids.phone.map(|p| if full { p } else { PhoneE164::from_stored(p).masked() });
    let identifiers = ids.other.into_iter().map(|(k, v)| (k, if full { v } else { mask_value(&v) })).collect();
    PatientView {
        external_id: record.external_id.clone(),
        view: kind,
        email,
        phone,
        identifiers,
        timezone: record.timezone.clone(),
        language: record.language.clone(),
        preferred_channel: record.preferred_channel.clone(),
        traits: serde_json::from_str(&record.traits).unwrap_or(Value::Object(Map::new())),
        created_at: time_text(record.created_at),
        updated_at: time_text(record.updated_at),
    }
}

impl<S: Store> App<S> {
    /// One profile, masked or full. The full view needs `patients:read_phi`.
    pub async fn patient(&self, ctx: &RequestCtx, external_id: &str, kind: ViewKind) -> Result<PatientView, AppError> {
        let id = ExternalId::parse("external_id", external_id).map_err(AppError::invalid)?;
        let object = format!("patient:{}", self.keyring.patient_ref(id.as_str()));
        let (scope, act) = match kind {
            ViewKind::Masked => (Scope::PatientsRead, action::PATIENT_READ),
            ViewKind::Full => (Scope::PatientsReadPhi, action::PATIENT_READ_PHI),
        };
        self.require(ctx, scope, &object).await?;
        let record = self.store.patient(id.as_str()).await?.ok_or(AppError::NotFound("patient"))?;
        let ids = open_identifiers(&self.keyring, &record).map_err(|_| AppError::Crypto)?.map(|(_, ids)| ids).unwrap_or_default();
        self.store.append_audit(vec![ctx.audit().event(act, object, Outcome::Success.as_str())]).await?;
        Ok(view(&record, ids, kind))
    }

    /// External ids of the profiles with exactly this email or phone (`{"email"}` or `{"phone"}`).
    /// Whether someone is a patient is itself PHI: this needs `patients:read_phi` and is audited.
    pub async fn lookup(&self, ctx: &RequestCtx, body: &Value) -> Result<Vec<String>, AppError> {
        self.require(ctx, Scope::PatientsReadPhi, "patient:lookup").await?;
        let obj = body.as_object().ok_or_else(|| AppError::invalid(FieldError::new("wrong_type", "", "the body must be a JSON object")))?;
        let (kind, index) = match (obj.get("email").and_then(Value::as_str), obj.get("phone").and_then(Value::as_str), obj.len()) {
            (Some(e), None, 1) => {
                let e = EmailAddress::parse("email", e).map_err(AppError::invalid)?;
                (IndexKind::Email, self.keyring.blind_index("email", &e.lookup_key()))
            }
            (None, Some(p), 1) => {
                let p = PhoneE164::parse("phone", p, &self.settings.default_region).map_err(AppError::invalid)?;
                (IndexKind::Phone, self.keyring.blind_index("phone", p.expose()))
            }
            _ => return Err(AppError::invalid(FieldError::new("invalid_lookup", "", "send exactly one of email or phone, as a string"))),
        };
        let ids = self.store.patients_by_index(kind, &index).await?;
        let event = ctx.audit().event(action::PATIENT_READ_PHI, format!("patient:lookup/{} match(es)", ids.len()), Outcome::Success.as_str());
        self.store.append_audit(vec![event]).await?;
        Ok(ids)
    }
}
