//! Outbound webhooks: subscriptions to delivery and consent events, each signed with its own
//! secret (shown once, kept sealed), and the sender's round: due deliveries claimed with a
//! lease, posted with an HMAC-SHA256 signature over a timestamp and the body, retried with
//! backoff, recorded by status code only (never the receiver's answer).

use std::future::Future;
use std::pin::Pin;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use sotto_core::FieldError;
use sotto_core::scope::Scope;
use sotto_crypto::webhook::{Secret, sign_event};
use sotto_store::{DeliveryEnd, Store, SubscriptionRow};

use crate::{App, AppError, RequestCtx, micros, time_text};

/// The events a subscription may ask for.
pub const EVENTS: &[&str] = &["message.sent", "message.delivered", "message.bounced", "message.failed", "message.denied", "consent.changed", "authorization.revoked", "access.changed", "access.break_glass"];
const SECRET_PURPOSE: &str = "sotto webhook secret v1";
/// Posts tried before a delivery fails.
const MAX_ATTEMPTS: i64 = 10;

/// What a post came to: the receiver's status, or a stable code for why there was none.
pub type PostResult = Result<u16, String>;

/// Carries a signed body to a receiver (the HTTP client lives at the edge).
pub trait WebhookPoster: Send + Sync + std::fmt::Debug {
    /// Posts `body` to `url` with these headers; answers the status or an error code.
    fn post<'a>(&'a self, url: &'a str, headers: Vec<(&'static str, String)>, body: String) -> Pin<Box<dyn Future<Output = PostResult> + Send + 'a>>;
}

/// The delay before retry `attempt` (1 for the first): 30 s doubling, at most an hour.
fn backoff(attempt: i64) -> SignedDuration {
    SignedDuration::from_secs((30i64 << attempt.clamp(1, 8).saturating_sub(1)).min(3_600))
}

/// Whether an address is this machine's, a private network's or link-local (cloud metadata):
/// no webhook goes there, whether the URL names it or a name resolves to it.
pub fn internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80 || v6.to_ipv4_mapped().is_some_and(|v4| internal(v4.into())),
    }
}

/// A URL a subscription may post to: HTTPS to a public host, without credentials; HTTP or
/// HTTPS to this machine only where the deployment allows it (development).
fn check_url(raw: &str, allow_loopback: bool) -> Result<String, FieldError> {
    let bad = || FieldError::new("invalid_url", "url", "url must be an https:// address of a public host, without credentials (this machine only where webhooks_allow_loopback is set)");
    let (scheme, rest) = raw.split_once("://").ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || raw.len() > 2_000 || raw.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let ip = host.parse::<std::net::IpAddr>().ok();
    let local = host.eq_ignore_ascii_case("localhost") || ip.is_some_and(|ip| ip.is_loopback());
    if local {
        return if allow_loopback && (scheme == "http" || scheme == "https") { Ok(raw.to_owned()) } else { Err(bad()) };
    }
    if ip.is_some_and(internal) || host.ends_with(".internal") || host.ends_with(".local") {
        return Err(bad());
    }
    if scheme == "https" { Ok(raw.to_owned()) } else { Err(bad()) }
}

fn view(row: &SubscriptionRow) -> Value {
    json!({"id": row.id, "url": row.url, "events": row.events.split_whitespace().collect::<Vec<_>>(), "created_at": time_text(row.created_at), "active": row.disabled_at.is_none()})
}

