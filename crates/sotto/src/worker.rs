//! `sotto worker` and `sotto dispatch`: the dispatch worker on its own, the providers built
//! from configuration (the sink only outside production), and the kill switch, status and
//! requeue at the command line.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;

use sotto_app::deliver::{Provider, Providers};
use sotto_app::{App, DispatchSettings, Dispatcher, Principal, RequestCtx};
use sotto_core::contact::Channel;
use sotto_core::gate_policy::{ProviderKind, ProviderSpec};
use sotto_crypto::Keyring;
use sotto_store::{Backend, SqlStore};

use crate::config::{ConfigArgs, Settings};
use crate::serve::{checkpoint_writer, init_logs, open_store, shutdown_signal};

/// `sotto dispatch …`.
#[derive(Debug, Subcommand)]
pub enum DispatchCommand {
    /// Stop all sending at once (workers finish the round they are in).
    Pause {
        /// Why, for the operators who see it (no health information).
        #[arg(long, default_value = "paused from the command line")]
        reason: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Resume sending.
    Resume(ConfigArgs),
    /// Messages counted by status, and whether sending is paused.
    Status(ConfigArgs),
    /// Read bounces (RFC 3464) and complaints (ARF) from a maildir: hard bounces and complaints
    /// suppress the address; each file read moves from new/ to cur/.
    Reports {
        /// The maildir (with new/ and cur/).
        #[arg(long)]
        maildir: std::path::PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Move a dead or uncertain message back to the queue.
    Requeue {
        /// The message id (msg_…).
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// One configured provider, built; the sink is refused in production.
fn build(settings: &Settings, app: &App<SqlStore>, channel: Channel, spec: &ProviderSpec) -> anyhow::Result<Arc<dyn Provider>> {
    Ok(match spec.kind {
        ProviderKind::Sink if settings.production => {
            anyhow::bail!("providers.{channel}.kind is \"sink\", which keeps messages instead of delivering them and is refused in production: configure a real provider")
        }
        ProviderKind::Sink => Arc::new(sotto_app::deliver::SinkProvider::new(app.mailbox())),
        ProviderKind::Smtp if channel != Channel::Email => anyhow::bail!("providers.{channel}.kind \"smtp\" carries email only"),
        ProviderKind::Smtp => {
            let smtp = settings.smtp.as_ref().context("providers.email.kind is \"smtp\" but there is no [smtp] table: add one with the relay's host (see the README's delivery section)")?;
            Arc::new(sotto_deliver::SmtpProvider::new(smtp).map_err(|e| anyhow::anyhow!("invalid [smtp] settings: {e}"))?)
        }
        ProviderKind::Twilio if channel != Channel::Sms => anyhow::bail!("providers.{channel}.kind \"twilio\" carries SMS only"),
        ProviderKind::Twilio => {
            let twilio = settings.twilio.as_ref().context("providers.sms.kind is \"twilio\" but there is no [twilio] table: add one with account_sid, auth_token_file and from")?;
            Arc::new(sotto_deliver::TwilioProvider::new(twilio.clone()).map_err(|e| anyhow::anyhow!("invalid [twilio] settings: {e}"))?)
        }
        ProviderKind::Fcm | ProviderKind::Apns if channel != Channel::Push => anyhow::bail!("providers.{channel}.kind \"{}\" carries push only", spec.kind.as_str()),
        ProviderKind::Fcm | ProviderKind::Apns => {
            let table = spec.kind.as_str();
            if (spec.kind == ProviderKind::Fcm && settings.fcm.is_none()) || (spec.kind == ProviderKind::Apns && settings.apns.is_none()) {
                anyhow::bail!("providers.push.kind is \"{table}\" but there is no [{table}] table: add one (see the README's delivery section)");
            }
            if spec.baa_signed.is_some() && settings.fcm.is_some() && settings.apns.is_some() {
                anyhow::bail!("providers.push has baa_signed but both [fcm] and [apns] are configured: a BAA covers one service; configure only the one it covers, or leave baa_signed out so push carries only generic content");
            }
            let fcm = settings.fcm.clone().map(sotto_deliver::FcmProvider::new).transpose().map_err(|e| anyhow::anyhow!("invalid [fcm] settings: {e}"))?;
            let apns = settings.apns.clone().map(sotto_deliver::ApnsProvider::new).transpose().map_err(|e| anyhow::anyhow!("invalid [apns] settings: {e}"))?;
            Arc::new(sotto_deliver::PushProvider::new(fcm, apns).context("no push service is configured")?)
        }
    })
}

/// The providers the settings name, with their backups and rates.
pub fn providers(settings: &Settings, app: &App<SqlStore>) -> anyhow::Result<Providers> {
    let mut providers = Providers::default();
    for (channel, spec) in &settings.providers {
        providers = providers.with(*channel, build(settings, app, *channel, spec)?);
        if let Some(backup) = &spec.backup {
            providers = providers.with_backup(*channel, build(settings, app, *channel, backup)?);
        }
        if let Some(rate) = spec.rate_per_second {
            providers = providers.with_rate(*channel, rate);
        }
    }
    Ok(providers)
}

/// Whether the settings use the sink anywhere (the development mailbox is then served).
pub fn uses_sink(settings: &Settings) -> bool {
    settings.providers.values().any(|p| p.kind == ProviderKind::Sink)
}

/// Starts the dispatch worker for a store. SQLite runs one worker per database: the worker
/// holds an exclusive lock on `<database>.worker-lock` for the life of the process (the
/// system releases it when the process dies, `kill -9` included), recovers the claims an
/// earlier process left at once, and another process finds the lock taken and runs none.
pub fn start(app: &Arc<App<SqlStore>>, providers: Providers, db: &sotto_store::DatabaseUrl) -> anyhow::Result<Option<Dispatcher>> {
    let single = match (app.store().backend(), db.sqlite_path()) {
        (Backend::Sqlite, Some(path)) => {
            let lock_path = path.with_extension("worker-lock");
            let mut options = std::fs::OpenOptions::new();
            options.create(true).truncate(false).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&lock_path).with_context(|| format!("cannot open {}", lock_path.display()))?;
            match file.try_lock() {
                Ok(()) => Some(file),
                Err(std::fs::TryLockError::WouldBlock) => {
                    tracing::warn!("another process runs the dispatch worker of this SQLite database; this one sends nothing");
                    return Ok(None);
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {}", lock_path.display())),
            }
        }
        _ => None,
    };
    // Webhook deliveries go out from the process that dispatches.
    let poster = sotto_deliver::HttpWebhookPoster::new(std::time::Duration::from_secs(10), app.webhooks_allow_loopback()).map_err(|e| anyhow::anyhow!("cannot make the webhook client: {e}"))?;
    app.set_webhook_poster(Arc::new(poster));
    let dispatcher = Dispatcher::spawn(app.clone(), providers, DispatchSettings::default(), single.is_some());
    // The lock is held until the process ends.
    std::mem::forget(single);
    Ok(Some(dispatcher))
}

pub async fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let settings = args.resolve("127.0.0.1:8080", None)?;
    init_logs(settings.log_format);
    let master = settings.master_key.clone().context("no master key configured: set SOTTO_MASTER_KEY_FILE")?;
    let store = open_store(&settings, &master).await?;
    let checkpoints = checkpoint_writer(&store, &settings.audit_checkpoints, &master)?;
    let app = App::new(store, Keyring::new(&master), settings.app_settings());
    let dispatcher = start(&app, providers(&settings, &app)?, &settings.database)?;
    shutdown_signal().await;
    if let Some(dispatcher) = dispatcher {
        dispatcher.shutdown().await;
    }
    checkpoints.write_now(jiff::Timestamp::now()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Applies every report in `maildir/new`, moving each file read to `maildir/cur`.
async fn import_reports(app: &App<SqlStore>, ctx: &RequestCtx, maildir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let new = maildir.join("new");
    let cur = maildir.join("cur");
    std::fs::create_dir_all(&cur).with_context(|| format!("cannot create {}", cur.display()))?;
    let entries = std::fs::read_dir(&new).with_context(|| format!("cannot read {}: point --maildir at a maildir with new/ and cur/", new.display()))?;
    let (mut applied, mut unmatched, mut not_reports) = (0, 0, 0);
    for entry in entries {
        let path = entry?.path();
        if !path.is_file() {
            continue;
        }
        let raw = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match sotto_core::email_report::parse_report(&raw) {
            Some(report) => {
                let answer = app.email_report(ctx, report.kind, &report.message_id, &report.status).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                if answer["matched"] == true { applied += 1 } else { unmatched += 1 }
            }
            None => not_reports += 1,
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let seen = if name.contains(":2,") { name } else { format!("{name}:2,S") };
        std::fs::rename(&path, cur.join(seen)).with_context(|| format!("cannot move {} to cur/", path.display()))?;
    }
    println!("{applied} reports applied, {unmatched} about messages Sotto did not send, {not_reports} files that are not reports");
    Ok(ExitCode::SUCCESS)
}

pub async fn dispatch(command: DispatchCommand) -> anyhow::Result<ExitCode> {
    let config = match &command {
        DispatchCommand::Pause { config, .. } | DispatchCommand::Requeue { config, .. } | DispatchCommand::Reports { config, .. } => config,
        DispatchCommand::Resume(config) | DispatchCommand::Status(config) => config,
    };
    let settings = config.resolve("127.0.0.1:8080", None)?;
    let master = settings.master_key.clone().context("no master key configured: set SOTTO_MASTER_KEY_FILE")?;
    let store = open_store(&settings, &master).await?;
    let app = App::new(store, Keyring::new(&master), settings.app_settings());
    let ctx = RequestCtx { principal: Principal::cli(), request_id: String::new(), source_ip: None, now: jiff::Timestamp::now() };
    let answer = match &command {
        DispatchCommand::Pause { reason, .. } => app.set_paused(&ctx, true, reason).await,
        DispatchCommand::Resume(_) => app.set_paused(&ctx, false, "").await,
        DispatchCommand::Status(_) => app.dispatch_status(&ctx).await,
        DispatchCommand::Requeue { id, .. } => app.requeue(&ctx, id).await,
        DispatchCommand::Reports { maildir, .. } => return import_reports(&app, &ctx, maildir).await,
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(ExitCode::SUCCESS)
}
