//! Sotto's HTTP API (axum): routes, extractors, the one error mapping, request ids,
//! body limits, timeouts, and JSON logs that carry no PHI.

mod campaign_routes;
mod console;
mod oauth_routes;
mod journey_routes;
mod metrics_routes;
pub mod openapi;
mod consent_routes;
mod error;
mod extract;
mod fhir_routes;
mod hygiene;
mod hl7_routes;
mod message_routes;
pub mod mllp;
mod pages;
mod portal_pages;
mod portal_prefs;
mod portal_routes;
mod request_id;
mod routes;
mod segment_routes;
mod server;
mod template_routes;
mod webhook_routes;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use sotto_app::App;
use sotto_store::Store;

pub use error::ApiError;
pub use server::TlsSettings;

/// Every console page with the scope it needs, in navigation order.
pub fn console_pages() -> &'static [(&'static str, &'static str, Option<sotto_core::scope::Scope>)] {
    console::PAGES
}

/// HTTP limits.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a request may take before it is answered with 408.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers before its connection closes.
    pub header_read_timeout: Duration,
    /// TLS, when a certificate and key are configured.
    pub tls: Option<TlsSettings>,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { body_limit: 1024 * 1024, request_timeout: Duration::from_secs(30), header_read_timeout: Duration::from_secs(10), tls: None, max_connections: 1024 }
    }
}

