//! Normalization and the linter from any text: every fold is idempotent, every finding's
//! span lies on character boundaries of the original (HTML email bodies included), and
//! SMS keyword classification never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

use sotto_core::dictionary::Surface;
use sotto_core::lint::{lint, normalize, normalize_joined, normalize_split};
use sotto_core::sms_keywords::classify;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let once = normalize(text).text;
    assert_eq!(normalize(&once).text, once, "normalization is idempotent");
    let _ = normalize_joined(text);
    let _ = normalize_split(text);
    for surface in Surface::ALL {
        for f in lint(text, surface).findings {
            assert!(f.span.0 <= f.span.1 && f.span.1 <= text.len(), "span inside the text");
            assert!(text.is_char_boundary(f.span.0) && text.is_char_boundary(f.span.1), "span on character boundaries");
        }
    }
    let _ = classify(text);
});
