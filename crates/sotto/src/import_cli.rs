//! `sotto import patients FILE --mapping MAPPING.toml`: a CSV export of patients imported
//! through the firewall a thousand rows at a time, with a progress bar, each refused row
//! reported by line, column and code (never a value), and a progress file beside the CSV so
//! that an interrupted import resumes where it stopped (and a repeat stores nothing twice).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use sotto_app::{App, ImportMapping, Principal, RequestCtx};
use sotto_crypto::Keyring;

use crate::config::ConfigArgs;
use crate::serve::open_store;

/// Rows per ingestion batch.
const CHUNK: usize = 1_000;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import patients from a CSV file whose first line names the columns.
    Patients {
        /// The CSV file.
        file: PathBuf,
        /// A TOML file: `id = "MRN"` and a `[traits]` table of trait = "Column".
        #[arg(long)]
        mapping: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// The file's identity in message ids: its canonical path, size and modification time (a
/// new export of the same file is a new source; the same file resumed is the same).
fn source_of(file: &Path) -> anyhow::Result<String> {
    let path = std::fs::canonicalize(file).with_context(|| format!("cannot read {}", file.display()))?;
    let meta = std::fs::metadata(&path)?;
    let modified = meta.modified().ok().and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let digest = sotto_crypto::hash_api_key(&format!("{}\n{}\n{modified}", path.display(), meta.len()));
    Ok(digest.iter().take(6).map(|b| format!("{b:02x}")).collect())
}

/// The last line an earlier run of the same file stored and how many rows it refused, from
/// the progress file (`source line refused`).
fn resume_after(progress: &Path, source: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(progress).unwrap_or_default();
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next().and_then(|l| l.parse().ok()), parts.next().and_then(|r| r.parse().ok())) {
        (Some(s), Some(line), refused) if s == source => (line, refused.unwrap_or(0)),
        _ => (0, 0),
    }
}

pub async fn run(command: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::Patients { file, mapping, config } = command;
    let mapping: ImportMapping = toml::from_str(&std::fs::read_to_string(&mapping).with_context(|| format!("cannot read the mapping {}", mapping.display()))?)
        .with_context(|| format!("the mapping {} is not valid: it takes id = \"Column\" and a [traits] table of trait = \"Column\"", mapping.display()))?;
    let settings = config.resolve("127.0.0.1:8080", None)?;
    let master = settings.master_key.clone().context("no master key configured: set SOTTO_MASTER_KEY_FILE")?;
    let store = open_store(&settings, &master).await?;
    let app = App::new(store, Keyring::new(&master), settings.app_settings());
    let ctx = RequestCtx { principal: Principal::cli(), request_id: String::new(), source_ip: None, now: jiff::Timestamp::now() };

    let mut reader = csv::ReaderBuilder::new().flexible(true).from_path(&file).with_context(|| format!("cannot open {}", file.display()))?;
    let header: Vec<String> = reader.headers().context("the file has no header line")?.iter().map(str::to_owned).collect();
    let columns = app.import_columns(&mapping, &header).await.map_err(|e| anyhow::anyhow!(e))?;
    let source = source_of(&file)?;
    let progress = file.with_extension("import-progress");
    let (skip, refused_before) = resume_after(&progress, &source);
    if skip > 0 {
        eprintln!("resuming after line {skip} (from {}); {refused_before} rows refused before it were reported by the earlier run", progress.display());
    }
    let size = std::fs::metadata(&file)?.len();
    let bar = ProgressBar::new(size).with_style(ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let (mut stored, mut repeated, mut refused) = (0u64, 0u64, refused_before);
    let mut chunk: Vec<(u64, Vec<String>)> = Vec::with_capacity(CHUNK);
    let mut records = reader.records();
    loop {
        let next = records.next();
        if let Some(record) = &next {
            // The error's kind only: its text could quote a cell.
            let record = record.as_ref().map_err(|e| {
                let kind = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => "a cell is not UTF-8",
                    csv::ErrorKind::Io(_) => "the file could not be read",
                    _ => "a line cannot be read as CSV",
                };
                anyhow::anyhow!("{} near line {}", kind, e.position().map_or(0, |p| p.line()))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            if line > skip {
                chunk.push((line, record.iter().map(str::to_owned).collect()));
            }
            bar.set_position(record.position().map_or(0, |p| p.byte()));
        }
        if chunk.len() >= CHUNK || (next.is_none() && !chunk.is_empty()) {
            let report = app.import_rows(&ctx, &source, &columns, &header, &chunk).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            stored += report.stored;
            repeated += report.repeated;
            let mut lines: Vec<u64> = report.refused.iter().map(|r| r.line).collect();
            lines.dedup();
            refused += lines.len() as u64;
            for r in &report.refused {
                bar.suspend(|| eprintln!("line {}: column \"{}\": {}", r.line, r.column, r.code));
            }
            let last = chunk.last().map_or(skip, |(line, _)| *line);
            let mut file = std::fs::File::create(&progress).with_context(|| format!("cannot write {}", progress.display()))?;
            writeln!(file, "{source} {last} {refused}")?;
            bar.set_message(format!("{stored} stored, {refused} refused"));
            chunk.clear();
        }
        if next.is_none() {
            break;
        }
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_file(&progress);
    println!("imported {stored} patients ({repeated} already there), {refused} rows refused");
    Ok(if refused == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
