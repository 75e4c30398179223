//! `sotto-bench reliability`: the delivery guarantees under a crash. Queues N emails for N
//! patients, runs `sotto worker` processes against a real SMTP server on loopback (aiosmtpd,
//! keeping each message as a file), kills one with SIGKILL part way, restarts it, waits until
//! nothing is left to send, and counts the messages at the server by Message-ID: lost,
//! duplicated, and `uncertain` (what an operator would see), beside the outbox's own states.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use sotto_store::{Backend, OutboxStore};

#[derive(Debug, Args)]
pub struct ReliabilityArgs {
    /// Emails to send (one per patient).
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Kill a worker (SIGKILL) when this share of the messages has reached the server.
    #[arg(long, default_value_t = 0.3)]
    kill_at: f64,
    /// `postgres` to run on PostgreSQL (SOTTO_TEST_DATABASE_URL), else SQLite.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Worker processes at once (PostgreSQL only; SQLite serves one).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// The `sotto` binary.
    #[arg(long, default_value = "target/release/sotto")]
    sotto: PathBuf,
    /// Instead of killing a worker: when this share has reached the server, every patient
    /// unsubscribes from email in one transaction; then no message may be decided to go after
    /// that commit.
    #[arg(long)]
    revoke_at: Option<f64>,
    /// The Python with aiosmtpd (scripts/test makes target/test-venv).
    #[arg(long, default_value = "target/test-venv/bin/python")]
    python: PathBuf,
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect()).unwrap_or_default()
}

fn message_id(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let head = String::from_utf8_lossy(&text[..text.len().min(4096)]).into_owned();
    head.lines().find_map(|l| l.strip_prefix("Message-ID: <").and_then(|v| v.split('@').next()).map(str::to_owned))
}

