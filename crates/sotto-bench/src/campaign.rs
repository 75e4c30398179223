//! `sotto-bench campaign`: an email campaign to N members from launch (the checklist, the
//! versions pinned, every member queued) to its last message at Postfix's `smtp-sink` on
//! loopback, delivered by `sotto worker`; then `smtp-source` sends N messages of the same
//! body size into the same sink over as many kept-open connections. Both sides' messages are
//! kept by the sink, so both pay for the same writes. Prints both times and their ratio.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;

use sotto_app::{AppSettings, Compliance, Principal, RequestCtx};
use sotto_core::contact::Channel;
use sotto_core::gate_policy::{ProviderKind, ProviderSpec};
use sotto_store::{Backend, CampaignStore, TemplateStore};

use crate::outbox_setup::{patients, worker, worker_config};
use crate::throughput::{body_size, sink, smtp_source};

#[derive(Debug, Args)]
pub struct CampaignArgs {
    /// Members of the campaign's segment.
    #[arg(long, default_value_t = 100_000)]
    members: usize,
    /// SMTP connections on each side.
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// The `sotto` binary.
    #[arg(long, default_value = "target/release/sotto")]
    sotto: PathBuf,
    /// Where Postfix's test programs are.
    #[arg(long, default_value = "/usr/sbin")]
    postfix_bin: PathBuf,
}

fn as_who(who: &str) -> RequestCtx {
    RequestCtx { principal: Principal::system(who), request_id: "bench".into(), source_ip: None, now: jiff::Timestamp::now() }
}

pub async fn run(args: CampaignArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dump = dir.path().join("dump");
    std::fs::create_dir(&dump)?;
    #[cfg(unix)]
    std::fs::set_permissions(&dump, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut settings = AppSettings { compliance: Compliance { last_risk_assessment: Some(today), last_staff_training: Some(today), ..Compliance::default() }, ..AppSettings::default() };
    let relay = ProviderSpec { name: "loopback sink".into(), kind: ProviderKind::Smtp, baa_signed: "2026-01-01".parse().ok(), baa_expires: None, rate_per_second: None, backup: None };
    settings.providers.insert(Channel::Email, relay);
    settings.gate.window = sotto_core::quiet_hours::Window::parse("00:00-23:59").context("window")?;
    let n = args.members;
    let started = Instant::now();
    let (test_store, key_file, app) = patients(n, Backend::Sqlite, dir.path(), settings).await?;
    let store = test_store.store.clone();
    let segment = app.create_segment(&as_who("marketing"), &json!({"name": "Bench members", "definition": "timezone = \"America/Chicago\""})).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let template = store.templates().await?.into_iter().find(|t| t.name == "Holiday hours (email)").context("library template")?.id;
    let body = json!({"name": "Holiday hours", "segment_id": segment["id"], "template_id": template, "channels": ["email"], "purpose": "operations", "schedule": {"now": true}});
    let campaign = app.create_campaign(&as_who("marketing"), &body).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = campaign["id"].as_str().context("campaign id")?.to_owned();
    app.approve_campaign(&as_who("compliance"), &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("setup: {n} members, a segment and an approved campaign in {:.1} s", started.elapsed().as_secs_f64());

    let (mut keeper, port) = sink(&args.postfix_bin, Some(&dump))?;
    let config = worker_config(dir.path(), &test_store, &key_file, port, args.connections)?;
    let log = dir.path().join("worker.log");
    let launched = Instant::now();
    app.launch_campaign(&as_who("marketing"), &id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let queued_in = launched.elapsed();
    let mut child = worker(&args.sotto, &config, &log)?;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let counts: BTreeMap<String, i64> = store.campaign_counts(&id).await?.into_iter().map(|c| (c.state, c.count)).fold(BTreeMap::new(), |mut m, (s, c)| {
            *m.entry(s).or_insert(0) += c;
            m
        });
        let pending: i64 = ["queued", "held", "deferred", "sending"].iter().map(|s| counts.get(*s).copied().unwrap_or(0)).sum();
        if pending == 0 {
            if counts.get("sent").copied().unwrap_or(0) != n as i64 {
                bail!("not every member was sent: {counts:?}; see {}", log.display());
            }
            break;
        }
        if let Some(exit) = child.try_wait()? {
            bail!("the worker stopped ({exit}); see {}", log.display());
        }
    }
    let sotto_time = launched.elapsed();
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let kept: Vec<std::path::PathBuf> = std::fs::read_dir(&dump)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let sample: Vec<usize> = kept.iter().take(50).filter_map(|p| std::fs::read(p).ok()).map(|m| body_size(&m)).collect();
    let body = sample.iter().sum::<usize>() / sample.len().max(1);

    let peer = smtp_source(&args.postfix_bin, args.connections, n, body, port);
    let _ = keeper.kill();
    let peer_time = peer?;
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("Sotto: a campaign to {n} members from launch to its last message in {:.1} s ({:.0}/s; the launch itself, checklist and queueing, {:.1} s)", sotto_time.as_secs_f64(), rate(sotto_time), queued_in.as_secs_f64());
    println!("smtp-source: {n} messages of {body} bytes over {} kept-open connections into the same sink in {:.1} s ({:.0}/s)", args.connections, peer_time.as_secs_f64(), rate(peer_time));
    println!("ratio (Sotto / smtp-source): {:.2}x (aim: at most 1.3x)", sotto_time.as_secs_f64() / peer_time.as_secs_f64());
    Ok(())
}
