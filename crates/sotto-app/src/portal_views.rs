//! What a signed-in patient sees and changes in the portal: their secure messages (each view
//! audited with the patient as actor and recorded as read), and the preference center
//! (channels, topics, language, HIPAA authorizations with a revoke that takes effect at once),
//! every consent change written to the ledger with source `portal`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use sotto_core::consent::{ConsentRecord, ConsentSource, ConsentState, ConsentStatus, Topic};
use sotto_core::contact::Channel;
use sotto_core::purpose::ConsentKind;
use sotto_store::{RevokeOutcome, SecureMessageRow, Store};

use crate::consent::{from_row, to_row};
use crate::gate_state::contact_channels;
use crate::merge::key_owner;
use crate::portal::{PortalCtx, PortalSession};
use crate::{App, AppError, Principal, RequestCtx, micros};

/// A secure message opened for its patient.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedMessage {
    /// `sm_…`.
    pub id: String,
    /// Its subject.
    pub subject: String,
    /// Its body (plain text; the page escapes it).
    pub body: String,
    /// Its coded category.
    pub category: Option<String>,
    /// When it was sent (RFC 3339).
    pub sent_at: String,
    /// Whether the patient had read it before.
    pub read: bool,
}

/// One channel in the preference center.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelChoice {
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// Whether messages on it are wanted.
    pub on: bool,
}

/// One of the patient's authorizations.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizationChoice {
    /// `auth_…`.
    pub id: String,
    /// What it lets the clinic do, as signed.
    pub purpose: String,
    /// Who receives the information.
    pub recipients: String,
    /// When it was signed (a date).
    pub signed_on: String,
    /// Whether it is revoked.
    pub revoked: bool,
}

/// The preference center's contents.
#[derive(Debug, Clone, Serialize)]
pub struct Preferences {
    /// The channels the patient has a contact for.
    pub channels: Vec<ChannelChoice>,
    /// The topics, and whether each is wanted.
    pub topics: Vec<ChannelChoice>,
    /// `en` or `es`.
    pub language: String,
    /// Marketing authorizations.
    pub authorizations: Vec<AuthorizationChoice>,
}

/// What the preference form sent: channels and topics ticked, and a language.
#[derive(Debug, Clone, Default)]
pub struct PreferenceForm {
    /// Channels ticked.
    pub channels: Vec<String>,
    /// Topics ticked.
    pub topics: Vec<String>,
    /// The language chosen.
    pub language: String,
}

impl<S: Store> App<S> {
    fn open_message(&self, key: &sotto_crypto::DataKey, row: &SecureMessageRow) -> Result<OpenedMessage, AppError> {
        let plain = key.open(format!("{}/secure_message:{}", key_owner(&row.external_id), row.id).as_bytes(), &row.sealed).map_err(|_| AppError::Crypto)?;
        let content: Value = serde_json::from_slice(&plain).map_err(|_| AppError::Crypto)?;
        let text = |f: &str| content[f].as_str().unwrap_or_default().to_owned();
        Ok(OpenedMessage { id: row.id.clone(), subject: text("subject"), body: text("body"), category: row.category.clone(), sent_at: crate::time_text(row.created_at), read: row.read_at.is_some() })
    }

    /// The signed-in patient's secure messages that have not expired, newest first (their
    /// subjects are shown, so reading the list is audited).
    pub async fn portal_inbox(&self, session: &PortalSession, pctx: &PortalCtx) -> Result<Vec<OpenedMessage>, AppError> {
        let record = self.store.patient(&session.external_id).await?.ok_or(AppError::NotFound("patient"))?;
        let rows: Vec<_> = self.store.secure_messages_of(&session.external_id).await?.into_iter().filter(|r| r.expires_at > micros(pctx.now)).collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.data_key_of(&record, pctx.now).await?;
        let mut out = rows.iter().map(|r| self.open_message(&key, r)).collect::<Result<Vec<_>, _>>()?;
        for m in &mut out {
            m.body.clear();
        }
        let audit = pctx.as_patient(&self.keyring.patient_ref(&session.external_id));
        let object = format!("patient:{}/secure_messages", self.keyring.patient_ref(&session.external_id));
        self.store.append_audit(vec![audit.event(sotto_core::audit::action::PORTAL_INBOX, object, "success")]).await?;
        Ok(out)
    }

    /// One secure message for its own patient, recorded as viewed; another patient's, or an
    /// expired one, is not found.
    pub async fn portal_read(&self, session: &PortalSession, id: &str, pctx: &PortalCtx) -> Result<OpenedMessage, AppError> {
        let row = self.store.secure_message(id).await?.filter(|r| r.external_id == session.external_id && r.expires_at > micros(pctx.now)).ok_or(AppError::NotFound("secure message"))?;
        let record = self.store.patient(&session.external_id).await?.ok_or(AppError::NotFound("patient"))?;
        let opened = self.open_message(&self.data_key_of(&record, pctx.now).await?, &row)?;
        self.store.record_secure_message_view(&row.id, micros(pctx.now), &pctx.as_patient(&self.keyring.patient_ref(&session.external_id))).await?;
        Ok(opened)
    }

