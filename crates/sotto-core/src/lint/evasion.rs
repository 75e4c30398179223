//! Passes for terms written so that whole-word matching misses them, each over the folded
//! text and each only adding findings:
//! - **spaced**: a term split by single spaces ("dia betes", "di a be tes"): two to five
//!   consecutive words that together spell a blocking term of six or more letters;
//! - **compound**: a term run together with another word ("hivpositive", "mydiabetes"): a
//!   word that is a blocking term followed by a term or a qualifier (positive, meds, …), or a
//!   short prefix word (my, on, …) or a term followed by a blocking term;
//! - **fuzzy**: a misspelling of a curated blocking term ("diabeetus", "insulen", "kancer"):
//!   after a phonetic folding (k as c, ph as f, doubled letters once), one edit from a term
//!   of eight or more letters, one changed or swapped letter in a term of seven, and the same
//!   spelling as a term of six. Everyday neighbours ("cancel", "concur", "stations") are
//!   further than that from any term.

use std::collections::HashSet;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use super::{Severity, category, lexicon_terms, normalize};

type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Words longer than this are not split into compounds: no term and qualifier together are
/// longer, and the work per word grows with its length.
const MAX_COMPOUND: usize = 64;

/// Words that, run together after a term, still say something about it.
const QUALIFIERS: &[&str] = &[
    "positive", "negative", "pos", "neg", "status", "test", "tests", "testing", "result", "results", "meds", "med", "pills", "pill", "care", "clinic",
    "day", "days", "week", "appt", "appointment", "treatment", "therapy", "patient", "patients", "support", "group", "screening", "check", "checkup",
    "shot", "shots", "plan", "drug", "drugs", "dose", "doses", "refill", "rx", "diagnosis", "management", "program", "visit", "team", "type",
];

/// Short words that, run together before a term, hide it.
const PREFIXES: &[&str] = &[
    "my", "your", "the", "on", "off", "no", "re", "pre", "post", "anti", "non", "new", "his", "her", "our", "their", "got", "had", "has", "start",
    "stop", "and", "for", "about", "su", "tu", "mi", "con", "sin",
];

struct Tables {
    /// Single-word blocking terms (folded) and their categories.
    words: HashMap<String, &'static str>,
    /// Blocking terms of six or more letters with their spaces removed, and their categories.
    joined: AhoCorasick,
    joined_categories: Vec<&'static str>,
    /// Curated single-word blocking terms, phonetically folded, by first letter.
    fuzzy: HashMap<u8, Vec<(Vec<u8>, &'static str)>>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let curated: HashSet<&str> = include_str!("../../data/lexicon.tsv").lines().filter_map(|l| l.split('\t').next()).collect();
        let mut words = HashMap::default();
        let mut joined: HashMap<String, &'static str> = HashMap::default();
        let mut fuzzy: HashMap<u8, Vec<(Vec<u8>, &'static str)>> = HashMap::default();
        for term in lexicon_terms().filter(|t| t.severity == Severity::Block) {
            let folded = normalize(term.term).text;
            let cat = category(term.category);
            if !folded.contains(' ') {
                words.insert(folded.clone(), cat);
                if curated.contains(term.term) && folded.len() >= 6 && folded.bytes().all(|b| b.is_ascii_lowercase()) {
                    let p = phonetic(folded.as_bytes());
                    if let Some(&first) = p.first() {
                        fuzzy.entry(first).or_default().push((p, cat));
                    }
                }
            }
            let spaceless: String = folded.split(' ').collect();
            if spaceless.len() >= 6 {
                joined.insert(spaceless, cat);
            }
        }
        let (patterns, joined_categories): (Vec<String>, Vec<&'static str>) = joined.into_iter().unzip();
        let joined = AhoCorasick::new(&patterns).expect("the joined terms compile");
        Tables { words, joined, joined_categories, fuzzy }
    })
}

/// k and q as c, ph as f, doubled letters once.
fn phonetic(word: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        let mut c = match word[i] {
            b'k' | b'q' => b'c',
            other => other,
        };
        if word[i] == b'p' && word.get(i + 1) == Some(&b'h') {
            c = b'f';
            i += 1;
        }
        if out.last() != Some(&c) {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Whether `a` becomes `b` with at most one insertion, deletion, substitution or swap of
/// neighbours.
fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if prefix == a.len() && prefix == b.len() {
        return true;
    }
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    let suffix_eq = |x: &[u8], y: &[u8]| x == y;
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Equal => suffix_eq(&ra[1..], &rb[1..]) || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && suffix_eq(&ra[2..], &rb[2..])),
        std::cmp::Ordering::Less => suffix_eq(ra, &rb[1..]),
        std::cmp::Ordering::Greater => suffix_eq(&ra[1..], rb),
    }
}

