//! A message's appointment links: confirm records `appointment_confirmed` for that appointment
//! (the journey waiting on it moves on), reschedule records a request for the clinic's
//! scheduler. Each link is a sealed token naming the patient, the appointment and the action,
//! good for 60 days; the page asks before it records, so a mail scanner's visit changes nothing.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;

use sotto_store::Store;

use crate::portal::{PortalCtx, page_language};
use crate::{App, AppError, Principal, RequestCtx};

const PURPOSE: &str = "sotto appointment link v1";
const LIFETIME: SignedDuration = SignedDuration::from_hours(24 * 60);

/// What an appointment link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentAction {
    /// The patient confirms they will come.
    Confirm,
    /// The patient asks for another time.
    Reschedule,
}

impl AppointmentAction {
    /// The event it records.
    pub fn event(self) -> &'static str {
        match self {
            AppointmentAction::Confirm => "appointment_confirmed",
            AppointmentAction::Reschedule => "appointment_reschedule_requested",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claim {
    e: String,
    a: String,
    k: AppointmentAction,
    /// Good until (seconds since the epoch).
    x: i64,
}

impl<S: Store> App<S> {
    /// The confirm and reschedule links of one appointment of one patient.
    pub(crate) fn appointment_links(&self, external_id: &str, appointment_id: &str, now: Timestamp) -> Result<(String, String), AppError> {
        let base = self.settings.public_url.trim_end_matches('/').to_owned();
        let link = |k: AppointmentAction| -> Result<String, AppError> {
            let claim = Claim { e: external_id.to_owned(), a: appointment_id.to_owned(), k, x: (now + LIFETIME).as_second() };
            let token = self.keyring.seal_token(PURPOSE, &serde_json::to_vec(&claim).map_err(|_| AppError::Internal("appointment claim did not serialize"))?);
            Ok(format!("{base}/portal/a/{token}"))
        };
        Ok((link(AppointmentAction::Confirm)?, link(AppointmentAction::Reschedule)?))
    }

    fn appointment_claim(&self, token: &str, now: Timestamp) -> Result<Claim, AppError> {
        let plain = self.keyring.open_token(PURPOSE, token).map_err(|_| AppError::NotFound("link"))?;
        let claim: Claim = serde_json::from_slice(&plain).map_err(|_| AppError::NotFound("link"))?;
        if claim.x <= now.as_second() {
            return Err(AppError::Conflict { code: "link_expired", message: "this link has expired".into() });
        }
        Ok(claim)
    }

    /// What an appointment link would do, and the patient's page language; nothing changes.
    pub async fn portal_appointment(&self, token: &str, now: Timestamp) -> Result<(AppointmentAction, &'static str), AppError> {
        let claim = self.appointment_claim(token, now)?;
        let language = page_language(self.store.patient(&claim.e).await?.and_then(|r| r.language).as_deref());
        Ok((claim.k, language))
    }

    /// Records what an appointment link does; repeating it records nothing new.
    pub async fn portal_appointment_act(&self, token: &str, pctx: &PortalCtx) -> Result<AppointmentAction, AppError> {
        let claim = self.appointment_claim(token, pctx.now)?;
        let patient_ref = self.keyring.patient_ref(&claim.e);
        let message_id = format!("portal-{}", self.keyring.message_ref(&format!("{}/{}/{}", claim.k.event(), claim.e, claim.a)));
        let call = json!({"type": "track", "userId": claim.e, "event": claim.k.event(), "properties": {"appointment_id": claim.a}, "messageId": message_id});
        let principal = Principal { actor: format!("patient:{patient_ref}"), scopes: vec![sotto_core::scope::Scope::EventsWrite] };
        let ctx = RequestCtx { principal, request_id: pctx.request_id.clone(), source_ip: pctx.source_ip.clone(), now: pctx.now };
        self.ingest_calls(&ctx, &[call], None).await?;
        Ok(claim.k)
    }
}
