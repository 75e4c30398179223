//! The segment benchmark: a seeded population (1,000,000 patients and 20,000,000 events by
//! default) is loaded into Sotto's engine and, as CSV, into DuckDB (typed, sorted, every core)
//! and PostgreSQL (indexed, analysed) when a server is given. The seed's example, three more
//! hand-written segments and twelve generated from the language's grammar must return
//! identical member sets on every side; each side is timed from the question to its member ids
//! in memory. It also reports build times and memory, the cost of keeping membership current
//! (finding who entered and left, with events in order and late), and the build from storage.

mod data;
mod generated;
mod postgres;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use jiff::Timestamp;

use sotto_core::segment::{Expr, SegmentEngine, parse};

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
    /// Segments generated from the grammar.
    #[arg(long, default_value_t = 12)]
    generated: usize,
    /// A PostgreSQL server for the second peer (a database is made and dropped there).
    #[arg(long, env = "SOTTO_TEST_DATABASE_URL")]
    postgres: Option<String>,
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
    println!("Sotto: engine built in {build:.1} s (one thread); resident memory of the engine {:.0} MiB", rss_mib() - before);

    let mut segments: Vec<(String, Expr, String)> = Vec::new();
    for (name, definition, sql) in SEGMENTS {
        segments.push(((*name).to_owned(), parse(definition).map_err(|e| anyhow::anyhow!("{}", e.message))?, (*sql).to_owned()));
    }
    segments.extend(generated::segments(args.generated, args.seed));
    let queries: Vec<(String, String)> = segments.iter().map(|(n, _, q)| (n.clone(), q.clone())).collect();

    let dir = tempfile::tempdir()?;
    population.write_csv(dir.path(), now, &queries)?;
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
    println!(
        "DuckDB: loaded into typed, sorted tables in {:.1} s with {} threads; resident memory {:.0} MiB",
        report["load_seconds"].as_f64().unwrap_or_default(),
        report["threads"],
        report["rss_mib"].as_f64().unwrap_or_default()
    );
    let pg = match &args.postgres {
        Some(url) => {
            let sql: Vec<String> = queries.iter().map(|(_, q)| q.clone()).collect();
            let r = postgres::run(url, dir.path(), &sql, now.as_second()).await?;
            println!("PostgreSQL: copied, indexed and analysed in {:.1} s; database size {:.0} MiB", r.load_seconds, r.database_mib);
            Some(r)
        }
        None => {
            println!("PostgreSQL: skipped (pass --postgres URL or set SOTTO_TEST_DATABASE_URL)");
            None
        }
    };

    println!("{:<28} {:>9} {:>10} {:>10} {:>8} {:>10} {:>8}", "segment", "members", "sotto ms", "duckdb ms", "ratio", "pg ms", "ratio");
    let (mut sotto_total, mut duck_total, mut pg_total) = (0.0, 0.0, 0.0);
    for (i, (name, expr, _)) in segments.iter().enumerate() {
        let mut best = f64::MAX;
        let mut members = roaring::RoaringBitmap::new();
        for _ in 0..3 {
            let t = Instant::now();
            members = engine.evaluate(expr, now);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let ours: Vec<u32> = members.iter().collect();
        let duckdb: Vec<u32> = std::fs::read_to_string(dir.path().join(format!("duckdb-{name}.txt")))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        if ours != duckdb {
            bail!("segment {name}: Sotto found {} members and DuckDB {}; the sets differ", ours.len(), duckdb.len());
        }
        let duck = report["segments"][i]["seconds"].as_f64().unwrap_or_default();
        let pg_cell = match pg.as_ref().map(|r| &r.segments[i]) {
            Some(t) if t.members != ours => bail!("segment {name}: Sotto found {} members and PostgreSQL {}; the sets differ", ours.len(), t.members.len()),
            Some(t) => {
                pg_total += t.seconds;
                format!("{:>10.2} {:>7.1}x", t.seconds * 1e3, t.seconds / best)
            }
            None => format!("{:>10} {:>8}", "-", "-"),
        };
        sotto_total += best;
        duck_total += duck;
        println!("{name:<28} {:>9} {:>10.2} {:>10.2} {:>7.1}x {pg_cell}", ours.len(), best * 1e3, duck * 1e3, duck / best);
    }
    let pg_total_cell = if pg.is_some() { format!("{:>10.2} {:>7.1}x", pg_total * 1e3, pg_total / sotto_total) } else { String::new() };
    println!("{:<28} {:>9} {:>10.2} {:>10.2} {:>7.1}x {pg_total_cell}", "all segments", "", sotto_total * 1e3, duck_total * 1e3, duck_total / sotto_total);
    println!("member sets identical on every side for every segment (Sotto on one thread)");

    let seed = &segments[0].1;
    let t = Instant::now();
    let _ = engine.evaluate(seed, now);
    let full_ms = t.elapsed().as_secs_f64() * 1e3;
    for (in_order, label) in [(true, "events in order"), (false, "late events, out of order")] {
        for batch in [1usize, 10_000] {
            let rounds = if batch == 1 { 50 } else { 5 };
            let mut snapshot = engine.evaluate(seed, now);
            let (mut moved, start) = (0u64, Instant::now());
            for round in 0..rounds {
                population.apply_updates(&mut engine, batch, args.seed + 1 + round as u64, now, in_order);
                let (current, entered, left) = engine.changes(&snapshot, seed, now);
                moved += entered.len() + left.len();
                snapshot = current;
            }
            let per_event_us = start.elapsed().as_secs_f64() * 1e6 / (rounds * batch) as f64;
            println!("keeping the seed example current, {label}, batches of {batch}: {per_event_us:.1} µs per change including who entered and left ({moved} moves)");
        }
    }
    println!("a full evaluation of the seed example takes {full_ms:.1} ms");

    data::build_from_storage(&args, now).await
}
