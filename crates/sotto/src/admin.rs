//! `sotto migrate`, `sotto keys …` and `sotto audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use sotto_app::{App, AppSettings, KeyRequest, Principal, RequestCtx};
use sotto_core::scope::Scope;
use sotto_crypto::{Keyring, MasterKey};
use sotto_store::{SqlStore, verify_audit_chain};

use crate::config::ConfigArgs;
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
    /// Generate a new random master key.
    GenerateMaster {
        /// Write it to this file (mode 600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit hash chain: exit 0 when every entry verifies, 1 naming the first that does not.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub async fn migrate(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let settings = args.resolve("127.0.0.1:8080", None)?;
    open_store(&settings).await?;
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
            let settings = config.resolve("127.0.0.1:8080", None)?;
            let store = open_store(&settings).await?;
            // Keys need no data key; a throwaway keyring keeps the app's shape.
            let master = settings.master_key.clone().unwrap_or_else(MasterKey::generate);
            let app = App::new(store, Keyring::new(&master), AppSettings::default());
            let now = jiff::Timestamp::now();
            let expires_at = expires_in_days.map(|d| now + jiff::SignedDuration::from_hours(d * 24));
            let ctx = RequestCtx { principal: Principal::cli(), request_id: format!("cli-{}", sotto_crypto::random_id(6)), source_ip: None, now };
            let key = app.create_key(&ctx, KeyRequest { name, scopes, expires_at }).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("created key {}; it is shown once:", key.id);
            println!("{}", key.secret);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn audit(command: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { config } = command;
    let settings = config.resolve("127.0.0.1:8080", None)?;
    let store = SqlStore::connect(&settings.database).await.context("cannot open the database")?;
    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} verified {pos} audit entries").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    let outcome = verify_audit_chain(&store, |n| bar.set_position(n as u64)).await.context("cannot read the audit chain")?;
    bar.finish_and_clear();
    match outcome {
        Ok(n) => {
            println!("audit chain verified: {n} entries checked, none altered, removed or reordered");
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("audit chain broken: {broken}");
            Ok(ExitCode::from(1))
        }
    }
}
