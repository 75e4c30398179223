//! Sotto's pure core: domain types and policy with no I/O, no async and no clock.
//! Time, ids and randomness come in as arguments.

pub mod audit;
pub mod authorization;
pub mod campaign;
pub mod consent;
pub mod contact;
pub mod default_dictionary;
pub mod dictionary;
pub mod disclosure;
pub mod email_report;
pub mod error;
pub mod fhir;
pub mod firewall;
pub mod gate;
pub mod gate_policy;
pub mod health_terms;
pub mod hl7;
pub mod ids;
pub mod ingest;
pub mod journey;
pub mod lint;
pub mod phi;
pub mod purpose;
pub mod quiet_hours;
pub mod rate;
pub mod role;
pub mod scope;
pub mod segment;
pub mod sms_keywords;
pub mod template;

pub use error::FieldError;
pub use phi::Phi;
