//! The lock-screen linter: would someone glancing at this text learn anything about the
//! patient's health? One engine for every surface: text is normalized (see `normalize`), then
//! matched against a curated lexicon by whole words; each finding carries a category, a span in
//! the original text, a rule, a severity and a compliant rewrite for the surface.

mod evasion;
mod html;
mod normalize;
mod request;
mod stems;

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Serialize;

use crate::dictionary::Surface;

pub use normalize::{Normalized, normalize, normalize_joined, normalize_split};
pub use request::{LintAnswer, LintRequest, MAX_BATCH, MAX_BATCH_BYTES, answer, parse_request};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a second look; does not stop a send.
    Warn,
    /// Reveals health information; stops a send.
    Block,
}

/// The overall answer for one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing found.
    Pass,
    /// Only warnings.
    Warn,
    /// At least one blocking finding.
    Block,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The lexicon category, such as `condition` or `mental_health`.
    pub category: &'static str,
    /// Byte offsets `[start, end)` in the original text.
    pub span: (usize, usize),
    /// The rule that fired: `lexicon` (a term), `lexicon.joined` (a term split by hyphens or
    /// dots), `lexicon.split` (a term run together with digits or a capitalized word),
    /// `spaced`, `compound` or `fuzzy` (see `evasion`), `case` (an acronym that is only
    /// health information in its own capitals, such as PrEP) or `stem` (a word built on a
    /// clinical stem).
    pub rule: &'static str,
    /// Block or warn.
    pub severity: Severity,
    /// A compliant rewrite for this surface.
    pub suggestion: &'static str,
}

/// The result of linting one text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Pass, warn or block.
    pub verdict: Verdict,
    /// Every finding, in text order.
    pub findings: Vec<Finding>,
}

struct Entry {
    category: &'static str,
    severity: Severity,
}

struct Lexicon {
    matcher: AhoCorasick,
    entries: Vec<Entry>,
}

const CATEGORIES: &[&str] = &[
    "condition", "symptom", "procedure", "lab_test", "medication", "specialty", "facility", "device", "mental_health", "substance_use", "hiv_sti",
    "genetic", "reproductive", "gender_affirming",
];

fn category(name: &str) -> &'static str {
    CATEGORIES.iter().find(|n| **n == name).copied().unwrap_or("condition")
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let mut terms = Vec::new();
        let mut entries = Vec::new();
        for term in lexicon_terms() {
            // Stored terms are folded like the text they are matched in ("a1c" reads as "aic").
            let folded = normalize(term.term).text;
            for variant in number_variants(&folded).into_iter().chain(std::iter::once(folded)) {
                terms.push(variant);
                entries.push(Entry { category: category(term.category), severity: term.severity });
            }
        }
        let matcher = AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&terms).expect("the lexicon compiles");
        Lexicon { matcher, entries }
    })
}

/// The other grammatical number of a term, where it is safe to guess: a plural for terms that
/// end in a consonant or vowel other than s, x and y ("stent", "stents"), and a singular for
/// phrases whose last word is a plain plural ("allergy shots", "allergy shot"). Single words
/// ending in s are left alone ("aids" is not "aid").
fn number_variants(term: &str) -> Option<String> {
    let last = term.rsplit(' ').next().unwrap_or(term);
    if last.len() < 3 || !last.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    if !last.ends_with(['s', 'x', 'y', 'z']) {
        return Some(format!("{term}s"));
    }
    let phrase = term.contains(' ');
    let plain_plural = last.ends_with('s') && !last.ends_with("ss") && !last.ends_with("us") && !last.ends_with("is") && !last.ends_with("es") && last.len() > 4;
    (phrase && plain_plural).then(|| term[..term.len() - 1].to_owned())
}

/// One line of the lexicon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// The folded term.
    pub term: &'static str,
    /// Its category as written in the data.
    pub category: &'static str,
    /// Block, or warn for words that are only worth a second look.
    pub severity: Severity,
}

