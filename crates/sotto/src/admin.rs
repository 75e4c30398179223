//! `sotto migrate`, `sotto keys …` and `sotto audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use sotto_app::{App, AppSettings, KeyRequest, Principal, RequestCtx};
use sotto_core::scope::Scope;
use sotto_crypto::{Keyring, MasterKey};
use sotto_store::{CheckpointDir, SqlStore, verify_audit_chain};

use crate::config::{ConfigArgs, Settings};
use crate::serve::open_store;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; the key is printed once and only its hash is stored.
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// A scope the key holds (repeat for several), such as events:write.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A label for people.
        #[arg(long, default_value = "api-key")]
        name: String,
        /// Days until the key expires.
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List API keys (never their secrets): id, state, name, scopes, expiry.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke an API key at once.
    Revoke {
        #[command(flatten)]
        config: ConfigArgs,
        /// The key's id, as `sotto keys list` shows it.
        id: String,
    },
    /// Generate a new random master key.
    GenerateMaster {
        /// Write it to this file (mode 600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit chain with its key and against the signed checkpoints (--checkpoints
    /// DIR, default audit-checkpoints beside the data): exit 0 when every entry verifies,
    /// 1 naming the first that does not.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
        /// Check the database alone, without signed checkpoints (entries removed from the end
        /// then go unnoticed); without it, a missing or empty checkpoint directory is an error.
        #[arg(long)]
        no_checkpoints: bool,
    },
}

/// The configured master key, which keys the audit chain: commands that write or verify the
/// chain need it.
fn master(settings: &Settings) -> anyhow::Result<MasterKey> {
    settings.master_key.clone().context(
        "no master key configured: it keys the audit chain; set SOTTO_MASTER_KEY_FILE (or --master-key-file) to the deployment's key file",
    )
}

fn cli_ctx() -> RequestCtx {
    RequestCtx { principal: Principal::cli(), request_id: format!("cli-{}", sotto_crypto::random_id(6)), source_ip: None, now: jiff::Timestamp::now() }
}

async fn cli_app(config: &ConfigArgs) -> anyhow::Result<std::sync::Arc<App<SqlStore>>> {
    let settings = config.resolve("127.0.0.1:8080", None)?;
    let master = master(&settings)?;
    let store = open_store(&settings, &master).await?;
    Ok(App::new(store, Keyring::new(&master), AppSettings::default()))
}

pub async fn migrate(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let settings = args.resolve("127.0.0.1:8080", None)?;
    // Migrations write no audit entry, so a deployment may migrate before its key is set up.
    let master = settings.master_key.clone().unwrap_or_else(MasterKey::generate);
    open_store(&settings, &master).await?;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

/// Writes a new master key file readable only by its owner.
pub fn write_master_key(path: &std::path::Path) -> anyhow::Result<MasterKey> {
    let key = MasterKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", key.to_base64().as_str()).as_bytes())?;
    Ok(key)
}

pub async fn keys(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::GenerateMaster { out: Some(path) } => {
            write_master_key(&path)?;
            eprintln!("wrote a new master key to {}; keep it apart from the database and back it up", path.display());
        }
        KeysCommand::GenerateMaster { out: None } => println!("{}", MasterKey::generate().to_base64().as_str()),
        KeysCommand::Create { config, scopes, name, expires_in_days } => {
            let scopes = scopes.iter().map(|s| Scope::parse(s)).collect::<Result<Vec<_>, _>>()?;
            if expires_in_days.is_some_and(|d| d < 1) {
                anyhow::bail!("--expires-in-days must be at least 1");
            }
            let app = cli_app(&config).await?;
            let ctx = cli_ctx();
            let expires_at = expires_in_days.map(|d| ctx.now + jiff::SignedDuration::from_hours(d * 24));
            let key = app.create_key(&ctx, KeyRequest { name, scopes, expires_at }).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("created key {}; it is shown once:", key.id);
            println!("{}", key.secret);
        }
        KeysCommand::List { config } => {
            let app = cli_app(&config).await?;
            let keys = app.list_keys(&cli_ctx()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{:<16}  {:<8}  {:<24}  {:<27}  scopes", "id", "state", "name", "expires");
            for k in keys {
                println!("{:<16}  {:<8}  {:<24}  {:<27}  {}", k.id, k.state, k.name, k.expires_at.as_deref().unwrap_or("never"), k.scopes.join(" "));
            }
        }
        KeysCommand::Revoke { config, id } => {
            let app = cli_app(&config).await?;
            match app.revoke_key(&cli_ctx(), &id).await {
                Ok(()) => println!("revoked key {id}"),
                Err(sotto_app::AppError::NotFound(_)) => {
                    eprintln!("no active key has id {id:?}; `sotto keys list` shows the ids");
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(anyhow::anyhow!("{e}")),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit(command: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { config, no_checkpoints } = command;
    let settings = config.resolve("127.0.0.1:8080", None)?;
    let master = master(&settings)?;
    let store = SqlStore::connect(&settings.database, master.chain_key()).await.context("cannot open the database")?;
    let checkpoints = if no_checkpoints {
        eprintln!("warning: checking the database alone; entries removed from the end of the chain cannot be detected");
        Vec::new()
    } else {
        if std::fs::metadata(&settings.audit_checkpoints).is_err() {
            println!(
                "audit chain not verified: no checkpoint directory at {}; pass --checkpoints DIR (or SOTTO_AUDIT_CHECKPOINTS_DIR), or --no-checkpoints to check the database alone",
                settings.audit_checkpoints.display()
            );
            return Ok(ExitCode::from(1));
        }
        CheckpointDir::open(&settings.audit_checkpoints)?.load(&master.checkpoint_signer().verifier())?
    };
    let (head, _) = sotto_store::AuditStore::audit_head(&store).await.context("cannot read the audit chain")?;
    if !no_checkpoints && checkpoints.is_empty() && head > 0 {
        println!("audit chain not verified: the checkpoint directory holds no checkpoint while the chain has {head} entries; it was emptied, or is not this deployment's");
        return Ok(ExitCode::from(1));
    }
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} verified {pos} audit entries").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    let outcome = verify_audit_chain(&store, &master.chain_key(), &checkpoints, |n| bar.set_position(n as u64)).await.context("cannot read the audit chain")?;
    bar.finish_and_clear();
    match outcome {
        Ok(n) => {
            let covered = checkpoints.last().map_or(0, |c| c.seq);
            println!("audit chain verified: {n} entries checked against {} signed checkpoints, none altered, removed or reordered", checkpoints.len());
            if n > covered {
                println!("the last {} entries are newer than the newest checkpoint: their removal from the end would show only after the next checkpoint", n - covered);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("audit chain broken: {broken}");
            Ok(ExitCode::from(1))
        }
    }
}
