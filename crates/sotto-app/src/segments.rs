//! Segments and the code vault: definitions checked against the dictionary and the name
//! check, sizes shown with small-cell suppression, audited member lists, and the in-memory
//! engine built from storage at start-up and kept current by ingestion and consent changes.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use sotto_core::FieldError;
use sotto_core::audit::{Outcome, action};
use sotto_core::consent::{ConsentRecord, ConsentState};
use sotto_core::health_terms;
use sotto_core::scope::Scope;
use sotto_core::segment::{Expr, SegmentEngine, check, parse};
use sotto_store::{SegmentRow, Store};

use crate::consent::{from_row, summary};
use crate::{App, AppError, RequestCtx, micros};

const PAGE: i64 = 5_000;
const MEMBERS_PAGE: usize = 1_000;

/// Counts of 1 to 10 are never shown as numbers.
pub fn suppressed(count: u64) -> Value {
    json!(sotto_core::disclosure::disclose(count))
}

/// A count and its breakdown by reason, `{"total", "by_reason"}`, suppressed together so that
/// the total less the reasons shown never gives a hidden one away.
pub(crate) fn breakdown(total: u64, by_reason: &std::collections::BTreeMap<String, u64>) -> Value {
    let parts: Vec<u64> = by_reason.values().copied().collect();
    let (total, shown) = sotto_core::disclosure::disclose_parts(total, &parts);
    let reasons: Map<String, Value> = by_reason.keys().cloned().zip(shown.into_iter().map(|s| json!(s))).collect();
    json!({"total": total, "by_reason": reasons})
}

/// A profile's traits as the engine sees them: the declared traits plus the three that live
/// in their own columns.
pub(crate) fn profile_traits(traits: &str, timezone: Option<&str>, language: Option<&str>, channel: Option<&str>) -> Map<String, Value> {
    let mut map: Map<String, Value> = serde_json::from_str(traits).unwrap_or_default();
    for (k, v) in [("timezone", timezone), ("language", language), ("preferred_channel", channel)] {
        if let Some(v) = v {
            map.insert(k.to_owned(), json!(v));
        }
    }
    map
}

/// The longest segment definition accepted.
const MAX_DEFINITION: usize = 65_536;

/// Whether a code is a lowercase prefix and an opaque body, neither revealing health
/// information (`condition:457`, never `hiv:1` or `condition:1.AIDS`).
fn code_shape(code: &str) -> bool {
    match code.split_once(':') {
        // The body follows the firewall's rule for coded values, so the vault accepts exactly
        // the codes ingestion does.
        Some((prefix, _)) => {
            !prefix.is_empty()
                && prefix.len() <= 32
                && prefix.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && sotto_core::health_terms::find(&prefix.replace('_', " ")).is_none()
                && sotto_core::firewall::check_code(&code[..=prefix.len()], code, "code").is_ok()
        }
        None => false,
    }
}