impl<S: Store> App<S> {
    /// Makes a subscription: `{"url", "events": [...]}`; the answer shows its secret once.
    pub async fn create_webhook(&self, ctx: &RequestCtx, body: &Value) -> Result<Value, AppError> {
        self.require(ctx, Scope::WebhooksManage, "webhooks").await?;
        crate::only_fields(body, &["url", "events"], "", "a webhook subscription")?;
        let mut errors = Vec::new();
        let url = check_url(body.get("url").and_then(Value::as_str).unwrap_or_default(), self.settings.webhooks_allow_loopback).map_err(|e| errors.push(e)).ok();
        let events: Vec<String> = match body.get("events").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => list
                .iter()
                .enumerate()
                .filter_map(|(i, e)| match e.as_str().filter(|e| EVENTS.contains(e)) {
                    Some(e) => Some(e.to_owned()),
                    None => {
                        errors.push(FieldError::new("unknown_event", format!("events[{i}]"), format!("events are {}", EVENTS.join(", "))));
                        None
                    }
                })
                .collect(),
            _ => {
                errors.push(FieldError::new("missing_field", "events", format!("events is required: a list of {}", EVENTS.join(", "))));
                Vec::new()
            }
        };
        let (Some(url), true) = (url, errors.is_empty()) else { return Err(AppError::Invalid(errors)) };
        let secret = format!("whsec_{}", sotto_crypto::random_token());
        let row = SubscriptionRow {
            id: format!("whk_{}", sotto_crypto::random_id(8)),
            url,
            events: events.join(" "),
            sealed_secret: self.keyring.seal_token(SECRET_PURPOSE, secret.as_bytes()),
            created_at: micros(ctx.now),
            created_by: ctx.principal.actor.clone(),
            disabled_at: None,
        };
        self.store.create_subscription(&row, &ctx.audit()).await?;
        let mut answer = view(&row);
        answer["secret"] = Value::String(secret);
        Ok(answer)
    }

    /// Every subscription, without secrets.
    pub async fn webhooks(&self, ctx: &RequestCtx) -> Result<Value, AppError> {
        self.require(ctx, Scope::WebhooksManage, "webhooks").await?;
        Ok(json!({"webhooks": self.store.subscriptions().await?.iter().map(view).collect::<Vec<_>>()}))
    }

    /// Turns a subscription off; what it had pending is not sent.
    pub async fn disable_webhook(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::WebhooksManage, &crate::path_object("webhook", "whk_", id)).await?;
        if !self.store.disable_subscription(id, micros(ctx.now), &ctx.audit()).await? {
            return Err(AppError::NotFound("webhook"));
        }
        Ok(json!({"id": id, "active": false}))
    }

    /// A subscription's latest deliveries: ids, types, states, attempts and status codes.
    pub async fn webhook_deliveries(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::WebhooksManage, &crate::path_object("webhook", "whk_", id)).await?;
        if !self.store.subscriptions().await?.iter().any(|s| s.id == id) {
            return Err(AppError::NotFound("webhook"));
        }
        let rows = self.store.deliveries(id, 100).await?;
        let list: Vec<Value> = rows
            .iter()
            .map(|d| json!({"id": d.id, "type": d.event_type, "state": d.state, "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error, "created_at": time_text(d.created_at)}))
            .collect();
        Ok(json!({"deliveries": list}))
    }

    /// One sender round: posts what is due (at most `limit`), answers how many were posted.
    pub async fn webhook_round(&self, poster: &dyn WebhookPoster, now: Timestamp, limit: i64) -> Result<usize, AppError> {
        // Posts go one at a time, each bounded by the poster's timeout: the lease covers the round.
        let due = self.store.claim_deliveries(micros(now), micros(now + SignedDuration::from_mins(15)), limit).await?;
        let posts = due.iter().map(|d| async move {
            let end = match self.keyring.open_token(SECRET_PURPOSE, &d.sealed_secret) {
                Ok(secret) => {
                    let secret = Secret::new(String::from_utf8_lossy(&secret).into_owned());
                    let headers = vec![
                        ("content-type", "application/json".to_owned()),
                        // Signed as it leaves, so a receiver's replay window holds however long the round.
                        ("sotto-signature", sign_event(&secret, Timestamp::now().as_second(), d.delivery.payload.as_bytes())),
                        ("sotto-event", d.delivery.event_type.clone()),
                        ("sotto-delivery", d.delivery.id.clone()),
                    ];
                    let attempt = d.delivery.attempts + 1;
                    match poster.post(&d.url, headers, d.delivery.payload.clone()).await {
                        Ok(status) if (200..300).contains(&status) => DeliveryEnd::Delivered { status: i64::from(status) },
                        result => {
                            let (status, error) = match result {
                                Ok(status) => (Some(i64::from(status)), format!("http_{status}")),
                                Err(code) => (None, code),
                            };
                            if attempt >= MAX_ATTEMPTS {
                                DeliveryEnd::Failed { status, error }
                            } else {
                                DeliveryEnd::Retry { at: micros(now + backoff(attempt)), status, error }
                            }
                        }
                    }
                }
                Err(_) => DeliveryEnd::Failed { status: None, error: "secret_unreadable".into() },
            };
            (d.delivery.id.clone(), end)
        });
        let ends = in_turn(posts).await;
        for (id, end) in &ends {
            self.store.finish_delivery(id, end, micros(now)).await?;
        }
        Ok(ends.len())
    }
}

/// Runs the posts of a round one after another (each bounded by the poster's timeout).
async fn in_turn<F: Future<Output = (String, DeliveryEnd)>>(futures: impl Iterator<Item = F>) -> Vec<(String, DeliveryEnd)> {
    let mut out = Vec::new();
    for f in futures {
        out.push(f.await);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn a_webhook_url_is_https_to_a_public_host_and_this_machine_only_where_allowed() {
        assert!(check_url("https://ehr.example.org/hooks", false).is_ok());
        for refused in [
            "http://ehr.example.org/hooks",
            "https://user:pw@ehr.example.org/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.8/hook",
            "https://192.168.1.20/hook",
            "https://[fd00::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "https://metadata.internal/",
            "http://localhost:8080/hook",
            "https://127.0.0.1/hook",
            "ftp://ehr.example.org/",
        ] {
            assert!(check_url(refused, false).is_err(), "{refused}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok(), "development may post to this machine");
        assert!(check_url("http://[::1]/hook", true).is_ok());
        assert!(check_url("https://10.0.0.8/hook", true).is_err(), "never to a private network");
    }
}
