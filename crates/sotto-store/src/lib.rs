//! Sotto's storage: traits shaped like the use cases that need them, `StoreError`, and one
//! SQL implementation that runs on SQLite (embedded, WAL) and PostgreSQL, each with its own
//! migrations. Reads return `Result<Option<_>, StoreError>`: an error is never "not found".

mod campaign_records;
mod checkpoints;
mod consent_records;
mod error;
mod journey_records;
mod outbox_records;
mod portal_records;
mod records;
mod sql;
mod staff_records;
mod template_records;
pub mod testing;
mod verify;
mod webhook_records;

use std::future::Future;

pub use campaign_records::{CampaignControl, CampaignRow, MessageCount, ReportLine, ReportScope};
pub use checkpoints::{CheckpointDir, CheckpointError};
pub use consent_records::{AuthorizationRow, ConsentRow, DecisionRow, ProfileFacts, RevokeOutcome, SegmentRow, SendRow};
pub use error::StoreError;
pub use journey_records::{JourneyApproval, JourneyIntake, JourneyRow, PendingEvent, RunAdvancer, RunChange, RunCount, RunRow, StepMove};
pub use portal_records::{CodeAttempt, CodeCheck, PortalStore, SecureMessageRow, SessionRow, VerificationRow};
pub use outbox_records::{ClaimScope, DispatchControl, Finish, GateInputs, OutboxDecider, OutboxRow, Verdict};
pub use records::{ApiKeyRecord, AuditContext, EventRecord, IngestJob, IngestWrite, PatientRecord, ProfileMerger, WriteOutcome};
pub use sql::{Backend, DatabaseUrl, SqlStore};
pub use staff_records::{ApiClientRow, BreakGlassRow, StaffChange, StaffSessionRow, StaffStore, StaffUserRow};
pub use template_records::{Review, TemplateRow, TemplateVersionRow};
pub use verify::verify_audit_chain;
pub use webhook_records::{DeliveryEnd, DeliveryRow, DueDelivery, SubscriptionRow, WebhookStore};

use sotto_core::audit::{AuditEvent, AuditRecord};
use sotto_core::dictionary::FieldSpec;

/// A result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Liveness of the database.
pub trait HealthStore {
    /// Succeeds when the database answers a trivial query.
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Durable, idempotent ingestion of identify and track calls.
pub trait IngestStore {
    /// Applies every write in one transaction, each idempotent by message id, appending one
    /// audit entry per write and the `extra_audit` entries (refused items). Either all of it
    /// is committed or none of it.
    fn ingest<C: Send + Sync>(
        &self,
        writes: &[IngestWrite<C>],
        merger: &dyn ProfileMerger<C>,
        ctx: &AuditContext,
        extra_audit: Vec<AuditEvent>,
    ) -> impl Future<Output = StoreResult<Vec<WriteOutcome>>> + Send;

    /// Group commit: applies several requests' jobs in one transaction, each job all or
    /// nothing (a failing job is rolled back alone). The outer error means nothing was
    /// committed; the inner results are per job, in order.
    fn ingest_group<C: Send + Sync>(
        &self,
        jobs: &[IngestJob<C>],
        merger: &dyn ProfileMerger<C>,
    ) -> impl Future<Output = StoreResult<Vec<StoreResult<Vec<WriteOutcome>>>>> + Send;
}

/// Reading patient profiles and their events.
pub trait PatientStore {
    /// One profile.
    fn patient(&self, external_id: &str) -> impl Future<Output = StoreResult<Option<PatientRecord>>> + Send;
    /// External ids whose email (`email`) or phone (`phone`) blind index equals `index`.
    fn patients_by_index(&self, kind: IndexKind, index: &[u8]) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// A patient's events, oldest first.
    fn events_of(&self, external_id: &str, limit: i64) -> impl Future<Output = StoreResult<Vec<EventRecord>>> + Send;
    /// How many profiles and events are stored.
    fn counts(&self) -> impl Future<Output = StoreResult<(i64, i64)>> + Send;
}

/// Which blind index to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// The email address index.
    Email,
    /// The phone number index.
    Phone,
}

