//! `sotto demo`: a synthetic clinic on an embedded SQLite file, served on localhost, with an
//! API key holding every scope written next to the database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use sotto_app::demo::{DemoSize, clinic};
use sotto_app::{App, AppSettings, CheckpointPolicy, ItemStatus, KeyRequest, Principal, RequestCtx};
use sotto_core::scope::Scope;
use sotto_crypto::Keyring;
use sotto_http::HttpSettings;
use sotto_http::telemetry::LogFormat;
use sotto_store::{PatientStore, SqlStore};

use crate::admin::write_master_key;
use crate::config::load_master_key;
use crate::serve::{checkpoint_writer, init_logs, serve_app};

const BATCH: usize = 250;
/// How long the demo's all-scope key lives.
const DEMO_KEY_DAYS: i64 = 30;

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
    private_dir(&args.data_dir)?;
    let key_path = args.data_dir.join("master.key");
    let master = if key_path.exists() { load_master_key(&key_path, false)? } else { write_master_key(&key_path)? };
    let db_url = format!("sqlite://{}", args.data_dir.join("sotto.db").display()).parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = SqlStore::connect(&db_url, master.chain_key()).await.context("cannot open the demo database")?;
    store.migrate().await.context("cannot migrate the demo database")?;
    let settings = AppSettings { public_url: format!("http://{listen}"), ..AppSettings::default() };
    let checkpoints = checkpoint_writer(&store, &args.data_dir.join("audit-checkpoints"), &master)?;
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
    let key_file = args.data_dir.join("demo-api-key");
    let created = demo_key(&app, &key_file).await?;
    println!("Sotto demo clinic: {patients} patients, {events} events ({accepted} calls loaded; repeats are no-ops), {templates} library templates added");
    println!("database:   {}", args.data_dir.join("sotto.db").display());
    println!("API key:    in {} ({}, every scope, expires in {DEMO_KEY_DAYS} days)", key_file.display(), if created { "new" } else { "still valid, kept" });
    println!("base URL:   http://{listen}");
    println!("try:        curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/patients/demo-000001", key_file.display());
    println!("templates:  curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/templates", key_file.display());
    checkpoints.write_now(jiff::Timestamp::now()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !args.serve {
        return Ok(ExitCode::SUCCESS);
    }
    serve_app(app, listen, &HttpSettings::default(), checkpoints, CheckpointPolicy::default()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the data directory readable by its owner only (and narrows an existing one).
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).with_context(|| format!("cannot restrict {}", dir.display()))?;
    Ok(())
}

/// Keeps the key in `key_file` while it still authenticates; otherwise mints one that expires
/// and writes it there (owner-only). The key is never printed. Answers whether it is new.
async fn demo_key(app: &App<SqlStore>, key_file: &Path) -> anyhow::Result<bool> {
    let now = jiff::Timestamp::now();
    if let Ok(text) = std::fs::read_to_string(key_file)
        && app.authenticate(Some(text.trim()), now).await.is_ok()
    {
        return Ok(false);
    }
    let expires_at = Some(now + jiff::SignedDuration::from_hours(24 * DEMO_KEY_DAYS));
    let key = app
        .create_key(&ctx("demo-key"), KeyRequest { name: "demo".into(), scopes: Scope::ALL.to_vec(), expires_at })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(key_file).with_context(|| format!("cannot write {}", key_file.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", key.secret).as_bytes())?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(true)
}