impl<S: Store> App<S> {
    /// Builds the segment engine from storage; `progress` gets the number of rows read.
    pub async fn load_segment_index(&self, mut progress: impl FnMut(u64)) -> Result<usize, AppError> {
        let mut engine = SegmentEngine::new();
        let mut read = 0u64;
        let mut after = String::new();
        loop {
            let page = self.store.profile_page(&after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.external_id.clone();
            for p in &page {
                let traits = profile_traits(&p.traits, p.timezone.as_deref(), p.language.as_deref(), p.preferred_channel.as_deref());
                engine.update_traits(&p.external_id, traits.iter().map(|(k, v)| (k.as_str(), Some(v))));
            }
            read += page.len() as u64;
            progress(read);
        }
        let mut after_id = 0;
        loop {
            let page = self.store.event_page(after_id, PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            after_id = *last;
            for (_, e) in &page {
                let properties: Map<String, Value> = serde_json::from_str(&e.properties).unwrap_or_default();
                engine.add_event(&e.external_id, &e.name, Timestamp::from_microsecond(e.occurred_at).unwrap_or_default(), properties);
            }
            read += page.len() as u64;
            progress(read);
        }
        let mut ledgers: HashMap<String, Vec<ConsentRecord>> = HashMap::new();
        let mut after_id = 0;
        loop {
            let page = self.store.consent_page(after_id, PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            after_id = *last;
            for (_, row) in &page {
                ledgers.entry(row.external_id.clone()).or_default().push(from_row(row)?);
            }
        }
        for (id, records) in ledgers {
            engine.set_consents(&id, ConsentState::derive(&records));
        }
        for id in self.store.authorization_holders().await? {
            let auths = self.store.authorizations_of(&id).await?.iter().map(summary).collect();
            engine.set_authorizations(&id, auths);
        }
        let patients = engine.len();
        self.write_engine(move |slot| *slot = engine).await;
        Ok(patients)
    }

    /// Runs `f` over the engine on the blocking pool, so a long evaluation never holds an
    /// async worker (or the lock on one). A poisoned lock is an error, never an empty answer.
    /// The external ids of a segment expression's members at `now`.
    pub(crate) async fn evaluate_members(&self, expr: Expr, now: Timestamp) -> Result<Vec<String>, AppError> {
        self.read_engine(move |engine| engine.evaluate(&expr, now).iter().filter_map(|n| engine.external_id(n).map(str::to_owned)).collect()).await
    }

    /// The members of a stored segment at `now` (none when it no longer exists).
    pub(crate) async fn segment_members_now(&self, id: &str, now: Timestamp) -> Result<Vec<String>, AppError> {
        let Some(expr) = self.store.segment(id).await?.and_then(|s| serde_json::from_str::<Expr>(&s.expr).ok()) else { return Ok(Vec::new()) };
        self.evaluate_members(expr, now).await
    }

    pub(crate) async fn read_engine<T: Send + 'static>(&self, f: impl FnOnce(&SegmentEngine) -> T + Send + 'static) -> Result<T, AppError> {
        let engine = self.segments.clone();
        tokio::task::spawn_blocking(move || engine.read().map(|e| f(&e)).map_err(|_| AppError::Internal("segment index lock poisoned")))
            .await
            .map_err(|_| AppError::Internal("segment evaluation failed"))?
    }

    /// Changes the engine on the blocking pool; waits for the lock there, never on an async
    /// worker. A poisoned lock (a panic while updating) leaves the index for a rebuild.
    pub(crate) async fn write_engine(&self, f: impl FnOnce(&mut SegmentEngine) + Send + 'static) {
        let engine = self.segments.clone();
        let done = tokio::task::spawn_blocking(move || match engine.write() {
            Ok(mut e) => f(&mut e),
            Err(_) => tracing::error!("segment index lock poisoned; restart to rebuild the index"),
        });
        if done.await.is_err() {
            tracing::error!("a segment index update panicked");
        }
    }

    /// Re-reads consent and authorizations of some patients into the engine.
    pub(crate) async fn refresh_permissions(&self, ids: &[String]) -> Result<(), AppError> {
        let mut changes = Vec::with_capacity(ids.len());
        for id in ids {
            let records = self.store.consents_of(id).await?.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
            let auths: Vec<_> = self.store.authorizations_of(id).await?.iter().map(summary).collect();
            changes.push((id.clone(), ConsentState::derive(&records), auths));
        }
        self.write_engine(move |engine| {
            for (id, consents, auths) in changes {
                engine.set_consents(&id, consents);
                engine.set_authorizations(&id, auths);
            }
        })
        .await;
        Ok(())
    }

    /// Stores a code's meaning, sealed.
    pub async fn put_code(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::VaultWrite, "vault").await?;
        crate::only_fields(body, &["code", "meaning"], "", "a vault code")?;
        let code = body.get("code").and_then(Value::as_str).filter(|c| code_shape(c));
        // A meaning must say something: at least two letters or digits.
        let meaning = body.get("meaning").and_then(Value::as_str).map(str::trim).filter(|m| m.len() <= 2000 && m.chars().filter(|c| c.is_alphanumeric()).count() >= 2);
        let mut errors = Vec::new();
        if code.is_none() {
            errors.push(FieldError::new("invalid_code", "code", "code must look like condition:457 (a lowercase prefix, a colon and a short opaque body)"));
        }
        if meaning.is_none() {
            errors.push(FieldError::new("invalid_meaning", "meaning", "meaning must be at most 2000 characters with at least two letters or digits"));
        }
        let (Some(code), Some(meaning)) = (code, meaning) else { return Err(AppError::Invalid(errors)) };
        let sealed = self.keyring.seal_token(&format!("sotto vault v1 {code}"), meaning.as_bytes());
        self.store.put_code(code, sealed.as_bytes(), &ctx.audit()).await?;
        Ok(json!({"code": code}))
    }

    /// A code's meaning; every read is audited.
    pub async fn code_meaning(&self, ctx: &RequestCtx, code: &str) -> Result<Value, AppError> {
        let object = if code_shape(code) { format!("vault:{code}") } else { "vault:unknown".to_owned() };
        self.require(ctx, Scope::VaultRead, &object).await?;
        let sealed = self.store.code(code).await?.ok_or(AppError::NotFound("code"))?;
        let token = String::from_utf8(sealed).map_err(|_| AppError::Crypto)?;
        let meaning = self.keyring.open_token(&format!("sotto vault v1 {code}"), &token).map_err(|_| AppError::Crypto)?;
        let meaning = String::from_utf8(meaning.to_vec()).map_err(|_| AppError::Crypto)?;
        self.store.append_audit(vec![ctx.audit().event(action::VAULT_READ, format!("vault:{code}"), Outcome::Success.as_str())]).await?;
        Ok(json!({"code": code, "meaning": meaning}))
    }

    /// Creates a segment from the language or its JSON form.
    pub async fn create_segment(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::SegmentsWrite, "segments").await?;
        crate::only_fields(body, &["name", "definition"], "", "a segment")?;
        let name = health_terms::check_name("segment", body.get("name").and_then(Value::as_str).unwrap_or_default()).map_err(AppError::invalid)?;
        let (definition, expr) = match body.get("definition") {
            Some(Value::String(text)) if text.len() > MAX_DEFINITION => {
                return Err(AppError::invalid(FieldError::new("value_too_long", "definition", format!("a definition may be at most {MAX_DEFINITION} bytes"))));
            }
            Some(Value::String(text)) => (text.clone(), parse(text).map_err(AppError::invalid)?),
            Some(v @ Value::Object(_)) => {
                let expr: Expr = serde_json::from_value(v.clone()).map_err(|_| AppError::invalid(FieldError::new("invalid_segment", "definition", "the JSON form does not describe a segment expression")))?;
                expr.check_depth().map_err(AppError::invalid)?;
                (v.to_string(), expr)
            }
            _ => return Err(AppError::invalid(FieldError::new("missing_field", "definition", "definition is required: the segment language as a string, or its JSON form"))),
        };
        let dictionary = self.dictionary.get(&self.store).await?;
        let touches_phi = check(&expr, &dictionary).map_err(AppError::Invalid)?;
        let row = SegmentRow {
            id: format!("seg_{}", sotto_crypto::random_id(8)),
            name: name.to_owned(),
            definition,
            expr: serde_json::to_string(&expr).map_err(|_| AppError::Internal("segment did not serialize"))?,
            touches_phi,
            created_at: micros(ctx.now),
            created_by: ctx.principal.actor.clone(),
        };
        if !self.store.create_segment(&row, &ctx.audit()).await? {
            return Err(AppError::Conflict { code: "segment_exists", message: "a segment with this name exists".into() });
        }
        Ok(json!({"id": row.id, "name": row.name, "touches_phi": touches_phi, "expression": expr}))
    }

