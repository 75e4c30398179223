//! The lint benchmark: surfaces per second on one core for 120-character texts, and recall and
//! false-block rate on a labelled corpus. (The Presidio comparison is not built yet.)

use std::time::Instant;

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

/// (text, whether it discloses health information)
const CORPUS: &[(&str, bool)] = &[
    ("Your lab results are in. Tap to view.", true),
    ("Reminder: follow-up with your oncology team, Fri at 3pm.", true),
    ("Based on your recent diagnosis, here's what to expect next.", true),
    ("View your prescription refill status", true),
    ("Your HIV test is scheduled for Monday", true),
    ("Time for your next dialysis session", true),
    ("Your therapist has shared a note about your depression", true),
    ("Your insulin pump supplies have shipped", true),
    ("Your c.a.n.c.e.r screening is due", true),
    ("Your mammogram is booked for Tuesday", true),
    ("Congratulations on your pregnancy!", true),
    ("Sus resultados de laboratorio están listos", true),
    ("Your methadone clinic visit is tomorrow", true),
    ("Your BRCA genetic testing appointment", true),
    ("Your chemo starts Monday", true),
    ("You have a new secure message. Tap to view.", false),
    ("Reminder: you have an appointment on Friday at 3pm.", false),
    ("Resources from your care team", false),
    ("View your account updates", false),
    ("We are closed for Labor Day.", false),
    ("Here are the results of our patient survey.", false),
    ("No pressure: reply when you can.", false),
    ("Stay warm in this cold weather!", false),
    ("Greetings from the heart of our community.", false),
    ("This is a test of our messaging system.", false),
    ("Your payment was received. Thank you!", false),
    ("Our hours of operation have changed.", false),
    ("Prep reminder: arrive 15 minutes early.", false),
    ("Tiene un nuevo mensaje seguro en el portal.", false),
    ("Your care team has shared something new with you.", false),
];

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

pub fn run(args: LintArgs) {
    let mut rng = StdRng::seed_from_u64(11);
    let texts: Vec<String> = (0..args.texts).map(|_| text(&mut rng)).collect();
    let start = Instant::now();
    let mut blocked = 0usize;
    for t in &texts {
        if lint(t, Surface::SmsBody).verdict == Verdict::Block {
            blocked += 1;
        }
    }
    let rate = texts.len() as f64 / start.elapsed().as_secs_f64();
    println!("lint, one core: {rate:.0} surfaces/s on {}-character texts ({blocked} of {} blocked)", 120, texts.len());
    let disclosures = CORPUS.iter().filter(|(_, d)| *d).count();
    let caught = CORPUS.iter().filter(|(t, d)| *d && lint(t, Surface::SmsBody).verdict == Verdict::Block).count();
    let clean = CORPUS.len() - disclosures;
    let false_blocks = CORPUS.iter().filter(|(t, d)| !*d && lint(t, Surface::SmsBody).verdict == Verdict::Block).count();
    println!("corpus: recall {caught}/{disclosures} ({:.0}%), false blocks {false_blocks}/{clean} ({:.0}%)", 100.0 * caught as f64 / disclosures as f64, 100.0 * false_blocks as f64 / clean as f64);
}
