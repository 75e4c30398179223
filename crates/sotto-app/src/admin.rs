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

    /// Resolves a bearer token to a principal. Unknown, revoked and expired keys get the
    /// same answer.
    pub async fn authenticate(&self, bearer: Option<&str>, now: Timestamp) -> Result<Principal, AppError> {
        let Some(secret) = bearer.map(str::trim).filter(|s| !s.is_empty()) else {
            return Err(AppError::Unauthenticated { code: "missing_api_key", message: UNAUTHENTICATED });
        };
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

    /// A page of the audit trail (at most 1,000 entries after `after`); reading it is audited.
    pub async fn audit_entries(&self, ctx: &RequestCtx, after: i64, limit: i64) -> Result<Vec<AuditRecord>, AppError> {
        self.require(ctx, Scope::AuditRead, "audit").await?;
        if !(1..=1000).contains(&limit) || after < 0 {
            return Err(AppError::invalid(FieldError::new("invalid_query", "limit", "limit must be 1 to 1000 and after must not be negative")));
        }
        let entries = self.store.audit_page(after, limit).await?;
        let event = ctx.audit().event(action::AUDIT_READ, format!("audit:after/{after}"), Outcome::Success.as_str());
        self.store.append_audit(vec![event]).await?;
        Ok(entries)
    }
}
