//! `sotto campaign`: list campaigns, and follow one's progress with a bar until every
//! message has ended.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use sotto_app::{App, Principal, RequestCtx};
use sotto_crypto::Keyring;

use crate::config::ConfigArgs;
use crate::serve::open_store;

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// List campaigns, newest first.
    List(ConfigArgs),
    /// Draw a campaign's progress until every message has ended, then print its counts.
    Progress {
        /// The campaign id (cmp_…).
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub async fn run(command: CampaignCommand) -> anyhow::Result<ExitCode> {
    let config = match &command {
        CampaignCommand::List(config) | CampaignCommand::Progress { config, .. } => config,
    };
    let settings = config.resolve("127.0.0.1:8080", None)?;
    let master = settings.master_key.clone().context("no master key configured: set SOTTO_MASTER_KEY_FILE")?;
    let store = open_store(&settings, &master).await?;
    let app = App::new(store, Keyring::new(&master), settings.app_settings());
    let ctx = || RequestCtx { principal: Principal::cli(), request_id: String::new(), source_ip: None, now: jiff::Timestamp::now() };
    let id = match &command {
        CampaignCommand::List(_) => {
            let list = app.list_campaigns(&ctx()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(ExitCode::SUCCESS);
        }
        CampaignCommand::Progress { id, .. } => id,
    };
    let bar = ProgressBar::new(100).with_style(
        ProgressStyle::with_template("{prefix} {bar:40} {pos:>3}% {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(id.clone());
    loop {
        let progress = app.campaign_progress(&ctx(), id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        bar.set_position(progress["percent_done"].as_u64().unwrap_or(0));
        bar.set_message(format!("{} · sent {} · denied {} · failed {}", progress["state"].as_str().unwrap_or_default(), progress["sent"], progress["denied"]["total"], progress["failed"]));
        let stopped = matches!(progress["state"].as_str(), Some("paused" | "cancelled" | "draft" | "approved"));
        if progress["finished"] == true || stopped {
            bar.finish();
            println!("{}", serde_json::to_string_pretty(&progress)?);
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
