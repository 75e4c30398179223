//! API clients beside API keys: OAuth 2.0 client credentials (RFC 6749 section 4.4) issuing
//! short-lived access tokens sealed with a key the database never holds, and requests signed
//! with the client's secret (HMAC-SHA256 over method, path, timestamp and the body's digest)
//! inside a replay window. The client's row is read on every request, so revoking it, or
//! narrowing its scopes, takes effect at once.

use jiff::Timestamp;
use serde_json::json;

use sotto_core::FieldError;
use sotto_core::audit::action;
use sotto_core::scope::Scope;
use sotto_crypto::random_id;
use sotto_store::{ApiClientRow, Store};

use crate::staff::same_secret;
use crate::{App, AppError, Principal, RequestCtx, micros, time_text};

/// The prefix of an access token.
pub const TOKEN_PREFIX: &str = "sat_";
const TOKEN_PURPOSE: &str = "sotto oauth access token v1";

/// A client as the console lists it: never its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientSummary {
    /// The client id.
    pub id: String,
    /// The label.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// `active` or `revoked`.
    pub state: &'static str,
    /// When it was made.
    pub created_at: String,
    /// When it last authenticated.
    pub last_used_at: Option<String>,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The bearer token.
    pub access_token: String,
    /// Seconds it lives.
    pub expires_in: i64,
    /// The scopes it carries, space separated.
    pub scope: String,
}

/// Why a token request is refused, as RFC 6749 section 5.2 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// A required parameter is missing or repeated.
    InvalidRequest,
    /// Unknown client, wrong secret or revoked client (one answer for all).
    InvalidClient,
    /// Only `client_credentials` is offered.
    UnsupportedGrantType,
    /// A requested scope is unknown or not the client's.
    InvalidScope,
}

impl TokenError {
    /// The error code of the answer.
    pub fn code(self) -> &'static str {
        match self {
            TokenError::InvalidRequest => "invalid_request",
            TokenError::InvalidClient => "invalid_client",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidScope => "invalid_scope",
        }
    }
}

fn scopes_of(row: &ApiClientRow) -> Vec<Scope> {
    row.scopes.split_whitespace().filter_map(|s| Scope::parse(s).ok()).collect()
}

fn client_aad(id: &str) -> Vec<u8> {
    format!("api client {id}").into_bytes()
}

/// Refuses a key or client that would hold a scope its creator does not (a sandbox key holds
/// less, so it may always be made): nobody grants themselves more through a credential.
pub(crate) fn only_held_scopes(ctx: &RequestCtx, scopes: &[Scope]) -> Result<(), AppError> {
    match scopes.iter().find(|s| **s != Scope::Sandbox && !ctx.principal.scopes.contains(s)) {
        Some(scope) => Err(AppError::invalid(FieldError::new("scope_not_held", "scope", format!("a credential holds only scopes its creator holds; you do not hold {scope}")))),
        None => Ok(()),
    }
}

const UNAUTHENTICATED: &str = "send a valid API key or access token as Authorization: Bearer <token>, or sign the request";

