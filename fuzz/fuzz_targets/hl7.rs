//! HL7 v2 from any bytes: reading, mapping and acknowledging never panic, whatever separators,
//! escapes or segments arrive.
#![no_main]

use libfuzzer_sys::fuzz_target;

use sotto_core::hl7::{AckCode, AckNote, Hl7Settings, Message, acknowledge, header, map};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(message) = Message::parse(&text) else { return };
    let received = header(&message);
    let notes: Vec<AckNote> = match map(&message, &Hl7Settings::default()) {
        Ok(mapped) => mapped.dropped.iter().map(|d| AckNote::dropped(d)).collect(),
        Err(e) => vec![AckNote { location: e.location, code: e.code, severity: 'E', message: e.message }],
    };
    let _ = acknowledge(&received, AckCode::Accept, &notes, "F-1", jiff::Timestamp::UNIX_EPOCH);
});
