//! The plain-text part of an email made from its HTML body: paragraphs and line breaks kept,
//! links written as `label (url)`, entities decoded, `<style>`, `<script>` and `<head>` left
//! out, and runs of blanks collapsed. The HTML was rendered with auto-escaping, so this only
//! ever reads markup Sotto's own templates produced.

const BLOCK: &[&str] = &["p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr", "blockquote"];
const SKIPPED: &[&str] = &["style", "script", "head", "title"];

fn decode(entity: &str) -> Option<char> {
    if let Some(num) = entity.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match entity {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" | "#39" => '\'',
        "nbsp" => ' ',
        _ => return None,
    })
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!("{name}="))? + name.len() + 1;
    let rest = &tag[at..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(decode_all(&value[..value.find(quote)?]))
}

/// Text with its character references decoded (auto-escaping writes `/` as `&#x2f;`).
fn decode_all(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        match rest.find(';').filter(|n| *n <= 10).and_then(|semi| Some((semi, decode(&rest[..semi])?))) {
            Some((semi, c)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => out.push('&'),
        }
    }
    out.push_str(rest);
    out
}

/// The text a plain-text mail reader should show for `html`.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut href: Option<String> = None;
    let mut skipping: Option<String> = None;
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(end) = rest.find('>')
        {
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            let closing = tag.starts_with('/');
            let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
            if let Some(skipped) = &skipping {
                if closing && *skipped == name {
                    skipping = None;
                }
                continue;
            }
            if !closing && SKIPPED.contains(&name.as_str()) {
                skipping = Some(name);
            } else if BLOCK.contains(&name.as_str()) {
                out.push('\n');
                if name == "p" && closing {
                    out.push('\n');
                }
            } else if name == "a" && !closing {
                href = attribute(tag, "href");
            } else if name == "a" && closing
                && let Some(url) = href.take()
                && !url.is_empty()
            {
                out.push_str(&format!(" ({url})"));
            }
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if skipping.is_some() {
            continue;
        }
        if c == '&'
            && let Some(semi) = rest.find(';').filter(|n| *n <= 10)
            && let Some(decoded) = decode(&rest[..semi])
        {
            out.push(decoded);
            rest = &rest[semi + 1..];
            continue;
        }
        out.push(if c == '\n' || c == '\t' || c == '\r' { ' ' } else { c });
    }
    tidy(&out)
}

/// Collapses blanks within lines, trims lines, and keeps at most one empty line in a row.
fn tidy(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() && lines.last().is_none_or(String::is_empty) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn paragraphs_become_lines_and_links_keep_their_address() {
        let html = "<p>Hi Ana,</p>\n<p>See you at 9&nbsp;AM. <a href=\"https:&#x2f;&#x2f;c.example&#x2f;r\">Reschedule</a> &amp; more.</p><style>p{}</style>";
        assert_eq!(html_to_text(html), "Hi Ana,\n\nSee you at 9 AM. Reschedule (https://c.example/r) & more.");
    }

    #[test]
    fn text_without_markup_is_only_tidied() {
        assert_eq!(html_to_text("  plain   words\n"), "plain words");
    }
}
