//! Bounce and complaint reports (RFC 3464, ARF): any bytes posted to the inbound email endpoint
//! or found in a maildir are read without panicking, and what is kept names no address.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto_core::email_report::parse_report;

fuzz_target!(|data: &[u8]| {
    if let Some(report) = parse_report(data) {
        assert!(!report.status.is_empty() && !report.message_id.is_empty());
        assert!(!report.status.contains('@'), "a status is a code, never an address");
    }
});
