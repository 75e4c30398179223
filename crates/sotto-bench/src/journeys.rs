//! `sotto-bench journeys`: N active journey runs (one per appointment) all due at one instant
//! on SQLite, moved by the scheduler until none is due: each run queues its confirmation in
//! the outbox (audited) and starts waiting for two days before its appointment. Prints runs
//! and steps per second, the process's peak resident memory and the database's size.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use sqlx::Executor;

use sotto_app::{AppSettings, Principal, RequestCtx, micros};
use sotto_store::{Backend, TemplateStore};

use crate::outbox_setup::patients;

#[derive(Debug, Args)]
pub struct JourneyArgs {
    /// Active runs, all due at once.
    #[arg(long, default_value_t = 1_000_000)]
    runs: usize,
    /// Patients they belong to (runs are spread over them).
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
    /// Runs moved per scheduler transaction.
    #[arg(long, default_value_t = 1_000)]
    batch: i64,
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}

pub async fn run(args: JourneyArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let who = |w: &str| RequestCtx { principal: Principal::system(w), request_id: "bench".into(), source_ip: None, now: jiff::Timestamp::now() };
    let started = Instant::now();
    let (test_store, _, app) = patients(args.patients.min(args.runs).max(1), Backend::Sqlite, dir.path(), AppSettings::default()).await?;
    let store = test_store.store.clone();
    let template = store.templates().await?.into_iter().find(|t| t.name == "Appointment confirmation (email)").context("library template")?.id;
    let definition = json!({
        "name": "Bench appointment journey", "purpose": "treatment", "run_key": "appointment_id", "trigger": {"event": "appointment_booked"},
        "steps": [
            {"id": "confirmation", "type": "send", "channels": ["email"], "template_id": template, "next": "two_days_before"},
            {"id": "two_days_before", "type": "delay", "until": {"property": "appointment_start", "days": -2, "local_time": "10:00"}, "next": "done"},
            {"id": "done", "type": "exit"}
        ]
    });
    let made = app.write_journey(&who("care-team"), None, &definition).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = made["id"].as_str().context("journey id")?.to_owned();
    app.submit_journey(&who("care-team"), &id, 1).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    app.approve_journey(&who("compliance"), &id, 1, &serde_json::Value::Null).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = jiff::Timestamp::now();
    let start = (now + jiff::SignedDuration::from_hours(24 * 10)).to_string();
    // The runs are written straight into the table: what is timed is the scheduler.
    let pool = store.pool();
    for first in (0..args.runs).step_by(1_000) {
        let rows: Vec<String> = (first..(first + 1_000).min(args.runs))
            .map(|i| {
                let context = json!({"properties": {"appointment_id": format!("a-{i}"), "appointment_start": start}, "happened": []}).to_string().replace('\'', "''");
                format!("('run_bench_{i:08}', '{id}', 1, 'a-{i}', 'p-{:07}', 'confirmation', 0, '{context}', 'active', {}, NULL, '', {}, {})", i % args.patients.max(1), micros(now), micros(now), micros(now))
            })
            .collect();
        let sql = format!(
            "INSERT INTO journey_runs (id, journey_id, version, run_key, external_id, step, waiting, context, state, wake_at, exit_reason, messages, started_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        pool.execute(sqlx::AssertSqlSafe(sql)).await?;
    }
    println!("setup: {} runs over {} patients on SQLite in {:.1} s", args.runs, args.patients, started.elapsed().as_secs_f64());
    let timed = Instant::now();
    let mut moved = 0;
    loop {
        let round = app.journey_round(now, args.batch).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if round.advanced == 0 {
            break;
        }
        moved += round.advanced;
    }
    let took = timed.elapsed().as_secs_f64();
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE source = 'journey'").fetch_one(pool).await?;
    let bytes: u64 = ["", "-wal"].iter().filter_map(|suffix| test_store.url.sqlite_path().and_then(|p| std::fs::metadata(format!("{}{suffix}", p.display())).ok())).map(|m| m.len()).sum();
    println!(
        "moved {moved} runs in {took:.1} s: {:.0} runs/s, {:.0} steps/s (a send into the outbox and the start of a delay each; aim: 20,000 steps/s), {queued} messages queued",
        moved as f64 / took,
        2.0 * moved as f64 / took
    );
    println!("peak RSS {:.0} MB; database {:.0} MB", peak_rss_mb().unwrap_or(0.0), bytes as f64 / 1e6);
    Ok(())
}
