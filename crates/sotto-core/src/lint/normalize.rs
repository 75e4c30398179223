//! Normalization before matching, keeping a map back to the original text: compatibility
//! forms (NFKD), look-alike letters from any script (Unicode's TR39 confusables skeleton,
//! with a few Cyrillic and Greek letters it leaves alone), default-ignorable and other
//! invisible characters, accents, common leetspeak, case, and letters spelled out with
//! spaces, dots or hyphens.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::skeleton;

/// Normalized text and, per normalized byte, the original byte range it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The folded text: lowercase letters and digits, single spaces between words.
    pub text: String,
    spans: Vec<(u32, u32)>,
}

impl Normalized {
    /// The original byte range of normalized bytes `start..end`.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        let first = self.spans.get(start).map_or(0, |s| s.0);
        let last = self.spans.get(end.saturating_sub(1)).map_or(first, |s| s.1);
        (first as usize, last.max(first) as usize)
    }
}

fn homoglyph(c: char) -> char {
    match c {
        'а' | 'α' | 'А' | 'Α' => 'a',
        'в' | 'β' | 'В' | 'Β' => 'b',
        'с' | 'С' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' | 'Е' | 'Ε' | 'ё' => 'e',
        'һ' | 'Н' | 'н' | 'Η' => 'h',
        'і' | 'ι' | 'І' | 'Ι' | 'ї' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'κ' | 'К' | 'Κ' => 'k',
        'м' | 'М' | 'Μ' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' | 'О' | 'Ο' | 'σ' => 'o',
        'р' | 'ρ' | 'Р' | 'Ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'τ' | 'Т' | 'Τ' => 't',
        'υ' | 'μ' => 'u',
        'ν' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' | 'Х' | 'Χ' => 'x',
        'у' | 'γ' | 'У' | 'Υ' => 'y',
        'Ζ' => 'z',
        other => small_capital(other),
    }
}

/// Latin small capitals (and their modifier forms), which Unicode names after the letter
/// they copy but TR39 does not list as confusable with it.
fn small_capital(c: char) -> char {
    match c {
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' | 'ᶦ' | 'Ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' | 'ᶫ' => 'l',
        'ᴍ' => 'm',
        'ɴ' | 'ᶰ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ꞯ' => 'q',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' | 'ᶸ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        other => other,
    }
}

fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '¥' => 'y',
        '€' => 'e',
        _ => return None,
    })
}

fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{034F}' | '\u{180E}')
}

/// Characters that render as blank space without being Unicode white space.
fn blank(c: char) -> bool {
    matches!(c, '\u{2800}' | '\u{3164}' | '\u{115F}' | '\u{1160}' | '\u{FFA0}')
}

/// How words are cut before matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As written.
    Plain,
    /// Pieces split by hyphens or dots joined ("on-co-lo-gy").
    Joined,
    /// Words cut where letters meet digits or a capital follows a small letter ("HIV1",
    /// "ozempic2024", "onOzempic").
    Split,
}

/// Folds `text` for matching.
pub fn normalize(text: &str) -> Normalized {
    fold(text, Mode::Plain)
}

/// Like [`normalize`], but words broken up by hyphens or dots ("on-co-lo-gy") are joined.
pub fn normalize_joined(text: &str) -> Normalized {
    fold(text, Mode::Joined)
}

/// Like [`normalize`], but words are also cut where letters meet digits and where a capital
/// follows a small letter, so a term run together with a number or another word is found.
pub fn normalize_split(text: &str) -> Normalized {
    fold(text, Mode::Split)
}

