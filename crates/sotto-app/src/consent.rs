//! Consent and authorization use cases: append to the ledger, show current state with its
//! history, record complete HIPAA authorizations (sealed), and revoke them.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use sotto_core::audit::{Outcome, action};
use sotto_core::authorization::{AuthorizationSummary, Expiry, parse_authorization, parse_form_text};
use sotto_core::consent::{ConsentRecord, ConsentState, parse_consent};
use sotto_core::ids::ExternalId;
use sotto_core::scope::Scope;
use sotto_crypto::envelope::KEY_VERSION;
use sotto_store::{AuthorizationRow, ConsentRow, RevokeOutcome, Store};

use crate::merge::{key_owner, open_identifiers};
use crate::{App, AppError, RequestCtx, micros};

/// Six years, the HIPAA documentation retention period (plus leap days).
const RETENTION: SignedDuration = SignedDuration::from_hours(24 * (6 * 365 + 2));

fn text<T: serde::Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

pub(crate) fn to_row(external_id: &str, r: &ConsentRecord, ctx: &RequestCtx) -> ConsentRow {
    ConsentRow {
        external_id: external_id.to_owned(),
        channel: r.channel.as_str().to_owned(),
        topic: r.topic.as_ref().map(|t| t.as_str().to_owned()),
        status: text(r.status),
        kind: text(r.kind),
        source: text(r.source),
        captured_at: micros(r.captured_at),
        evidence: r.evidence.to_string(),
        recorded_at: micros(ctx.now),
        actor: ctx.principal.actor.clone(),
    }
}

/// Reads a ledger row back into a core record; rows the code did not write are corrupt.
pub(crate) fn from_row(row: &ConsentRow) -> Result<ConsentRecord, AppError> {
    let body = json!({
        "channel": row.channel, "topic": row.topic, "status": row.status, "kind": row.kind, "source": row.source,
        "captured_at": Timestamp::from_microsecond(row.captured_at).map(|t| t.to_string()).unwrap_or_default(),
        "evidence": {},
    });
    // Evidence is kept as it was recorded: the rules for new evidence do not rewrite history.
    let mut record = parse_consent(&body).map_err(|_| AppError::Store(sotto_store::StoreError::Corrupt("consent row".into())))?;
    record.evidence = serde_json::from_str::<Value>(&row.evidence).unwrap_or(Value::Null);
    Ok(record)
}

pub(crate) fn summary(row: &AuthorizationRow) -> AuthorizationSummary {
    let expiry = match (&row.expires_at, &row.expires_on, &row.expiration_event) {
        (Some(t), _, _) => Timestamp::from_microsecond(*t).map(Expiry::At).unwrap_or(Expiry::At(Timestamp::MIN)),
        (None, Some(d), _) => d.parse().map(Expiry::On).unwrap_or(Expiry::At(Timestamp::MIN)),
        (None, None, Some(e)) => Expiry::Event(e.clone()),
        (None, None, None) => Expiry::At(Timestamp::MIN),
    };
    AuthorizationSummary {
        id: row.id.clone(),
        signed_at: Timestamp::from_microsecond(row.signed_at).unwrap_or(Timestamp::MAX),
        expiry,
        remuneration_disclosed: row.remuneration_involved,
        revoked_at: row.revoked_at.and_then(|t| Timestamp::from_microsecond(t).ok()),
    }
}

impl<S: Store> App<S> {
    pub(crate) async fn existing_patient(&self, external_id: &str) -> Result<ExternalId, AppError> {
        let id = ExternalId::parse("external_id", external_id).map_err(AppError::invalid)?;
        self.store.patient(id.as_str()).await?.ok_or(AppError::NotFound("patient"))?;
        Ok(id)
    }