/// Every lexicon term: the curated list, then the terms derived from public vocabularies by
/// `scripts/build-lexicon`.
pub fn lexicon_terms() -> impl Iterator<Item = Term> {
    let curated = include_str!("../../data/lexicon.tsv");
    let derived = include_str!("../../data/lexicon-sources.tsv");
    curated.lines().chain(derived.lines()).filter(|l| !l.starts_with('#') && !l.is_empty()).filter_map(|line| {
        let mut cols = line.split('\t');
        let (term, category, _language, severity) = (cols.next()?, cols.next()?, cols.next()?, cols.next()?);
        Some(Term { term, category, severity: if severity == "warn" { Severity::Warn } else { Severity::Block } })
    })
}

/// The compliant rewrite offered for a surface.
pub fn suggestion(surface: Surface, about_appointment: bool) -> &'static str {
    match (surface, about_appointment) {
        (Surface::SmsBody, true) => "Reminder: you have an upcoming appointment. Reply C to confirm.",
        (Surface::PushBody, true) => "Reminder: you have an upcoming appointment.",
        (Surface::EmailSubject, true) => "Your upcoming appointment",
        (Surface::EmailSubject, false) => "A message from your care team",
        (Surface::EmailPreview, _) => "You have a new secure message",
        (Surface::EmailBody, _) => "Your care team has shared something new with you. Sign in to the secure portal to read it.",
        (Surface::Cta, _) => "View your account updates",
        (Surface::SmsBody, false) => "You have a new secure message. Sign in to the portal to view it.",
        (Surface::PushTitle, _) => "New secure message",
        (Surface::PushBody, false) => "You have a new secure message. Tap to view.",
    }
}

/// Lints one text shown on `surface`. An email body that looks like HTML is linted as a mail
/// client shows it (see `html`), with spans in the HTML source.
pub fn lint(text: &str, surface: Surface) -> Report {
    if surface == Surface::EmailBody && html::looks_like_html(text) {
        let shown = html::shown(text);
        let mut report = lint_text(&shown.text, surface);
        for f in &mut report.findings {
            f.span = shown.original(f.span.0, f.span.1);
        }
        // The source as it is, too: markup that reads differently in some client cannot hide
        // a term from both.
        let raw = lint_text(text, surface);
        for f in raw.findings {
            if !report.findings.iter().any(|g| g.span.0 < f.span.1 && f.span.0 < g.span.1) {
                report.findings.push(f);
            }
        }
        report.findings.sort_by_key(|f| (f.span.0, f.span.1));
        report.verdict = report.findings.iter().map(|f| f.severity).max().map_or(Verdict::Pass, |s| if s == Severity::Block { Verdict::Block } else { Verdict::Warn });
        return report;
    }
    lint_text(text, surface)
}

fn lint_text(text: &str, surface: Surface) -> Report {
    let lex = lexicon();
    let mut findings = Vec::new();
    let broken_words = has_broken_word(text);
    let variants = [
        Some(("lexicon", normalize(text))),
        broken_words.then(|| ("lexicon.joined", normalize_joined(text))),
        has_split_point(text).then(|| ("lexicon.split", normalize_split(text))),
    ];
    for (variant, normalized) in variants.into_iter().flatten() {
        let folded = normalized.text.as_str();
        // Which rewrite fits depends on whether the text is about an appointment; asked only
        // when there is something to rewrite.
        let about_appointment = std::cell::OnceCell::new();
        let suggest = || suggestion(surface, *about_appointment.get_or_init(|| ["appointment", "reminder", "follow up", "visit", "cita"].iter().any(|w| folded.contains(w))));
        for m in lex.matcher.whole_words(folded) {
            let entry = &lex.entries[m.2];
            let span = normalized.original(m.0, m.1);
            if variant != "lexicon" && findings.iter().any(|f: &Finding| f.span.0 < span.1 && span.0 < f.span.1) {
                continue;
            }
            findings.push(Finding {
                category: entry.category,
                span,
                rule: variant,
                severity: entry.severity,
                suggestion: suggest(),
            });
        }
        let stemmed = stems::stem_words(folded).into_iter().map(|(start, end, category)| (start, end, category, "stem"));
        let evaded = if variant == "lexicon" { evasion::evasions(folded) } else { Vec::new() };
        for (start, end, category, rule) in stemmed.chain(evaded) {
            let span = normalized.original(start, end);
            if !findings.iter().any(|f: &Finding| f.span.0 < span.1 && span.0 < f.span.1) {
                findings.push(Finding { category, span, rule, severity: Severity::Block, suggestion: suggest() });
            }
        }
    }
    for span in case_sensitive(text) {
        if !findings.iter().any(|f: &Finding| f.span.0 < span.1 && span.0 < f.span.1) {
            findings.push(Finding { category: "medication", span, rule: "case", severity: Severity::Block, suggestion: suggestion(surface, false) });
        }
    }
    // Containers sort before what they contain; a finding inside another that is at least as
    // severe adds nothing.
    findings.sort_by_key(|f| (f.span.0, std::cmp::Reverse(f.span.1), std::cmp::Reverse(f.severity)));
    let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        if !kept.iter().any(|g| g.span.0 <= f.span.0 && f.span.1 <= g.span.1 && g.severity >= f.severity) {
            kept.push(f);
        }
    }
    let findings = kept;
    let verdict = match findings.iter().map(|f| f.severity).max() {
        None => Verdict::Pass,
        Some(Severity::Warn) => Verdict::Warn,
        Some(Severity::Block) => Verdict::Block,
    };
    Report { verdict, findings }
}

