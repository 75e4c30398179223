//! HL7 v2: every shared sample read, mapped and acknowledged; escape sequences, repetitions
//! and other separators; malformed input refused with a reason, never a panic.

use std::collections::BTreeMap;

use sotto_core::hl7::parse::{Encoding, escape, unescape};
use sotto_core::hl7::{AckCode, AckNote, Hl7Settings, Message, ParseError, acknowledge, header, map, parse_dtm};

fn samples() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/core/data/hl7v2");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("samples")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "hl7"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).expect("sample")))
        .collect();
    out.sort();
    out
}

/// Words of the samples' clinical text: none may reach a mapped call.
const CLINICAL: &[&str] = &["colitis", "Biopsy", "bowel", "abdominal", "Heart rate", "Hemogram", "CBC", "Chest", "Colonoscope", "liquid diet", "EMERGENCY", "CHECKUP", "123456789"];

#[test]
fn every_sample_maps_to_calls_without_its_clinical_text_and_names_what_it_dropped() {
    let settings = Hl7Settings { service_codes: BTreeMap::from([("SCT|76164006".to_owned(), "appt_type:5".to_owned())]), ..Hl7Settings::default() };
    let all = samples();
    assert!(all.len() >= 17, "{} samples", all.len());
    for (name, text) in all {
        let message = Message::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mapped = map(&message, &settings).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let calls = serde_json::to_string(&mapped.calls).expect("json");
        for word in CLINICAL {
            assert!(!calls.contains(word), "{name}: {word} reached a call: {calls}");
        }
        assert_eq!(mapped.calls[0]["userId"], "PATID1234", "{name}: the MR identifier is the external id");
        assert_eq!(mapped.calls[0]["traits"]["last_name"], "EVERYMAN", "{name}");
        assert!(mapped.dropped.contains(&"PID-3[2]".to_owned()), "{name}: the SSN repetition is dropped: {:?}", mapped.dropped);
        assert!(mapped.dropped.contains(&"PID-7".to_owned()), "{name}: the birth date is dropped");
        if name.starts_with("SIU") {
            let event = &mapped.calls[1];
            assert_eq!(event["properties"]["appointment_id"], "36996", "{name}: the filler id");
            for clinical in ["NTE", "OBX", "DG1"] {
                if text.contains(&format!("\r{clinical}|")) || text.contains(&format!("\n{clinical}|")) {
                    assert!(mapped.dropped.contains(&clinical.to_owned()), "{name}: {clinical} dropped: {:?}", mapped.dropped);
                }
            }
        }
        let expected = match &name[..7] {
            "SIU-S12" => Some("appointment_booked"),
            "SIU-S13" | "SIU-S14" => Some("appointment_rescheduled"),
            "SIU-S15" | "SIU-S16" | "SIU-S17" => Some("appointment_cancelled"),
            _ => None,
        };
        assert_eq!(mapped.calls.get(1).and_then(|c| c["event"].as_str()), expected, "{name}");
    }
}

#[test]
fn the_service_code_maps_through_the_table_and_an_unmapped_one_is_dropped() {
    let (_, text) = samples().into_iter().find(|(n, _)| n == "SIU-S12-01.hl7").expect("sample");
    let message = Message::parse(&text).expect("parse");
    let mapped = map(&message, &Hl7Settings { service_codes: BTreeMap::from([("SCT|76164006".to_owned(), "appt_type:5".to_owned())]), ..Hl7Settings::default() }).expect("map");
    assert_eq!(mapped.calls[1]["properties"]["appointment_type"], "appt_type:5");
    assert_eq!(mapped.calls[1]["properties"]["appointment_start"], "2021-09-24T07:15:00Z", "TQ1-7 with its +0215 offset");
    assert_eq!(mapped.calls[1]["properties"]["provider_first_name"], "Robert");
    let unmapped = map(&message, &Hl7Settings::default()).expect("map");
    assert!(unmapped.calls[1]["properties"].get("appointment_type").is_none());
    assert!(unmapped.dropped.contains(&"AIS-3".to_owned()));
}

#[test]
fn escape_sequences_repetitions_and_other_separators_read_as_the_sender_meant() {
    let e = Encoding::default();
    assert_eq!(unescape(r"Smith\S\Jones \T\ Co\F\ \R\ \E\ \X4F4B\\.br\end", &e), "Smith^Jones & Co| ~ \\ OK\nend");
    assert_eq!(unescape(r"N\XFA\\XF1\ez", &e), "Núñez", "ISO 8859-1 bytes, as python-hl7 writes them");
    assert_eq!(unescape(r"N\XC3BA\\XC3B1\ez", &e), "Núñez", "UTF-8 bytes");
    for text in ["a|b^c&d~e\\f", "plain", "O'Brien", "línea"] {
        assert_eq!(unescape(&escape(text, &e), &e), text, "{text}");
    }
    let standard = "MSH|^~\\&|APP|FAC|SOTTO|CLINIC|202601051030||ADT^A04|C-1|P|2.5.1\rPID|1||X-9^^^H^SS~MRN-7^^^H^MR||D\\S\\Angelo^Ana\r";
    // The same message with every separator changed: \S\ is then the sender's own `$`.
    let other = standard.replace('|', "#").replace('^', "$").replace('~', "*").replace('\\', "!");
    for (text, last_name) in [(standard.to_owned(), "D^Angelo"), (other, "D$Angelo")] {
        let m = Message::parse(&text).expect("parse");
        let mapped = map(&m, &Hl7Settings::default()).expect("map");
        assert_eq!(mapped.calls[0]["userId"], "MRN-7", "the second repetition is the MR: {text}");
        assert_eq!(mapped.calls[0]["traits"]["last_name"], last_name, "{text}");
        assert_eq!(header(&m).control_id, "C-1");
    }
}

