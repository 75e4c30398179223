//! The ingestion benchmark. Sotto runs in this process on a loopback port with a fresh SQLite
//! file; the client runs in the same process, so both share the machine's cores, as a load
//! generator on the same host would. The peer is plain sqlx inserts of rows of the same shape
//! into a fresh SQLite file with the same pragmas: what SQLite itself can do, durably.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use sqlx::Executor;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use sotto_app::{App, AppSettings, KeyRequest, Principal, RequestCtx};
use sotto_crypto::{Keyring, MasterKey};
use sotto_http::HttpSettings;
use sotto_store::SqlStore;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Single `track` calls to send.
    #[arg(long, default_value_t = 20_000)]
    singles: usize,
    /// `batch` calls of `batch_size` events to send.
    #[arg(long, default_value_t = 1_000)]
    batches: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

fn event(i: usize) -> Value {
    json!({"type": "track", "userId": format!("bench-{}", i % 5_000), "event": "appointment_booked", "messageId": format!("bench-{i}"),
        "properties": {"appointment_id": format!("a-{i}"), "appointment_start": "2026-12-01T15:00:00Z", "appointment_type": "appt_type:7", "first_visit": i.is_multiple_of(3)}})
}

async fn start_sotto(dir: &std::path::Path) -> anyhow::Result<(String, String, std::sync::Arc<App<SqlStore>>)> {
    let url = format!("sqlite://{}", dir.join("sotto.db").display()).parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let master = MasterKey::generate();
    let store = SqlStore::connect(&url, master.chain_key()).await?;
    store.migrate().await?;
    let app = App::new(store, Keyring::new(&master), AppSettings::default());
    let ctx = RequestCtx { principal: Principal::cli(), request_id: "bench".into(), source_ip: None, now: jiff::Timestamp::now() };
    let key = app
        .create_key(&ctx, KeyRequest { name: "bench".into(), scopes: vec![sotto_core_scope()], expires_at: None })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let served = app.clone();
    tokio::spawn(async move { sotto_http::serve(listener, served, &HttpSettings { body_limit: 4 << 20, ..HttpSettings::default() }, std::future::pending()).await });
    Ok((base, key.secret, app))
}

fn sotto_core_scope() -> sotto_core::scope::Scope {
    sotto_core::scope::Scope::EventsWrite
}

/// Sends `bodies` to `path` from `concurrency` clients; returns seconds taken.
async fn drive(base: &str, key: &str, path: &str, bodies: Vec<Value>, concurrency: usize) -> anyhow::Result<f64> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let bodies = Arc::new(bodies);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (client, bodies, url, key) = (client.clone(), bodies.clone(), format!("{base}{path}"), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < bodies.len() {
                let res = client.post(&url).bearer_auth(&key).json(&bodies[i]).send().await?;
                anyhow::ensure!(res.status().is_success(), "request failed with {}", res.status());
                i += concurrency;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Raw SQLite: `rows` inserts, committing every `per_tx` rows, from one connection.
async fn raw_sqlite(dir: &std::path::Path, name: &str, rows: usize, per_tx: usize) -> anyhow::Result<f64> {
    let options = SqliteConnectOptions::new()
        .filename(dir.join(format!("raw-{name}.db")))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    pool.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, external_id TEXT NOT NULL, name TEXT NOT NULL, properties TEXT NOT NULL, occurred_at INTEGER NOT NULL, received_at INTEGER NOT NULL)").await?;
    let start = Instant::now();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(per_tx) {
        let mut tx = pool.begin().await?;
        for &i in chunk {
            let e = event(i);
            sqlx::query("INSERT INTO events (message_id, external_id, name, properties, occurred_at, received_at) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(e["messageId"].as_str())
                .bind(e["userId"].as_str())
                .bind("appointment_booked")
                .bind(e["properties"].to_string())
                .bind(i as i64)
                .bind(i as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(start.elapsed().as_secs_f64())
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let (base, key, app) = start_sotto(dir.path()).await?;
    let groups_before = app.writer_groups();
    let singles: Vec<Value> = (0..args.singles).map(|i| {
        let mut e = event(i);
        e.as_object_mut().map(|o| o.remove("type"));
        e
    }).collect();
    let single_secs = drive(&base, &key, "/v1/track", singles, args.concurrency).await?;
    // The peer commits as many rows per transaction as Sotto's group commit did.
    let per_group = |before: (u64, u64), after: (u64, u64)| ((after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64).round().max(1.0) as usize;
    let groups_after_singles = app.writer_groups();
    let single_group = per_group(groups_before, groups_after_singles);
    let offset = args.singles;
    let batches: Vec<Value> = (0..args.batches)
        .map(|b| json!({"batch": (0..args.batch_size).map(|k| event(offset + b * args.batch_size + k)).collect::<Vec<_>>()}))
        .collect();
    let batch_events = args.batches * args.batch_size;
    let batch_secs = drive(&base, &key, "/v1/batch", batches, args.concurrency.min(8)).await?;
    let batch_group = per_group(groups_after_singles, app.writer_groups());
    let raw_single_secs = raw_sqlite(dir.path(), "singles", args.singles, single_group).await?;
    let raw_batch_secs = raw_sqlite(dir.path(), "batches", batch_events, batch_group).await?;

    let rate = |n: usize, s: f64| n as f64 / s;
    let (s, rs) = (rate(args.singles, single_secs), rate(args.singles, raw_single_secs));
    let (b, rb) = (rate(batch_events, batch_secs), rate(batch_events, raw_batch_secs));
    println!("durable ingestion, SQLite (WAL, synchronous=FULL), {} cores, {} clients", std::thread::available_parallelism().map_or(1, |n| n.get()), args.concurrency);
    println!("{:<44} {:>14} {:>14} {:>8}", "workload", "sotto ev/s", "raw sqlite/s", "ratio");
    println!("{:<44} {:>14.0} {:>14.0} {:>8.2}", format!("single track calls ({})", args.singles), s, rs, s / rs);
    println!("{:<44} {:>14.0} {:>14.0} {:>8.2}", format!("batch calls of {} ({} events)", args.batch_size, batch_events), b, rb, b / rb);
    println!(
        "raw sqlite commits as many rows per transaction as Sotto's group commit did: {single_group} for singles, {batch_group} for batches; sotto also parses and checks every call, writes its idempotency key and an audit chain entry per event"
    );
    Ok(())
}
