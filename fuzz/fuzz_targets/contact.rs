//! Contact and locale parsers from any text: phone numbers (three regions), email
//! addresses, time zones, languages, channels and external ids never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

use sotto_core::contact::{Channel, EmailAddress, Language, PhoneE164, TimeZoneName};
use sotto_core::ids::{ExternalId, MessageId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for region in ["US", "MX", "GB"] {
        let _ = PhoneE164::parse("phone", text, region);
    }
    let _ = EmailAddress::parse("email", text);
    let _ = TimeZoneName::parse("timezone", text);
    let _ = Language::parse("language", text);
    let _ = Channel::parse("channel", text);
    let _ = ExternalId::parse("userId", text);
    let _ = MessageId::parse("messageId", text);
});
