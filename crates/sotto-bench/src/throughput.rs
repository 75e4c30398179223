//! `sotto-bench throughput`: N queued appointment confirmations delivered by `sotto worker`
//! into Postfix's `smtp-sink` on loopback, beside Postfix's `smtp-source` sending N messages of
//! the same body size into the same sink over as many connections, each kept open (`-d`), in
//! the same run. Prints both times, their ratio and the worker's peak resident memory.
//! A first small run, with the sink keeping each message, measures what Sotto sends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use sotto_store::{Backend, OutboxStore};

use crate::outbox_setup::{queue_emails, worker, worker_config};

#[derive(Debug, Args)]
pub struct ThroughputArgs {
    /// Emails to send (one per patient).
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// SMTP connections on each side (Sotto's pool, smtp-source's sessions).
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// `postgres` to run on PostgreSQL (SOTTO_TEST_DATABASE_URL), else SQLite.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// The `sotto` binary.
    #[arg(long, default_value = "target/release/sotto")]
    sotto: PathBuf,
    /// Where Postfix's test programs are.
    #[arg(long, default_value = "/usr/sbin")]
    postfix_bin: PathBuf,
}

/// Postfix's smtp-sink on a free loopback port, keeping messages in `dump` when given.
pub(crate) fn sink(bin: &Path, dump: Option<&Path>) -> anyhow::Result<(Child, u16)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut command = Command::new(bin.join("smtp-sink"));
    // As root it must drop privileges; the dump directory is then written as that user.
    command.arg("-u").arg("nobody").arg("-m").arg("1024");
    if let Some(dir) = dump {
        command.arg("-d").arg(format!("{}/%H%M%S.", dir.display()));
    }
    let child = command.arg(format!("127.0.0.1:{port}")).arg("1024").stdout(Stdio::null()).spawn().context("cannot start smtp-sink: install Postfix (apt-get install postfix) or give --postfix-bin")?;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((child, port));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("smtp-sink did not start listening")
}

/// Runs a worker until nothing is left to send; answers the time and the worker's peak RSS (kB).
async fn deliver(args: &ThroughputArgs, n: usize, backend: Backend, port: u16, dir: &Path) -> anyhow::Result<(Duration, u64)> {
    let queued = queue_emails(n, backend, dir).await?;
    let config = worker_config(dir, &queued.test_store, &queued.key_file, port, args.connections)?;
    let log = dir.join("worker.log");
    let started = Instant::now();
    let mut child = worker(&args.sotto, &config, &log)?;
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(hwm) = std::fs::read_to_string(&status).ok().and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok()))) {
            peak = hwm;
        }
        let counts: BTreeMap<String, i64> = queued.test_store.store.outbox_counts().await?.into_iter().collect();
        let pending: i64 = ["queued", "deferred", "sending"].iter().map(|s| counts.get(*s).copied().unwrap_or(0)).sum();
        if pending == 0 {
            let sent = counts.get("sent").copied().unwrap_or(0);
            if sent != n as i64 {
                bail!("{sent} of {n} sent: {counts:?}; see {}", log.display());
            }
            break;
        }
        if let Some(exit) = child.try_wait()? {
            bail!("the worker stopped ({exit}); see {}", log.display());
        }
        if started.elapsed() > Duration::from_secs(3_600) {
            bail!("still sending after an hour: {counts:?}");
        }
    }
    let elapsed = started.elapsed();
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    Ok((elapsed, peak))
}

/// Runs smtp-source: `n` messages with bodies of `body` bytes over `connections` kept-open
/// sessions to the sink at `port`; answers how long it took.
pub(crate) fn smtp_source(bin: &Path, connections: u32, n: usize, body: usize, port: u16) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let status = Command::new(bin.join("smtp-source"))
        .args(["-d", "-s", &connections.to_string(), "-m", &n.to_string(), "-l", &body.to_string(), "-f", "no-reply@clinic.example", "-t", "patient@example.org"])
        .arg(format!("127.0.0.1:{port}"))
        .status()
        .context("cannot run smtp-source")?;
    if !status.success() {
        bail!("smtp-source failed: {status}");
    }
    Ok(started.elapsed())
}

/// The body of a message as smtp-sink kept it (its envelope lines first, then the headers).
pub(crate) fn body_size(kept: &[u8]) -> usize {
    let text = String::from_utf8_lossy(kept);
    let start = text.find("Content-Type").or_else(|| text.find("From:")).unwrap_or(0);
    let message = &text[start..];
    message.find("\r\n\r\n").or_else(|| message.find("\n\n")).map_or(message.len(), |h| message.len() - h)
}

pub async fn run(args: ThroughputArgs) -> anyhow::Result<()> {
    let backend = if args.backend == "postgres" { Backend::Postgres } else { Backend::Sqlite };
    // What Sotto sends: a few messages kept by the sink, measured.
    let calibration = tempfile::tempdir()?;
    let dump = calibration.path().join("dump");
    std::fs::create_dir(&dump)?;
    #[cfg(unix)]
    std::fs::set_permissions(&dump, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    let (mut keeper, port) = sink(&args.postfix_bin, Some(&dump))?;
    deliver(&args, 20, backend, port, calibration.path()).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = keeper.kill();
    let kept: Vec<Vec<u8>> = std::fs::read_dir(&dump)?.filter_map(|e| std::fs::read(e.ok()?.path()).ok()).collect();
    if kept.is_empty() {
        bail!("the calibration run left no message at smtp-sink");
    }
    let body_size = kept.iter().map(|m| body_size(m)).sum::<usize>() / kept.len();
    let whole = kept.iter().map(Vec::len).sum::<usize>() / kept.len();
    println!("a message as Sotto sends it: about {whole} bytes as kept by smtp-sink, {body_size} bytes of body (text and HTML parts)");

    let (mut plain_sink, port) = sink(&args.postfix_bin, None)?;
    let work = tempfile::tempdir()?;
    let n = args.messages;
    println!("queueing {n} emails ({backend:?}), then timing the worker from its start to an empty queue…");
    let (sotto_time, peak_kb) = deliver(&args, n, backend, port, work.path()).await?;
    let peer = smtp_source(&args.postfix_bin, args.connections, n, body_size, port);
    let _ = plain_sink.kill();
    let peer_time = peer?;
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("Sotto: {n} queued emails decided, rendered, linted and delivered in {:.1} s ({:.0}/s), the worker's peak RSS {:.0} MB", sotto_time.as_secs_f64(), rate(sotto_time), peak_kb as f64 / 1024.0);
    println!("smtp-source: {n} messages of {body_size} bytes over {} kept-open connections in {:.1} s ({:.0}/s)", args.connections, peer_time.as_secs_f64(), rate(peer_time));
    println!("ratio (Sotto / smtp-source): {:.2}x (aim: at most 1.25x); peak RSS aim: at most 500 MB", sotto_time.as_secs_f64() / peer_time.as_secs_f64());
    Ok(())
}