/// The deployment's own dictionary declarations.
pub trait DictionaryStore {
    /// Every declaration added through the API.
    fn declared_fields(&self) -> impl Future<Output = StoreResult<Vec<FieldSpec>>> + Send;
    /// Adds a declaration and audits it; `false` (and nothing written but the audit entry)
    /// when a field of that kind and name already exists.
    fn declare_field(&self, spec: &FieldSpec, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// API keys.
pub trait KeyStore {
    /// Stores a new key and audits its creation.
    fn create_api_key(&self, key: &ApiKeyRecord, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// Finds a key by the hash of its secret.
    fn api_key_by_hash(&self, hash: &[u8]) -> impl Future<Output = StoreResult<Option<ApiKeyRecord>>> + Send;
    /// Every key, newest first.
    fn api_keys(&self) -> impl Future<Output = StoreResult<Vec<ApiKeyRecord>>> + Send;
    /// Revokes a live key at `at`, audited; `false` when no live key has that id (nothing
    /// but the audit entry is written).
    fn revoke_api_key(&self, id: &str, at: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// The audit chain.
pub trait AuditStore {
    /// Appends entries to the chain in their own transaction.
    fn append_audit(&self, events: Vec<AuditEvent>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Entries after `after_seq`, in sequence order.
    fn audit_page(&self, after_seq: i64, limit: i64) -> impl Future<Output = StoreResult<Vec<AuditRecord>>> + Send;
    /// The chain's recorded head: the last sequence number and its hash.
    fn audit_head(&self) -> impl Future<Output = StoreResult<(i64, Vec<u8>)>> + Send;
}

/// Consent, authorizations, suppressions, sends and gate decisions.
pub trait ConsentStore {
    /// Appends ledger rows (for one or several patients) and audit entries, atomically.
    fn append_consents(&self, rows: &[ConsentRow], ctx: &AuditContext, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Records a keyword from a number (its blind index): `opted_out` or `opted_in`, kept for
    /// the number whoever it belongs to, with the ledger rows of the patients it belongs to
    /// now and audit entries, atomically.
    fn record_number_consent(&self, phone_index: &[u8], status: &str, at: i64, rows: &[ConsentRow], ctx: &AuditContext, audit: Vec<AuditEvent>) -> impl Future<Output = StoreResult<()>> + Send;
    /// The latest keyword from a number: its status and when.
    fn number_consent(&self, phone_index: &[u8]) -> impl Future<Output = StoreResult<Option<(String, i64)>>> + Send;
    /// A patient's ledger, oldest first.
    fn consents_of(&self, external_id: &str) -> impl Future<Output = StoreResult<Vec<ConsentRow>>> + Send;
    /// Stores a new authorization form version (its JSON body), audited; `false` when the
    /// version exists.
    fn create_authorization_form(&self, version: &str, language: &str, body: &str, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// A form version's JSON body.
    fn authorization_form(&self, version: &str) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Stores an authorization and audits it.
    fn create_authorization(&self, row: &AuthorizationRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// Revokes an authorization of a patient, effective `at`, and audits it.
    fn revoke_authorization(&self, external_id: &str, id: &str, at: i64, source: &str, ctx: &AuditContext) -> impl Future<Output = StoreResult<RevokeOutcome>> + Send;
    /// A patient's authorizations with their revocation times.
    fn authorizations_of(&self, external_id: &str) -> impl Future<Output = StoreResult<Vec<AuthorizationRow>>> + Send;
    /// Sets a data key on a profile that has none; returns the key the profile has afterwards.
    fn ensure_patient_key(&self, external_id: &str, wrapped: &[u8], key_version: i64, now: i64) -> impl Future<Output = StoreResult<Vec<u8>>> + Send;
    /// Suppresses a channel of a patient, keeping the evidence (a JSON object of codes).
    fn add_suppression(&self, external_id: &str, channel: &str, reason: &str, evidence: &str, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// A patient's suppressions as (channel, reason).
    fn suppressions_of(&self, external_id: &str) -> impl Future<Output = StoreResult<Vec<(String, String)>>> + Send;
    /// Records a message that went out, audited.
    fn record_send(&self, row: &SendRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// A patient's sends since `since`, by the patient's opaque reference.
    fn sends_of(&self, patient: &str, since: i64) -> impl Future<Output = StoreResult<Vec<SendRow>>> + Send;
    /// Records gate decisions, each audited with its outcome.
    fn record_decisions(&self, rows: &[DecisionRow], ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// Decisions since `since`, counted by decision and reason code.
    fn decision_counts(&self, since: i64) -> impl Future<Output = StoreResult<Vec<(String, String, i64)>>> + Send;
    /// Claims the right to send one SMS confirmation of `kind` to a number: `false` when the
    /// latest confirmation to it was of the same kind within `window_micros` (so a repeated
    /// STOP gets no second confirmation, while STOP after START does).
    fn claim_sms_reply(&self, phone_index: &[u8], kind: &str, now: i64, window_micros: i64) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// The code vault, segment definitions, and the pages the segment engine is built from.
pub trait SegmentStore {
    /// Stores or replaces a code's sealed meaning, audited.
    fn put_code(&self, code: &str, sealed: &[u8], ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// A code's sealed meaning.
    fn code(&self, code: &str) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;
    /// Stores a segment, audited; `false` when the name is taken.
    fn create_segment(&self, row: &SegmentRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One segment.
    fn segment(&self, id: &str) -> impl Future<Output = StoreResult<Option<SegmentRow>>> + Send;
    /// Every segment, newest first.
    fn segments(&self) -> impl Future<Output = StoreResult<Vec<SegmentRow>>> + Send;
    /// Profiles after `after` (by external id), at most `limit`.
    fn profile_page(&self, after: &str, limit: i64) -> impl Future<Output = StoreResult<Vec<ProfileFacts>>> + Send;
    /// Events after row `after_id`, at most `limit`, with their row ids.
    fn event_page(&self, after_id: i64, limit: i64) -> impl Future<Output = StoreResult<Vec<(i64, EventRecord)>>> + Send;
    /// Patients holding at least one authorization.
    fn authorization_holders(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Consent rows after row `after_id`, at most `limit`, with their row ids.
    fn consent_page(&self, after_id: i64, limit: i64) -> impl Future<Output = StoreResult<Vec<(i64, ConsentRow)>>> + Send;
}

/// Message templates, their versions and their reviews.
pub trait TemplateStore {
    /// Stores a template with its first version, audited; `false` when the name is taken.
    fn create_template(&self, template: &TemplateRow, first: &TemplateVersionRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Stores a new version, audited; `false` when that version number exists already.
    fn add_template_version(&self, version: &TemplateVersionRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Moves a version's review from `review.from` to `review.to`, audited; `false` when the
    /// version is not in `review.from` (someone else moved it first).
    fn review_template_version(&self, template_id: &str, version: i64, review: &Review, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One template.
    fn template(&self, id: &str) -> impl Future<Output = StoreResult<Option<TemplateRow>>> + Send;
    /// Every template, by name.
    fn templates(&self) -> impl Future<Output = StoreResult<Vec<TemplateRow>>> + Send;
    /// A template's versions, oldest first.
    fn template_versions(&self, template_id: &str) -> impl Future<Output = StoreResult<Vec<TemplateVersionRow>>> + Send;
}

/// The claims a worker decided, with their verdicts, and the gate inputs read to decide them.
pub type Decided = (Vec<(OutboxRow, Verdict)>, std::collections::BTreeMap<String, GateInputs>);

/// The outbox: message intents, their claims by workers, decisions and hand-offs.
pub trait OutboxStore {
    /// Queues a message unless its idempotency key is taken, audited; answers the row stored
    /// under that key and whether it is new.
    fn enqueue_message(&self, row: &OutboxRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<(OutboxRow, bool)>> + Send;
    /// Queues many messages in one transaction (campaigns, imports), each unless its key is
    /// taken, audited one entry per new message; answers how many are new.
    fn enqueue_messages(&self, rows: &[OutboxRow], ctx: &AuditContext) -> impl Future<Output = StoreResult<u64>> + Send;
    /// One message.
    fn outbox_message(&self, id: &str) -> impl Future<Output = StoreResult<Option<OutboxRow>>> + Send;
    /// Claims up to `limit` due messages (queued, or deferred and due) for `worker` until
    /// `lease_until`, of the messages `scope` names; messages of campaigns not launched are
    /// never claimed. On PostgreSQL concurrent workers skip each other's rows
    /// (`FOR UPDATE SKIP LOCKED`); SQLite serializes writers.
    fn claim_outbox(&self, worker: &str, now: i64, lease_until: i64, limit: i64, scope: ClaimScope<'_>) -> impl Future<Output = StoreResult<Vec<OutboxRow>>> + Send;
    /// In one write transaction: reads the gate's inputs for the claims still held by
    /// `worker` (sends since `sends_since`), asks `decider`, records each decision (audited),
    /// takes the frequency-cap slot of each allowed message and moves the rest on. Answers
    /// the claims it decided with their verdicts, and the inputs it read.
    fn decide_claimed(
        &self,
        worker: &str,
        claims: &[OutboxRow],
        sends_since: i64,
        now: i64,
        decider: &dyn OutboxDecider,
        ctx: &AuditContext,
    ) -> impl Future<Output = StoreResult<Decided>> + Send;
    /// Records how hand-offs ended, audited; a message no longer held by `worker` is left alone.
    fn finish_outbox(&self, worker: &str, results: &[(String, Finish)], now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
    /// Messages whose lease ran out: undecided ones go back to the queue, ones allowed (and
    /// perhaps handed to a provider) become `uncertain`. Answers (requeued, uncertain).
    fn recover_outbox(&self, now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<(u64, u64)>> + Send;
    /// Gives back the undecided claims of a worker that stops.
    fn release_claims(&self, worker: &str, now: i64) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Moves a dead or uncertain message back to the queue, audited; `false` when it is in
    /// neither state.
    fn requeue_message(&self, id: &str, now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records a provider's delivery report for its message id, audited: `state` is
    /// `delivered`, `bounced` or `failed`; only a message already handed over changes.
    /// Answers the message's patient and channel, or `None` for an id Sotto did not send.
    fn record_delivery(&self, provider: &str, provider_message_id: &str, state: &str, error: Option<&str>, now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<Option<(String, String)>>> + Send;
    /// Messages counted by state.
    fn outbox_counts(&self) -> impl Future<Output = StoreResult<Vec<(String, i64)>>> + Send;
    /// When the oldest message still waiting to go (queued or deferred) was queued (µs).
    fn oldest_pending(&self) -> impl Future<Output = StoreResult<Option<i64>>> + Send;
    /// The gate's inputs for several patients, read now.
    fn gate_inputs(&self, external_ids: &[String], sends_since: i64) -> impl Future<Output = StoreResult<std::collections::BTreeMap<String, GateInputs>>> + Send;
    /// Whether sending is paused.
    fn dispatch_control(&self) -> impl Future<Output = StoreResult<DispatchControl>> + Send;
    /// Pauses or resumes all sending, audited.
    fn set_dispatch_control(&self, control: &DispatchControl, ctx: &AuditContext) -> impl Future<Output = StoreResult<()>> + Send;
}

/// The providers' send rates, shared by every worker.
pub trait SendRateStore {
    /// Takes up to `wanted` tokens from the provider's bucket (`per_second`, holding at most
    /// `burst`, full when first used) at `now` (µs); answers how many were granted, maybe 0.
    fn take_send_tokens(&self, provider: &str, per_second: f64, burst: f64, wanted: i64, now: i64) -> impl Future<Output = StoreResult<i64>> + Send;
    /// Puts back `tokens` drawn but not used, never above `burst`.
    fn return_send_tokens(&self, provider: &str, tokens: i64, burst: f64) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Journeys, their versions and their runs.
pub trait JourneyStore {
    /// Writes a new version, audited; false when that version exists or another journey has
    /// the name.
    fn create_journey_version(&self, row: &JourneyRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Every version of one journey, oldest first.
    fn journey_versions(&self, id: &str) -> impl Future<Output = StoreResult<Vec<JourneyRow>>> + Send;
    /// Every version of every journey.
    fn journeys(&self) -> impl Future<Output = StoreResult<Vec<JourneyRow>>> + Send;
    /// Submits a draft for approval. Audited.
    fn submit_journey(&self, id: &str, version: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Approves a submitted version by someone other than its author, with the hash of what was approved
    /// and a review date; the version approved before is superseded, and the active runs the
    /// approval names move onto the new version. Audited.
    fn approve_journey(&self, id: &str, version: i64, approval: &JourneyApproval, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records a review of an approved version: the next review date. Audited.
    fn review_journey(&self, id: &str, version: i64, review_due: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Archives a journey: no run starts on it any more; runs under way finish. Audited.
    fn archive_journey(&self, id: &str, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Pauses or resumes every run of a journey. Audited.
    fn pause_journey(&self, id: &str, paused: bool, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Reads up to `limit` events journeys have not read, applies them to runs through
    /// `intake`, withdraws the queued messages of runs that exit, and marks the events read,
    /// in one transaction. Answers how many events were read.
    fn journey_intake(&self, limit: i64, intake: &dyn JourneyIntake, now: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<usize>> + Send;
    /// Moves up to `limit` runs due at `now` (not of a paused journey, nor of one whose review
    /// is overdue) through `advancer`, queuing their messages in the same transaction.
    fn advance_due_runs(&self, now: i64, limit: i64, advancer: &dyn RunAdvancer, ctx: &AuditContext) -> impl Future<Output = StoreResult<usize>> + Send;
    /// A journey's runs counted by state, step and ending.
    fn journey_run_counts(&self, id: &str) -> impl Future<Output = StoreResult<Vec<RunCount>>> + Send;
    /// Starts runs a time-based trigger calls for, in one transaction taken by one leader (a
    /// PostgreSQL advisory lock; SQLite has one writer): a key without a run starts; a key
    /// whose run ended starts again when it began no later than `restart_ended_before`.
    /// Answers how many started (0 when another process leads), each audited.
    fn start_runs(&self, runs: &[RunRow], restart_ended_before: Option<i64>, ctx: &AuditContext) -> impl Future<Output = StoreResult<usize>> + Send;
    /// A journey's run keys with each run's state and start.
    fn journey_run_keys(&self, journey_id: &str) -> impl Future<Output = StoreResult<Vec<(String, String, i64)>>> + Send;
    /// Patients' traits and zones, `limit` at a time in external-id order after `after`.
    fn patient_traits(&self, after: &str, limit: i64) -> impl Future<Output = StoreResult<Vec<(String, String, Option<String>)>>> + Send;
    /// A patient's active runs, soonest wake-up first.
    fn active_runs_for_patient(&self, external_id: &str) -> impl Future<Output = StoreResult<Vec<RunRow>>> + Send;
    /// Every run for one key (an appointment), in every journey.
    fn runs_for_key(&self, run_key: &str) -> impl Future<Output = StoreResult<Vec<RunRow>>> + Send;
}

/// Campaigns and their messages.
pub trait CampaignStore {
    /// Creates a draft; false when the name is taken.
    fn create_campaign(&self, row: &CampaignRow, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// One campaign.
    fn campaign(&self, id: &str) -> impl Future<Output = StoreResult<Option<CampaignRow>>> + Send;
    /// Every campaign, newest first.
    fn campaigns(&self) -> impl Future<Output = StoreResult<Vec<CampaignRow>>> + Send;
    /// The campaigns in one state (`launched`: those the worker sends for), by id.
    fn campaigns_in_state(&self, state: &str) -> impl Future<Output = StoreResult<Vec<CampaignRow>>> + Send;
    /// Replaces a draft's name and spec; false unless it is still a draft.
    fn edit_campaign(&self, id: &str, name: &str, spec: &str, at: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Deletes a draft; false unless it is still a draft.
    fn delete_campaign(&self, id: &str, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Approves a draft as `approver`; false unless it is still a draft.
    fn approve_campaign(&self, id: &str, approver: &str, at: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records the second approval of an approved campaign, by someone who is neither its
    /// author nor its first approver; false otherwise.
    fn second_approve_campaign(&self, id: &str, approver: &str, at: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Launches an approved campaign: pins the versions and queues its messages, all or
    /// nothing; false unless it was approved.
    fn launch_campaign(&self, id: &str, pinned: &str, messages: &[OutboxRow], arms: &[(String, &'static str)], at: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Each arm's recipients, and how many of them recorded `event` in `[from, until)`.
    fn conversions(&self, id: &str, event: &str, from: i64, until: i64) -> impl Future<Output = StoreResult<Vec<(String, i64, i64)>>> + Send;
    /// Pauses, resumes or cancels; false when the campaign is not in a state that allows it.
    fn control_campaign(&self, id: &str, control: CampaignControl, at: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Its messages counted by state, decision and reasons.
    fn campaign_counts(&self, id: &str) -> impl Future<Output = StoreResult<Vec<MessageCount>>> + Send;
    /// Records the first click on a link, or an unsubscribe, of a message (audited); false when
    /// it was recorded before or the message is unknown.
    fn record_engagement(&self, message_id: &str, kind: &str, link: &str, at: i64, ctx: &AuditContext) -> impl Future<Output = StoreResult<bool>> + Send;
    /// A report's lines: messages by template version, state and reasons, with engagements.
    fn report_lines(&self, scope: ReportScope<'_>) -> impl Future<Output = StoreResult<Vec<ReportLine>>> + Send;
}

/// Everything the application needs from storage.
pub trait Store: HealthStore + IngestStore + PatientStore + DictionaryStore + KeyStore + AuditStore + ConsentStore + SegmentStore + TemplateStore + OutboxStore + SendRateStore + CampaignStore + JourneyStore + PortalStore + WebhookStore + StaffStore + Clone + Send + Sync + 'static {}

impl<T> Store for T where T: HealthStore + IngestStore + PatientStore + DictionaryStore + KeyStore + AuditStore + ConsentStore + SegmentStore + TemplateStore + OutboxStore + SendRateStore + CampaignStore + JourneyStore + PortalStore + WebhookStore + StaffStore + Clone + Send + Sync + 'static {}
