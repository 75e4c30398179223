//! The text a mail client shows for an HTML email body, with a map back to the source:
//! tags removed (a tag that breaks a line counts as a space, an inline one as nothing, so
//! `dia<span></span>betes` reads "diabetes"), entities decoded (`&shy;` is nothing, `&nbsp;`
//! a space), comments, `<style>`, `<script>` and `<head>` left out, and the `alt`, `title`,
//! `aria-label` and `href` attributes added as words of their own, since clients show them
//! (images off, hovering a link, a screen reader). It reads tags as an HTML5 tokenizer
//! does where it matters for hiding text: a `<` starts a tag only before a letter, `/`, `!`
//! or `?`; a quote counts only where an attribute value starts; a comment also ends at `--!>`;
//! numeric references decode without their `;`. The linter also lints the source as it is,
//! so what this reading still gets wrong cannot hide a term.

/// Shown text and, per shown byte, the source byte range it came from.
pub(super) struct Shown {
    pub text: String,
    pub spans: Vec<(usize, usize)>,
}

impl Shown {
    fn push(&mut self, c: char, start: usize, end: usize) {
        for _ in 0..c.len_utf8() {
            self.spans.push((start, end));
        }
        self.text.push(c);
    }

    /// The source range of shown bytes `start..end`.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        let first = self.spans.get(start).map_or(0, |s| s.0);
        let last = self.spans.get(end.saturating_sub(1)).map_or(first, |s| s.1);
        (first, last.max(first))
    }
}

/// Whether text looks like HTML (a tag or an entity).
pub(super) fn looks_like_html(text: &str) -> bool {
    text.contains('<') || text.contains('&')
}

const BREAKING: &[&str] = &[
    "p", "br", "div", "li", "ul", "ol", "td", "th", "tr", "table", "tbody", "thead", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote", "section",
    "article", "header", "footer", "center", "pre", "dt", "dd", "title", "img",
];
const HIDDEN: &[&str] = &["style", "script", "template"];
const SHOWN_ATTRIBUTES: &[&str] = &["alt", "title", "aria-label", "href"];

/// An entity's replacement: `Some(None)` for an invisible one, `None` when it is not one.
fn entity(name: &str) -> Option<Option<char>> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return Some(char::from_u32(code).filter(|c| !matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')));
    }
    Some(match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" | "ensp" | "emsp" | "thinsp" => Some(' '),
        "shy" | "zwj" | "zwnj" | "lrm" | "rlm" | "ZeroWidthSpace" | "NoBreak" | "InvisibleTimes" | "InvisibleComma" => None,
        "ndash" | "mdash" | "hyphen" | "dash" => Some('-'),
        "hellip" => Some('…'),
        "middot" => Some('·'),
        _ => return None,
    })
}

/// The length of a numeric reference without its `;` at the start of `s` (`&#72`, `&#x48`).
fn bare_numeric(s: &str) -> Option<(usize, char)> {
    let rest = s.strip_prefix("&#")?;
    let (hex, digits) = match rest.strip_prefix(['x', 'X']) {
        Some(h) => (true, h),
        None => (false, rest),
    };
    let n = digits.bytes().take_while(|b| if hex { b.is_ascii_hexdigit() } else { b.is_ascii_digit() }).count().min(8);
    let code = u32::from_str_radix(&digits[..n], if hex { 16 } else { 10 }).ok()?;
    Some((2 + usize::from(hex) + n, char::from_u32(code)?))
}

/// Decodes entities of `raw` (which starts at `offset` in the source) into `out`.
fn decode_into(raw: &str, offset: usize, out: &mut Shown) {
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i..].chars().next().unwrap_or(' ');
        if c == '&' {
            // Entity names are short: look no further than 33 bytes for the `;` (by bytes, so
            // the window never cuts a character; the `;` itself is a boundary).
            let window = &raw.as_bytes()[i..raw.len().min(i + 33)];
            if let Some(semi) = window.iter().position(|b| *b == b';')
                && let Some(decoded) = entity(&raw[i + 1..i + semi])
            {
                if let Some(d) = decoded {
                    out.push(d, offset + i, offset + i + semi + 1);
                }
                i += semi + 1;
                continue;
            }
            if let Some((len, d)) = bare_numeric(&raw[i..]) {
                out.push(d, offset + i, offset + i + len);
                i += len;
                continue;
            }
        }
        out.push(c, offset + i, offset + i + c.len_utf8());
        i += c.len_utf8();
    }
}

