//! The segment benchmark: a seeded population (1,000,000 patients and 20,000,000 events by
//! default) is loaded into Sotto's engine and, as CSV, into DuckDB; for the seed's example
//! and three more segments both must return identical member sets, then both are timed
//! (one thread each) and the ratio printed. It also reports the incremental cost per event,
//! the engine's resident memory, and the build time from storage for a sample.

mod data;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use jiff::Timestamp;

use sotto_core::segment::{SegmentEngine, parse};

use data::Population;

#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// Patients in the population.
    #[arg(long, default_value_t = 1_000_000)]
    patients: usize,
    /// Events in the population.
    #[arg(long, default_value_t = 20_000_000)]
    events: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The Python that has duckdb installed (scripts/bench-segments makes one).
    #[arg(long, default_value = "target/bench-venv/bin/python")]
    python: PathBuf,
    /// Patients stored in SQLite for the build-from-storage measurement (events in proportion).
    #[arg(long, default_value_t = 100_000)]
    storage_patients: usize,
}

/// A segment in Sotto's language and the same question in SQL.
pub const SEGMENTS: &[(&str, &str, &str)] = &[
    (
        "seed_example",
        r#"status = "active" and conditions has "condition:457" and not did annual_checkup within 365 days and preferred_channel = "sms""#,
        "SELECT p.id FROM patients p WHERE p.status = 'active' AND p.preferred_channel = 'sms' \
         AND EXISTS (SELECT 1 FROM conditions c WHERE c.pid = p.id AND c.code = 'condition:457') \
         AND NOT EXISTS (SELECT 1 FROM events e WHERE e.pid = p.id AND e.event = 'annual_checkup' AND e.ts > $NOW - 365*86400 AND e.ts <= $NOW)",
    ),
    (
        "checkups_or_code",
        r#"did annual_checkup at least 2 times within 730 days or conditions has "condition:214""#,
        "SELECT p.id FROM patients p WHERE p.id IN (SELECT pid FROM events WHERE event = 'annual_checkup' AND ts > $NOW - 730*86400 AND ts <= $NOW GROUP BY pid HAVING count(*) >= 2) \
         OR p.id IN (SELECT pid FROM conditions WHERE code = 'condition:214')",
    ),
    (
        "not_inactive_email_or_push",
        r#"not (status = "inactive") and preferred_channel in ["email", "push"]"#,
        "SELECT id FROM patients WHERE status IS DISTINCT FROM 'inactive' AND preferred_channel IN ('email', 'push')",
    ),
    (
        "gold_recent_type_3",
        r#"membership_tier = "gold" and did appointment_booked where appointment_type = "appt_type:3" within 90 days"#,
        "SELECT p.id FROM patients p WHERE p.membership_tier = 'gold' AND EXISTS (SELECT 1 FROM events e WHERE e.pid = p.id \
         AND e.event = 'appointment_booked' AND e.appointment_type = 'appt_type:3' AND e.ts > $NOW - 90*86400 AND e.ts <= $NOW)",
    ),
];

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

pub async fn run(args: SegmentArgs) -> anyhow::Result<()> {
    let now: Timestamp = "2026-11-22T12:00:00Z".parse()?;
    let t = Instant::now();
    let population = Population::generate(args.patients, args.events, args.seed);
    println!("generated {} patients and {} events in {:.1} s", args.patients, args.events, t.elapsed().as_secs_f64());

    let before = rss_mib();
    let t = Instant::now();
    let mut engine = SegmentEngine::new();
    population.load_into(&mut engine);
    let build = t.elapsed().as_secs_f64();
    let engine_mib = rss_mib() - before;
    println!("engine built in memory in {build:.1} s; resident memory of the engine: {engine_mib:.0} MiB (process: {:.0} MiB)", rss_mib());

    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    population.write_csv(dir.path(), now)?;
    println!("wrote the CSV files for DuckDB in {:.1} s", t.elapsed().as_secs_f64());
    let peer = Command::new(&args.python)
        .arg(dir.path().join("duckdb_peer.py"))
        .arg(dir.path())
        .arg(now.as_second().to_string())
        .output()
        .with_context(|| format!("cannot run {} (make it with scripts/bench-segments)", args.python.display()))?;
    if !peer.status.success() {
        bail!("DuckDB failed: {}", String::from_utf8_lossy(&peer.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&peer.stdout)?;
    println!("DuckDB loaded the CSV files in {:.1} s (one thread)", report["load_seconds"].as_f64().unwrap_or_default());

    println!("{:<28} {:>10} {:>12} {:>12} {:>8}", "segment", "members", "sotto ms", "duckdb ms", "ratio");
    for (i, (name, definition, _)) in SEGMENTS.iter().enumerate() {
        let expr = parse(definition).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let mut best = f64::MAX;
        let mut members = roaring::RoaringBitmap::new();
        for _ in 0..3 {
            let t = Instant::now();
            members = engine.evaluate(&expr, now);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let theirs: Vec<u32> = std::fs::read_to_string(dir.path().join(format!("duckdb-{name}.txt")))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let ours: Vec<u32> = members.iter().collect();
        if ours != theirs {
            bail!("segment {name}: Sotto found {} members and DuckDB {}; the sets differ", ours.len(), theirs.len());
        }
        let duck = report["segments"][i]["seconds"].as_f64().unwrap_or_default();
        println!("{name:<28} {:>10} {:>12.2} {:>12.2} {:>7.1}x", ours.len(), best * 1e3, duck * 1e3, duck / best);
    }
    println!("member sets identical for every segment");

    let seed = parse(SEGMENTS[0].1).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let t = Instant::now();
    let full = engine.evaluate(&seed, now);
    let full_ms = t.elapsed().as_secs_f64() * 1e3;
    let updates = 1_000_000;
    let t = Instant::now();
    population.apply_updates(&mut engine, updates, args.seed + 1, now);
    let per_event_us = t.elapsed().as_secs_f64() * 1e6 / updates as f64;
    println!("incremental: {per_event_us:.2} µs per event or trait change ({updates} applied); a full re-evaluation of the seed example takes {full_ms:.1} ms ({} members)", full.len());

    data::build_from_storage(&args, now).await
}
