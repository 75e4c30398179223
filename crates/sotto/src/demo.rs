//! `sotto demo`: a synthetic clinic on an embedded SQLite file, served on localhost, with an
//! API key holding every scope written next to the database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use sotto_app::demo::{DemoSize, authorization_form, clinic, clinic_authorizations, clinic_consents};
use sotto_app::deliver::Providers;
use sotto_app::{App, AppSettings, CheckpointPolicy, ItemStatus, KeyRequest, Principal, RequestCtx};
use sotto_core::contact::Channel;
use sotto_core::gate_policy::{ProviderKind, ProviderSpec};
use sotto_core::quiet_hours::Window;
use sotto_core::scope::Scope;
use sotto_crypto::Keyring;
use sotto_http::HttpSettings;
use sotto_http::telemetry::LogFormat;
use sotto_store::{ConsentStore, PatientStore, SqlStore, TemplateStore};

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
    let db_url: sotto_store::DatabaseUrl = format!("sqlite://{}", args.data_dir.join("sotto.db").display()).parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = SqlStore::connect(&db_url, master.chain_key()).await.context("cannot open the demo database")?;
    store.migrate().await.context("cannot migrate the demo database")?;
    let settings = demo_settings(listen);
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
    let consents = clinic_consents(DemoSize { patients: args.patients, seed: args.seed }, jiff::Timestamp::now());
    // Consents are append-only: a second run of the demo keeps the first run's ledger.
    let consents = if created_now(&app).await? { consents } else { Vec::new() };
    let first_run = !consents.is_empty();
    let recorded = app.record_consents(&ctx("demo-consents"), &consents).await.map_err(|e| anyhow::anyhow!("cannot record the demo consents: {e}"))?;
    let mut authorized = 0;
    if first_run {
        app.create_authorization_form(&ctx("demo-authorizations"), &authorization_form()).await.map_err(|e| anyhow::anyhow!("cannot publish the demo authorization form: {e}"))?;
        for (patient, body) in clinic_authorizations(DemoSize { patients: args.patients, seed: args.seed }, jiff::Timestamp::now()) {
            app.create_authorization(&ctx("demo-authorizations"), &patient, &body).await.map_err(|e| anyhow::anyhow!("cannot record a demo authorization: {e}"))?;
            authorized += 1;
        }
    }
    let (patients, events) = app.store().counts().await.context("cannot count the demo data")?;
    let key_file = args.data_dir.join("demo-api-key");
    let created = demo_key(&app, &key_file).await?;
    println!("Sotto demo clinic: {patients} patients, {events} events ({accepted} calls loaded; repeats are no-ops), {templates} library templates added");
    println!("database:   {}", args.data_dir.join("sotto.db").display());
    println!("API key:    in {} ({}, every scope, expires in {DEMO_KEY_DAYS} days)", key_file.display(), if created { "new" } else { "still valid, kept" });
    println!("base URL:   http://{listen}");
    println!("try:        curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/patients/demo-000001", key_file.display());
    println!("templates:  curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/templates", key_file.display());
    if recorded > 0 {
        println!("consents:   {recorded} records (most patients opted in to email and, in writing, to SMS; some opted out), {authorized} HIPAA marketing authorizations");
    }
    let queued = queue_demo_messages(&app, &calls).await?;
    println!("messages:   {queued} transactional messages queued (appointment confirmations and reminders); the gate decides each at dispatch");
    if let Some((sent, draft)) = crate::demo_campaigns::seed(&app).await? {
        println!("campaigns:  {sent} (holiday hours, launched to Spanish-speaking patients) and {draft} (a draft whose checklist fails: push has no BAA)");
        println!("checklist:  curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/campaigns/{draft}/checklist", key_file.display());
    }
    if let Some(journey) = crate::demo_campaigns::seed_journey(&app).await? {
        println!("journey:    {journey} (the appointment journey, approved): a run for every appointment booked, three of them three days out; move the clock:");
        println!("            curl -s -X POST -H \"Authorization: Bearer $(cat {})\" http://{listen}/dev/clock -H 'content-type: application/json' -d '{{\"advance\": \"24h\"}}'", key_file.display());
    }
    let secure = crate::demo_campaigns::seed_secure_messages(&app, first_run).await?;
    if secure > 0 {
        println!("secure:     {secure} secure messages; their nudges in the mailbox link to the portal, where the one-time code (also in the mailbox) opens them");
    }
    println!("portal:     http://{listen}/portal (the patient portal: secure messages and preferences)");
    let staff_file = args.data_dir.join("console-users.txt");
    let staff = crate::demo_staff::seed(&app, &staff_file).await?;
    println!("console:    http://{listen}/console (staff: one account per role; sign in with the email, the password and a code from the TOTP secret)");
    if staff.is_empty() {
        println!("            the accounts exist already: their passwords and secrets are in {}", staff_file.display());
    } else {
        println!("            shown once here and kept in {} (owner-only):", staff_file.display());
        for line in &staff {
            println!("            {line}");
        }
    }
    println!("mailbox:    http://{listen}/dev/mailbox (what the development sink kept; nothing leaves this machine)");
    println!("outbox:     curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/dispatch", key_file.display());
    checkpoints.write_now(jiff::Timestamp::now()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !args.serve {
        return Ok(ExitCode::SUCCESS);
    }
    let dispatcher = crate::worker::start(&app, Providers::sink(app.mailbox()), &db_url)?;
    serve_app(app, listen, &HttpSettings::default(), checkpoints, CheckpointPolicy::default(), dispatcher).await?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's settings: every channel goes to the development sink (email and SMS named as
/// providers with a BAA, since nothing leaves the machine; push without one, as Google and
/// Apple sign none), email may go at any hour, SMS and push keep the default quiet hours, and
/// the checklist finds a risk assessment and training from two months ago.
fn demo_settings(listen: std::net::SocketAddr) -> AppSettings {
    let sink = ProviderSpec { name: "development sink (nothing leaves this machine)".into(), kind: ProviderKind::Sink, baa_signed: "2026-01-01".parse().ok(), baa_expires: None, rate_per_second: None, backup: None };
    let mut settings = AppSettings { public_url: format!("http://{listen}"), dev_mailbox: true, webhooks_allow_loopback: true, ..AppSettings::default() };
    settings.providers = [Channel::Email, Channel::Sms].into_iter().map(|c| (c, sink.clone())).collect();
    settings.providers.insert(Channel::Push, ProviderSpec { name: "development sink for push (no BAA, like FCM and APNs)".into(), baa_signed: None, ..sink });
    let two_months_ago = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().saturating_sub(jiff::Span::new().months(2));
    settings.compliance = sotto_app::Compliance { last_risk_assessment: Some(two_months_ago), last_staff_training: Some(two_months_ago), portal_configured: true, ..sotto_app::Compliance::default() };
    if let Some(all_day) = Window::parse("00:00-23:59") {
        let daytime = settings.gate.window;
        settings.gate.window = all_day;
        settings.gate.channel_windows.insert(Channel::Sms, daytime);
        settings.gate.channel_windows.insert(Channel::Push, daytime);
    }
    settings
}

/// Whether this run made the demo database (no consent recorded yet).
async fn created_now(app: &App<SqlStore>) -> anyhow::Result<bool> {
    Ok(app.store().consents_of("demo-000001").await.context("cannot read the demo consents")?.is_empty())
}

/// Queues appointment confirmations (email), reminders (SMS) and secure-message nudges (push) for patients with a
/// booked appointment, each under an idempotency key made from the patient, so a second run
/// queues nothing new. Answers how many are queued now.
async fn queue_demo_messages(app: &App<SqlStore>, calls: &[serde_json::Value]) -> anyhow::Result<usize> {
    let templates = app.store().templates().await.context("cannot read the templates")?;
    let id_of = |name: &str| templates.iter().find(|t| t.name == name).map(|t| t.id.clone());
    // Push carries only a generic nudge: the push provider has no BAA.
    let plan = [("Appointment confirmation (email)", "email", 12), ("Appointment reminder (SMS)", "sms", 8), ("Secure message nudge (push)", "push", 4)];
    let booked: Vec<&serde_json::Value> = calls.iter().filter(|c| c["event"] == "appointment_booked").collect();
    let mut queued = 0;
    let mut next = 0;
    for (name, channel, count) in plan {
        let Some(template_id) = id_of(name) else { continue };
        for call in booked.iter().skip(next).take(count) {
            let props = &call["properties"];
            let body = serde_json::json!({
                "patient": call["userId"], "template_id": template_id, "channel": channel, "purpose": "treatment", "uses_phi": channel != "push",
                "context": {"appointment_start": props["appointment_start"], "provider_first_name": props["provider_first_name"]},
            });
            let key = format!("demo-{channel}-{}", call["userId"].as_str().unwrap_or_default());
            let (_, created) = app.queue_message(&ctx("demo-messages"), Some(&key), &body).await.map_err(|e| anyhow::anyhow!("cannot queue a demo message: {e}"))?;
            queued += usize::from(created);
        }
        next += count;
    }
    Ok(queued)
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
