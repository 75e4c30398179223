//! HL7 v2 messages read from their pipe-and-hat form: segments on carriage returns (line
//! feeds tolerated), the separators declared in MSH-1 and MSH-2 (whatever characters the sender
//! chose), repetitions, components, subcomponents and escape sequences, with bounds on size.

use std::fmt;

/// The largest message taken, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// The most segments a message may have.
pub const MAX_SEGMENTS: usize = 5_000;

/// The separators a message declares in MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// Between fields (`|`).
    pub field: char,
    /// Between components (`^`).
    pub component: char,
    /// Between repetitions (`~`).
    pub repetition: char,
    /// Starts and ends an escape sequence (`\`), when declared.
    pub escape: Option<char>,
    /// Between subcomponents (`&`).
    pub subcomponent: char,
    /// The truncation character of version 2.7 and later (`#`), when declared.
    pub truncation: Option<char>,
}

impl Default for Encoding {
    fn default() -> Self {
        Self { field: '|', component: '^', repetition: '~', escape: Some('\\'), subcomponent: '&', truncation: None }
    }
}

/// Why a message could not be read; names the segment, never a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace.
    Empty,
    /// Longer than [`MAX_MESSAGE_BYTES`] or [`MAX_SEGMENTS`].
    TooLarge,
    /// The first segment is not MSH.
    NoHeader,
    /// MSH-1 or MSH-2 do not declare usable separators.
    BadEncoding,
    /// A segment's id is not three capital letters or digits (1-based segment number).
    BadSegmentId(usize),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "the message is empty"),
            ParseError::TooLarge => write!(f, "the message is larger than {MAX_MESSAGE_BYTES} bytes or {MAX_SEGMENTS} segments"),
            ParseError::NoHeader => write!(f, "the message must begin with an MSH segment"),
            ParseError::BadEncoding => write!(f, "MSH-1 and MSH-2 must declare five distinct separators (such as |^~\\&)"),
            ParseError::BadSegmentId(n) => write!(f, "segment {n} does not begin with a three-character segment id"),
        }
    }
}

/// One segment: its id and its fields as sent (still escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `MSH`, `PID`, …
    pub id: String,
    /// Field n (1-based, as HL7 numbers them) at index n - 1.
    fields: Vec<String>,
}

/// A message read into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its separators.
    pub encoding: Encoding,
    /// Its segments in order.
    pub segments: Vec<Segment>,
}

impl Message {
    /// Reads a message.
    pub fn parse(text: &str) -> Result<Message, ParseError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(ParseError::TooLarge);
        }
        let mut lines = text.split(['\r', '\n']).map(|l| l.trim_start_matches(['\u{b}', '\u{1c}'])).filter(|l| !l.trim().is_empty());
        let header = lines.next().ok_or(ParseError::Empty)?;
        if !header.starts_with("MSH") {
            return Err(ParseError::NoHeader);
        }
        let encoding = encoding_of(header)?;
        let mut segments = vec![split_segment(header, &encoding, true)];
        for (n, line) in lines.enumerate() {
            if segments.len() >= MAX_SEGMENTS {
                return Err(ParseError::TooLarge);
            }
            let id: String = line.chars().take_while(|&c| c != encoding.field).collect();
            if id.len() != 3 || !id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
                return Err(ParseError::BadSegmentId(n + 2));
            }
            segments.push(split_segment(line, &encoding, false));
        }
        Ok(Message { encoding, segments })
    }

    /// The first segment with an id.
    pub fn segment(&self, id: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.id == id)
    }

    /// A value of a segment's field: the repetition, component and subcomponent given (all
    /// 1-based), unescaped; empty when absent.
    pub fn value(&self, segment: &Segment, field: usize, repetition: usize, component: usize, subcomponent: usize) -> String {
        let raw = segment.field(field);
        let rep = raw.split(self.encoding.repetition).nth(repetition.saturating_sub(1)).unwrap_or_default();
        let comp = rep.split(self.encoding.component).nth(component.saturating_sub(1)).unwrap_or_default();
        let sub = comp.split(self.encoding.subcomponent).nth(subcomponent.saturating_sub(1)).unwrap_or_default();
        unescape(sub, &self.encoding)
    }

    /// How many repetitions a field has (0 when empty).
    pub fn repetitions(&self, segment: &Segment, field: usize) -> usize {
        let raw = segment.field(field);
        if raw.is_empty() { 0 } else { raw.split(self.encoding.repetition).count() }
    }

    /// A component of the first repetition, unescaped.
    pub fn component(&self, segment: &Segment, field: usize, component: usize) -> String {
        self.value(segment, field, 1, component, 1)
    }
}

