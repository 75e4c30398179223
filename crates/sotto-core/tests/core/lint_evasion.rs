//! The linter against what people do to get past it, and against what clinics really send:
//! every example of the seed documents on the surface the seed shows it on; evasion variants
//! (look-alike letters, invisible characters, spaced, leetspeak, run-together words,
//! inflections, misspellings, abbreviations, brand drugs, Spanish, euphemisms), each kind
//! with a part the lexicon was tuned on and a held-out part it never was; and everyday text,
//! which must stay quiet.

use sotto_core::dictionary::Surface;
use sotto_core::lint::{Verdict, lint};

/// The data rows of a tab-separated file, without comments and blank lines.
fn rows(data: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    data.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| l.split('\t').collect())
}

fn verdict(surface: &str, text: &str) -> Verdict {
    lint(text, Surface::parse(surface).unwrap_or_else(|| panic!("unknown surface {surface}"))).verdict
}

#[test]
fn every_seed_example_blocks_or_passes_as_the_seed_says_on_its_own_surface() {
    let mut wrong = Vec::new();
    let mut count = 0;
    for row in rows(include_str!("data/seed_examples.tsv")) {
        let [seed, surface, expected, text] = row[..] else { panic!("malformed seed row {row:?}") };
        let got = verdict(surface, text);
        let ok = match expected {
            "block" => got == Verdict::Block,
            "pass" => got != Verdict::Block,
            other => panic!("unknown expectation {other}"),
        };
        count += 1;
        if !ok {
            wrong.push(format!("{seed} {surface}: expected {expected}, got {got:?}: {text}"));
        }
    }
    assert!(count >= 20, "{count} seed examples");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Blocked and total evasion rows of one split, by kind.
fn evasion_recall(split: &str) -> (usize, usize, Vec<String>) {
    let (mut blocked, mut total, mut missed) = (0, 0, Vec::new());
    for row in rows(include_str!("data/evasions.tsv")) {
        let [row_split, kind, surface, text] = row[..] else { panic!("malformed evasion row {row:?}") };
        if row_split != split {
            continue;
        }
        total += 1;
        if verdict(surface, text) == Verdict::Block {
            blocked += 1;
        } else {
            missed.push(format!("{kind}: {text}"));
        }
    }
    (blocked, total, missed)
}

#[test]
fn every_evasion_the_lexicon_was_tuned_on_blocks() {
    let (blocked, total, missed) = evasion_recall("tune");
    assert!(total >= 40, "{total} tuning rows");
    assert!(missed.is_empty(), "{blocked}/{total} blocked; missed:\n{}", missed.join("\n"));
}

#[test]
fn held_out_evasions_block_at_the_measured_rate_or_better() {
    let (blocked, total, missed) = evasion_recall("heldout");
    println!("held-out evasions: {blocked}/{total} blocked; missed:\n{}", missed.join("\n"));
    assert!(total >= 40, "{total} held-out rows");
    // Measured when the held-out part was first linted: 63/85 before any change was made
    // with it in view, 64/85 after the changes the tuning part called for (small capitals).
    // A change that lowers it fails here; nothing in the lexicon was added for these rows.
    assert!(blocked * 100 >= total * HELD_OUT_FLOOR_PERCENT, "{blocked}/{total} held-out evasions blocked, below {HELD_OUT_FLOOR_PERCENT}%");
}

const HELD_OUT_FLOOR_PERCENT: usize = 75;

#[test]
fn everyday_clinic_text_stays_quiet() {
    let mut blocked = Vec::new();
    let mut total = 0;
    for row in rows(include_str!("data/everyday.tsv")) {
        let [surface, text] = row[..] else { panic!("malformed everyday row {row:?}") };
        total += 1;
        if verdict(surface, text) == Verdict::Block {
            blocked.push(text);
        }
    }
    println!("everyday messages blocked: {}/{total}", blocked.len());
    assert!(total >= 200, "{total} everyday rows");
    // At most 2% false blocks (PRODUCT.md capability 7).
    assert!(blocked.len() * 50 <= total, "{} of {total} everyday messages blocked:\n{}", blocked.len(), blocked.join("\n"));
}

#[test]
#[ignore = "a timing probe for development, run with --release --ignored"]
fn probe_lint_speed() {
    use sotto_core::lint::{normalize, normalize_split};
    let texts: Vec<String> = (0..50_000).map(|i| format!("Reminder: you have an appointment on Friday at {i}pm with Dr. Maria. Reply C to confirm or R to reschedule.")).collect();
    let time = |name: &str, f: &dyn Fn(&str) -> usize| {
        let t = std::time::Instant::now();
        let n: usize = texts.iter().map(|x| f(x)).sum();
        println!("{name}: {:.0}/s ({n})", texts.len() as f64 / t.elapsed().as_secs_f64());
    };
    time("normalize", &|x| normalize(x).text.len());
    time("normalize_split", &|x| normalize_split(x).text.len());
    time("lint", &|x| lint(x, Surface::SmsBody).findings.len());
}
