//! What the delivery benchmarks share: N patients with verified email and an email opt-in,
//! the shipped library approved, N appointment confirmations queued (one per patient), a
//! worker configuration that sends over SMTP to a loopback sink, and starting `sotto worker`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use serde_json::json;

use sotto_app::{App, AppSettings, Principal, RequestCtx};
use sotto_crypto::Keyring;
use sotto_store::testing::{TestStore, fresh_store};
use sotto_store::{AuditContext, Backend, OutboxRow, OutboxStore, TemplateStore};

fn ctx(who: &str) -> RequestCtx {
    RequestCtx { principal: Principal::system(who), request_id: "bench".into(), source_ip: None, now: jiff::Timestamp::now() }
}

/// A store with queued emails.
pub struct Queued {
    pub test_store: TestStore,
    pub key_file: PathBuf,
    pub rows: Vec<OutboxRow>,
    pub audit: AuditContext,
}

/// Fills a fresh store of `backend`; the master key is written to `dir`.
pub async fn queue_emails(n: usize, backend: Backend, dir: &Path) -> anyhow::Result<Queued> {
    let (test_store, key_file, _) = patients(n, backend, dir, AppSettings::default()).await?;
    let store = test_store.store.clone();
    let template = store.templates().await?.into_iter().find(|t| t.name == "Appointment confirmation (email)").context("library template")?.id;
    let rows = queued_rows(&test_store, &template, n);
    let audit = AuditContext { actor: "system:bench".into(), request_id: String::new(), source_ip: None, at_micros: sotto_app::micros(jiff::Timestamp::now()) };
    for chunk in rows.chunks(2_000) {
        store.enqueue_messages(chunk, &audit).await?;
    }
    Ok(Queued { test_store, key_file, rows, audit })
}

/// A fresh store of `backend` with `n` patients (verified email, opted in) and the library
/// approved; the master key is written to `dir`. Answers the app too.
pub async fn patients(n: usize, backend: Backend, dir: &Path, settings: AppSettings) -> anyhow::Result<(TestStore, PathBuf, std::sync::Arc<App<sotto_store::SqlStore>>)> {
    let test_store = fresh_store(backend).await;
    let store = test_store.store.clone();
    let key_file = dir.join("master.key");
    std::fs::write(&key_file, test_store.master.to_base64().as_bytes())?;
    #[cfg(unix)]
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let app = App::new(store.clone(), Keyring::new(&test_store.master), settings);
    let identify: Vec<serde_json::Value> = (0..n)
        .map(|i| json!({"type": "identify", "userId": format!("p-{i:07}"), "messageId": format!("rel-{i}"), "traits": {"email": format!("patient{i}@example.org"), "email_verified": true, "first_name": "Ana", "timezone": "America/Chicago"}}))
        .collect();
    for chunk in identify.chunks(1_000) {
        app.ingest_calls(&ctx("ehr"), chunk, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let consents: Vec<(String, serde_json::Value)> = (0..n)
        .map(|i| (format!("p-{i:07}"), json!({"channel": "email", "status": "opted_in", "kind": "express", "source": "paper", "captured_at": "2026-01-05T10:00:00Z", "evidence": {"form_version": "intake-v1"}})))
        .collect();
    for chunk in consents.chunks(10_000) {
        app.record_consents(&ctx("frontdesk"), chunk).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    app.load_template_library(&ctx("library"), &ctx("reviewer"), "approved").await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((test_store, key_file, app))
}

fn queued_rows(test_store: &TestStore, template: &str, n: usize) -> Vec<OutboxRow> {
    let now = sotto_app::micros(jiff::Timestamp::now());
    let keyring = Keyring::new(&test_store.master);
    (0..n)
        .map(|i| {
            let id = keyring.message_ref(&format!("system:bench/appt-{i}"));
            OutboxRow {
                channel: "email".into(),
                purpose: "treatment".into(),
                template_id: template.to_owned(),
                context: json!({"appointment_start": "2026-12-20T15:30:00Z", "provider_first_name": "Maria"}).to_string(),
                ..OutboxRow::queued(id, format!("p-{i:07}"), now)
            }
        })
        .collect()
}

/// A configuration sending email over plain SMTP to a loopback sink at `port` with `pool`
/// connections at most.
pub fn worker_config(dir: &Path, test_store: &TestStore, key_file: &Path, port: u16, pool: u32) -> anyhow::Result<PathBuf> {
    let config = dir.join("sotto.toml");
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\nmaster_key_file = \"{}\"\naudit_checkpoints_dir = \"{}\"\nemail_from = \"Riverside Clinic <no-reply@clinic.example>\"\n\
             [gate]\nwindow = \"00:00-23:59\"\n[providers.email]\nname = \"loopback sink\"\nkind = \"smtp\"\nbaa_signed = \"2026-01-01\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\npool_max = {pool}\n",
            test_store.url.expose(),
            key_file.display(),
            dir.join("checkpoints").display()
        ),
    )?;
    Ok(config)
}

/// Starts `sotto worker` with `config`, its log appended to `log`.
pub fn worker(sotto: &Path, config: &Path, log: &Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    Command::new(sotto).arg("worker").arg("--config").arg(config).stdout(Stdio::null()).stderr(log).spawn().context("cannot start sotto worker (build it with cargo build --release -p sotto)")
}
