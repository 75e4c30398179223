//! Request bodies from any bytes: JSON parsing (with serde_json's own depth limit), batch
//! envelopes, identify and track calls through the firewall, consent, authorization,
//! dictionary declarations and lint requests never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

use sotto_core::authorization::{parse_authorization, parse_form_text};
use sotto_core::consent::parse_consent;
use sotto_core::default_dictionary::default_dictionary;
use sotto_core::dictionary::parse_field_spec;
use sotto_core::firewall::Firewall;
use sotto_core::ingest::{parse_batch, parse_call};
use sotto_core::lint::parse_request;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let dictionary = default_dictionary();
    let firewall = Firewall { dictionary: &dictionary, default_region: "US" };
    let _ = parse_call(&firewall, &body, None);
    if let Ok(items) = parse_batch(&body) {
        for item in items {
            let _ = parse_call(&firewall, item, None);
        }
    }
    let _ = parse_consent(&body);
    let _ = parse_authorization(&body);
    let _ = parse_form_text(&body);
    let _ = parse_field_spec(&body);
    let _ = parse_request(&body);
});