/// The folded letters of one non-ASCII character: its confusables prototype without marks,
/// in lower case, taken again until nothing changes (a prototype or its lower case can
/// itself be confusable with another letter, as Armenian "ո" is with "n").
fn fold_char(c: char) -> Vec<char> {
    let mut current = vec![c];
    for _ in 0..4 {
        let next: Vec<char> = current
            .iter()
            .flat_map(|ch| -> Vec<char> {
                if ch.is_ascii() {
                    return vec![ch.to_ascii_lowercase()];
                }
                // A prototype can be a compatibility form ("؉" becomes subscript zeros).
                skeleton(ch.encode_utf8(&mut [0u8; 4])).nfkd().filter(|p| !is_combining_mark(*p)).flat_map(char::to_lowercase).map(homoglyph).collect()
            })
            .collect();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// Pushes the folded form of one non-ASCII character: its compatibility decomposition, then
/// each non-ASCII piece folded by [`fold_char`].
fn push_folded(c: char, start: u32, end: u32, chars: &mut Vec<(char, u32, u32)>, upper: &mut Vec<bool>, leetable: &mut bool) {
    if blank(c) {
        chars.push((' ', start, end));
        upper.push(false);
        return;
    }
    for decomposed in std::iter::once(c).nfkd().filter(|c| !is_combining_mark(*c)) {
        let capital = decomposed.is_uppercase();
        for folded in fold_char(decomposed) {
            *leetable |= leet(folded).is_some();
            chars.push((folded, start, end));
            upper.push(capital);
        }
    }
}

fn fold(text: &str, mode: Mode) -> Normalized {
    // 1. Per original character: its folded letters.
    let mut chars: Vec<(char, u32, u32)> = Vec::with_capacity(text.len());
    // Whether each folded character was a capital, for the split mode's camel-case cuts.
    let mut upper: Vec<bool> = Vec::with_capacity(if mode == Mode::Split { text.len() } else { 0 });
    let mut leetable = false;
    // Offsets are kept as 32 bits: texts are limited far below 4 GiB, and it halves the memory
    // this walks.
    for (start, c) in text.char_indices() {
        let (start, end) = (start as u32, (start + c.len_utf8()) as u32);
        if invisible(c) {
            continue;
        }
        if c.is_ascii() {
            leetable |= !c.is_ascii_alphabetic() && leet(c).is_some();
            chars.push((c.to_ascii_lowercase(), start, end));
            if mode == Mode::Split {
                upper.push(c.is_ascii_uppercase());
            }
            continue;
        }
        let mut ignored = Vec::new();
        push_folded(c, start, end, &mut chars, if mode == Mode::Split { &mut upper } else { &mut ignored }, &mut leetable);
    }
    // 2. Leetspeak inside words: a digit or symbol with a letter on each side reads as the
    //    letter it imitates ("d1abetes", "h!v", "d14betes").
    if leetable {
        unleet(&mut chars, mode != Mode::Split);
    }
    // 3. Runs of anything but letters and digits become one space; in the split mode a word
    //    is also cut between a letter and a digit and before a capital after a small letter.
    let mut tokens: Vec<(char, u32, u32)> = Vec::with_capacity(chars.len());
    for (i, (c, start, end)) in chars.into_iter().enumerate() {
        if c.is_alphanumeric() {
            if mode == Mode::Split
                && let Some(&(prev, _, _)) = tokens.last()
                && prev != ' '
            {
                let camel = upper.get(i).copied().unwrap_or(false) && i > 0 && !upper.get(i - 1).copied().unwrap_or(true) && prev.is_alphabetic();
                if prev.is_numeric() != c.is_numeric() || camel {
                    tokens.push((' ', start, start));
                }
            }
            tokens.push((c, start, end));
        } else if tokens.last().is_some_and(|t| t.0 != ' ') {
            tokens.push((' ', start, end));
        }
    }
    if tokens.last().is_some_and(|t| t.0 == ' ') {
        tokens.pop();
    }
    // 4. Spelled-out letters ("c a n c e r") are joined; with `join_broken_words`, so are
    //    pieces of a word split by a hyphen or a dot ("on-co-lo-gy").
    let mut keep = vec![true; tokens.len()];
    let single = |j: usize| tokens[j].0 != ' ' && (j == 0 || tokens[j - 1].0 == ' ') && tokens.get(j + 1).is_none_or(|t| t.0 == ' ');
    let mut i = 0;
    while i < tokens.len() {
        if single(i) {
            let mut j = i;
            while j + 2 < tokens.len() && tokens[j + 1].0 == ' ' && single(j + 2) {
                j += 2;
            }
            if (j - i) / 2 + 1 >= 3 {
                for k in (i + 1..j).step_by(2) {
                    keep[k] = false;
                }
            }
            i = j + 1;
        } else {
            i += 1;
        }
    }
    if mode == Mode::Joined {
        for (k, t) in tokens.iter().enumerate() {
            let original = &text[t.1 as usize..t.2 as usize];
            if t.0 == ' ' && (original == "-" || original == "." || original == "·") {
                keep[k] = false;
            }
        }
    }
    let mut out = Normalized { text: String::with_capacity(text.len()), spans: Vec::with_capacity(text.len()) };
    let joined = keep.iter().any(|k| !k);
    if !joined {
        out.extend(tokens);
        return out;
    }
    let mut kept: Vec<(char, u32, u32)> = tokens.into_iter().zip(keep).filter_map(|(t, k)| k.then_some(t)).collect();
    // Joining can put a digit between letters ("a 0 b" becomes "a0b"): read it again.
    if leetable {
        unleet(&mut kept, mode != Mode::Split);
    }
    out.extend(kept);
    out
}

impl Normalized {
    fn extend(&mut self, chars: Vec<(char, u32, u32)>) {
        self.spans.reserve(chars.len());
        for (c, start, end) in chars {
            for _ in 0..c.len_utf8() {
                self.spans.push((start, end));
            }
            self.text.push(c);
        }
    }
}

/// Reads digits and symbols inside words as the letters they imitate. With `trailing`, a
/// digit that ends a word after two letters does too ("ch3m0"); the split mode keeps such
/// digits, to cut them off instead ("hiv1").
fn unleet(chars: &mut [(char, u32, u32)], trailing: bool) {
    // Each reading can make a neighbour readable ("$A3": the s makes the 3 end a word of
    // letters), so read until nothing changes; that also keeps normalization idempotent.
    while unleet_once(chars, trailing) {}
}

fn unleet_once(chars: &mut [(char, u32, u32)], trailing: bool) -> bool {
    let mut changed = false;
    for i in 0..chars.len() {
        let Some(letter) = leet(chars[i].0) else { continue };
        let before = i > 0 && chars[i - 1].0.is_alphabetic();
        let after = match chars.get(i + 1) {
            Some((c, _, _)) if c.is_alphabetic() => true,
            Some((c, _, _)) if leet(*c).is_some() && chars.get(i + 2).is_some_and(|n| n.0.is_alphabetic()) => true,
            // A digit ending a word after two letters ("ch3m0") reads as a letter too.
            next => trailing && chars[i].0.is_ascii_digit() && next.is_none_or(|n| !n.0.is_alphanumeric()) && i >= 2 && chars[i - 2].0.is_alphabetic(),
        };
        // A digit starting a word of four or more letters ("0nc0l0gy", "0zempic") reads as a
        // letter; "3pm" and "1st" stay as they are.
        let starts_word = i == 0 || !chars[i - 1].0.is_alphanumeric();
        let word_follows = chars[i].0.is_ascii_digit() && chars.len() > i + 4 && chars[i + 1..i + 5].iter().all(|c| c.0.is_alphabetic());
        if (before && after) || (starts_word && word_follows) {
            chars[i].0 = letter;
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evasions_fold_to_plain_words() {
        for (input, expected) in [
            ("ＣＡＮＣＥＲ", "cancer"),
            ("саncer", "cancer"),
            ("can\u{200B}cer", "cancer"),
            ("can\u{00AD}cer", "cancer"),
            ("c a n c e r", "cancer"),
            ("c.a.n.c.e.r", "cancer"),
            ("c-a-n-c-e-r screening", "cancer screening"),
            ("d1abetes", "diabetes"),
            ("H1V", "hiv"),
            ("Diagnóstico", "diagnostico"),
            ("Your   lab-results!", "your lab results"),
        ] {
            assert_eq!(normalize(input).text, expected, "{input:?}");
        }
    }

    #[test]
    fn ordinary_numbers_and_words_are_left_alone() {
        assert_eq!(normalize("Friday at 3pm, room 101").text, "friday at 3pm room 101");
        assert_eq!(normalize("a b").text, "a b");
    }

    #[test]
    fn spans_point_back_into_the_original_text() {
        let text = "Your саncer results";
        let n = normalize(text);
        let start = n.text.find("cancer").expect("found");
        let (a, b) = n.original(start, start + "cancer".len());
        assert_eq!(&text[a..b], "саncer");
    }
}
