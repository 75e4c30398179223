//! The core's integration tests: ingestion parsing and the firewall, the send gate, and the
//! segment language, templates.

mod campaign;
mod email_report;
mod gate;
mod hl7;
mod ingest;
mod journey;
mod lint;
mod lint_evasion;
mod segment;
mod segment_engine;
mod template;
