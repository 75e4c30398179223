//! The lock-screen linter: the field guide's problematic and compliant pairs, disclosures by
//! category, evasions, everyday words that must not trip it, and properties of normalization.

use proptest::prelude::*;

use sotto_core::dictionary::Surface;
use sotto_core::lint::{Severity, Verdict, lint, normalize};

fn verdict(text: &str, surface: Surface) -> Verdict {
    lint(text, surface).verdict
}

#[test]
fn the_field_guides_problematic_messages_block_and_their_rewrites_pass() {
    let pairs = [
        (Surface::EmailSubject, "Managing your recovery: resources from your care team", "Resources from your care team"),
        (Surface::Cta, "View your prescription refill status", "View your account updates"),
        (Surface::EmailBody, "Based on your recent diagnosis, here's what to expect next.", "Your care team has shared something new with you."),
        (Surface::PushBody, "Your lab results are in. Tap to view.", "You have a new secure message. Tap to view."),
        (Surface::SmsBody, "Reminder: follow-up with your oncology team, Fri at 3pm.", "Reminder: you have an appointment on Friday at 3pm."),
    ];
    for (surface, problematic, compliant) in pairs {
        // "Managing your recovery" is a softer disclosure; the others must block.
        if !problematic.starts_with("Managing") {
            assert_eq!(verdict(problematic, surface), Verdict::Block, "{problematic}");
        }
        assert_eq!(verdict(compliant, surface), Verdict::Pass, "{compliant}");
    }
    let report = lint("Your lab results are in. Tap to view.", Surface::PushBody);
    assert_eq!(report.findings[0].suggestion, "You have a new secure message. Tap to view.");
    assert_eq!(&"Your lab results are in. Tap to view."[report.findings[0].span.0..report.findings[0].span.1], "lab results");
}

#[test]
fn disclosures_in_every_category_block_in_english_and_spanish() {
    let cases = [
        ("Time to check your blood sugar", "condition"),
        ("Your chemotherapy session is tomorrow", "procedure"),
        ("Your Ozempic refill is ready", "medication"),
        ("Dr. Lee, your cardiologist, has an update", "specialty"),
        ("Visit us at the Riverside Cancer Center", "facility"),
        ("Your new insulin pump supplies shipped", "device"),
        ("Your therapy session for depression is confirmed", "mental_health"),
        ("Your methadone clinic appointment", "facility"),
        ("Your HIV test is scheduled", "lab_test"),
        ("BRCA genetic testing results", "genetic"),
        ("Congratulations on your pregnancy", "reproductive"),
        ("Your gender-affirming care visit", "gender_affirming"),
        ("Sus resultados de laboratorio están listos", "lab_test"),
        ("Su cita de quimioterapia es mañana", "procedure"),
        ("Recordatorio: su receta está lista", "medication"),
    ];
    for (text, category) in cases {
        let report = lint(text, Surface::SmsBody);
        assert_eq!(report.verdict, Verdict::Block, "{text}");
        assert!(report.findings.iter().any(|f| f.category == category), "{text}: {:?}", report.findings);
    }
}

#[test]
fn evasions_are_seen_through() {
    for text in ["Your c a n c e r screening", "Your c.a.n.c.e.r screening", "d1abetes check-in", "Your саncer results", "Your HIV\u{200B} test", "ＨＩＶ test", "on-co-lo-gy visit", "Your ch3m0 appointment"] {
        assert_eq!(verdict(text, Surface::PushBody), Verdict::Block, "{text:?}");
    }
}

#[test]
fn everyday_words_stay_quiet() {
    for text in [
        "We are closed for Labor Day.",
        "Here are the results of our patient survey.",
        "No pressure: reply when you can.",
        "Stay warm in this cold weather!",
        "Greetings from the heart of our community.",
        "This is a test of our messaging system.",
        "Reminder: you have an appointment on Friday at 3pm.",
        "Our office hours of operation have changed.",
        "A stroke of luck: free parking this week.",
        "Your payment was received. Thank you!",
        "Prep reminder: arrive 15 minutes early.",
        "Bring your hearing-impaired friends to our open house.",
    ] {
        assert_eq!(verdict(text, Surface::SmsBody), Verdict::Pass, "{text}: {:?}", lint(text, Surface::SmsBody).findings);
    }
}

#[test]
fn softer_terms_warn_instead_of_blocking() {
    let report = lint("Flu vaccine clinic this Saturday", Surface::SmsBody);
    assert_eq!(report.verdict, Verdict::Warn);
    assert!(report.findings.iter().all(|f| f.severity == Severity::Warn));
}

proptest! {
    #[test]
    fn normalization_is_idempotent(text in "\\PC{0,60}") {
        let once = normalize(&text).text;
        prop_assert_eq!(normalize(&once).text, once);
    }

    #[test]
    fn spans_always_fall_on_character_boundaries_of_the_original(text in "\\PC{0,60}") {
        for surface in [Surface::SmsBody, Surface::EmailSubject] {
            for f in lint(&text, surface).findings {
                prop_assert!(f.span.0 <= f.span.1 && f.span.1 <= text.len());
                prop_assert!(text.is_char_boundary(f.span.0) && text.is_char_boundary(f.span.1));
            }
        }
    }

    #[test]
    fn health_terms_inside_any_sentence_are_found(prefix in "[A-Za-z ,.]{0,20}", term in prop::sample::select(vec!["diabetes", "chemotherapy", "oncology", "HIV", "lab results", "Ozempic"]), suffix in "[A-Za-z ,.]{0,20}") {
        let text = format!("{prefix} {term} {suffix}");
        prop_assert_eq!(lint(&text, Surface::SmsBody).verdict, Verdict::Block, "{}", text);
    }
}

#[test]
fn every_message_of_the_corpus_gets_its_expected_verdict() {
    let mut wrong = Vec::new();
    let mut counted = 0;
    for line in include_str!("data/lint_corpus.tsv").lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut cols = line.splitn(3, '\t');
        let (Some(expected), Some(surface), Some(text)) = (cols.next(), cols.next(), cols.next()) else { panic!("malformed corpus line: {line}") };
        let surface = Surface::parse(surface).expect("a surface");
        let got = verdict(text, surface);
        let ok = match expected {
            "block" => got == Verdict::Block,
            "pass" => got == Verdict::Pass,
            other => panic!("unknown expectation {other}"),
        };
        counted += 1;
        if !ok {
            wrong.push(format!("expected {expected}, got {got:?}: {text}"));
        }
    }
    assert!(counted > 120, "the corpus has {counted} messages");
    assert!(wrong.is_empty(), "{} of {counted} wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn every_lexicon_term_is_stored_folded_and_is_found_inside_a_sentence() {
    let mut count = 0;
    for term in sotto_core::lint::lexicon_terms() {
        let folded = term.term.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == ' ');
        assert!(folded && term.term.split(' ').all(|w| !w.is_empty()), "the lexicon term {:?} is not folded", term.term);
        let text = format!("Hello, about {} today.", term.term);
        assert!(!lint(&text, Surface::EmailBody).findings.is_empty(), "{} is not found", term.term);
        count += 1;
    }
    assert!(count > 5_000, "the lexicon has {count} terms");
}
