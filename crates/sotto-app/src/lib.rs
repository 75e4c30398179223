//! Sotto's use cases: authentication and scope checks, ingestion through the firewall,
//! patient views, the dictionary, API keys and audit. Generic over the store; every use case
//! takes a [`RequestCtx`] saying who acts, in which request, at what time.

mod admin;
mod campaign_checklist;
mod campaign_launch;
mod campaign_pacing;
mod campaign_report;
mod campaign_test_send;
mod campaigns;
mod checkpoints;
mod clock;
mod compose;
mod consent;
pub mod deliver;
mod delivery_status;
mod dispatcher;
mod eligibility;
mod engagement;
mod gate_state;
mod hl7;
mod import;
mod inbound;
mod journey_library;
mod journey_runner;
mod journey_scan;
mod journey_simulate;
mod journeys;
mod unsubscribe;
pub mod webhooks;
pub mod demo;
mod dictionary_cache;
mod dispatch;
mod error;
mod failover;
pub mod fhir;
mod ingest;
mod library;
mod merge;
mod metrics;
mod outbox;
mod pacing;
mod patients;
mod portal;
mod portal_appointments;
mod portal_views;
mod push_tokens;
mod replies;
mod secure_messages;
mod segments;
mod console_views;
mod staff;
mod staff_admin;
mod api_clients;
mod supervise;
mod templates;
mod worker;
mod writer;

use std::sync::Arc;

use jiff::Timestamp;

use sotto_core::gate::GatePolicy;
use sotto_core::scope::Scope;
use sotto_crypto::Keyring;
use sotto_store::{AuditContext, Store};

pub use admin::{AuditPage, CreatedKey, KeyRequest, KeySummary};
pub use checkpoints::{CheckpointPolicy, CheckpointWriter};
pub use compose::{message_id_header, sender_domain};
pub use delivery_status::{DeliveryStatus, sms_error_effect};
pub use dispatcher::Dispatcher;
pub use outbox::{MAX_IDEMPOTENCY_KEY, message_view};
pub use import::{ImportColumns, ImportMapping, ImportReport, RowRefusal};
pub use journey_library::APPOINTMENT_JOURNEY;
pub use metrics::Metrics;
pub use journey_runner::JourneyRoundReport;
pub use worker::{DispatchSettings, RoundReport, retry_delay};
pub use error::AppError;
pub use dispatch::Dispatch;
pub use eligibility::{Question, parse_intent};
pub use inbound::SmsReply;
pub use unsubscribe::UnsubscribeTarget;
pub use ingest::{ItemResult, ItemStatus};
pub use library::template_library;
pub use hl7::Hl7Answer;
pub use patients::{PatientView, ViewKind};
pub use portal::{CodeResult, LinkState, PortalCtx, PortalSession, SignIn};
pub use portal_appointments::AppointmentAction;
pub use portal_views::{OpenedMessage, PreferenceForm, Preferences};
pub use segments::suppressed;
pub use console_views::AuditFilter;
pub use staff::{EdgeCtx, StaffCode, StaffSession, StaffSignIn};
pub use staff_admin::{BreakGlassView, StaffView};
pub use api_clients::{ClientSummary, TokenError, TokenGrant};

use dictionary_cache::DictionaryCache;
use writer::IngestWriter;