    /// Appends one consent record to a patient's ledger.
    pub async fn record_consent(&self, ctx: &RequestCtx, external_id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::ConsentWrite, "consent").await?;
        let id = self.existing_patient(external_id).await?;
        let record = parse_consent(body).map_err(AppError::Invalid)?;
        self.store.append_consents(&[to_row(id.as_str(), &record, ctx)], &ctx.audit(), vec![]).await?;
        self.refresh_permissions(&[id.as_str().to_owned()]).await?;
        Ok(serde_json::to_value(&record).unwrap_or_default())
    }

    /// Appends many consent records (for seeding and imports) in one transaction per chunk;
    /// every body is parsed first, and nothing is written when one fails.
    pub async fn record_consents(&self, ctx: &RequestCtx, items: &[(String, Value)]) -> Result<usize, AppError> {
        self.require(ctx, Scope::ConsentWrite, "consent").await?;
        let mut rows = Vec::with_capacity(items.len());
        for (external_id, body) in items {
            let id = ExternalId::parse("external_id", external_id).map_err(AppError::invalid)?;
            let record = parse_consent(body).map_err(AppError::Invalid)?;
            rows.push(to_row(id.as_str(), &record, ctx));
        }
        for chunk in rows.chunks(500) {
            self.store.append_consents(chunk, &ctx.audit(), vec![]).await?;
        }
        let mut ids: Vec<String> = rows.iter().map(|r| r.external_id.clone()).collect();
        ids.dedup();
        self.refresh_permissions(&ids).await?;
        Ok(rows.len())
    }

    /// A patient's current consent per channel and topic, and the whole ledger.
    pub async fn consents(&self, ctx: &RequestCtx, external_id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::ConsentRead, "consent").await?;
        let id = self.existing_patient(external_id).await?;
        let history = self.store.consents_of(id.as_str()).await?.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let state = ConsentState::derive(&history);
        let current = serde_json::to_value(state.iter().collect::<Vec<&ConsentRecord>>()).unwrap_or_default();
        let event = ctx.audit().event(action::CONSENT_READ, format!("patient:{}/consents", self.keyring.patient_ref(id.as_str())), Outcome::Success.as_str());
        self.store.append_audit(vec![event]).await?;
        Ok(json!({"external_id": id.as_str(), "current": current, "history": history}))
    }

    /// Stores a new version of the authorization form text (compliance only); versions never change.
    pub async fn create_authorization_form(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::Compliance, "authorization_form").await?;
        crate::only_fields(body, &["version", "language", "text", "statements"], "", "an authorization form")?;
        crate::only_fields(body.get("statements").unwrap_or(&Value::Null), &["right_to_revoke", "conditioning", "redisclosure"], "statements", "statements")?;
        let form = parse_form_text(body).map_err(AppError::IncompleteAuthorization)?;
        sotto_core::contact::Language::parse("language", &form.language).map_err(AppError::invalid)?;
        let text = serde_json::to_string(&form).map_err(|_| AppError::Internal("form did not serialize"))?;
        if !self.store.create_authorization_form(&form.version, &form.language, &text, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "form_version_exists", message: "this form version exists; form texts never change, so publish a new version".into() });
        }
        Ok(serde_json::to_value(&form).unwrap_or_default())
    }

    /// A stored form version.
    pub async fn authorization_form(&self, ctx: &RequestCtx, version: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::ConsentRead, "authorization_form").await?;
        let text = self.store.authorization_form(version).await?.ok_or(AppError::NotFound("authorization form"))?;
        serde_json::from_str(&text).map_err(|_| AppError::Store(sotto_store::StoreError::Corrupt("authorization form".into())))
    }

    /// The patient's data key, made now when the profile has none yet.
    pub(crate) async fn data_key_of(&self, record: &sotto_store::PatientRecord, now: jiff::Timestamp) -> Result<sotto_crypto::DataKey, AppError> {
        if let Some((key, _)) = open_identifiers(&self.keyring, record).map_err(|_| AppError::Crypto)? {
            return Ok(key);
        }
        let owner = key_owner(&record.external_id);
        let (_, wrapped) = self.keyring.new_data_key(&owner);
        let stored = self.store.ensure_patient_key(&record.external_id, &wrapped, KEY_VERSION, micros(now)).await?;
        self.keyring.unwrap_data_key(&owner, &stored).map_err(|_| AppError::Crypto)
    }

    /// Records a complete marketing authorization, sealed with the patient's data key.
    pub async fn create_authorization(&self, ctx: &RequestCtx, external_id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::ConsentWrite, "authorization").await?;
        let id = self.existing_patient(external_id).await?;
        const TOP: &[&str] = &[
            "description_of_information", "disclosed_by", "recipients", "purpose", "expires_at", "expiration_event", "signed_at", "signature",
            "signed_by_representative", "representative_authority", "statements", "remuneration", "form_version",
        ];
        crate::only_fields(body, TOP, "", "an authorization")?;
        crate::only_fields(body.get("statements").unwrap_or(&Value::Null), &["right_to_revoke", "conditioning", "redisclosure"], "statements", "statements")?;
        crate::only_fields(body.get("remuneration").unwrap_or(&Value::Null), &["involved", "disclosure"], "remuneration", "remuneration")?;
        let form = parse_authorization(body).map_err(AppError::IncompleteAuthorization)?;
        if self.store.authorization_form(&form.form_version).await?.is_none() {
            return Err(AppError::invalid(sotto_core::FieldError::new(
                "unknown_form_version",
                "form_version",
                "no authorization form of this version is on file; publish it with POST /v1/authorization-forms first",
            )));
        }
        let record = self.store.patient(id.as_str()).await?.ok_or(AppError::NotFound("patient"))?;
        let owner = key_owner(id.as_str());
        let key = self.data_key_of(&record, ctx.now).await?;
        let auth_id = format!("auth_{}", sotto_crypto::random_id(10));
        let document = serde_json::to_vec(&form).map_err(|_| AppError::Internal("authorization did not serialize"))?;
        let sealed = key.seal(format!("{owner}/authorization:{auth_id}").as_bytes(), &document);
        let last_effective = match &form.expiry {
            Expiry::At(t) => (*t).max(ctx.now),
            Expiry::On(d) => d.to_zoned(jiff::tz::TimeZone::UTC).map(|z| z.timestamp()).unwrap_or(ctx.now).max(ctx.now),
            Expiry::Event(_) => ctx.now,
        };
        let row = AuthorizationRow {
            id: auth_id.clone(),
            external_id: id.as_str().to_owned(),
            form_version: form.form_version.clone(),
            signed_at: micros(form.signed_at),
            expires_at: match form.expiry { Expiry::At(t) => Some(micros(t)), _ => None },
            expires_on: match form.expiry { Expiry::On(d) => Some(d.to_string()), _ => None },
            expiration_event: match &form.expiry { Expiry::Event(e) => Some(e.clone()), _ => None },
            remuneration_involved: form.remuneration_involved,
            document: sealed,
            created_at: micros(ctx.now),
            retain_until: micros(last_effective + RETENTION),
            revoked_at: None,
        };
        self.store.create_authorization(&row, &ctx.audit()).await?;
        self.refresh_permissions(std::slice::from_ref(&row.external_id)).await?;
        Ok(json!({"id": auth_id, "status": "active", "authorization": summary(&row)}))
    }

    /// Revokes an authorization at once; revoking twice keeps the first revocation.
    pub async fn revoke_authorization(&self, ctx: &RequestCtx, external_id: &str, auth_id: &str, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::ConsentWrite, "authorization").await?;
        let id = self.existing_patient(external_id).await?;
        let source = body.get("source").and_then(Value::as_str).unwrap_or("api");
        let source = if ["api", "portal", "paper", "email", "sms_keyword", "web_form"].contains(&source) { source } else { "api" };
        match self.store.revoke_authorization(id.as_str(), auth_id, micros(ctx.now), source, &ctx.audit()).await? {
            RevokeOutcome::NotFound => Err(AppError::NotFound("authorization")),
            outcome => {
                self.refresh_permissions(&[id.as_str().to_owned()]).await?;
                let row = self.store.authorizations_of(id.as_str()).await?.into_iter().find(|a| a.id == auth_id).ok_or(AppError::NotFound("authorization"))?;
                Ok(json!({"id": auth_id, "status": "revoked", "already_revoked": outcome == RevokeOutcome::AlreadyRevoked, "authorization": summary(&row)}))
            }
        }
    }
}
