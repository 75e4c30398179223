//! HTTP integration tests: a real server on a loopback port per test, a fresh database per
//! test (SQLite, and PostgreSQL when `SOTTO_TEST_DATABASE_URL` is set).

mod admin;
mod auth;
mod browser;
mod campaign_ab;
mod campaign_pacing;
mod campaigns;
mod consent;
mod inbound;
mod lint;
mod dictionary;
mod dispatch;
mod fhir;
mod hl7;
mod hygiene;
mod ingest;
mod journey_replies;
mod journey_simulate;
mod journey_triggers;
mod journey_versions;
mod journeys;
mod logs;
mod metrics;
mod openapi;
mod outbox;
mod pacing;
mod provider_status;
mod sandbox;
mod staff;
mod patients;
mod portal;
mod segment_library;
mod segments;
mod templates;
mod webhooks;
mod support;