/// Settings the use cases need, passed down from configuration.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// The region used to read national phone numbers (ISO 3166, such as `US`).
    pub default_region: String,
    /// The base URL patients reach Sotto at, for unsubscribe links (no trailing slash).
    pub public_url: String,
    /// The send gate's rules.
    pub gate: GatePolicy,
    /// The brand named in SMS replies.
    pub sms_brand: String,
    /// Where SMS HELP replies send people.
    pub sms_help_contact: String,
    /// The SMS provider's auth token, for verifying webhook signatures.
    pub sms_webhook_secret: Option<sotto_crypto::webhook::Secret>,
    /// The practice's details, for templates (`clinic.*`).
    pub clinic: ClinicInfo,
    /// The provider configured for each channel, with its BAA.
    pub providers: std::collections::BTreeMap<sotto_core::contact::Channel, sotto_core::gate_policy::ProviderSpec>,
    /// The From of every email, such as `Sotto Clinic <no-reply@clinic.example>`; its domain
    /// names Message-IDs.
    pub email_from: String,
    /// Whether `/dev/mailbox` shows what the development sink kept (never in production).
    pub dev_mailbox: bool,
    /// How fast one API key may queue messages.
    pub send_rate: sotto_core::rate::Rate,
    /// The campaign checklist's compliance facts.
    pub compliance: Compliance,
    /// The patient portal's lifetimes and limits.
    pub portal: PortalSettings,
    /// How HL7 v2 messages are read (the identifier type, service codes, the senders' zone).
    pub hl7: sotto_core::hl7::Hl7Settings,
    /// How FHIR resources are read (the Patient identifier system, type codes).
    pub fhir: sotto_core::fhir::FhirSettings,
    /// Whether webhooks may post to this machine (development and tests only).
    pub webhooks_allow_loopback: bool,
    /// Staff sign-in, sessions, break-glass and API clients.
    pub staff: StaffSettings,
}

/// Staff sign-in, sessions, break-glass and API clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSettings {
    /// A console session idle this long is over.
    pub idle_timeout: jiff::SignedDuration,
    /// A console session ends this long after sign-in, however active.
    pub session_lifetime: jiff::SignedDuration,
    /// How long a password sign-in waits for its TOTP code.
    pub code_window: jiff::SignedDuration,
    /// Attempts per account (and per address, and TOTP codes per account) in the window.
    pub sign_in_attempts: i64,
    /// The throttle's window.
    pub sign_in_window: jiff::SignedDuration,
    /// How long an invitation stays open.
    pub invite_lifetime: jiff::SignedDuration,
    /// The longest break-glass grant.
    pub break_glass_max: jiff::SignedDuration,
    /// How long an OAuth access token lives.
    pub token_lifetime: jiff::SignedDuration,
    /// How far a signed request's timestamp may be from now.
    pub signature_window: jiff::SignedDuration,
    /// How long after a TOTP code sensitive actions (approvals, break-glass, credentials,
    /// staff changes) may be taken without entering a new one.
    pub reauth_window: jiff::SignedDuration,
}

impl Default for StaffSettings {
    fn default() -> Self {
        Self {
            idle_timeout: jiff::SignedDuration::from_mins(15),
            session_lifetime: jiff::SignedDuration::from_hours(10),
            code_window: jiff::SignedDuration::from_mins(5),
            sign_in_attempts: 5,
            sign_in_window: jiff::SignedDuration::from_mins(15),
            invite_lifetime: jiff::SignedDuration::from_hours(72),
            break_glass_max: jiff::SignedDuration::from_mins(60),
            token_lifetime: jiff::SignedDuration::from_mins(15),
            signature_window: jiff::SignedDuration::from_mins(5),
            reauth_window: jiff::SignedDuration::from_mins(10),
        }
    }
}

/// The patient portal's lifetimes and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSettings {
    /// How long a secure message's link opens (at most until the message expires).
    pub link_lifetime: jiff::SignedDuration,
    /// How long a one-time code works.
    pub code_lifetime: jiff::SignedDuration,
    /// Wrong codes before the verification is over.
    pub max_code_attempts: i64,
    /// A session ends after this long without a request.
    pub idle_timeout: jiff::SignedDuration,
    /// A session ends this long after it began, however busy.
    pub session_lifetime: jiff::SignedDuration,
    /// Failed sign-ins under one name before sign-in under it waits...
    pub sign_in_attempts: i64,
    /// ...for this long.
    pub sign_in_window: jiff::SignedDuration,
    /// The topics the preference center offers.
    pub topics: Vec<String>,
    /// The categories a secure message may carry (codes, stored in the clear).
    pub categories: Vec<String>,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            link_lifetime: jiff::SignedDuration::from_hours(24 * 7),
            code_lifetime: jiff::SignedDuration::from_mins(10),
            max_code_attempts: 5,
            idle_timeout: jiff::SignedDuration::from_mins(15),
            session_lifetime: jiff::SignedDuration::from_hours(12),
            sign_in_attempts: 5,
            sign_in_window: jiff::SignedDuration::from_mins(15),
            topics: vec!["newsletter".into(), "events".into(), "offers".into()],
            categories: ["results", "appointments", "billing", "forms", "care_team", "general"].map(String::from).to_vec(),
        }
    }
}