/// The end of the tag that starts at `start` (`<`): quotes count only where an attribute
/// value starts (after `=` and any spaces).
fn tag_end(html: &str, start: usize) -> usize {
    let bytes = html.as_bytes();
    let mut quote: Option<u8> = None;
    let mut after_equals = false;
    for (i, &b) in bytes.iter().enumerate().skip(start + 1) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'>' => return i + 1,
                b'"' | b'\'' if after_equals => quote = Some(b),
                b'=' => {
                    after_equals = true;
                    continue;
                }
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' if after_equals => continue,
                _ => {}
            },
        }
        after_equals = false;
    }
    html.len()
}

/// Whether `<` at `i` starts a tag, a comment or a declaration (a letter, `/`, `!` or `?`
/// follows); otherwise it is text, as in "A1c < 7".
fn starts_tag(html: &str, i: usize) -> bool {
    html.as_bytes().get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'/' | b'!' | b'?'))
}

/// Adds the shown attributes of one tag's source as words of their own.
fn attributes(tag: &str, offset: usize, out: &mut Shown) {
    let lower = tag.to_ascii_lowercase();
    for name in SHOWN_ATTRIBUTES {
        let mut from = 0;
        while let Some(found) = lower[from..].find(name) {
            let at = from + found;
            from = at + name.len();
            let preceded = lower[..at].ends_with(|c: char| c.is_ascii_whitespace());
            let rest = lower[from..].trim_start();
            if !preceded || !rest.starts_with('=') {
                continue;
            }
            let value_start = tag.len() - rest.len() + 1;
            let value = tag[value_start..].trim_start();
            let value_start = tag.len() - value.len();
            let (body, body_start) = match value.chars().next() {
                Some(q @ ('"' | '\'')) => (value[1..].split(q).next().unwrap_or_default(), value_start + 1),
                _ => (value.split(|c: char| c.is_ascii_whitespace() || c == '>').next().unwrap_or_default(), value_start),
            };
            out.push(' ', offset + at, offset + at);
            decode_into(body, offset + body_start, out);
            out.push(' ', offset + at, offset + at);
        }
    }
}

/// Where `needle` (ASCII, lower case) starts in `haystack`, ignoring ASCII case.
fn find_ignoring_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The text a mail client shows for `html`.
pub(super) fn shown(html: &str) -> Shown {
    let mut out = Shown { text: String::with_capacity(html.len()), spans: Vec::with_capacity(html.len()) };
    let mut i = 0;
    let mut text_start = 0;
    while i < html.len() {
        if !html[i..].starts_with('<') || !starts_tag(html, i) {
            i += html[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        decode_into(&html[text_start..i], text_start, &mut out);
        if html[i..].starts_with("<!--") {
            let end = |marker: &str| html[i + 4..].find(marker).map(|n| i + 4 + n + marker.len());
            i = match (end("-->"), end("--!>")) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(html.len()),
            };
            text_start = i;
            continue;
        }
        let end = tag_end(html, i);
        let tag = &html[i..end];
        let name: String = tag[1..].trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        if HIDDEN.contains(&name.as_str()) && !tag.starts_with("</") {
            let close = format!("</{name}");
            i = find_ignoring_case(&html[end..], &close).map_or(html.len(), |n| tag_end(html, end + n));
            text_start = i;
            continue;
        }
        if BREAKING.contains(&name.as_str()) {
            out.push(' ', i, end);
        }
        attributes(tag, i, &mut out);
        i = end;
        text_start = i;
    }
    decode_into(&html[text_start..], text_start, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_entities_and_shown_attributes_read_as_a_client_shows_them() {
        for (html, expected) in [
            ("dia<span></span>betes", "diabetes"),
            ("dia&shy;betes", "diabetes"),
            ("dia&#173;betes and &amp; more", "diabetes and & more"),
            ("<p>one</p><p>two</p>", " one  two "),
            ("<style>.x{}</style>Hi<!-- oncology -->", "Hi"),
            ("<img alt=\"HIV clinic\" src=x>", "  HIV clinic "),
            ("<a href='https://x.example/oncology' title=\"Care\">Go</a>", " Care  https://x.example/oncology Go"),
            ("A1c < 7, diabetes review > Mon", "A1c < 7, diabetes review > Mon"),
            ("<b x'>Your HIV results", "Your HIV results"),
            ("<!-- a --!>HIV results", "HIV results"),
            ("&#72&#73&#86 results", "HIV results"),
            ("<head>HIV results</head>", "HIV results"),
            // Found by the lint fuzz target: the entity window cut a character in two.
            (concat!("&", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ݞ;"), concat!("&", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ݞ;")),
        ] {
            assert_eq!(shown(html).text, expected, "{html}");
        }
    }

    #[test]
    fn spans_point_back_into_the_source() {
        let html = "<b>Your</b> dia<span></span>betes";
        let s = shown(html);
        let at = s.text.find("diabetes").expect("found");
        let (a, b) = s.original(at, at + "diabetes".len());
        assert_eq!(&html[a..b], "dia<span></span>betes");
    }
}
