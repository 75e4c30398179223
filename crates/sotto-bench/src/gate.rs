//! The gate benchmark: decisions per second of the pure function on one core, and end to end
//! with each patient's state read from SQLite and from PostgreSQL (when
//! `SOTTO_TEST_DATABASE_URL` names a server) for a population of patients.

use std::time::Instant;

use clap::Args;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use sotto_app::{App, AppSettings, Principal, RequestCtx};
use sotto_core::authorization::{AuthorizationSummary, Expiry};
use sotto_core::consent::{ConsentRecord, ConsentSource, ConsentState, ConsentStatus};
use sotto_core::contact::Channel;
use sotto_core::gate::{Decision, GatePolicy, Intent, PatientState, SentMessage, decide};
use sotto_core::ids::ExternalId;
use sotto_core::purpose::{ConsentKind, Purpose};
use sotto_crypto::{Keyring, MasterKey};
use sotto_store::testing::{backends, fresh_store};
use sotto_store::{Backend, ConsentRow};

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Pure decisions to time.
    #[arg(long, default_value_t = 2_000_000)]
    decisions: usize,
    /// Patients to store for the end-to-end runs.
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
    /// End-to-end decisions per backend.
    #[arg(long, default_value_t = 20_000)]
    lookups: usize,
}

fn intents() -> Vec<Intent> {
    let mut out = Vec::new();
    for channel in Channel::ALL {
        for purpose in Purpose::ALL {
            for uses_phi in [false, true] {
                out.push(Intent { channel, purpose, topic: None, uses_phi, template_approved: true, lint_clean: true, provider_has_baa: true });
            }
        }
    }
    out
}

fn states(now: Timestamp) -> Vec<PatientState> {
    let zones = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"];
    (0..64)
        .map(|i| {
            let kind = if i % 2 == 0 { ConsentKind::ExpressWritten } else { ConsentKind::Express };
            let records: Vec<ConsentRecord> = Channel::ALL
                .iter()
                .map(|c| ConsentRecord { channel: *c, topic: None, status: ConsentStatus::OptedIn, kind, source: ConsentSource::WebForm, captured_at: now - SignedDuration::from_hours(1000), evidence: Value::Null })
                .collect();
            PatientState {
                consents: ConsentState::derive(&records),
                authorizations: vec![AuthorizationSummary { id: "a".into(), signed_at: now - SignedDuration::from_hours(2000), expiry: Expiry::At(now + SignedDuration::from_hours(2000)), remuneration_disclosed: i % 3 == 0, revoked_at: None }],
                reachable: Channel::ALL.into_iter().collect(),
                verified: Channel::ALL.into_iter().collect(),
                timezone: (i % 5 != 0).then(|| TimeZone::get(zones[i % zones.len()]).ok()).flatten(),
                state_of_residence: Some(if i % 7 == 0 { "FL" } else { "IL" }.into()),
                sent: (0..(i % 4)).map(|k| SentMessage { channel: Channel::Sms, purpose: Purpose::Operations, at: now - SignedDuration::from_hours(k as i64 * 5 + 1) }).collect(),
                ..PatientState::default()
            }
        })
        .collect()
}

fn pure(args: &GateArgs) -> f64 {
    let now: Timestamp = "2026-03-03T17:00:00Z".parse().expect("time");
    let (states, intents, policy) = (states(now), intents(), GatePolicy::default());
    let mut allowed = 0usize;
    let start = Instant::now();
    for i in 0..args.decisions {
        let at = now + SignedDuration::from_secs((i % 86_400) as i64);
        if decide(&intents[i % intents.len()], Some(&states[i % states.len()]), &policy, at) == Decision::Allow {
            allowed += 1;
        }
    }
    let rate = args.decisions as f64 / start.elapsed().as_secs_f64();
    println!("pure gate, one core: {rate:>12.0} decisions/s ({allowed} of {} allowed)", args.decisions);
    rate
}