#[test]
fn malformed_input_is_refused_with_a_reason_never_a_panic() {
    assert_eq!(Message::parse("  \r\n"), Err(ParseError::Empty));
    assert_eq!(Message::parse("PID|1||X^^^^MR"), Err(ParseError::NoHeader));
    assert_eq!(Message::parse("MSH|^~|A"), Err(ParseError::BadEncoding));
    assert_eq!(Message::parse("MSH|^^\\&|A"), Err(ParseError::BadEncoding), "separators must differ");
    assert_eq!(Message::parse("MSH|^~\\&|A\rpid|1"), Err(ParseError::BadSegmentId(2)));
    assert_eq!(Message::parse(&"A".repeat(2 * 1024 * 1024)), Err(ParseError::TooLarge));
    let no_mr = Message::parse("MSH|^~\\&|A|B|C|D|2026||ADT^A04|1|P|2.5\rPID|1||123-45-6789^^^SSA^SS").expect("parse");
    let e = map(&no_mr, &Hl7Settings::default()).expect_err("no MR");
    assert_eq!((e.code, e.location.as_str(), e.reject), (101, "PID^1^3", false));
    assert!(!e.message.contains("123-45"), "never the value");
    let orm = Message::parse("MSH|^~\\&|A|B|C|D|2026||ORM^O01|1|P|2.5\rPID|1||7^^^^MR").expect("parse");
    assert_eq!(map(&orm, &Hl7Settings::default()).expect_err("unsupported").code, 200);
    let bad_time = Message::parse("MSH|^~\\&|A|B|C|D|2026||SIU^S12|1|P|2.5\rSCH||A-1\rTQ1|||||||tomorrow\rPID|1||7^^^^MR").expect("parse");
    let e = map(&bad_time, &Hl7Settings::default()).expect_err("bad time");
    assert_eq!((e.code, e.location.as_str()), (102, "TQ1^1^7"));
    for junk in ["MSH|", "MSH|^~\\&", "MSH|^~\\&|||||||||||||||\r\r\rZZZ|", "MSH|^~\\&|\\X\\|\\Xzz\\|\\"] {
        if let Ok(m) = Message::parse(junk) {
            let _ = map(&m, &Hl7Settings::default());
        }
    }
}

#[test]
fn times_without_an_offset_are_read_in_the_senders_zone() {
    let chicago = jiff::tz::TimeZone::get("America/Chicago").expect("zone");
    assert_eq!(parse_dtm("202601051030", &chicago).map(|t| t.to_string()), Some("2026-01-05T16:30:00Z".into()));
    assert_eq!(parse_dtm("20260705103045-0500", &chicago).map(|t| t.to_string()), Some("2026-07-05T15:30:45Z".into()));
    assert_eq!(parse_dtm("2026010510", &chicago), None, "minutes are required");
    assert_eq!(parse_dtm("202613051030", &chicago), None);
}

#[test]
fn an_acknowledgement_echoes_the_control_id_and_escapes_its_messages() {
    let m = Message::parse("MSH|^~\\&|EHR|FAC|SOTTO|CLINIC|2026||SIU^S12^SIU_S12|CTRL-42|P|2.5.1\r").expect("parse");
    let note = AckNote { location: "PID^1^3".into(), code: 101, severity: 'E', message: "PID-3 is required: a|b".into() };
    let ack = acknowledge(&header(&m), AckCode::Error, &[note, AckNote::dropped("DG1")], "ACK-1", jiff::Timestamp::UNIX_EPOCH);
    let segments: Vec<&str> = ack.trim_end_matches('\r').split('\r').collect();
    assert!(segments[0].starts_with("MSH|^~\\&|SOTTO|CLINIC|EHR|FAC|19700101000000+0000||ACK^S12^ACK|ACK-1|P|2.5.1"), "{}", segments[0]);
    assert_eq!(segments[1], "MSA|AE|CTRL-42");
    assert_eq!(segments[2], "ERR||PID^1^3|101^Required field missing^HL70357|E||||PID-3 is required: a\\F\\b");
    assert_eq!(segments[3], "ERR||DG1|0^Message accepted^HL70357|I||||DG1 dropped: never stored");
}
