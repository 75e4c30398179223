//! Templates from any JSON body: parsing the content, analysing it against the dictionary
//! and, when it passes, rendering it against a sample never panic, and a rendering that
//! succeeds was linted clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

use sotto_core::default_dictionary::default_dictionary;
use sotto_core::template::{analyze, parse_content, render};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(content) = parse_content(&body) else { return };
    if analyze(&content, &default_dictionary()).is_err() {
        return;
    }
    let context = json!({
        "patient": {"first_name": "Ana", "timezone": "America/Chicago"},
        "event": {"appointment_start": "2026-12-04T21:00:00Z"},
        "clinic": {"name": "Sotto Clinic", "phone": "(555) 010-0100", "address": "100 Main Street", "website": "https://clinic.example"},
        "links": {"portal": "https://x.example/portal", "unsubscribe": "https://x.example/u/t", "confirm": "https://x.example/c", "reschedule": "https://x.example/r"},
    });
    let _ = render(&content, &context);
});
