//! What the store keeps of journeys and their runs, and the deciders the scheduler hands it:
//! storage reads and writes in one transaction, policy stays with the caller.

use crate::{OutboxRow, PatientRecord};

/// One version of a journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyRow {
    /// `jrn_…`.
    pub id: String,
    /// 1, 2, …
    pub version: i64,
    /// A coded name.
    pub name: String,
    /// The definition as JSON, as it was sent.
    pub definition: String,
    /// `draft`, `approved`, `superseded` or `archived`.
    pub state: String,
    /// Who wrote this version.
    pub created_by: String,
    /// When (µs).
    pub created_at: i64,
    /// Who approved it (never the author).
    pub approved_by: Option<String>,
    /// When (µs).
    pub approved_at: Option<i64>,
    /// The hash of the exact definition and template versions approved.
    pub approved_hash: Option<String>,
    /// When its review is due (µs); runs pause past it.
    pub review_due: Option<i64>,
    /// Paused by an operator.
    pub paused: bool,
}

/// Who approved a journey version and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyApproval {
    /// The approver (never the author).
    pub approver: String,
    /// The hash of the exact definition and template versions approved.
    pub hash: String,
    /// When its review falls due (µs).
    pub review_due: i64,
    /// When (µs).
    pub at: i64,
    /// Active runs on earlier versions moved onto this one, step by step.
    pub move_runs: Vec<StepMove>,
}

/// Where runs at one step of an earlier version go in the version approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepMove {
    /// The earlier version they are on.
    pub version: i64,
    /// The step they are at.
    pub from: String,
    /// The step of the new version they go to.
    pub to: String,
    /// Whether they enter that step afresh (it does something else than the one they left),
    /// at once, rather than keep waiting where they were.
    pub reenter: bool,
}

/// One run: a journey version followed for one key (an appointment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// `run_…`, a keyed hash of the journey and the key.
    pub id: String,
    /// The journey.
    pub journey_id: String,
    /// The version it runs.
    pub version: i64,
    /// The key's value (an event property such as `appointment_id`).
    pub run_key: String,
    /// The patient.
    pub external_id: String,
    /// The step it is at.
    pub step: String,
    /// Whether it already waits at that step (a delay or a wait started).
    pub waiting: bool,
    /// `{"properties": {…}, "happened": […]}`: only what the firewall let in.
    pub context: String,
    /// `active` or `done`.
    pub state: String,
    /// When it moves next (µs).
    pub wake_at: Option<i64>,
    /// Why it ended: `completed`, `exit_step`, `exit_event`, `goal`.
    pub exit_reason: Option<String>,
    /// Space-separated ids of the messages it queued.
    pub messages: String,
    /// When it started (µs).
    pub started_at: i64,
    /// When it last changed (µs).
    pub updated_at: i64,
}

/// An event journeys have not read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// Its sequence number.
    pub id: i64,
    /// The patient.
    pub external_id: String,
    /// The event's name.
    pub name: String,
    /// Its checked properties as JSON.
    pub properties: String,
    /// When it happened (µs).
    pub occurred_at: i64,
}

/// A run created or changed by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunChange {
    /// The run as it is now.
    pub run: RunRow,
    /// Whether its queued messages are withdrawn (it ended by an exit event or its goal).
    pub withdraw: bool,
}

/// Applies events to runs inside the transaction that marks them read.
pub trait JourneyIntake: Sync {
    /// The runs an event may touch, as (journey id, run key).
    fn keys(&self, event: &PendingEvent) -> Vec<(String, String)>;
    /// One event, with the runs of `keys` as they stand (`None`: no run yet, or ended and
    /// free to start again) and the patient; answers the runs it creates or changes.
    fn apply(&self, event: &PendingEvent, runs: &[Option<RunRow>], patient: Option<&PatientRecord>) -> Vec<RunChange>;
}

/// Moves due runs inside the transaction that queues their messages.
pub trait RunAdvancer: Sync {
    /// One due run and its patient: the run as it is after it moved, and the messages it
    /// queues (their ids are added to the run's).
    fn advance(&self, run: &RunRow, patient: Option<&PatientRecord>) -> (RunRow, Vec<OutboxRow>);
}

/// Runs of one journey counted by state, step and ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCount {
    /// `active` or `done`.
    pub state: String,
    /// The step (for active runs) or the last step.
    pub step: String,
    /// Why it ended.
    pub exit_reason: Option<String>,
    /// How many.
    pub count: i64,
}
