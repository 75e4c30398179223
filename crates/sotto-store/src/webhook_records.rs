//! Outbound webhooks as the store keeps them: subscriptions, and deliveries written in the
//! transaction that made their event (`message.sent`, `consent.changed`, …), claimed by a
//! sender, and finished as delivered, retried or failed.

use std::future::Future;

use crate::{AuditContext, StoreResult};

/// A subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    /// `whk_…`.
    pub id: String,
    /// Where deliveries are posted.
    pub url: String,
    /// The event types, separated by spaces.
    pub events: String,
    /// The signing secret, sealed with a key derived from the master key.
    pub sealed_secret: String,
    /// When (µs).
    pub created_at: i64,
    /// Who made it.
    pub created_by: String,
    /// When it was turned off.
    pub disabled_at: Option<i64>,
}

/// A delivery of one event to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// `<event id>/<subscription id>`.
    pub id: String,
    /// The subscription.
    pub subscription_id: String,
    /// `message.sent`, …
    pub event_type: String,
    /// The JSON body posted (ids, states and codes only).
    pub payload: String,
    /// When the event happened (µs).
    pub created_at: i64,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Posts tried.
    pub attempts: i64,
    /// When it is due next (µs).
    pub next_attempt_at: i64,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    /// A stable code for the last failure (`timeout`, `connection_failed`, `http_500`).
    pub last_error: Option<String>,
}

/// A claimed delivery with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery.
    pub delivery: DeliveryRow,
    /// The subscription's URL.
    pub url: String,
    /// Its sealed secret.
    pub sealed_secret: String,
}

/// How a post ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryEnd {
    /// A 2xx answer.
    Delivered { status: i64 },
    /// Try again at `at` (µs).
    Retry { at: i64, status: Option<i64>, error: String },
    /// Attempts exhausted.
    Failed { status: Option<i64>, error: String },
}

/// Subscriptions and their deliveries.
pub trait WebhookStore {
    /// Stores a subscription (audited).
    fn create_subscription(&self, row: &SubscriptionRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every subscription, newest first.
    fn subscriptions(&self) -> impl Future<Output = StoreResult<Vec<SubscriptionRow>>> + Send;
    /// Turns a subscription off; its pending deliveries end as failed (audited). False when unknown.
    fn disable_subscription(&self, id: &str, now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// A subscription's latest deliveries.
    fn deliveries(&self, subscription_id: &str, limit: i64) -> impl Future<Output = StoreResult<Vec<DeliveryRow>>> + Send;
    /// Claims up to `limit` due deliveries until `lease_until` (µs), so no other sender posts them meanwhile.
    fn claim_deliveries(&self, now: i64, lease_until: i64, limit: i64) -> impl Future<Output = StoreResult<Vec<DueDelivery>>> + Send;
    /// Records how a post ended.
    fn finish_delivery(&self, id: &str, end: &DeliveryEnd, now: i64) -> impl Future<Output = StoreResult<()>> + Send;
}
