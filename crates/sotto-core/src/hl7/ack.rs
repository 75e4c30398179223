//! HL7 v2 acknowledgements: an ACK with MSA (AA, AE or AR, echoing the control id) and an ERR
//! segment per problem or per thing dropped (location, a table-0357 code, severity, a message
//! that names fields and segments, never a value).

use jiff::Timestamp;

use super::map::Header;
use super::parse::{Encoding, escape};

/// The acknowledgement code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Accepted.
    Accept,
    /// In error: the message was understood, and refused.
    Error,
    /// Rejected: the message could not be taken at all.
    Reject,
}

impl AckCode {
    /// `AA`, `AE` or `AR`.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
        }
    }
}

/// One ERR segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckNote {
    /// ERR-2: `PID^1^3`, or a segment id.
    pub location: String,
    /// ERR-3: a code of table 0357.
    pub code: u16,
    /// ERR-4: `E` error, `W` warning, `I` information.
    pub severity: char,
    /// ERR-8: what happened.
    pub message: String,
}

impl AckNote {
    /// A segment or field dropped before anything was stored.
    pub fn dropped(what: &str) -> Self {
        Self { location: what.split(['-', '[']).next().unwrap_or(what).to_owned(), code: 0, severity: 'I', message: format!("{what} dropped: never stored") }
    }
}

fn code_text(code: u16) -> &'static str {
    match code {
        0 => "Message accepted",
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        203 => "Unsupported version id",
        206 => "Application record locked",
        _ => "Application internal error",
    }
}

/// Builds the acknowledgement of a message (its header as read, or empty when it did not parse).
pub fn acknowledge(received: &Header, code: AckCode, notes: &[AckNote], ack_control_id: &str, now: Timestamp) -> String {
    let e = Encoding::default();
    let esc = |t: &str| escape(t, &e);
    let stamp = now.to_zoned(jiff::tz::TimeZone::UTC).strftime("%Y%m%d%H%M%S+0000").to_string();
    let sender = if received.receiving_application.is_empty() { "SOTTO".to_owned() } else { esc(&received.receiving_application) };
    let version = if received.version.is_empty() { "2.5.1".to_owned() } else { esc(&received.version) };
    let mut out = format!(
        "MSH|^~\\&|{sender}|{}|{}|{}|{stamp}||ACK^{}^ACK|{}|P|{version}\rMSA|{}|{}",
        esc(&received.receiving_facility),
        esc(&received.sending_application),
        esc(&received.sending_facility),
        esc(&received.message_type.1),
        esc(ack_control_id),
        code.as_str(),
        esc(&received.control_id),
    );
    for note in notes {
        out.push_str(&format!("\rERR||{}|{}^{}^HL70357|{}||||{}", note.location, note.code, code_text(note.code), note.severity, esc(&note.message)));
    }
    out.push('\r');
    out
}
