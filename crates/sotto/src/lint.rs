//! `sotto lint`: JSON lines in (`{"id"?, "channel", "surface", "text"}`), one verdict per line
//! out. Exits 1 when anything blocks and 2 when a line is malformed (naming its number), so
//! content pipelines can use it.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use sotto_core::lint::{Verdict, answer, parse_request};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON verdict per input line.
    Json,
    /// Findings underlined in the text, for people.
    Human,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Read requests from this file instead of standard input.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
}

pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?)),
        None => Box::new(std::io::stdin().lock()),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut malformed, mut blocked) = (false, false);
    for (n, line) in input.lines().enumerate() {
        let line = line.context("cannot read the input")?;
        if line.trim().is_empty() {
            continue;
        }
        let request = serde_json::from_str::<serde_json::Value>(&line)
            .map_err(|e| format!("not valid JSON (column {})", e.column()))
            .and_then(|v| parse_request(&v).map_err(|e| format!("{} ({}): {}", e.field, e.code, e.message)));
        let request = match request {
            Ok(r) => r,
            Err(why) => {
                eprintln!("line {}: {why}", n + 1);
                malformed = true;
                continue;
            }
        };
        let result = answer(&request);
        blocked |= result.verdict == Verdict::Block;
        match args.format {
            Format::Json => writeln!(out, "{}", serde_json::to_string(&result)?)?,
            Format::Human => {
                let label = if request.id.is_null() { format!("line {}", n + 1) } else { request.id.to_string() };
                writeln!(out, "{label}: {}", serde_json::to_value(result.verdict)?.as_str().unwrap_or_default())?;
                writeln!(out, "  {}", request.text)?;
                for f in &result.findings {
                    let pad = request.text[..f.span.0].chars().count();
                    let width = request.text[f.span.0..f.span.1].chars().count().max(1);
                    writeln!(out, "  {}{} {} ({:?})", " ".repeat(pad), "^".repeat(width), f.category, f.severity)?;
                    writeln!(out, "  suggestion: {}", f.suggestion)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(if malformed {
        ExitCode::from(2)
    } else if blocked {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