/// What the campaign checklist reads from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compliance {
    /// When the last security risk assessment was done.
    pub last_risk_assessment: Option<jiff::civil::Date>,
    /// When staff last completed privacy and security training.
    pub last_staff_training: Option<jiff::civil::Date>,
    /// Whether a secure portal serves the content templates link to (`links.portal`).
    pub portal_configured: bool,
    /// The largest audience a campaign may be launched to.
    pub audience_cap: Option<u64>,
    /// An audience larger than this needs a second compliance approval.
    pub second_approval_above: Option<u64>,
}

/// The practice's details as templates show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicInfo {
    /// The practice's name.
    pub name: String,
    /// Its phone number, as patients dial it.
    pub phone: String,
    /// Its street address.
    pub address: String,
    /// Its website.
    pub website: String,
}

impl Default for ClinicInfo {
    fn default() -> Self {
        Self { name: "Sotto Clinic".into(), phone: "(555) 010-0100".into(), address: "100 Main Street".into(), website: "https://clinic.example".into() }
    }
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            default_region: "US".into(),
            public_url: "http://127.0.0.1:8080".into(),
            gate: GatePolicy::default(),
            sms_brand: "Sotto Clinic".into(),
            sms_help_contact: "the number on your appointment card".into(),
            sms_webhook_secret: None,
            clinic: ClinicInfo::default(),
            providers: std::collections::BTreeMap::new(),
            email_from: "Sotto Clinic <no-reply@clinic.example>".into(),
            dev_mailbox: false,
            send_rate: sotto_core::rate::Rate { burst: 500.0, per_second: 200.0 },
            compliance: Compliance::default(),
            portal: PortalSettings::default(),
            hl7: sotto_core::hl7::Hl7Settings::default(),
            fhir: sotto_core::fhir::FhirSettings { region: "US".into(), ..Default::default() },
            webhooks_allow_loopback: false,
            staff: StaffSettings::default(),
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Audit name: `key:<id>`, `cli` or `system:<job>`.
    pub actor: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// A principal for the operator at the command line, holding every scope.
    pub fn cli() -> Self {
        Self { actor: "cli".into(), scopes: Scope::ALL.to_vec() }
    }

    /// A principal for an internal job, holding every scope.
    pub fn system(job: &str) -> Self {
        Self { actor: format!("system:{job}"), scopes: Scope::ALL.to_vec() }
    }
}

/// Who acts, in which request, from where, and at what time.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    /// The caller.
    pub principal: Principal,
    /// The request id, echoed to the client and written to the audit chain.
    pub request_id: String,
    /// The client address.
    pub source_ip: Option<String>,
    /// Now, as the edge read it from its clock.
    pub now: Timestamp,
}

impl RequestCtx {
    fn audit(&self) -> AuditContext {
        AuditContext {
            actor: self.principal.actor.clone(),
            request_id: self.request_id.clone(),
            source_ip: self.source_ip.clone(),
            at_micros: micros(self.now),
        }
    }
}