impl<S: Store> App<S> {
    /// Creates a client: answers its id and secret, shown once.
    pub async fn create_api_client(&self, ctx: &RequestCtx, name: &str, scopes: &[Scope]) -> Result<(String, String), AppError> {
        self.require(ctx, Scope::KeysManage, "api_clients").await?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(AppError::invalid(FieldError::new("invalid_name", "name", "name must be 1 to 64 characters")));
        }
        if scopes.is_empty() {
            return Err(AppError::invalid(FieldError::new("missing_field", "scope", "a client needs at least one scope")));
        }
        only_held_scopes(ctx, scopes)?;
        let id = format!("cli_{}", random_id(8));
        let secret = format!("scs_{}", sotto_crypto::random_token());
        let row = ApiClientRow {
            sealed_secret: self.keyring.seal(&client_aad(&id), secret.as_bytes()),
            id: id.clone(),
            name: name.to_owned(),
            scopes: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
            created_at: micros(ctx.now),
            created_by: ctx.principal.actor.clone(),
            revoked_at: None,
            last_used_at: None,
        };
        let event = ctx.audit().event(action::API_CLIENT, format!("api_client:{id}"), "success:created");
        self.store.create_api_client(&row, vec![event]).await?;
        Ok((id, secret))
    }

    /// Every client, newest first.
    pub async fn list_api_clients(&self, ctx: &RequestCtx) -> Result<Vec<ClientSummary>, AppError> {
        self.require(ctx, Scope::KeysManage, "api_clients").await?;
        Ok(self
            .store
            .api_clients()
            .await?
            .into_iter()
            .map(|c| ClientSummary {
                state: if c.revoked_at.is_some() { "revoked" } else { "active" },
                scopes: c.scopes.split_whitespace().map(str::to_owned).collect(),
                created_at: time_text(c.created_at),
                last_used_at: c.last_used_at.map(time_text),
                id: c.id,
                name: c.name,
            })
            .collect())
    }

    /// Revokes a client: its tokens and signatures stop working on the next request.
    pub async fn revoke_api_client(&self, ctx: &RequestCtx, id: &str) -> Result<(), AppError> {
        self.require(ctx, Scope::KeysManage, "api_clients").await?;
        let event = ctx.audit().event(action::API_CLIENT, crate::path_object("api_client", "cli_", id), "success:revoked");
        if self.store.revoke_api_client(id, micros(ctx.now), vec![event]).await? { Ok(()) } else { Err(AppError::NotFound("api client")) }
    }

    async fn live_client(&self, id: &str) -> Result<Option<(ApiClientRow, String)>, AppError> {
        if !id.starts_with("cli_") || id.len() > 40 {
            return Ok(None);
        }
        let Some(row) = self.store.api_client(id).await?.filter(|c| c.revoked_at.is_none()) else { return Ok(None) };
        let Ok(secret) = self.keyring.open(&client_aad(&row.id), &row.sealed_secret) else { return Ok(None) };
        let secret = String::from_utf8_lossy(&secret).into_owned();
        Ok(Some((row, secret)))
    }

    /// Issues an access token for the client credentials grant; `scope` narrows the client's.
    pub async fn oauth_token(&self, grant_type: Option<&str>, client_id: &str, client_secret: &str, scope: Option<&str>, now: Timestamp) -> Result<TokenGrant, TokenError> {
        if grant_type != Some("client_credentials") {
            return Err(if grant_type.is_none() { TokenError::InvalidRequest } else { TokenError::UnsupportedGrantType });
        }
        let Ok(Some((row, secret))) = self.live_client(client_id).await else { return Err(TokenError::InvalidClient) };
        if !same_secret(&secret, client_secret) {
            return Err(TokenError::InvalidClient);
        }
        let held = scopes_of(&row);
        let granted: Vec<Scope> = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => held,
            Some(asked) => {
                let parsed: Result<Vec<Scope>, _> = asked.split_whitespace().map(Scope::parse).collect();
                match parsed {
                    Ok(asked) if asked.iter().all(|s| held.contains(s)) => asked,
                    _ => return Err(TokenError::InvalidScope),
                }
            }
        };
        let lifetime = self.settings.staff.token_lifetime;
        let scope = granted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        let payload = json!({"c": row.id, "s": scope, "e": (now + lifetime).as_second()}).to_string();
        let access_token = format!("{TOKEN_PREFIX}{}", self.keyring.seal_token(TOKEN_PURPOSE, payload.as_bytes()));
        let event = sotto_store::AuditContext { actor: format!("client:{}", row.id), request_id: String::new(), source_ip: None, at_micros: micros(now) }.event(action::API_CLIENT, format!("api_client:{}", row.id), "success:token_issued");
        self.store.append_audit(vec![event]).await.map_err(|_| TokenError::InvalidRequest)?;
        Ok(TokenGrant { access_token, expires_in: lifetime.as_secs(), scope })
    }

    /// The principal of an access token: live, its client not revoked, its scopes those the
    /// client still holds.
    pub(crate) async fn authenticate_token(&self, token: &str, now: Timestamp) -> Result<Principal, AppError> {
        let invalid = AppError::Unauthenticated { code: "invalid_token", message: UNAUTHENTICATED };
        let Some(sealed) = token.strip_prefix(TOKEN_PREFIX) else { return Err(invalid) };
        let Ok(payload) = self.keyring.open_token(TOKEN_PURPOSE, sealed) else { return Err(invalid) };
        let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&payload) else { return Err(invalid) };
        let (Some(client), Some(scope), Some(expires)) = (claims["c"].as_str(), claims["s"].as_str(), claims["e"].as_i64()) else { return Err(invalid) };
        if expires <= now.as_second() {
            return Err(AppError::Unauthenticated { code: "token_expired", message: "the access token expired: ask /oauth/token for a new one" });
        }
        let Some((row, _)) = self.live_client(client).await? else { return Err(invalid) };
        let held = scopes_of(&row);
        let scopes = scope.split_whitespace().filter_map(|s| Scope::parse(s).ok()).filter(|s| held.contains(s)).collect();
        self.store.touch_api_client(&row.id, micros(now)).await?;
        Ok(Principal { actor: format!("client:{}", row.id), scopes })
    }

    /// The principal of a signed request: the client's live secret signs method, path and
    /// query, timestamp and body; the timestamp is within the window; the same signature is
    /// accepted once, by every process sharing the database.
    pub async fn authenticate_signed(&self, client_id: &str, signature: &str, request: &sotto_crypto::totp::SignedRequest<'_>, now: Timestamp) -> Result<Principal, AppError> {
        let invalid = AppError::Unauthenticated { code: "invalid_signature", message: "the request signature does not verify: sign METHOD\\npath?query\\ntimestamp\\nhex(sha256(body)) with the client secret" };
        let Some((row, secret)) = self.live_client(client_id).await? else { return Err(invalid) };
        let window = self.settings.staff.signature_window.as_secs();
        if !request.verify(secret.as_bytes(), signature, now.as_second(), window) {
            return Err(invalid);
        }
        let until = (request.timestamp + window + 1) * 1_000_000;
        if !self.store.record_signature(&sotto_crypto::digest(&signature.trim().to_ascii_lowercase()), until, micros(now)).await? {
            return Err(AppError::Unauthenticated { code: "replayed_signature", message: "this signed request was already received; sign each request anew" });
        }
        self.store.touch_api_client(&row.id, micros(now)).await?;
        Ok(Principal { actor: format!("client:{}", row.id), scopes: scopes_of(&row) })
    }
}
