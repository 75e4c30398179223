//! `sotto`: the one binary. Subcommands serve the API, run the dispatch worker, migrate, run
//! the demo clinic, manage keys and sending, and verify the audit chain. Nothing but wiring and configuration lives here.

mod admin;
mod users_cli;
mod campaign_cli;
mod config;
mod demo;
mod demo_staff;
mod demo_campaigns;
mod import_cli;
mod lint;
mod serve;
mod staff_config;
mod fhir_config;
mod hl7_config;
mod portal_config;
mod provider_config;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use config::ConfigArgs;

/// Sotto: HIPAA-aware patient engagement.
#[derive(Debug, Parser)]
#[command(name = "sotto", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API, with a dispatch worker unless told not to.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Serve the API only; run `sotto worker` to send.
        #[arg(long)]
        no_worker: bool,
        /// Also take HL7 v2 messages over MLLP on this address (such as 0.0.0.0:2575).
        #[arg(long, value_name = "ADDR")]
        mllp: Option<String>,
    },
    /// Run the dispatch worker alone: claim due messages, decide, render and send them.
    Worker(ConfigArgs),
    /// Pause or resume all sending, show the outbox, requeue a message.
    Dispatch {
        #[command(subcommand)]
        command: worker::DispatchCommand,
    },
    /// List campaigns and follow one's progress.
    Campaign {
        #[command(subcommand)]
        command: campaign_cli::CampaignCommand,
    },
    /// Import patients from a CSV export through the firewall.
    Import {
        #[command(subcommand)]
        command: import_cli::ImportCommand,
    },
    /// Apply database migrations.
    Migrate(ConfigArgs),
    /// Create a synthetic clinic on an embedded SQLite file and serve it.
    Demo {
        /// Where the demo keeps its database, master key and API key.
        #[arg(long, default_value = "./sotto-demo")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// How many patients to generate.
        #[arg(long, default_value_t = 1000)]
        patients: usize,
        /// Seed of the generator.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Generate the clinic, print the summary and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Manage API keys and the master key.
    Keys {
        #[command(subcommand)]
        command: admin::KeysCommand,
    },
    /// Staff accounts: invite (the first admin too), list, disable.
    Users {
        #[command(subcommand)]
        command: users_cli::UsersCommand,
    },
    /// Lint message text read as JSON lines: exits 1 when anything blocks, 2 on a malformed line.
    Lint(lint::LintArgs),
    /// Audit chain tools.
    Audit {
        #[command(subcommand)]
        command: admin::AuditCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config, no_worker, mllp } => serve::run(config, !no_worker, mllp).await,
            Command::Worker(args) => worker::run(args).await,
            Command::Dispatch { command } => worker::dispatch(command).await,
            Command::Campaign { command } => campaign_cli::run(command).await,
            Command::Import { command } => import_cli::run(command).await,
            Command::Migrate(args) => admin::migrate(args).await,
            Command::Demo { data_dir, listen, patients, seed, no_serve } => {
                demo::run(demo::DemoArgs { data_dir, listen, patients, seed, serve: !no_serve }).await
            }
            Command::Keys { command } => admin::keys(command).await,
            Command::Users { command } => users_cli::run(command).await,
            Command::Audit { command } => admin::audit(command).await,
            Command::Lint(args) => lint::run(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