/// An audit object for an id taken from a request path: the id when it has the shape of the
/// ids Sotto makes (`prefix` and 16 hex digits), otherwise a placeholder, so no text a client
/// chose is written into the audit chain.
pub(crate) fn path_object(kind: &str, prefix: &str, raw: &str) -> String {
    let made_here = raw.strip_prefix(prefix).is_some_and(|rest| rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if made_here { format!("{kind}:{raw}") } else { format!("{kind}:unknown") }
}

/// Refuses fields of an object body outside `allowed` (without naming them); other shapes
/// are left to the parser that follows.
pub(crate) fn only_fields(body: &serde_json::Value, allowed: &[&str], field: &str, what: &str) -> Result<(), AppError> {
    match body.as_object().and_then(|o| sotto_core::error::refuse_unknown(o, allowed, field, what)) {
        Some(e) => Err(AppError::invalid(e)),
        None => Ok(()),
    }
}

/// Microseconds since the Unix epoch, the storage time unit.
pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A stored time (microseconds) as RFC 3339 text.
pub(crate) fn time_text(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map(|t| t.to_string()).unwrap_or_default()
}

/// The application: a store, the keyring and settings.
#[derive(Debug)]
pub struct App<S> {
    store: S,
    keyring: Keyring,
    settings: AppSettings,
    dictionary: DictionaryCache,
    writer: IngestWriter,
    segments: Arc<std::sync::RwLock<sotto_core::segment::SegmentEngine>>,
    mailbox: Arc<deliver::Mailbox>,
    outbox_notify: Arc<tokio::sync::Notify>,
    send_limits: std::sync::Mutex<std::collections::HashMap<String, sotto_core::rate::TokenBucket>>,
    /// The providers the dispatch worker of this process hands messages to, for test sends.
    live_providers: std::sync::OnceLock<Arc<deliver::Providers>>,
    /// How far the development clock was moved forward (µs).
    clock_offset: std::sync::atomic::AtomicI64,
    /// The Prometheus metrics.
    metrics: metrics::Metrics,
    /// What carries webhook deliveries, when this process sends them.
    webhook_poster: std::sync::OnceLock<Arc<dyn webhooks::WebhookPoster>>,
}

impl<S: Store> App<S> {
    /// Builds the application and starts its ingestion writer on the current Tokio runtime.
    pub fn new(store: S, keyring: Keyring, settings: AppSettings) -> Arc<Self> {
        let writer = IngestWriter::spawn(store.clone(), keyring.clone());
        Arc::new(Self { store, keyring, settings, dictionary: DictionaryCache::default(), writer, segments: Default::default(), mailbox: Default::default(), outbox_notify: Default::default(), send_limits: Default::default(), live_providers: Default::default(), clock_offset: Default::default(), metrics: Default::default(), webhook_poster: Default::default() })
    }

    /// How often the ingestion writer was restarted after a panic, for readiness.
    pub fn writer_restarts(&self) -> u64 {
        self.writer.restarts()
    }

    /// Groups the ingestion writer committed so far and the writes they held, for readiness
    /// and benchmarks.
    pub fn writer_groups(&self) -> (u64, u64) {
        self.writer.group_stats()
    }

    /// What the development sink kept, newest first, when the settings show it (`None`
    /// otherwise); the read is audited, since it shows addresses and rendered messages.
    pub async fn read_dev_mailbox(&self, now: Timestamp) -> Result<Option<Vec<deliver::MailboxEntry>>, AppError> {
        if !self.settings.dev_mailbox {
            return Ok(None);
        }
        let ctx = AuditContext { actor: "local:dev-mailbox".into(), request_id: String::new(), source_ip: None, at_micros: micros(now) };
        self.store.append_audit(vec![ctx.event(sotto_core::audit::action::PATIENT_READ_PHI, "dev:mailbox".into(), "success")]).await?;
        Ok(Some(self.mailbox.list()))
    }

    /// Names the providers this process's dispatch worker uses (the first worker's stay).
    pub fn set_live_providers(&self, providers: Arc<deliver::Providers>) {
        let _ = self.live_providers.set(providers);
    }

    /// The development sink's mailbox, for wiring the sink provider.
    pub fn mailbox(&self) -> &Arc<deliver::Mailbox> {
        &self.mailbox
    }

    /// Whether webhooks may post to this machine (development).
    pub fn webhooks_allow_loopback(&self) -> bool {
        self.settings.webhooks_allow_loopback
    }

    /// Sends webhook deliveries from this process's dispatch worker through `poster`.
    pub fn set_webhook_poster(&self, poster: Arc<dyn webhooks::WebhookPoster>) {
        let _ = self.webhook_poster.set(poster);
    }

    /// The Prometheus metrics, for the HTTP layer to count requests.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// The store, for health checks and tools.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Fails with 403 (and an audit entry) unless the caller holds `scope`.
    pub async fn require(&self, ctx: &RequestCtx, scope: Scope, object: &str) -> Result<(), AppError> {
        if ctx.principal.scopes.contains(&scope) {
            return Ok(());
        }
        let event = ctx.audit().event(sotto_core::audit::action::ACCESS_DENIED, object.to_owned(), &format!("denied:{scope}"));
        self.store.append_audit(vec![event]).await?;
        Err(AppError::Forbidden(scope))
    }
}
