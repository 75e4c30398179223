//! The benchmark's seeded population, its CSV form for DuckDB, and a stored sample for the
//! build-from-storage measurement.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value, json};

use sotto_app::{App, AppSettings};
use sotto_core::segment::SegmentEngine;
use sotto_crypto::{Keyring, MasterKey};
use sotto_store::{Backend, testing::fresh_store};

use super::SegmentArgs;

const STATUS: &[&str] = &["active", "active", "active", "active", "inactive"];
const CHANNELS: &[&str] = &["sms", "sms", "email", "email", "push"];
const TIERS: &[&str] = &["standard", "standard", "standard", "silver", "silver", "gold"];
const EVENTS: &[&str] = &["annual_checkup", "appointment_booked", "appointment_booked", "app_opened", "app_opened"];
const HORIZON_DAYS: i64 = 1000;

pub struct Patient {
    status: &'static str,
    channel: &'static str,
    tier: &'static str,
    conditions: Vec<u16>,
}

/// Events are kept compact: patient, kind, seconds before now, appointment type.
pub struct Population {
    patients: Vec<Patient>,
    events: Vec<(u32, u8, u32, u8)>,
}

fn pick(rng: &mut StdRng, items: &'static [&'static str]) -> &'static str {
    items[rng.random_range(0..items.len())]
}

impl Population {
    pub fn generate(patients: usize, events: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let patients = (0..patients)
            .map(|_| {
                let mut conditions: Vec<u16> = (0..rng.random_range(0..3)).map(|_| rng.random_range(200..260)).collect();
                if rng.random_bool(0.1) {
                    conditions.push(457);
                }
                conditions.sort_unstable();
                conditions.dedup();
                Patient { status: pick(&mut rng, STATUS), channel: pick(&mut rng, CHANNELS), tier: pick(&mut rng, TIERS), conditions }
            })
            .collect::<Vec<_>>();
        let n = patients.len() as u32;
        let events = (0..events)
            .map(|_| (rng.random_range(0..n), rng.random_range(0..EVENTS.len() as u8), rng.random_range(0..(HORIZON_DAYS * 86_400) as u32), rng.random_range(1..13)))
            .collect();
        Self { patients, events }
    }

