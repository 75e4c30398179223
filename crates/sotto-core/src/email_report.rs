//! Reports that come back about email: delivery status notifications (RFC 3464, a
//! `multipart/report` with a `message/delivery-status` part) and abuse reports (ARF, RFC 5965,
//! a `message/feedback-report` part), parsed with mail-parser. What is kept is the kind, the
//! status code and the Message-ID of the message they are about; never an address.

use mail_parser::{MessageParser, MimeHeaders};

/// What a report about an email says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// A permanent failure (status 5.x.x): the address is suppressed.
    HardBounce,
    /// A temporary failure (status 4.x.x, or a delay): the relay keeps trying.
    SoftBounce,
    /// The recipient marked the message as spam: the address is suppressed.
    Complaint,
}

/// One report about one message Sotto sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailReport {
    /// The kind.
    pub kind: ReportKind,
    /// The Message-ID of the message it is about, without angle brackets.
    pub message_id: String,
    /// The enhanced status code (`5.1.1`) or the feedback type (`abuse`).
    pub status: String,
}

/// The `Name: value` fields of a report part (continuation lines joined), lower-cased names.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

/// The first `Message-ID` in header text.
fn message_id_in(headers: &str) -> Option<String> {
    fields(headers).into_iter().find(|(n, _)| n == "message-id").map(|(_, v)| v.trim().trim_matches(['<', '>']).to_owned()).filter(|v| !v.is_empty())
}

/// A status code such as `5.1.1`: three numbers, the first 2, 4 or 5.
fn status_code(value: &str) -> Option<String> {
    let code = value.split_whitespace().next()?;
    let mut parts = code.split('.');
    let class = parts.next()?;
    let ok = ["2", "4", "5"].contains(&class) && parts.clone().count() == 2 && parts.all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then(|| code.to_owned())
}

/// Line ends made canonical (a lone CR or LF becomes CRLF): the parser mishandles a lone CR
/// between a part's headers and its body, and nothing here depends on the raw line ends.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Reads a DSN or an ARF report; `None` for anything else (an auto-reply, a plain message).
pub fn parse_report(raw: &[u8]) -> Option<EmailReport> {
    let canonical = crlf(raw);
    // mail-parser 0.11 has a `debug_assert!` on a malformed multipart it otherwise handles
    // (it stops reading there); in builds with debug assertions a report that hits it is
    // simply not a report, rather than a panic in the request.
    let message = std::panic::catch_unwind(|| MessageParser::default().parse(&canonical)).ok()??;
    let mut kind_status: Option<(ReportKind, String)> = None;
    let mut original: Option<String> = None;
    for part in &message.parts {
        let Some(ct) = part.content_type() else { continue };
        let (ctype, subtype) = (ct.ctype().to_ascii_lowercase(), ct.subtype().map(str::to_ascii_lowercase).unwrap_or_default());
        match (ctype.as_str(), subtype.as_str()) {
            ("message", "delivery-status") | ("message", "global-delivery-status") => {
                let text = part.text_contents().map(str::to_owned).unwrap_or_else(|| String::from_utf8_lossy(part.contents()).into_owned());
                let f = fields(&text);
                let action = f.iter().find(|(n, _)| n == "action").map(|(_, v)| v.to_ascii_lowercase()).unwrap_or_default();
                let status = f.iter().find_map(|(n, v)| (n == "status").then(|| status_code(v)).flatten());
                kind_status = match (action.as_str(), status) {
                    ("failed", Some(s)) if s.starts_with('5') => Some((ReportKind::HardBounce, s)),
                    ("failed", Some(s)) | ("delayed", Some(s)) => Some((ReportKind::SoftBounce, s)),
                    ("delayed", None) => Some((ReportKind::SoftBounce, "4.0.0".into())),
                    _ => kind_status,
                };
            }
            ("message", "feedback-report") => {
                let text = part.text_contents().map(str::to_owned).unwrap_or_else(|| String::from_utf8_lossy(part.contents()).into_owned());
                let feedback = fields(&text).into_iter().find(|(n, _)| n == "feedback-type").map(|(_, v)| v.to_ascii_lowercase());
                if let Some(feedback) = feedback.filter(|f| !f.is_empty() && f.len() <= 32 && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')) {
                    kind_status = Some((ReportKind::Complaint, feedback));
                }
            }
            ("message", "rfc822") | ("message", "global") => {
                original = original.or_else(|| part.message().and_then(|m| m.message_id()).map(|id| id.trim_matches(['<', '>']).to_owned()));
            }
            ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                let text = part.text_contents().map(str::to_owned).unwrap_or_else(|| String::from_utf8_lossy(part.contents()).into_owned());
                original = original.or_else(|| message_id_in(&text));
            }
            _ => {}
        }
    }
    let (kind, status) = kind_status?;
    Some(EmailReport { kind, message_id: original?, status })
}
