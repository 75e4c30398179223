//! The PostgreSQL side of the segment benchmark: the same CSV files copied into typed tables
//! with the indexes a database engineer would add for these questions, analysed, then each
//! segment timed from the query to its member ids in memory (best of three, the server's
//! parallel workers allowed), and its members compared with Sotto's.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor};

/// One segment's result on PostgreSQL.
pub struct Timed {
    pub seconds: f64,
    pub members: Vec<u32>,
}

/// What the run measured.
pub struct Report {
    pub load_seconds: f64,
    pub database_mib: f64,
    pub segments: Vec<Timed>,
}

const SCHEMA: &str = "
CREATE TABLE patients (id INTEGER PRIMARY KEY, status TEXT NOT NULL, preferred_channel TEXT NOT NULL, membership_tier TEXT NOT NULL);
CREATE TABLE conditions (pid INTEGER NOT NULL, code TEXT NOT NULL);
CREATE TABLE events (pid INTEGER NOT NULL, event TEXT NOT NULL, ts BIGINT NOT NULL, appointment_type TEXT);
";

const INDEXES: &str = "
CREATE INDEX conditions_by_code ON conditions (code, pid);
CREATE INDEX events_by_kind ON events (event, ts, pid) INCLUDE (appointment_type);
CREATE INDEX events_by_patient ON events (pid, event, ts);
ANALYZE;
";

/// Loads the CSV files of `dir` into a new database on the server of `base_url`, runs each
/// query (with `$NOW` replaced), and drops the database.
pub async fn run(base_url: &str, dir: &Path, queries: &[String], now: i64) -> anyhow::Result<Report> {
    let base: PgConnectOptions = base_url.parse().context("the PostgreSQL URL")?;
    let name = format!("sotto_bench_{}", sotto_crypto::random_id(6));
    let mut admin = base.connect().await.context("cannot reach PostgreSQL")?;
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| Box::pin(async move { conn.execute("SET work_mem = '256MB'").await.map(|_| ()) }))
        .connect_with(base.clone().database(&name))
        .await?;
    let result = load_and_query(&pool, &name, dir, queries, now).await;
    pool.close().await;
    admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).await?;
    result
}

async fn load_and_query(pool: &sqlx::PgPool, name: &str, dir: &Path, queries: &[String], now: i64) -> anyhow::Result<Report> {
    let start = Instant::now();
    pool.execute(SCHEMA).await?;
    let mut conn = pool.acquire().await?;
    for table in ["patients", "conditions", "events"] {
        let data = tokio::fs::File::open(dir.join(format!("{table}.csv"))).await?;
        let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)")).await?;
        copy.read_from(data).await?;
        copy.finish().await?;
    }
    drop(conn);
    pool.execute(INDEXES).await?;
    let load_seconds = start.elapsed().as_secs_f64();
    let bytes: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT pg_database_size('{name}')"))).fetch_one(pool).await?;
    let mut segments = Vec::new();
    for q in queries {
        let sql = q.replace("$NOW", &now.to_string());
        let mut best = f64::MAX;
        let mut members: Vec<i32> = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            members = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).fetch_all(pool).await?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        let mut members: Vec<u32> = members.into_iter().map(|m| m as u32).collect();
        members.sort_unstable();
        segments.push(Timed { seconds: best, members });
    }
    Ok(Report { load_seconds, database_mib: bytes as f64 / (1024.0 * 1024.0), segments })
}