/// The full router.
pub fn router<S: Store>(app: Arc<App<S>>, settings: &HttpSettings) -> Router {
    let api = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/openapi.json", get(openapi::serve))
        .route("/metrics", get(metrics_routes::metrics::<S>))
        .route("/readyz", get(routes::readyz::<S>))
        .route("/v1/identify", post(routes::identify::<S>))
        .route("/v1/track", post(routes::track::<S>))
        .route("/v1/batch", post(routes::batch::<S>))
        .route("/v1/patients/lookup", post(routes::lookup::<S>))
        .route("/v1/patients/{external_id}", get(routes::patient::<S>))
        .route("/v1/dictionary", get(routes::dictionary::<S>))
        .route("/v1/dictionary/fields", post(routes::declare_field::<S>))
        .route("/v1/audit", get(routes::audit::<S>))
        .route("/v1/keys", get(routes::keys::<S>))
        .route("/v1/keys/{id}/revoke", post(routes::revoke_key::<S>))
        .route("/v1/lint", post(routes::lint::<S>))
        .route("/v1/patients/{external_id}/consents", post(consent_routes::record_consent::<S>).get(consent_routes::consents::<S>))
        .route("/v1/authorization-forms", post(consent_routes::create_authorization_form::<S>))
        .route("/v1/authorization-forms/{version}", get(consent_routes::authorization_form::<S>))
        .route("/v1/patients/{external_id}/authorizations", post(consent_routes::create_authorization::<S>))
        .route("/v1/patients/{external_id}/authorizations/{auth_id}/revoke", post(consent_routes::revoke_authorization::<S>))
        .route("/v1/patients/{external_id}/eligibility", get(consent_routes::eligibility::<S>))
        .route("/v1/patients/{external_id}/unsubscribe-links", post(consent_routes::unsubscribe_link::<S>))
        .route("/v1/decisions/summary", get(consent_routes::decision_summary::<S>))
        .route("/v1/inbound/sms", post(consent_routes::inbound_sms::<S>))
        .route("/v1/inbound/email", post(message_routes::email_report::<S>))
        .route("/v1/providers/twilio/status", post(consent_routes::sms_status::<S>))
        .route("/v1/vault/codes", post(segment_routes::put_code::<S>))
        .route("/v1/vault/codes/{code}", get(segment_routes::code::<S>))
        .route("/v1/segments", post(segment_routes::create_segment::<S>))
        .route("/v1/segments/{id}/preview", get(segment_routes::preview::<S>))
        .route("/v1/segments/{id}/members", get(segment_routes::members::<S>))
        .route("/v1/templates", get(template_routes::list::<S>).post(template_routes::create::<S>))
        .route("/v1/templates/{id}", get(template_routes::get_one::<S>))
        .route("/v1/templates/{id}/versions", post(template_routes::edit::<S>))
        .route("/v1/templates/{id}/versions/{version}/{step}", post(template_routes::step::<S>))
        .route("/v1/campaigns", get(campaign_routes::list::<S>).post(campaign_routes::create::<S>))
        .route("/v1/campaigns/{id}", get(campaign_routes::get_one::<S>).put(campaign_routes::edit::<S>).delete(campaign_routes::delete::<S>))
        .route("/v1/campaigns/{id}/checklist", get(campaign_routes::checklist::<S>))
        .route("/v1/campaigns/{id}/preflight", post(campaign_routes::preflight::<S>))
        .route("/v1/campaigns/{id}/progress", get(campaign_routes::progress::<S>))
        .route("/v1/campaigns/{id}/progress/stream", get(campaign_routes::progress_stream::<S>))
        .route("/v1/campaigns/{id}/report", get(campaign_routes::report::<S>))
        .route("/v1/campaigns/{id}/test", post(campaign_routes::test_send::<S>))
        .route("/v1/templates/{id}/report", get(campaign_routes::template_report::<S>))
        .route("/v1/journeys", get(journey_routes::list::<S>).post(journey_routes::create::<S>))
        .route("/v1/journeys/timeline", post(journey_routes::timeline::<S>))
        .route("/v1/journeys/{id}", get(journey_routes::get_one::<S>))
        .route("/v1/journeys/{id}/versions", post(journey_routes::new_version::<S>))
        .route("/v1/journeys/{id}/versions/{version}/submit", post(journey_routes::submit::<S>))
        .route("/v1/journeys/{id}/versions/{version}/approve", post(journey_routes::approve::<S>))
        .route("/v1/journeys/{id}/review", post(journey_routes::review::<S>))
        .route("/v1/journeys/{id}/pause", post(journey_routes::pause::<S>))
        .route("/v1/journeys/{id}/resume", post(journey_routes::resume::<S>))
        .route("/v1/journeys/{id}/archive", post(journey_routes::archive::<S>))
        .route("/v1/journeys/{id}/runs", get(journey_routes::runs::<S>))
        .route("/v1/journeys/{id}/simulate", post(journey_routes::simulate::<S>))
        .route("/c/{token}", get(campaign_routes::follow::<S>))
        .route("/v1/campaigns/{id}/{step}", post(campaign_routes::step::<S>))
        .route("/v1/messages", post(message_routes::send::<S>))
        .route("/v1/messages/{id}", get(message_routes::message::<S>))
        .route("/v1/messages/{id}/requeue", post(message_routes::requeue::<S>))
        .route("/v1/dispatch", get(message_routes::dispatch_status::<S>))
        .route("/v1/dispatch/pause", post(message_routes::pause::<S>))
        .route("/v1/dispatch/resume", post(message_routes::resume::<S>))
        .route("/dev/mailbox", get(message_routes::mailbox::<S>))
        .route("/dev/clock", post(journey_routes::advance_clock::<S>))
        .route("/dev/mailbox.json", get(message_routes::mailbox_json::<S>))
        .route("/v1/patients/{external_id}/secure-messages", post(message_routes::create_secure_message::<S>))
        .route("/v1/secure-messages/{id}", get(message_routes::secure_message::<S>))
        .route("/v1/webhooks", get(webhook_routes::list::<S>).post(webhook_routes::create::<S>))
        .route("/v1/webhooks/{id}", axum::routing::delete(webhook_routes::disable::<S>))
        .route("/v1/webhooks/{id}/deliveries", get(webhook_routes::deliveries::<S>))
        .route("/fhir", post(fhir_routes::bundle::<S>))
        .route("/fhir/Patient", post(fhir_routes::create_patient::<S>))
        .route("/fhir/Consent", post(fhir_routes::consent::<S>))
        .route("/fhir/Appointment", post(fhir_routes::create_appointment::<S>))
        .route("/fhir/Appointment/{id}", axum::routing::put(fhir_routes::update_appointment::<S>))
        .route("/hl7/v2", post(hl7_routes::message::<S>))
        .route("/portal", get(portal_routes::home::<S>))
        .route("/portal/portal.css", get(portal_routes::stylesheet))
        .route("/portal/sign-in", post(portal_routes::sign_in::<S>))
        .route("/portal/sign-out", post(portal_routes::sign_out::<S>))
        .route("/portal/t/{token}", get(portal_routes::landing::<S>).post(portal_routes::use_link::<S>))
        .route("/portal/verify", get(portal_routes::verify_form::<S>).post(portal_routes::verify::<S>))
        .route("/portal/verify/resend", post(portal_routes::resend::<S>))
        .route("/portal/password", get(portal_routes::password_form::<S>).post(portal_routes::set_password::<S>))
        .route("/portal/messages/{id}", get(portal_routes::message::<S>))
        .route("/portal/preferences", get(portal_routes::preferences::<S>).post(portal_routes::save_preferences::<S>))
        .route("/portal/authorizations/{id}/revoke", post(portal_routes::revoke::<S>))
        .route("/portal/a/{token}", get(portal_routes::appointment::<S>).post(portal_routes::appointment_act::<S>))
        .route("/u/{token}", get(consent_routes::unsubscribe_get::<S>).post(consent_routes::unsubscribe_post::<S>))
        .route("/oauth/token", post(oauth_routes::token::<S>))
        .merge(console::routes::<S>())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state((app.clone(), settings.body_limit), oauth_routes::signed::<S>))
        .layer(axum::middleware::from_fn_with_state(app.clone(), metrics_routes::record::<S>))
        .with_state(app);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            // The route template, never the raw path or query: those can carry identifiers.
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
            let request_id = req.extensions().get::<request_id::RequestId>().map(|r| r.0.clone()).unwrap_or_default();
            tracing::info_span!("http", method = %req.method(), route = %route, request_id = %request_id)
        })
        .on_request(())
        .on_response(|res: &axum::response::Response, latency: Duration, _: &tracing::Span| {
            tracing::info!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "response");
        })
        .on_failure(());
    api.layer(trace)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, settings.request_timeout))
        .layer(DefaultBodyLimit::max(settings.body_limit))
        // gzip bodies (Segment's libraries send them); the body limit applies to what they inflate to.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn(request_id::assign))
        .layer(axum::middleware::from_fn(hygiene::harden))
}

/// Serves the router on a bound listener (over TLS when configured) until `shutdown`
/// completes, then lets open requests finish.
pub async fn serve<S: Store>(
    listener: TcpListener,
    app: Arc<App<S>>,
    settings: &HttpSettings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = server::ConnectionLimits {
        max_connections: settings.max_connections.max(1),
        header_read_timeout: settings.header_read_timeout,
        tls_handshake_timeout: settings.header_read_timeout,
        drain_timeout: settings.request_timeout,
    };
    server::run(listener, router(app, settings), settings.tls.clone(), limits, shutdown).await
}