    fn traits(p: &Patient) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("status".into(), json!(p.status));
        m.insert("preferred_channel".into(), json!(p.channel));
        m.insert("membership_tier".into(), json!(p.tier));
        if !p.conditions.is_empty() {
            m.insert("conditions".into(), json!(p.conditions.iter().map(|c| format!("condition:{c}")).collect::<Vec<_>>()));
        }
        m
    }

    fn props(kind: u8, appt: u8) -> Map<String, Value> {
        let mut m = Map::new();
        if EVENTS[kind as usize] == "appointment_booked" {
            m.insert("appointment_type".into(), json!(format!("appt_type:{appt}")));
        }
        m
    }

    pub fn load_into(&self, engine: &mut SegmentEngine) {
        for (i, p) in self.patients.iter().enumerate() {
            let traits = Self::traits(p);
            engine.update_traits(&format!("p{i}"), traits.iter().map(|(k, v)| (k.as_str(), Some(v))));
        }
        let now: Timestamp = "2026-11-22T12:00:00Z".parse().expect("time");
        let ids: Vec<String> = (0..self.patients.len()).map(|i| format!("p{i}")).collect();
        for (pid, kind, ago, appt) in &self.events {
            engine.add_event(&ids[*pid as usize], EVENTS[*kind as usize], now - SignedDuration::from_secs(i64::from(*ago)), Self::props(*kind, *appt));
        }
    }

    /// Writes the population as CSV for the peers, with `queries` as (name, SQL).
    pub fn write_csv(&self, dir: &Path, now: Timestamp, queries: &[(String, String)]) -> anyhow::Result<()> {
        let mut patients = std::io::BufWriter::new(std::fs::File::create(dir.join("patients.csv"))?);
        let mut conditions = std::io::BufWriter::new(std::fs::File::create(dir.join("conditions.csv"))?);
        writeln!(patients, "id,status,preferred_channel,membership_tier")?;
        writeln!(conditions, "pid,code")?;
        for (i, p) in self.patients.iter().enumerate() {
            writeln!(patients, "{i},{},{},{}", p.status, p.channel, p.tier)?;
            for c in &p.conditions {
                writeln!(conditions, "{i},condition:{c}")?;
            }
        }
        let mut events = std::io::BufWriter::new(std::fs::File::create(dir.join("events.csv"))?);
        writeln!(events, "pid,event,ts,appointment_type")?;
        let now_s = now.as_second();
        for (pid, kind, ago, appt) in &self.events {
            let name = EVENTS[*kind as usize];
            let appt = if name == "appointment_booked" { format!("appt_type:{appt}") } else { String::new() };
            writeln!(events, "{pid},{name},{},{appt}", now_s - i64::from(*ago))?;
        }
        let queries: Vec<Value> = queries.iter().map(|(name, sql)| json!({"name": name, "sql": sql})).collect();
        std::fs::write(dir.join("queries.json"), serde_json::to_vec(&queries)?)?;
        std::fs::write(dir.join("duckdb_peer.py"), include_str!("duckdb_peer.py"))?;
        Ok(())
    }

    /// Applies `n` changes: one in ten a trait change, the rest events, stamped now when
    /// `in_order` and at a random moment of the last three years otherwise (late arrivals).
    pub fn apply_updates(&self, engine: &mut SegmentEngine, n: usize, seed: u64, now: Timestamp, in_order: bool) {
        let mut rng = StdRng::seed_from_u64(seed);
        for k in 0..n {
            let who = format!("p{}", rng.random_range(0..self.patients.len()));
            if k % 10 == 0 {
                engine.update_traits(&who, [("status", Some(&json!(pick(&mut rng, STATUS))))]);
            } else {
                let kind = rng.random_range(0..EVENTS.len() as u8);
                let at = if in_order { now } else { now - SignedDuration::from_secs(rng.random_range(0..(HORIZON_DAYS * 86_400))) };
                engine.add_event(&who, EVENTS[kind as usize], at, Self::props(kind, rng.random_range(1..13)));
            }
        }
    }
}

/// Stores a sample in SQLite (as ingestion would have) and times the engine's build from it.
pub async fn build_from_storage(args: &SegmentArgs, now: Timestamp) -> anyhow::Result<()> {
    let patients = args.storage_patients.min(args.patients);
    let events = args.events * patients / args.patients.max(1);
    let sample = Population::generate(patients, events, args.seed);
    let t = fresh_store(Backend::Sqlite).await;
    let pool = t.store.pool();
    let fill = Instant::now();
    let mut tx = pool.begin().await?;
    for (i, p) in sample.patients.iter().enumerate() {
        sqlx::query("INSERT INTO patients (external_id, traits, created_at, updated_at) VALUES (?, ?, 0, 0)")
            .bind(format!("p{i}"))
            .bind(Value::Object(Population::traits(p)).to_string())
            .execute(&mut *tx)
            .await?;
    }
    for (n, (pid, kind, ago, appt)) in sample.events.iter().enumerate() {
        sqlx::query("INSERT INTO events (message_id, external_id, name, properties, occurred_at, received_at) VALUES (?, ?, ?, ?, ?, 0)")
            .bind(format!("m{n}"))
            .bind(format!("p{pid}"))
            .bind(EVENTS[*kind as usize])
            .bind(Value::Object(Population::props(*kind, *appt)).to_string())
            .bind((now - SignedDuration::from_secs(i64::from(*ago))).as_microsecond())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let app = App::new(t.store.clone(), Keyring::new(&MasterKey::generate()), AppSettings::default());
    let start = Instant::now();
    let loaded = app.load_segment_index(|_| {}).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "build from storage (SQLite): {loaded} patients and {events} events in {secs:.1} s ({:.0} rows/s; sample stored in {:.1} s)",
        (loaded + events) as f64 / secs,
        fill.elapsed().as_secs_f64() - secs
    );
    Ok(())
}
