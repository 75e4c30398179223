//! HL7 v2 ingestion, over HTTP and MLLP alike: a message is read, mapped (everything clinical
//! dropped), every call it makes checked by the firewall before anything is stored (a refused
//! message stores nothing), then ingested; the answer is always an acknowledgement.

use jiff::Timestamp;

use sotto_core::FieldError;
use sotto_core::firewall::Firewall;
use sotto_core::hl7::{AckCode, AckNote, Header, Message, ParseError, acknowledge, header, map};
use sotto_core::ingest::parse_call;
use sotto_core::scope::Scope;
use sotto_store::Store;

use crate::{App, AppError, ItemStatus, RequestCtx};

/// An acknowledgement and its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hl7Answer {
    /// The ACK message.
    pub ack: String,
    /// AA, AE or AR.
    pub code: AckCode,
}

fn answer(received: &Header, code: AckCode, notes: &[AckNote], now: Timestamp) -> Hl7Answer {
    Hl7Answer { ack: acknowledge(received, code, notes, &format!("SOTTO{}", sotto_crypto::random_id(6)), now), code }
}

/// Where in the message a firewall refusal of a mapped call points.
fn location(error: &FieldError) -> String {
    let field = error.field.rsplit('.').next().unwrap_or_default();
    match field {
        "first_name" | "last_name" => "PID^1^5",
        "phone" | "email" => "PID^1^13",
        "language" => "PID^1^15",
        "appointment_start" => "TQ1^1^7",
        "appointment_type" => "AIS^1^3",
        "provider_first_name" => "AIP^1^3",
        "appointment_id" => "SCH^1^2",
        _ => "PID^1^3",
    }
    .to_owned()
}

impl<S: Store> App<S> {
    /// Takes one HL7 v2 message and answers its acknowledgement (a NAK, never an error, for a
    /// message that cannot be read or is refused).
    pub async fn ingest_hl7(&self, ctx: &RequestCtx, text: &str) -> Result<Hl7Answer, AppError> {
        self.require(ctx, Scope::EventsWrite, "hl7").await?;
        let message = match Message::parse(text) {
            Ok(m) => m,
            Err(e) => {
                let (location, code) = match e {
                    ParseError::BadSegmentId(n) => (format!("segment {n}"), 100),
                    ParseError::TooLarge => ("MSH".to_owned(), 207),
                    _ => ("MSH^1^1".to_owned(), 102),
                };
                return Ok(answer(&Header::default(), AckCode::Reject, &[AckNote { location, code, severity: 'E', message: e.to_string() }], ctx.now));
            }
        };
        let received = header(&message);
        let mapped = match map(&message, &self.settings.hl7) {
            Ok(m) => m,
            Err(e) => {
                let code = if e.reject { AckCode::Reject } else { AckCode::Error };
                return Ok(answer(&received, code, &[AckNote { location: e.location, code: e.code, severity: 'E', message: e.message }], ctx.now));
            }
        };
        let dictionary = self.dictionary.get(&self.store).await?;
        let firewall = Firewall { dictionary: &dictionary, default_region: &self.settings.default_region };
        let refusals: Vec<AckNote> = mapped
            .calls
            .iter()
            .filter_map(|call| parse_call(&firewall, call, None).err())
            .flatten()
            .map(|e| AckNote { location: location(&e), code: 102, severity: 'E', message: format!("{} ({}): nothing in this message was stored", e.message, e.code) })
            .collect();
        if !refusals.is_empty() {
            return Ok(answer(&received, AckCode::Error, &refusals, ctx.now));
        }
        let results = self.ingest_calls(ctx, &mapped.calls, None).await?;
        if results.iter().any(|r| r.status == ItemStatus::Rejected) {
            return Err(AppError::Internal("a mapped HL7 call passed the firewall and was then refused"));
        }
        let notes: Vec<AckNote> = mapped.dropped.iter().map(|d| AckNote::dropped(d)).collect();
        Ok(answer(&received, AckCode::Accept, &notes, ctx.now))
    }
}
