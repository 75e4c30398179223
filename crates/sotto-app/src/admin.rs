//! The dictionary, API keys and authentication use cases.

use jiff::Timestamp;
use serde_json::Value;

use sotto_core::FieldError;
use sotto_core::audit::{AuditRecord, Outcome, action};
use sotto_core::dictionary::{FieldSpec, parse_field_spec};
use sotto_core::scope::Scope;
use sotto_store::{ApiKeyRecord, Store};

use crate::{App, AppError, Principal, RequestCtx, micros};

/// What to create a key with.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// A label for people, such as `ehr-integration`.
    pub name: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
}

/// A new key; the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The public id.
    pub id: String,
    /// The secret to hand to the client.
    pub secret: String,
}

/// A page of the audit trail.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// The entries, in sequence order.
    pub entries: Vec<AuditRecord>,
    /// Where the next page starts, or `None` at the end.
    pub next_after: Option<i64>,
    /// The last sequence number this paging covers.
    pub until: i64,
}

/// An API key as operators see it: never its secret or hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeySummary {
    /// The public id.
    pub id: String,
    /// The label.
    pub name: String,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
    /// What it may do.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: String,
    /// When it expires, if ever.
    pub expires_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

const UNAUTHENTICATED: &str = "send a valid API key as Authorization: Bearer <key>";

impl<S: Store> App<S> {
    /// The effective dictionary.
    pub async fn dictionary(&self, ctx: &RequestCtx) -> Result<Vec<FieldSpec>, AppError> {
        self.require(ctx, Scope::DictionaryRead, "dictionary").await?;
        Ok(self.dictionary.reload(&self.store).await?.iter().cloned().collect())
    }

    /// Declares a new field; an existing name is a conflict, never an overwrite.
    pub async fn declare_field(&self, ctx: &RequestCtx, body: &Value) -> Result<FieldSpec, AppError> {
        self.require(ctx, Scope::DictionaryWrite, "dictionary").await?;
        let spec = parse_field_spec(body).map_err(AppError::Invalid)?;
        let current = self.dictionary.reload(&self.store).await?;
        let created = current.get(spec.kind, &spec.name).is_none() && self.store.declare_field(&spec, &ctx.audit()).await?;
        if !created {
            return Err(AppError::Conflict {
                code: "field_exists",
                message: "a field of this kind and name is already declared; declarations are never overwritten".into(),
            });
        }
        self.dictionary.reload(&self.store).await?;
        Ok(spec)
    }

    /// Creates an API key.
    pub async fn create_key(&self, ctx: &RequestCtx, request: KeyRequest) -> Result<CreatedKey, AppError> {
        let name = request.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(AppError::invalid(FieldError::new("invalid_name", "name", "name must be 1 to 64 characters")));
        }
        if request.scopes.is_empty() {
            return Err(AppError::invalid(FieldError::new("missing_field", "scope", "a key needs at least one scope")));
        }
        crate::api_clients::only_held_scopes(ctx, &request.scopes)?;
        if request.expires_at.is_some_and(|t| t <= ctx.now) {
            return Err(AppError::invalid(FieldError::new("invalid_expiry", "expires_at", "a key must expire in the future")));
        }
        let new = sotto_crypto::generate_api_key();
        let id = sotto_crypto::random_id(8);
        let record = ApiKeyRecord {
            id: id.clone(),
            name: name.to_owned(),
            scopes: request.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
            secret_hash: new.hash,
            created_at: micros(ctx.now),
            expires_at: request.expires_at.map(micros),
            revoked_at: None,
        };
        self.store.create_api_key(&record, &ctx.audit()).await?;
        Ok(CreatedKey { id, secret: new.secret })
    }

    /// Every API key, newest first, without secrets or hashes.
    pub async fn list_keys(&self, ctx: &RequestCtx) -> Result<Vec<KeySummary>, AppError> {
        self.require(ctx, Scope::KeysManage, "api_keys").await?;
        let keys = self.store.api_keys().await?;
        let now = micros(ctx.now);
        Ok(keys
            .into_iter()
            .map(|k| KeySummary {
                state: if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.is_some_and(|t| t <= now) {
                    "expired"
                } else {
                    "active"
                },
                scopes: k.scopes.split_whitespace().map(str::to_owned).collect(),
                created_at: crate::time_text(k.created_at),
                expires_at: k.expires_at.map(crate::time_text),
                revoked_at: k.revoked_at.map(crate::time_text),
                id: k.id,
                name: k.name,
            })
            .collect())
    }

    /// Revokes a key at once; later calls with it are answered 401.
    pub async fn revoke_key(&self, ctx: &RequestCtx, id: &str) -> Result<(), AppError> {
        self.require(ctx, Scope::KeysManage, "api_keys").await?;
        if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::NotFound("api key"));
        }
        if self.store.revoke_api_key(id, micros(ctx.now), &ctx.audit()).await? { Ok(()) } else { Err(AppError::NotFound("api key")) }
    }

    /// Resolves a bearer token to a principal. Unknown, revoked and expired keys get the
    /// same answer.
    pub async fn authenticate(&self, bearer: Option<&str>, now: Timestamp) -> Result<Principal, AppError> {
        let Some(secret) = bearer.map(str::trim).filter(|s| !s.is_empty()) else {
            return Err(AppError::Unauthenticated { code: "missing_api_key", message: UNAUTHENTICATED });
        };
        if secret.starts_with(crate::api_clients::TOKEN_PREFIX) {
            return self.authenticate_token(secret, now).await;
        }
        let invalid = AppError::Unauthenticated { code: "invalid_api_key", message: UNAUTHENTICATED };
        let Some(key) = self.store.api_key_by_hash(&sotto_crypto::hash_api_key(secret)).await? else {
            return Err(invalid);
        };
        let live = key.revoked_at.is_none() && key.expires_at.is_none_or(|t| t > micros(now));
        if !live {
            return Err(invalid);
        }
        let scopes = key.scopes.split_whitespace().filter_map(|s| Scope::parse(s).ok()).collect();
        Ok(Principal { actor: format!("key:{}", key.id), scopes })
    }

    /// A page of the audit trail (at most 1,000 entries after `after`, none after `until`);
    /// reading it is audited. Without `until`, the head as it is now bounds the paging, and
    /// the answer says so: a reader that passes it back ends at that head, however many
    /// entries (its own reads among them) are appended meanwhile.
    pub async fn audit_entries(&self, ctx: &RequestCtx, after: i64, limit: i64, until: Option<i64>) -> Result<AuditPage, AppError> {
        self.require(ctx, Scope::AuditRead, "audit").await?;
        if !(1..=1000).contains(&limit) || after < 0 || until.is_some_and(|u| u < 0) {
            return Err(AppError::invalid(FieldError::new("invalid_query", "limit", "limit must be 1 to 1000, and after and until must not be negative")));
        }
        let (head, _) = self.store.audit_head().await?;
        let until = until.map_or(head, |u| u.min(head));
        let entries = if after >= until { Vec::new() } else { self.store.audit_page(after, limit.min(until - after)).await? };
        let event = ctx.audit().event(action::AUDIT_READ, format!("audit:after/{after}"), Outcome::Success.as_str());
        self.store.append_audit(vec![event]).await?;
        let next_after = entries.last().map(|e| e.seq).filter(|seq| *seq < until);
        Ok(AuditPage { entries, next_after, until })
    }
}