/// The words of `folded` with their byte ranges.
fn words(folded: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in folded.bytes().enumerate() {
        if b == b' ' {
            if i > start {
                out.push((start, i));
            }
            start = i + 1;
        }
    }
    if folded.len() > start {
        out.push((start, folded.len()));
    }
    out
}

/// Findings of the three passes: `(start, end, category, rule)` in `folded`.
pub(super) fn evasions(folded: &str) -> Vec<(usize, usize, &'static str, &'static str)> {
    let t = tables();
    let ws = words(folded);
    let mut out = spaced(t, folded, &ws);
    for &(start, end) in &ws {
        let word = &folded[start..end];
        if word.len() < 5 || t.words.contains_key(word) {
            continue;
        }
        if let Some(cat) = compound(t, word) {
            out.push((start, end, cat, "compound"));
        } else if let Some(cat) = fuzzy(t, word) {
            out.push((start, end, cat, "fuzzy"));
        }
    }
    out
}

/// Terms spelled across two to five words: one pass of the joined terms over the text with
/// its spaces taken out, keeping matches that start and end on word boundaries and cross one.
fn spaced(t: &Tables, folded: &str, ws: &[(usize, usize)]) -> Vec<(usize, usize, &'static str, &'static str)> {
    if ws.len() < 2 {
        return Vec::new();
    }
    // Where each word starts and ends in the text without spaces.
    let mut stripped = String::with_capacity(folded.len());
    let mut bounds = Vec::with_capacity(ws.len());
    for &(start, end) in ws {
        let from = stripped.len();
        stripped.push_str(&folded[start..end]);
        bounds.push((from, stripped.len()));
    }
    let mut out = Vec::new();
    for m in t.joined.find_overlapping_iter(&stripped) {
        let first = bounds.iter().position(|b| b.0 == m.start());
        let last = bounds.iter().position(|b| b.1 == m.end());
        if let (Some(i), Some(j)) = (first, last)
            && j > i
            && j - i < 5
        {
            out.push((ws[i].0, ws[j].1, t.joined_categories[m.pattern().as_usize()], "spaced"));
        }
    }
    out
}

fn compound(t: &Tables, word: &str) -> Option<&'static str> {
    if word.len() > MAX_COMPOUND {
        return None;
    }
    let right_is = |k: usize, qualifier: bool| word.is_char_boundary(k) && { let right = &word[k..]; right.len() >= 2 && (t.words.contains_key(right) || (qualifier && QUALIFIERS.contains(&right))) };
    // A term the word starts with, followed by a term or a qualifier ("hivpositive").
    for k in (3..word.len().saturating_sub(1)).filter(|k| word.is_char_boundary(*k)) {
        if let Some(cat) = t.words.get(&word[..k])
            && right_is(k, true)
        {
            return Some(*cat);
        }
    }
    // A short word run together before a term of five or more letters ("mydiabetes").
    PREFIXES.iter().find_map(|p| {
        let rest = word.strip_prefix(p)?;
        (rest.len() >= 5).then(|| t.words.get(rest).copied()).flatten()
    })
}

fn fuzzy(t: &Tables, word: &str) -> Option<&'static str> {
    if word.len() < 6 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let p = phonetic(word.as_bytes());
    let candidates = t.fuzzy.get(p.first()?)?;
    // A final s added or dropped is a plural or a singular, which the lexicon decides itself
    // ("recetas" is listed, "receta" alone is a recipe).
    let plural = |a: &[u8], b: &[u8]| a.len() == b.len() + 1 && a.ends_with(b"s") && a.starts_with(b);
    candidates.iter().find_map(|(term, cat)| {
        // Seven-letter terms take only a changed or swapped letter ("insulen"): a letter more or
        // less turns "statins" into "stations".
        let close = match term.len() {
            7 => p.len() == 7 && within_one_edit(&p, term),
            n if n >= 8 => within_one_edit(&p, term) && !plural(&p, term) && !plural(term, &p),
            _ => p == *term,
        };
        close.then_some(*cat)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit_is_one_insertion_deletion_substitution_or_swap() {
        for (a, b) in [("diabetes", "diabetus"), ("insulin", "insulen"), ("depresion", "depression"), ("diabtees", "diabetes"), ("same", "same")] {
            assert!(within_one_edit(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
        for (a, b) in [("diabetes", "dibaetus"), ("cancel", "cancer1x"), ("abc", "abcde")] {
            assert!(!within_one_edit(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
    }

    #[test]
    fn the_phonetic_folding_reads_k_as_c_and_ph_as_f_and_drops_doubles() {
        assert_eq!(phonetic(b"kancer"), b"cancer");
        assert_eq!(phonetic(b"diabeetus"), b"diabetus");
        assert_eq!(phonetic(b"chemotheraphy"), b"chemotherafy");
    }
}
