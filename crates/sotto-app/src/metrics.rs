//! Prometheus metrics: requests by route template and status, ingested calls by type and
//! outcome, gate decisions by reason code, hand-offs to providers by channel (latency, and
//! errors by stable code), and the outbox's depth by state and the age of its oldest waiting
//! message. Every label is a route template, a call type, a channel, a state or a stable
//! code Sotto defines: never an id, an address, a path a client sent or a value.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use sotto_core::scope::Scope;
use sotto_store::{Finish, OutboxRow, Store, Verdict};

use crate::{App, AppError, RequestCtx, micros};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    call: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderErrorLabels {
    channel: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    ingested: Family<IngestLabels, Counter>,
    decisions: Family<DecisionLabels, Counter>,
    handoff_seconds: Family<ChannelLabels, Histogram, fn() -> Histogram>,
    provider_errors: Family<ProviderErrorLabels, Counter>,
    outbox: Family<StateLabels, Gauge>,
    oldest_waiting: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sotto");
        let requests = Family::default();
        let request_seconds = Family::new_with_constructor(latency as fn() -> Histogram);
        let ingested = Family::default();
        let decisions = Family::default();
        let handoff_seconds = Family::new_with_constructor(latency as fn() -> Histogram);
        let provider_errors = Family::default();
        let outbox = Family::default();
        let oldest_waiting = Gauge::default();
        registry.register("http_requests", "HTTP requests by route template, method and status", requests.clone());
        registry.register("http_request_seconds", "HTTP request latency by route template", request_seconds.clone());
        registry.register("ingested_calls", "Ingested calls by type and outcome", ingested.clone());
        registry.register("gate_decisions", "Send-gate decisions at dispatch by decision and reason code", decisions.clone());
        registry.register("provider_handoff_seconds", "Hand-offs to providers by channel", handoff_seconds.clone());
        registry.register("provider_errors", "Hand-offs that did not end accepted, by channel and stable error code", provider_errors.clone());
        registry.register("outbox_messages", "Messages in the outbox by state", outbox.clone());
        registry.register("outbox_oldest_waiting_seconds", "Age of the oldest message waiting to go (queued or deferred)", oldest_waiting.clone());
        Self { registry, requests, request_seconds, ingested, decisions, handoff_seconds, provider_errors, outbox, oldest_waiting }
    }
}

impl Metrics {
    /// One answered request: `route` is the matched route template (or `unmatched`).
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { route: route.to_owned(), method: method.to_owned(), status }).inc();
        self.request_seconds.get_or_create(&RouteLabels { route: route.to_owned() }).observe(seconds);
    }

    pub(crate) fn ingested(&self, call: &str, accepted: bool) {
        let outcome = if accepted { "accepted" } else { "rejected" };
        self.ingested.get_or_create(&IngestLabels { call: call.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// The gate's verdicts on a chunk, one count per reason code (a message sent back to
    /// wait for its local time is not a decision).
    pub(crate) fn verdicts(&self, decided: &[(OutboxRow, Verdict)]) {
        for (_, verdict) in decided {
            let (decision, reasons) = match verdict {
                Verdict::Allow { .. } => ("allow", ""),
                Verdict::Defer { reasons, .. } => ("defer", reasons.as_str()),
                Verdict::Deny { reasons } => ("deny", reasons.as_str()),
                Verdict::Wait { .. } => continue,
            };
            let mut codes = reasons.split_whitespace().peekable();
            if codes.peek().is_none() {
                self.decisions.get_or_create(&DecisionLabels { decision: decision.to_owned(), reason: String::new() }).inc();
            }
            for reason in codes {
                self.decisions.get_or_create(&DecisionLabels { decision: decision.to_owned(), reason: reason.to_owned() }).inc();
            }
        }
    }

    /// A hand-off to a channel's provider and how it ended.
    pub(crate) fn handoff(&self, channel: &str, seconds: f64, finish: &Finish) {
        self.handoff_seconds.get_or_create(&ChannelLabels { channel: channel.to_owned() }).observe(seconds);
        if let Finish::Retry { error, .. } | Finish::Failed { error } | Finish::Dead { error } | Finish::Uncertain { error } = finish {
            self.provider_errors.get_or_create(&ProviderErrorLabels { channel: channel.to_owned(), code: error.clone() }).inc();
        }
    }
}

impl<S: Store> App<S> {
    /// The metrics in Prometheus's text format, the outbox read at this moment.
    pub async fn metrics_text(&self, ctx: &RequestCtx) -> Result<String, AppError> {
        self.require(ctx, Scope::MetricsRead, "metrics").await?;
        let metrics = &self.metrics;
        // Every state is set, so one that emptied reads 0 rather than its last count.
        let counts: std::collections::BTreeMap<String, i64> = self.store.outbox_counts().await?.into_iter().collect();
        for state in ["queued", "held", "deferred", "sending", "sent", "delivered", "bounced", "failed", "denied", "dead", "uncertain", "cancelled"] {
            metrics.outbox.get_or_create(&StateLabels { state: state.to_owned() }).set(counts.get(state).copied().unwrap_or(0));
        }
        let age = self.store.oldest_pending().await?.map_or(0, |at| (micros(ctx.now) - at).max(0) / 1_000_000);
        metrics.oldest_waiting.set(age);
        let mut out = String::new();
        encode(&mut out, &metrics.registry).map_err(|_| AppError::Internal("metrics did not encode"))?;
        Ok(out)
    }
}