impl Segment {
    /// A field as sent (escaped), empty when absent.
    pub fn field(&self, n: usize) -> &str {
        n.checked_sub(1).and_then(|i| self.fields.get(i)).map(String::as_str).unwrap_or_default()
    }

    /// The numbers of the fields that hold something.
    pub fn filled(&self) -> impl Iterator<Item = usize> + '_ {
        self.fields.iter().enumerate().filter(|(_, f)| !f.is_empty() && f.as_str() != "\"\"").map(|(i, _)| i + 1)
    }
}

fn encoding_of(header: &str) -> Result<Encoding, ParseError> {
    let mut chars = header.chars().skip(3);
    let field = chars.next().ok_or(ParseError::BadEncoding)?;
    let declared: Vec<char> = chars.take_while(|&c| c != field).collect();
    if declared.len() < 4 || declared.len() > 5 || field.is_alphanumeric() || field.is_whitespace() {
        return Err(ParseError::BadEncoding);
    }
    let mut all = declared.clone();
    all.push(field);
    let distinct = all.iter().collect::<std::collections::BTreeSet<_>>().len() == all.len();
    if !distinct || all.iter().any(|c| c.is_alphanumeric() || c.is_whitespace()) {
        return Err(ParseError::BadEncoding);
    }
    Ok(Encoding { field, component: declared[0], repetition: declared[1], escape: Some(declared[2]), subcomponent: declared[3], truncation: declared.get(4).copied() })
}

/// Fields 1.. of a segment. In MSH, field 1 is the field separator itself and field 2 the
/// encoding characters, so the text after `MSH|` starts at field 2.
fn split_segment(line: &str, encoding: &Encoding, header: bool) -> Segment {
    let mut parts = line.split(encoding.field);
    let id = parts.next().unwrap_or_default().to_owned();
    let mut fields: Vec<String> = Vec::new();
    if header {
        fields.push(encoding.field.to_string());
    }
    fields.extend(parts.map(str::to_owned));
    Segment { id, fields }
}

/// Resolves escape sequences: separators (`\F\`, `\S\`, `\T\`, `\R\`, `\E\`, `\P\`), hex
/// (`\Xhh…\`), line breaks (`\.br\`); formatting and unknown sequences are removed.
pub fn unescape(text: &str, e: &Encoding) -> String {
    let Some(esc) = e.escape.filter(|&c| text.contains(c)) else { return text.to_owned() };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(esc) {
        out.push_str(&rest[..start]);
        let after = &rest[start + esc.len_utf8()..];
        let Some(end) = after.find(esc) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let code = &after[..end];
        match code {
            "F" => out.push(e.field),
            "S" => out.push(e.component),
            "T" => out.push(e.subcomponent),
            "R" => out.push(e.repetition),
            "E" => out.push(esc),
            "P" => out.extend(e.truncation),
            ".br" => out.push('\n'),
            hex if hex.starts_with('X') && hex.len() > 1 && hex.len() % 2 == 1 => {
                let bytes: Option<Vec<u8>> = (1..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
                // The bytes are in the message's character set: UTF-8 when they read as it,
                // else ISO 8859-1 (HL7's default), one character per byte.
                if let Some(bytes) = bytes {
                    match std::str::from_utf8(&bytes) {
                        Ok(text) => out.push_str(text),
                        Err(_) => out.extend(bytes.iter().map(|&b| char::from(b))),
                    }
                }
            }
            _ => {}
        }
        rest = &after[end + esc.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Escapes text for a field of a message with these separators.
pub fn escape(text: &str, e: &Encoding) -> String {
    let esc = e.escape.unwrap_or('\\');
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = if c == esc {
            Some("E")
        } else if c == e.field {
            Some("F")
        } else if c == e.component {
            Some("S")
        } else if c == e.subcomponent {
            Some("T")
        } else if c == e.repetition {
            Some("R")
        } else if Some(c) == e.truncation {
            Some("P")
        } else {
            None
        };
        match (code, c) {
            (Some(code), _) => {
                out.push(esc);
                out.push_str(code);
                out.push(esc);
            }
            (None, '\r' | '\n') => out.push(' '),
            (None, c) => out.push(c),
        }
    }
    out
}
