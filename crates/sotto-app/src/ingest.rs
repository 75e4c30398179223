//! The ingestion use case: parse through the firewall, then store every accepted call in one
//! durable transaction, idempotent by message id, with refused calls audited by rule code.

use serde::Serialize;
use serde_json::Value;

use sotto_core::FieldError;
use sotto_core::audit::action;
use sotto_core::firewall::{Change, Firewall, ProfileChanges};
use sotto_core::ids::{ExternalId, MessageId};
use sotto_core::ingest::{CallType, IngestCall, Parsed, parse_batch, parse_call};
use sotto_core::scope::Scope;
use sotto_store::{EventRecord, IngestJob, IngestWrite, Store, WriteOutcome};

use crate::{App, AppError, RequestCtx, micros};

/// Whether one call was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Stored (or already stored under the same message id).
    Accepted,
    /// Refused; nothing about it was stored.
    Rejected,
}

/// The answer for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemResult {
    /// Position in the batch (0 for single calls).
    pub index: usize,
    /// Accepted or rejected.
    pub status: ItemStatus,
    /// The message id it was stored under.
    #[serde(rename = "messageId", skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// True when the message id had been seen before and nothing changed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Envelope parts dropped before anything was kept, by path (never their values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

/// The audit object of a refused call: the patient's opaque reference when the id parses.
fn audit_object(keyring: &sotto_crypto::Keyring, raw: &Value) -> String {
    raw.get("userId")
        .and_then(Value::as_str)
        .and_then(|s| ExternalId::parse("userId", s).ok())
        .map_or_else(|| "patient:unknown".to_owned(), |id| format!("patient:{}", keyring.patient_ref(id.as_str())))
}

impl<S: Store> App<S> {
    /// One `identify` or `track` call. A refused call is an error naming every problem.
    pub async fn ingest_one(&self, ctx: &RequestCtx, call_type: CallType, body: &Value) -> Result<ItemResult, AppError> {
        self.require(ctx, Scope::EventsWrite, "ingest").await?;
        let mut results = self.ingest_calls(ctx, std::slice::from_ref(body), Some(call_type)).await?;
        let result = results.pop().ok_or(AppError::NotFound("result"))?;
        if result.status == ItemStatus::Rejected {
            return Err(AppError::Invalid(result.errors));
        }
        Ok(result)
    }

    /// A `batch` call: every item gets its own result; accepted items are stored together.
    pub async fn ingest_batch(&self, ctx: &RequestCtx, body: &Value) -> Result<Vec<ItemResult>, AppError> {
        self.require(ctx, Scope::EventsWrite, "ingest").await?;
        let items = parse_batch(body).map_err(AppError::invalid)?;
        self.ingest_calls(ctx, items, None).await
    }