/// Whether a hyphen or dot sits between two letters or digits ("on-co-lo-gy", "c.a.n.c.e.r"),
/// the only case the joined pass can find more; sentence ends and "Dr. Rivera" do not count.
fn has_broken_word(text: &str) -> bool {
    let mut chars = text.chars();
    let (mut before, mut middle) = (chars.next(), chars.next());
    for after in chars {
        if matches!(middle, Some('-' | '.' | '·' | '\u{2010}' | '\u{2011}')) && before.is_some_and(char::is_alphanumeric) && after.is_alphanumeric() {
            return true;
        }
        (before, middle) = (middle, Some(after));
    }
    false
}

/// Whether digits follow a letter, or a capital follows a small letter, inside a word: the
/// texts where the split pass can find more ("hiv1", "onOzempic"). Digits before letters
/// ("3pm", "2nd") are everyday, and a digit starting a word is read as a letter anyway.
fn has_split_point(text: &str) -> bool {
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if let Some(p) = prev
            && ((p.is_alphabetic() && c.is_ascii_digit()) || (p.is_lowercase() && c.is_uppercase()))
        {
            return true;
        }
        prev = Some(c);
    }
    false
}

/// Acronyms that are health information only in their own capitals: "PrEP" (HIV
/// pre-exposure prophylaxis), where "prep" is everyday English.
fn case_sensitive(text: &str) -> Vec<(usize, usize)> {
    const ACRONYMS: &[&str] = &["PrEP"];
    let mut out = Vec::new();
    for acronym in ACRONYMS {
        for (at, _) in text.match_indices(acronym) {
            let end = at + acronym.len();
            let bounded = !text[..at].chars().next_back().is_some_and(char::is_alphanumeric) && !text[end..].chars().next().is_some_and(char::is_alphanumeric);
            if bounded {
                out.push((at, end));
            }
        }
    }
    out
}

trait WordMatches {
    fn whole_words(&self, text: &str) -> Vec<(usize, usize, usize)>;
}

impl WordMatches for AhoCorasick {
    /// Leftmost-longest whole-word matches starting at every word, so a match that is not a
    /// whole word ("oncology" inside "gastro-oncology") or a shorter phrase does not hide
    /// another one.
    fn whole_words(&self, text: &str) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = text.as_bytes();
        while start < text.len() {
            let Some(m) = self.find(aho_corasick::Input::new(text).range(start..)) else { break };
            let whole = (m.start() == 0 || bytes[m.start() - 1] == b' ') && (m.end() == bytes.len() || bytes[m.end()] == b' ');
            if whole {
                out.push((m.start(), m.end(), m.pattern().as_usize()));
            }
            // Go on from the next word after the match start, so a phrase that overlaps this
            // match ("sus resultados" then "resultados de laboratorio") is found too.
            start = text[m.start()..].find(' ').map_or(text.len(), |i| m.start() + i + 1);
        }
        out
    }
}
