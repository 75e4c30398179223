//! `sotto serve`: load configuration, open and migrate the store, serve (and send, unless
//! told not to) until a signal.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use sotto_app::{App, AppSettings, CheckpointPolicy, CheckpointWriter, Dispatcher};
use sotto_crypto::{Keyring, MasterKey};
use sotto_http::HttpSettings;
use sotto_http::telemetry::{LogFormat, subscriber};
use sotto_store::{CheckpointDir, SqlStore};

use crate::config::{ConfigArgs, Settings, unknown_env_vars};

/// Installs the global log subscriber and reports unknown `SOTTO_` variables.
pub fn init_logs(format: LogFormat) {
    let _ = tracing::subscriber::set_global_default(subscriber(format, std::io::stderr));
    for name in unknown_env_vars() {
        tracing::warn!(variable = %name, "unknown SOTTO_ environment variable ignored; check its spelling");
    }
}

/// Opens the store named by the settings, chaining audit entries with the master key's chain
/// key, and applies migrations.
pub async fn open_store(settings: &Settings, master: &MasterKey) -> anyhow::Result<SqlStore> {
    let store = SqlStore::connect(&settings.database, master.chain_key()).await.context("cannot open the database")?;
    store.migrate().await.context("cannot apply database migrations")?;
    Ok(store)
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

/// The checkpoint writer for a store, with the directory created (owner-only) when missing.
pub fn checkpoint_writer(store: &SqlStore, dir: &std::path::Path, master: &MasterKey) -> anyhow::Result<CheckpointWriter<SqlStore>> {
    let dir = CheckpointDir::open(dir).context("cannot open the audit checkpoint directory: create it or set SOTTO_AUDIT_CHECKPOINTS_DIR")?;
    Ok(CheckpointWriter::new(store.clone(), dir, master.checkpoint_signer()))
}

/// Serves an app on the configured address until a shutdown signal, writing signed audit
/// checkpoints meanwhile and a last one when it stops.
pub async fn serve_app(
    app: Arc<App<SqlStore>>,
    listen: std::net::SocketAddr,
    http: &HttpSettings,
    checkpoints: CheckpointWriter<SqlStore>,
    policy: CheckpointPolicy,
    dispatcher: Option<Dispatcher>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}: is another process using it? choose another with --listen"))?;
    tracing::info!(address = %listen, "listening");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    checkpoints.clone().spawn(policy, stopped);
    let served = sotto_http::serve(listener, app, http, shutdown_signal()).await.context("the server stopped with an error");
    if let Some(dispatcher) = dispatcher {
        dispatcher.shutdown().await;
    }
    let _ = stop.send(true);
    match checkpoints.write_now(jiff::Timestamp::now()).await {
        Ok(seq) => tracing::info!(checkpoint = ?seq, "audit checkpoint written at shutdown"),
        Err(e) => tracing::error!(error = %e, "cannot write the audit checkpoint at shutdown"),
    }
    served
}

pub async fn run(args: ConfigArgs, with_worker: bool, mllp: Option<String>) -> anyhow::Result<ExitCode> {
    let settings = args.resolve("127.0.0.1:8080", None)?;
    init_logs(settings.log_format);
    let master = settings.master_key.clone().context(
        "no master key configured: make one with `sotto keys generate-master --out sotto-master.key` and set SOTTO_MASTER_KEY_FILE to its path",
    )?;
    tracing::info!(production = settings.production, backend = ?settings.database.backend(), "configuration loaded");
    let store = open_store(&settings, &master).await?;
    let checkpoints = checkpoint_writer(&store, &settings.audit_checkpoints, &master)?;
    let app = App::new(store, Keyring::new(&master), AppSettings { dev_mailbox: crate::worker::uses_sink(&settings), ..settings.app_settings() });
    let providers = crate::worker::providers(&settings, &app)?;
    let patients = app.load_segment_index(|_| {}).await.map_err(|e| anyhow::anyhow!("cannot build the segment index: {e}"))?;
    tracing::info!(patients, "segment index built");
    let dispatcher = if with_worker { crate::worker::start(&app, providers, &settings.database)? } else { None };
    if let Some(address) = mllp {
        let listener = tokio::net::TcpListener::bind(&address).await.with_context(|| format!("cannot listen for MLLP on {address}: is it a free host:port? (--mllp)"))?;
        tracing::info!(address = %address, "taking HL7 v2 over MLLP");
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(e) = sotto_http::mllp::serve(listener, app, sotto_http::mllp::MllpSettings::default(), shutdown_signal()).await {
                tracing::error!(error = %e, "the MLLP listener stopped");
            }
        });
    }
    serve_app(app, settings.listen, &settings.http, checkpoints, settings.checkpoint_policy, dispatcher).await?;
    Ok(ExitCode::SUCCESS)
}
