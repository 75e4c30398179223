//! `sotto users …`: the first admin (and any later account) from the command line, as an
//! invitation whose link sets a password and enrols TOTP; listing and disabling accounts.

use std::process::ExitCode;

use clap::Subcommand;

use sotto_app::{App, AppSettings, Principal, RequestCtx};
use sotto_crypto::Keyring;

use crate::config::ConfigArgs;
use crate::serve::open_store;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Invite a staff member: prints a link (shown once, open 72 hours) where they set a
    /// password and enrol an authenticator app.
    Create {
        #[command(flatten)]
        config: ConfigArgs,
        /// composer, compliance, admin, analyst, operator or auditor.
        #[arg(long)]
        role: String,
        /// The sign-in email.
        #[arg(long)]
        email: String,
        /// The name pages show.
        #[arg(long)]
        name: String,
    },
    /// List staff accounts: id, state, role, email.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Disable an account at once: its sessions end.
    Disable {
        #[command(flatten)]
        config: ConfigArgs,
        /// The account's id, as `sotto users list` shows it.
        id: String,
    },
}

/// An application error as a command-line message, naming each refused field.
fn explain(e: sotto_app::AppError) -> anyhow::Error {
    match e {
        sotto_app::AppError::Invalid(errors) => anyhow::anyhow!("{}", errors.iter().map(|f| format!("{}: {} ({})", f.field, f.message, f.code)).collect::<Vec<_>>().join("; ")),
        other => anyhow::anyhow!("{other}"),
    }
}

fn cli_ctx() -> RequestCtx {
    RequestCtx { principal: Principal::cli(), request_id: format!("cli-{}", sotto_crypto::random_id(6)), source_ip: None, now: jiff::Timestamp::now() }
}

async fn app(config: &ConfigArgs) -> anyhow::Result<(std::sync::Arc<App<sotto_store::SqlStore>>, String)> {
    let settings = config.resolve("127.0.0.1:8080", None)?;
    let master = settings.master_key.clone().ok_or_else(|| anyhow::anyhow!("no master key configured: set SOTTO_MASTER_KEY_FILE (or --master-key-file) to the deployment's key file"))?;
    let store = open_store(&settings, &master).await?;
    let public_url = settings.public_url.clone();
    Ok((App::new(store, Keyring::new(&master), AppSettings { public_url: public_url.clone(), ..AppSettings::default() }), public_url))
}

pub async fn run(command: UsersCommand) -> anyhow::Result<ExitCode> {
    match command {
        UsersCommand::Create { config, role, email, name } => {
            let (app, public_url) = app(&config).await?;
            let token = app.invite_staff(&cli_ctx(), &email, &name, &role).await.map_err(explain)?;
            eprintln!("invited {email} as {role}; send them this link (shown once, open 72 hours):");
            println!("{}/console/invite/{token}", public_url.trim_end_matches('/'));
        }
        UsersCommand::List { config } => {
            let (app, _) = app(&config).await?;
            let users = app.list_staff(&cli_ctx()).await.map_err(explain)?;
            println!("{:<20}  {:<8}  {:<10}  email", "id", "state", "role");
            for u in users {
                println!("{:<20}  {:<8}  {:<10}  {}", u.id, u.state, u.role, u.email);
            }
        }
        UsersCommand::Disable { config, id } => {
            let (app, _) = app(&config).await?;
            match app.change_staff(&cli_ctx(), &id, None).await {
                Ok(()) => println!("disabled {id}; its sessions ended"),
                Err(sotto_app::AppError::NotFound(_)) => {
                    eprintln!("no enabled account has id {id:?}; `sotto users list` shows the ids");
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(explain(e)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
