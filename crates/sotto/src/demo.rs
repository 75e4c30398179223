//! `sotto demo`: a synthetic clinic on an embedded SQLite file, served on localhost, with an
//! API key holding every scope written next to the database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use sotto_app::demo::{DemoSize, clinic};
use sotto_app::{App, AppSettings, ItemStatus, KeyRequest, Principal, RequestCtx};
use sotto_core::scope::Scope;
use sotto_crypto::Keyring;
use sotto_http::HttpSettings;
use sotto_http::telemetry::LogFormat;
use sotto_store::{PatientStore, SqlStore};

use crate::admin::write_master_key;
use crate::config::load_master_key;
use crate::serve::{init_logs, serve_app};

const BATCH: usize = 250;

#[derive(Debug)]
pub struct DemoArgs {
    pub data_dir: PathBuf,
    pub listen: String,
    pub patients: usize,
    pub seed: u64,
    pub serve: bool,
}

fn ctx(request_id: &str) -> RequestCtx {
    RequestCtx { principal: Principal::system("demo"), request_id: request_id.into(), source_ip: None, now: jiff::Timestamp::now() }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let listen: std::net::SocketAddr = args
        .listen
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid --listen {:?}: use HOST:PORT such as 127.0.0.1:8080", args.listen))?;
    if args.patients == 0 {
        anyhow::bail!("--patients must be at least 1");
    }
    init_logs(LogFormat::Text);
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let key_path = args.data_dir.join("master.key");
    let master = if key_path.exists() { load_master_key(&key_path, false)? } else { write_master_key(&key_path)? };
    let db_url = format!("sqlite://{}", args.data_dir.join("sotto.db").display()).parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = SqlStore::connect(&db_url).await.context("cannot open the demo database")?;
    store.migrate().await.context("cannot migrate the demo database")?;
    let settings = AppSettings { public_url: format!("http://{listen}"), ..AppSettings::default() };
    let app = App::new(store, Keyring::new(&master), settings);

    let calls = clinic(DemoSize { patients: args.patients, seed: args.seed }, jiff::Timestamp::now());
    let bar = ProgressBar::new(calls.len() as u64).with_style(
        ProgressStyle::with_template("loading the demo clinic {bar:40} {pos}/{len} calls ({per_sec})").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut accepted, mut rejected) = (0usize, 0usize);
    for (n, chunk) in calls.chunks(BATCH).enumerate() {
        let results = app.ingest_calls(&ctx(&format!("demo-load-{n}")), chunk, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        for r in &results {
            match r.status {
                ItemStatus::Accepted => accepted += 1,
                ItemStatus::Rejected => rejected += 1,
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if rejected > 0 {
        anyhow::bail!("the demo generator produced {rejected} calls the firewall refused; this is a bug in the generator");
    }
    app.load_segment_index(|_| {}).await.map_err(|e| anyhow::anyhow!("cannot build the segment index: {e}"))?;
    // The shipped library, written by the library and approved by a separate demo reviewer,
    // so the review rule (approver is never the author) holds here too.
    let author = RequestCtx { principal: Principal::system("template-library"), ..ctx("demo-templates") };
    let reviewer = RequestCtx { principal: Principal::system("demo-compliance-review"), ..ctx("demo-templates") };
    let templates = app
        .load_template_library(&author, &reviewer, "Approved for the demo clinic")
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the template library: {e}"))?;
    let (patients, events) = app.store().counts().await.context("cannot count the demo data")?;
    let key = app
        .create_key(&ctx("demo-key"), KeyRequest { name: "demo".into(), scopes: Scope::ALL.to_vec(), expires_at: None })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key_file = args.data_dir.join("demo-api-key");
    std::fs::write(&key_file, format!("{}\n", key.secret)).with_context(|| format!("cannot write {}", key_file.display()))?;

    println!("Sotto demo clinic: {patients} patients, {events} events ({accepted} calls loaded; repeats are no-ops), {templates} library templates added");
    println!("database:   {}", args.data_dir.join("sotto.db").display());
    println!("API key:    {} (also in {})", key.secret, key_file.display());
    println!("base URL:   http://{listen}");
    println!("try:        curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/patients/demo-000001", key_file.display());
    println!("templates:  curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/templates", key_file.display());
    if !args.serve {
        return Ok(ExitCode::SUCCESS);
    }
    serve_app(app, listen, &HttpSettings::default()).await?;
    Ok(ExitCode::SUCCESS)
}
