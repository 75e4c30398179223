//! The text a mail client shows for an HTML email body, with a map back to the source:
//! tags removed (a tag that breaks a line counts as a space, an inline one as nothing, so
//! `dia<span></span>betes` reads "diabetes"), entities decoded (`&shy;` is nothing, `&nbsp;`
//! a space), comments, `<style>`, `<script>` and `<head>` left out, and the `alt`, `title`,
//! `aria-label` and `href` attributes added as words of their own, since clients show them
//! (images off, hovering a link, a screen reader).

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
const HIDDEN: &[&str] = &["style", "script", "head", "template"];
const SHOWN_ATTRIBUTES: &[&str] = &["alt", "title", "aria-label", "href"];

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

/// Decodes entities of `raw` (which starts at `offset` in the source) into `out`.
fn decode_into(raw: &str, offset: usize, out: &mut Shown) {
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i..].chars().next().unwrap_or(' ');
        if c == '&'
            && let Some(semi) = raw[i..].find(';').filter(|n| *n <= 32)
            && let Some(decoded) = entity(&raw[i + 1..i + semi])
        {
            if let Some(d) = decoded {
                out.push(d, offset + i, offset + i + semi + 1);
            }
            i += semi + 1;
            continue;
        }
        out.push(c, offset + i, offset + i + c.len_utf8());
        i += c.len_utf8();
    }
}

/// The end of the tag that starts at `start` (`<`), quotes respected.
fn tag_end(html: &str, start: usize) -> usize {
    let mut quote: Option<u8> = None;
    for (i, b) in html.bytes().enumerate().skip(start + 1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    html.len()
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

/// The text a mail client shows for `html`.
pub(super) fn shown(html: &str) -> Shown {
    let mut out = Shown { text: String::with_capacity(html.len()), spans: Vec::with_capacity(html.len()) };
    let mut i = 0;
    let mut text_start = 0;
    while i < html.len() {
        if !html[i..].starts_with('<') {
            i += html[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        decode_into(&html[text_start..i], text_start, &mut out);
        if html[i..].starts_with("<!--") {
            i = html[i..].find("-->").map_or(html.len(), |n| i + n + 3);
            text_start = i;
            continue;
        }
        let end = tag_end(html, i);
        let tag = &html[i..end];
        let name: String = tag[1..].trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        if HIDDEN.contains(&name.as_str()) && !tag.starts_with("</") {
            let close = format!("</{name}");
            i = html[end..].to_ascii_lowercase().find(&close).map_or(html.len(), |n| tag_end(html, end + n));
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
