//! `sotto-bench`: end-to-end benchmarks that run Sotto beside a peer on the same machine in
//! the same run and print the ratio. `ingest` measures durable HTTP ingestion (single `track`
//! calls and `batch` calls of 100) beside the raw SQLite insert ceiling with the same
//! durability settings (WAL, synchronous=FULL). `gate` measures send-gate decisions, pure and
//! with state read from SQLite and PostgreSQL. `segments` evaluates segments beside DuckDB on
//! the same data. `reliability` kills a dispatch worker mid-send and counts what reached a real
//! SMTP server. `throughput` delivers queued emails into Postfix's smtp-sink beside smtp-source;
//! `campaign` does the same for a campaign from its launch; `preflight` times a preflight;
//! `journeys` moves a million journey runs due at one instant.

mod campaign;
mod gate;
mod ingest;
mod journeys;
mod lint;
mod outbox_setup;
mod preflight;
mod reliability;
mod segments;
mod throughput;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "sotto-bench", about = "Benchmarks that print Sotto's figure beside a peer's")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable ingestion throughput over HTTP beside raw SQLite inserts.
    Ingest(ingest::IngestArgs),
    /// Gate decisions per second: the pure function, and with state read from storage.
    Gate(gate::GateArgs),
    /// Segment evaluation beside DuckDB on the same data, with identical member sets.
    Segments(segments::SegmentArgs),
    /// Lint throughput on one core beside Presidio, and recall and false blocks on a labelled corpus.
    Lint(lint::LintArgs),
    /// Delivery under a crash: a worker killed with SIGKILL mid-send, messages counted at a real SMTP server.
    Reliability(reliability::ReliabilityArgs),
    /// Delivery speed: queued emails into Postfix's smtp-sink beside smtp-source, and peak RSS.
    Throughput(throughput::ThroughputArgs),
    /// A campaign from launch to its last message at smtp-sink, beside smtp-source.
    Campaign(campaign::CampaignArgs),
    /// A campaign's preflight over a large segment on SQLite.
    Preflight(preflight::PreflightArgs),
    /// Journey runs all due at one instant, moved by the scheduler on SQLite.
    Journeys(journeys::JourneyArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ingest(args) => ingest::run(args).await,
        Command::Gate(args) => gate::run(args).await,
        Command::Segments(args) => segments::run(args).await,
        Command::Lint(args) => lint::run(args),
        Command::Reliability(args) => reliability::run(args).await,
        Command::Throughput(args) => throughput::run(args).await,
        Command::Campaign(args) => campaign::run(args).await,
        Command::Preflight(args) => preflight::run(args).await,
        Command::Journeys(args) => journeys::run(args).await,
    }
}