    async fn segment_expr(&self, id: &str) -> Result<(SegmentRow, Expr), AppError> {
        let row = self.store.segment(id).await?.ok_or(AppError::NotFound("segment"))?;
        let expr = serde_json::from_str(&row.expr).map_err(|_| AppError::Store(sotto_store::StoreError::Corrupt("segment expression".into())))?;
        Ok((row, expr))
    }

    /// A segment's size now, with counts of 1 to 10 suppressed.
    pub async fn segment_preview(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::SegmentsRead, "segments").await?;
        let (row, expr) = self.segment_expr(id).await?;
        // A broken index is an error, never a size of zero.
        let now = ctx.now;
        let size = self.read_engine(move |engine| engine.evaluate(&expr, now).len()).await?;
        Ok(json!({"id": row.id, "name": row.name, "touches_phi": row.touches_phi, "size": suppressed(size)}))
    }

    /// A page of a segment's members (external ids); audited.
    pub async fn segment_members(&self, ctx: &RequestCtx, id: &str, cursor: Option<&str>, limit: Option<usize>) -> Result<Value, AppError> {
        self.require(ctx, Scope::SegmentsMembers, &crate::path_object("segment", "seg_", id)).await?;
        let (row, expr) = self.segment_expr(id).await?;
        let after = match cursor {
            Some(c) => Some(c.parse::<u32>().map_err(|_| AppError::invalid(FieldError::new("invalid_cursor", "cursor", "cursor must be a value returned as next_cursor")))?),
            None => None,
        };
        let page_size = limit.unwrap_or(MEMBERS_PAGE);
        if !(1..=MEMBERS_PAGE).contains(&page_size) {
            return Err(AppError::invalid(FieldError::new("invalid_limit", "limit", "limit must be 1 to 1000")));
        }
        let now = ctx.now;
        let (members, next) = self
            .read_engine(move |engine| {
                let bits = engine.evaluate(&expr, now);
                let page: Vec<u32> = bits.iter().filter(|n| after.is_none_or(|a| *n > a)).take(page_size + 1).collect();
                let more = page.len() > page_size;
                let page = &page[..page.len().min(page_size)];
                let ids: Vec<String> = page.iter().filter_map(|n| engine.external_id(*n).map(str::to_owned)).collect();
                (ids, more.then(|| page.last().map(u32::to_string)).flatten())
            })
            .await?;
        let event = ctx.audit().event(action::SEGMENT_MEMBERS, format!("segment:{}/page:{}", row.id, after.unwrap_or(0)), Outcome::Success.as_str());
        self.store.append_audit(vec![event]).await?;
        Ok(json!({"members": members, "next_cursor": next}))
    }
}