    /// Ingests calls that each carry their `type` (or are all of type `expected`), without
    /// a scope check: for trusted callers such as the demo loader and importers.
    pub async fn ingest_calls(&self, ctx: &RequestCtx, items: &[Value], expected: Option<CallType>) -> Result<Vec<ItemResult>, AppError> {
        let dictionary = self.dictionary.get(&self.store).await?;
        let firewall = Firewall { dictionary: &dictionary, default_region: &self.settings.default_region };
        let audit = ctx.audit();
        let now = micros(ctx.now);
        let mut results = Vec::with_capacity(items.len());
        let mut writes = Vec::with_capacity(items.len());
        let mut positions = Vec::with_capacity(items.len());
        let mut refused = Vec::new();
        for (index, raw) in items.iter().enumerate() {
            // The label is a call type Sotto knows, never what a client wrote.
            let call = expected.map(CallType::as_str).or_else(|| raw.get("type").and_then(Value::as_str)).filter(|t| ["identify", "track", "page", "screen", "group", "alias"].contains(t)).unwrap_or("invalid");
            let parsed = parse_call(&firewall, raw, expected);
            self.metrics.ingested(call, parsed.is_ok());
            match parsed {
                Ok(Parsed { call, dropped }) => match to_write(call, now, &ctx.principal.actor) {
                    Some((message_id, write)) => {
                        positions.push(results.len());
                        results.push(ItemResult { index, status: ItemStatus::Accepted, message_id: Some(message_id), duplicate: false, errors: vec![], dropped });
                        writes.push(write);
                    }
                    // A group or alias call: accepted, nothing kept.
                    None => {
                        let message_id = raw.get("messageId").and_then(Value::as_str).map(str::to_owned);
                        results.push(ItemResult { index, status: ItemStatus::Accepted, message_id, duplicate: false, errors: vec![], dropped });
                    }
                },
                Err(errors) => {
                    let code = errors.first().map_or("invalid", |e| e.code);
                    let act = match raw.get("type").and_then(Value::as_str).or(expected.map(CallType::as_str)) {
                        Some("identify") => action::PATIENT_IDENTIFY,
                        _ => action::EVENT_TRACK,
                    };
                    refused.push(audit.event(act, audit_object(&self.keyring, raw), &format!("rejected:{code}")));
                    results.push(ItemResult { index, status: ItemStatus::Rejected, message_id: None, duplicate: false, errors, dropped: vec![] });
                }
            }
        }
        let updates: Vec<EngineUpdate> = writes.iter().map(engine_update).collect();
        let outcomes = self.writer.submit(IngestJob { writes, ctx: audit, extra_audit: refused }).await?;
        let accepted: Vec<bool> = outcomes.iter().map(|o| *o == WriteOutcome::Accepted).collect();
        self.write_engine(move |engine| {
            for (update, accepted) in updates.into_iter().zip(accepted) {
                if accepted {
                    match update {
                        EngineUpdate::Traits(id, changes) => engine.update_traits(&id, changes.iter().map(|(k, v)| (k.as_str(), v.as_ref()))),
                        EngineUpdate::Event(e) => {
                            let properties = serde_json::from_str(&e.properties).unwrap_or_default();
                            engine.add_event(&e.external_id, &e.name, jiff::Timestamp::from_microsecond(e.occurred_at).unwrap_or_default(), properties);
                        }
                    }
                }
            }
        })
        .await;
        for (pos, outcome) in positions.into_iter().zip(outcomes) {
            results[pos].duplicate = outcome == WriteOutcome::Duplicate;
        }
        Ok(results)
    }
}

/// What an accepted write changes in the segment engine.
enum EngineUpdate {
    Traits(String, Vec<(String, Option<Value>)>),
    Event(EventRecord),
}

fn engine_update(write: &IngestWrite<ProfileChanges>) -> EngineUpdate {
    match write {
        IngestWrite::Identify { external_id, changes, .. } => {
            let mut out: Vec<(String, Option<Value>)> = changes.traits.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let column = |name: &str, change: Option<Option<String>>, out: &mut Vec<(String, Option<Value>)>| {
                if let Some(v) = change {
                    out.push((name.to_owned(), v.map(Value::String)));
                }
            };
            column("timezone", change_text(&changes.timezone, |t| t.as_str().to_owned()), &mut out);
            column("language", change_text(&changes.language, |l| l.as_str().to_owned()), &mut out);
            column("preferred_channel", change_text(&changes.preferred_channel, |c| c.as_str().to_owned()), &mut out);
            EngineUpdate::Traits(external_id.clone(), out)
        }
        IngestWrite::Track(e) => EngineUpdate::Event(e.clone()),
    }
}

fn change_text<T>(change: &Change<T>, text: impl Fn(&T) -> String) -> Option<Option<String>> {
    match change {
        Change::Keep => None,
        Change::Clear => Some(None),
        Change::Set(v) => Some(Some(text(v))),
    }
}

/// The write for a call, and the message id to answer with. The stored idempotency key is
/// scoped to the caller (`key:<id>/m-1`): two integrations that both send `m-1` never
/// collide, and the same integration sending `m-1` twice gets a duplicate.
fn to_write(call: IngestCall, now: i64, source: &str) -> Option<(String, IngestWrite<ProfileChanges>)> {
    let generated = || MessageId::generated(format!("gen-{}", sotto_crypto::random_id(12)));
    match call {
        IngestCall::Identify(c) => {
            let message_id = c.message_id.unwrap_or_else(generated).as_str().to_owned();
            let write = IngestWrite::Identify { message_id: format!("{source}/{message_id}"), external_id: c.external_id.as_str().to_owned(), changes: c.changes };
            Some((message_id, write))
        }
        IngestCall::Track(c) => {
            let message_id = c.message_id.unwrap_or_else(generated).as_str().to_owned();
            let write = IngestWrite::Track(EventRecord {
                message_id: format!("{source}/{message_id}"),
                external_id: c.external_id.as_str().to_owned(),
                name: c.event,
                properties: Value::Object(c.properties).to_string(),
                occurred_at: c.timestamp.map_or(now, micros),
                received_at: now,
            });
            Some((message_id, write))
        }
        IngestCall::Dropped(_) => None,
    }
}
