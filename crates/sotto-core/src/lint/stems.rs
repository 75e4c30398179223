//! Word stems that make any word containing them health information, so compounds and
//! run-together words the lexicon cannot list are still caught ("telepsychiatry",
//! "neurooncology", "yourchemotherapy"). Only stems no everyday word contains are listed.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

const STEMS: &[(&str, &str)] = &[
    ("psychiatr", "mental_health"),
    ("psychotherap", "mental_health"),
    ("schizophren", "mental_health"),
    ("anorexi", "mental_health"),
    ("bulimi", "mental_health"),
    ("suicid", "mental_health"),
    ("oncolog", "specialty"),
    ("cardiolog", "specialty"),
    ("neurolog", "specialty"),
    ("gynecolog", "specialty"),
    ("gynaecolog", "specialty"),
    ("urolog", "specialty"),
    ("dermatolog", "specialty"),
    ("endocrinolog", "specialty"),
    ("rheumatolog", "specialty"),
    ("hematolog", "specialty"),
    ("gastroenterolog", "specialty"),
    ("nephrolog", "specialty"),
    ("pulmonolog", "specialty"),
    ("obstetric", "specialty"),
    ("chemotherap", "procedure"),
    ("radiotherap", "procedure"),
    ("dialys", "procedure"),
    ("colonoscop", "procedure"),
    ("endoscop", "procedure"),
    ("mammogra", "lab_test"),
    ("diabet", "condition"),
    ("cancer", "condition"),
    ("tumor", "condition"),
    ("tumour", "condition"),
    ("hepatit", "condition"),
    ("cirrho", "condition"),
    ("epilep", "condition"),
    ("asthma", "condition"),
    ("arthrit", "condition"),
    ("pregnan", "reproductive"),
    ("insulin", "medication"),
    ("chemo", "procedure"),
    ("metasta", "condition"),
    ("carcinom", "condition"),
    ("leukemi", "condition"),
    ("lymphom", "condition"),
    ("alzheimer", "condition"),
    ("dementi", "condition"),
    ("opioid", "substance_use"),
    ("methadon", "substance_use"),
    ("chlamydi", "hiv_sti"),
    ("gonorrh", "hiv_sti"),
    ("syphili", "hiv_sti"),
    ("contracept", "reproductive"),
    ("infertil", "reproductive"),
    ("transgender", "gender_affirming"),
];

fn matcher() -> &'static AhoCorasick {
    static MATCHER: OnceLock<AhoCorasick> = OnceLock::new();
    MATCHER.get_or_init(|| AhoCorasick::builder().match_kind(MatchKind::LeftmostFirst).build(STEMS.iter().map(|s| s.0)).expect("the stems compile"))
}

/// Words of `folded` (lowercase, single spaces) that contain a stem: `(start, end, category)`.
pub(super) fn stem_words(folded: &str) -> Vec<(usize, usize, &'static str)> {
    let mut out: Vec<(usize, usize, &'static str)> = Vec::new();
    for m in matcher().find_iter(folded) {
        let start = folded[..m.start()].rfind(' ').map_or(0, |i| i + 1);
        let end = folded[m.end()..].find(' ').map_or(folded.len(), |i| m.end() + i);
        if out.last().is_none_or(|w| w.0 != start) {
            out.push((start, end, STEMS[m.pattern().as_usize()].1));
        }
    }
    out
}