pub async fn run(args: ReliabilityArgs) -> anyhow::Result<()> {
    let backend = if args.backend == "postgres" { Backend::Postgres } else { Backend::Sqlite };
    if backend == Backend::Sqlite && args.workers != 1 {
        bail!("SQLite serves one worker per database; use --backend postgres for more");
    }
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let n = args.messages;
    let queued = crate::outbox_setup::queue_emails(n, backend, dir.path()).await?;
    let (store, rows, audit) = (queued.test_store.store.clone(), queued.rows, queued.audit);
    println!("setup: {n} patients, consents and queued emails in {:.1} s ({backend:?})", started.elapsed().as_secs_f64());

    let out = dir.path().join("out");
    std::fs::create_dir(&out)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let sink_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sotto-deliver/tests/peers/smtp_sink.py");
    let mut sink = Command::new(&args.python).arg(&sink_script).arg("--port").arg(port.to_string()).arg("--out").arg(&out).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().context("cannot start the SMTP sink")?;
    std::io::BufRead::read_line(&mut std::io::BufReader::new(sink.stdout.take().context("sink stdout")?), &mut String::new())?;
    let config = crate::outbox_setup::worker_config(dir.path(), &queued.test_store, &queued.key_file, port, 16)?;
    let log = dir.path().join("worker.log");
    let started = Instant::now();
    let mut workers: Vec<Child> = (0..args.workers).map(|_| crate::outbox_setup::worker(&args.sotto, &config, &log)).collect::<Result<_, _>>()?;
    let target = (n as f64 * args.revoke_at.unwrap_or(args.kill_at)) as usize;
    while files(&out).len() < target {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > Duration::from_secs(3_600) {
            bail!("no progress; see {}", log.display());
        }
    }
    let mut revoked_at = None;
    if args.revoke_at.is_some() {
        let at = sotto_app::micros(jiff::Timestamp::now());
        let rows: Vec<sotto_store::ConsentRow> = (0..n)
            .map(|i| sotto_store::ConsentRow {
                external_id: format!("p-{i:07}"),
                channel: "email".into(),
                topic: None,
                status: "opted_out".into(),
                kind: "express".into(),
                source: "email_unsubscribe".into(),
                captured_at: at,
                evidence: r#"{"method":"one_click"}"#.into(),
                recorded_at: at,
                actor: "system:reliability".into(),
            })
            .collect();
        sotto_store::ConsentStore::append_consents(&store, &rows, &audit, vec![]).await?;
        let committed = sotto_app::micros(jiff::Timestamp::now());
        revoked_at = Some(committed);
        println!("every patient unsubscribed in one transaction, committed {:.1} s in with {} messages at the server", started.elapsed().as_secs_f64(), files(&out).len());
    } else {
        if let Some(status) = workers[0].try_wait()? {
            bail!("the worker to be killed had already stopped ({status}); see {}", log.display());
        }
        workers[0].kill()?;
        workers[0].wait()?;
        let at_kill = files(&out).len();
        println!("killed a worker (SIGKILL) with {at_kill} messages at the server after {:.1} s", started.elapsed().as_secs_f64());
        workers[0] = crate::outbox_setup::worker(&args.sotto, &config, &log)?;
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let counts: BTreeMap<String, i64> = store.outbox_counts().await?.into_iter().collect();
        let pending: i64 = ["queued", "deferred", "sending"].iter().map(|s| counts.get(*s).copied().unwrap_or(0)).sum();
        if pending == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(7_200) {
            bail!("messages still pending after two hours: {counts:?}");
        }
    }
    let elapsed = started.elapsed();
    for w in &mut workers {
        let _ = Command::new("kill").arg("-TERM").arg(w.id().to_string()).status();
        let _ = w.wait();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(sink.stdin.take());
    let _ = sink.kill();

    let mut at_server: HashMap<String, usize> = HashMap::new();
    let kept = files(&out);
    for f in &kept {
        *at_server.entry(message_id(f).unwrap_or_default()).or_default() += 1;
    }
    let duplicates: usize = at_server.values().map(|c| c - 1).sum();
    let states: BTreeMap<String, i64> = store.outbox_counts().await?.into_iter().collect();
    let mut lost = 0usize;
    let mut uncertain_delivered = 0usize;
    let mut endings: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        let stored = store.outbox_message(&row.id).await?.context("row")?;
        if !matches!(stored.state.as_str(), "sent" | "delivered") {
            *endings.entry(format!("{} {} {}", stored.state, stored.reasons, stored.last_error.clone().unwrap_or_default())).or_default() += 1;
        }
        let arrived = at_server.contains_key(&row.id);
        match stored.state.as_str() {
            "sent" | "delivered" if !arrived => lost += 1,
            "uncertain" if arrived => uncertain_delivered += 1,
            "sent" | "delivered" | "uncertain" | "failed" | "dead" | "denied" => {}
            _ => lost += 1,
        }
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let rounds = log_text.lines().filter(|l| l.contains("dispatch round")).count();
    let recovered = log_text.lines().filter(|l| l.contains("recovered")).count();
    println!("worker log: {rounds} rounds, {recovered} recoveries, {} lines with ERROR", log_text.lines().filter(|l| l.contains("ERROR")).count());
    println!("{n} emails, {} worker(s), {backend:?}: {:.1} s from the first worker's start to an empty queue ({:.0} emails/s)", args.workers, elapsed.as_secs_f64(), n as f64 / elapsed.as_secs_f64());
    println!("at the server: {} messages, {} distinct Message-IDs, {duplicates} duplicates", kept.len(), at_server.len());
    println!("outbox: {states:?}; not sent: {endings:?}");
    println!("lost: {lost} (sent but not at the server, or never finished); uncertain: {} ({uncertain_delivered} of them reached the server)", states.get("uncertain").copied().unwrap_or(0));
    if let Some(committed) = revoked_at {
        // A slot is taken in the deciding transaction, stamped with the decision's time: one
        // stamped after the revocation committed was decided by a transaction that began later.
        let late: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sends WHERE sent_at > $1").bind(committed).fetch_one(store.pool()).await?;
        println!("sends decided after the revocation committed: {late}");
    }
    Ok(())
}
