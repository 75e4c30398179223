//! `sotto-bench preflight`: a campaign's preflight over a segment of N members on SQLite:
//! the gate run for every member at the planned time, nothing sent, timed from the request
//! to its counts.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use sotto_app::{AppSettings, Principal, RequestCtx};
use sotto_core::contact::Channel;
use sotto_core::gate_policy::{ProviderKind, ProviderSpec};
use sotto_store::{Backend, TemplateStore};

use crate::outbox_setup::patients;

#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Members of the campaign's segment.
    #[arg(long, default_value_t = 1_000_000)]
    members: usize,
}

pub async fn run(args: PreflightArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut settings = AppSettings::default();
    let relay = ProviderSpec { name: "relay".into(), kind: ProviderKind::Smtp, baa_signed: "2026-01-01".parse().ok(), baa_expires: None, rate_per_second: None, backup: None };
    settings.providers.insert(Channel::Email, relay);
    let who = |w: &str| RequestCtx { principal: Principal::system(w), request_id: "bench".into(), source_ip: None, now: jiff::Timestamp::now() };
    let started = Instant::now();
    let (test_store, _, app) = patients(args.members, Backend::Sqlite, dir.path(), settings).await?;
    let segment = app.create_segment(&who("marketing"), &json!({"name": "Bench members", "definition": "timezone = \"America/Chicago\""})).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let template = test_store.store.templates().await?.into_iter().find(|t| t.name == "Holiday hours (email)").context("library template")?.id;
    let body = json!({"name": "Holiday hours", "segment_id": segment["id"], "template_id": template, "channels": ["email"], "purpose": "operations", "schedule": {"now": true}});
    let campaign = app.create_campaign(&who("marketing"), &body).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = campaign["id"].as_str().context("campaign id")?.to_owned();
    println!("setup: {} members on SQLite in {:.1} s", args.members, started.elapsed().as_secs_f64());
    let timed = Instant::now();
    let answer = app.campaign_preflight(&who("marketing"), &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let took = timed.elapsed();
    println!("preflight over {} members: {:.1} s ({:.0} members/s; aim: under 5 s)", args.members, took.as_secs_f64(), args.members as f64 / took.as_secs_f64());
    println!("{answer}");
    Ok(())
}