    /// The preference center for the signed-in patient.
    pub async fn portal_preferences(&self, session: &PortalSession) -> Result<Preferences, AppError> {
        let external_id = &session.external_id;
        let record = self.store.patient(external_id).await?.ok_or(AppError::NotFound("patient"))?;
        let (reachable, _) = contact_channels(&self.keyring, &record)?;
        let history = self.store.consents_of(external_id).await?.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let state = ConsentState::derive(&history);
        let opted_out = |channel: Channel, topic: Option<&Topic>| state.get(channel, topic).is_some_and(|r| r.status == ConsentStatus::OptedOut);
        let channels = reachable.iter().map(|&c| ChannelChoice { channel: c.as_str().to_owned(), on: !opted_out(c, None) }).collect();
        let topics = self
            .portal_topics(&history)
            .into_iter()
            .map(|t| ChannelChoice { on: !reachable.iter().any(|&c| opted_out(c, Some(&t))), channel: t.as_str().to_owned() })
            .collect();
        let key = self.data_key_of(&record, self.now()).await?;
        let mut authorizations = Vec::new();
        for row in self.store.authorizations_of(external_id).await? {
            let plain = key.open(format!("{}/authorization:{}", key_owner(external_id), row.id).as_bytes(), &row.document).map_err(|_| AppError::Crypto)?;
            // The signed form as it was sealed (`AuthorizationForm`'s fields).
            let form: Value = serde_json::from_slice(&plain).map_err(|_| AppError::Crypto)?;
            let recipients: Vec<&str> = form["recipients"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let signed_on = crate::time_text(row.signed_at).get(..10).unwrap_or_default().to_owned();
            let purpose = form["purpose"].as_str().unwrap_or_default().to_owned();
            authorizations.push(AuthorizationChoice { id: row.id, purpose, recipients: recipients.join(", "), signed_on, revoked: row.revoked_at.is_some() });
        }
        Ok(Preferences { channels, topics, language: session.language.to_owned(), authorizations })
    }

    /// The topics offered: the deployment's, and any the patient has a record for.
    fn portal_topics(&self, history: &[ConsentRecord]) -> Vec<Topic> {
        let mut topics: Vec<Topic> = self.settings.portal.topics.iter().filter_map(|t| Topic::parse("topic", t).ok()).collect();
        topics.extend(history.iter().filter_map(|r| r.topic.clone()));
        topics.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        topics.dedup();
        topics
    }

    /// Applies the preference form: a ledger record (source `portal`) for each channel or
    /// topic whose choice changed, and the language.
    pub async fn portal_save_preferences(&self, session: &PortalSession, form: &PreferenceForm, pctx: &PortalCtx) -> Result<usize, AppError> {
        let current = self.portal_preferences(session).await?;
        let record = self.store.patient(&session.external_id).await?.ok_or(AppError::NotFound("patient"))?;
        let (reachable, _) = contact_channels(&self.keyring, &record)?;
        let ctx = self.portal_request(session, pctx);
        let mut changes: BTreeMap<(Channel, Option<String>), bool> = BTreeMap::new();
        for choice in &current.channels {
            let wanted = form.channels.contains(&choice.channel);
            if wanted != choice.on {
                changes.insert((Channel::parse("channel", &choice.channel).map_err(AppError::invalid)?, None), wanted);
            }
        }
        for choice in &current.topics {
            let wanted = form.topics.contains(&choice.channel);
            if wanted != choice.on {
                for &channel in &reachable {
                    changes.insert((channel, Some(choice.channel.clone())), wanted);
                }
            }
        }
        let rows = changes
            .into_iter()
            .map(|((channel, topic), on)| {
                let topic = topic.map(|t| Topic::parse("topic", &t)).transpose().map_err(AppError::invalid)?;
                let status = if on { ConsentStatus::OptedIn } else { ConsentStatus::OptedOut };
                let record = ConsentRecord { channel, topic, status, kind: ConsentKind::Express, source: ConsentSource::Portal, captured_at: pctx.now, evidence: json!({"method": "preference_center", "request_id": pctx.request_id}) };
                Ok(to_row(&session.external_id, &record, &ctx))
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        if !rows.is_empty() {
            self.store.append_consents(&rows, &ctx.audit(), vec![]).await?;
            self.refresh_permissions(std::slice::from_ref(&session.external_id)).await?;
        }
        let language = if form.language == "es" { "es" } else { "en" };
        if language != session.language {
            let call = json!({"type": "identify", "userId": session.external_id, "traits": {"language": language}, "messageId": format!("portal-{}", sotto_crypto::random_id(8))});
            self.ingest_calls(&ctx, &[call], None).await?;
        }
        Ok(rows.len())
    }

    /// Revokes one of the signed-in patient's authorizations at once (queued marketing that
    /// needs it is denied at dispatch from now on).
    pub async fn portal_revoke(&self, session: &PortalSession, auth_id: &str, pctx: &PortalCtx) -> Result<bool, AppError> {
        let ctx = self.portal_request(session, pctx);
        match self.store.revoke_authorization(&session.external_id, auth_id, micros(pctx.now), "portal", &ctx.audit()).await? {
            RevokeOutcome::NotFound => Err(AppError::NotFound("authorization")),
            outcome => {
                self.refresh_permissions(std::slice::from_ref(&session.external_id)).await?;
                Ok(outcome != RevokeOutcome::AlreadyRevoked)
            }
        }
    }

    /// A request made by the patient through the portal (actor `patient:<ref>`).
    fn portal_request(&self, session: &PortalSession, pctx: &PortalCtx) -> RequestCtx {
        let principal = Principal { actor: format!("patient:{}", self.keyring.patient_ref(&session.external_id)), scopes: vec![sotto_core::scope::Scope::ConsentWrite, sotto_core::scope::Scope::EventsWrite] };
        RequestCtx { principal, request_id: pctx.request_id.clone(), source_ip: pctx.source_ip.clone(), now: pctx.now }
    }
}
