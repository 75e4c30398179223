//! The segment language from any text, and its JSON form from any bytes: parsing never
//! panics or overflows the stack, a parsed definition stays within the nesting bound, and
//! every walk (checks, the JSON round trip, evaluation) completes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

use sotto_core::consent::ConsentState;
use sotto_core::default_dictionary::default_dictionary;
use sotto_core::segment::{Expr, Facts, MAX_EXPR_DEPTH, check, matches, parse};

fn walk(expr: &Expr) {
    assert!(expr.depth() <= MAX_EXPR_DEPTH, "a parsed definition is deeper than the bound");
    let _ = check(expr, &default_dictionary());
    let json = serde_json::to_string(expr).expect("an expression serializes");
    let back: Expr = serde_json::from_str(&json).expect("the stored form reads back");
    assert_eq!(&back, expr, "the JSON form round-trips");
    let traits = Map::new();
    let consents = ConsentState::default();
    let facts = Facts { traits: &traits, events: &[], consents: &consents, authorized: false };
    let _ = matches(expr, &facts, jiff::Timestamp::UNIX_EPOCH);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(expr) = parse(text)
    {
        walk(&expr);
    }
    if let Ok(expr) = serde_json::from_slice::<Expr>(data)
        && expr.check_depth().is_ok()
    {
        walk(&expr);
    }
    let _: Option<Value> = serde_json::from_slice(data).ok();
});
