//! The core's integration tests: ingestion parsing and the firewall, and the send gate.

mod gate;
mod ingest;