async fn stored(backend: Backend, args: &GateArgs) -> anyhow::Result<f64> {
    let t = fresh_store(backend).await;
    let app = App::new(t.store.clone(), Keyring::new(&MasterKey::generate()), AppSettings::default());
    let now = Timestamp::now();
    let ctx = RequestCtx { principal: Principal::system("bench"), request_id: "bench".into(), source_ip: None, now };
    let load = Instant::now();
    for chunk in (0..args.patients).collect::<Vec<_>>().chunks(1000) {
        let calls: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"type": "identify", "userId": format!("g-{i}"), "traits": {"phone": format!("+1312555{:04}", i % 10_000), "email": format!("p{i}@example.org"), "phone_verified": true, "email_verified": true, "timezone": "America/Chicago"}}))
            .collect();
        app.ingest_calls(&ctx, &calls, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let rows: Vec<ConsentRow> = chunk
            .iter()
            .map(|i| ConsentRow {
                external_id: format!("g-{i}"), channel: "sms".into(), topic: None, status: "opted_in".into(), kind: "express".into(),
                source: "web_form".into(), captured_at: 0, evidence: "{}".into(), recorded_at: 0, actor: "bench".into(),
            })
            .collect();
        sotto_store::ConsentStore::append_consents(&t.store, &rows, &sotto_store::AuditContext { actor: "bench".into(), request_id: "bench".into(), source_ip: None, at_micros: 0 }, vec![]).await?;
    }
    let loaded = load.elapsed().as_secs_f64();
    let intent = Intent { channel: Channel::Sms, purpose: Purpose::Operations, topic: None, uses_phi: false, template_approved: true, lint_clean: true, provider_has_baa: true };
    let start = Instant::now();
    let mut tasks = Vec::new();
    let workers = 8;
    for w in 0..workers {
        let (app, intent, n, patients) = (app.clone(), intent.clone(), args.lookups, args.patients);
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let id = ExternalId::parse("id", &format!("g-{}", (i * 7919) % patients)).expect("id");
                let state = app.gate_state(&id, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                std::hint::black_box(decide(&intent, Some(&state), &GatePolicy::default(), now));
                i += workers;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = args.lookups as f64 / start.elapsed().as_secs_f64();
    println!("gate with state read from {backend:?} ({} patients, loaded in {loaded:.1} s): {rate:>10.0} decisions/s, one patient per read", args.patients);
    // As the dispatch worker reads it: the state of a batch of patients in one pass.
    let start = Instant::now();
    let mut decided = 0usize;
    let policy = GatePolicy::default();
    let mut i = 0;
    while decided < args.lookups {
        let ids: Vec<String> = (0..500).map(|k| format!("g-{}", ((i + k) * 7919) % args.patients)).collect();
        i += 500;
        let states = app.gate_states(&ids, now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        for id in &ids {
            std::hint::black_box(decide(&intent, states.get(id), &policy, now));
            decided += 1;
        }
    }
    let batched = decided as f64 / start.elapsed().as_secs_f64();
    // The share of that spent reading: the same batches, read only.
    let read_start = Instant::now();
    let mut read = 0usize;
    let mut i = 0;
    while read < args.lookups {
        let ids: Vec<String> = (0..500).map(|k| format!("g-{}", ((i + k) * 7919) % args.patients)).collect();
        i += 500;
        std::hint::black_box(sotto_store::OutboxStore::gate_inputs(app.store(), &ids, 0).await?);
        read += 500;
    }
    let read_rate = read as f64 / read_start.elapsed().as_secs_f64();
    println!("gate with state read from {backend:?} in batches of 500: {batched:>10.0} decisions/s (the reads alone: {read_rate:.0} patients/s)");
    Ok(rate.max(batched))
}

pub async fn run(args: GateArgs) -> anyhow::Result<()> {
    let pure_rate = pure(&args);
    for backend in backends() {
        let rate = stored(backend, &args).await?;
        println!("  ratio pure / {backend:?}: {:.0}x", pure_rate / rate);
    }
    if backends().len() == 1 {
        println!("(set SOTTO_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres to include PostgreSQL)");
    }
    Ok(())
}
