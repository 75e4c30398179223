//! HL7 v2 scheduling (SIU^S12–S17, S26) and registration (ADT^A04, A08) messages mapped
//! to ingestion calls: PID's identifiers become sealed traits under the external id the
//! configured identifier type names; SCH, TQ1, AIS and AIP become an appointment event (the AIS
//! service code through a mapping table to a vault code, never its text); every other segment
//! (DG1, NTE, OBX, AL1, PR1, PV1, …) and every unused field is dropped and named.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

use super::parse::{Message, Segment};
use crate::contact::{EmailAddress, Language, PhoneE164};

/// How a deployment reads its senders' messages.
#[derive(Debug, Clone)]
pub struct Hl7Settings {
    /// The PID-3 identifier type that is the external id (`MR`).
    pub id_type: String,
    /// The assigning authority that identifier must carry, when set.
    pub id_authority: Option<String>,
    /// AIS-3 service codes (`code` or `system|code`) to vault codes (`appt_type:5`).
    pub service_codes: BTreeMap<String, String>,
    /// The zone of times sent without an offset.
    pub timezone: TimeZone,
    /// The region national phone numbers are read in (`US`).
    pub region: String,
}

impl Default for Hl7Settings {
    fn default() -> Self {
        Self { id_type: "MR".into(), id_authority: None, service_codes: BTreeMap::new(), timezone: TimeZone::UTC, region: "US".into() }
    }
}

/// What MSH says about a message, for its acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// MSH-3.
    pub sending_application: String,
    /// MSH-4.
    pub sending_facility: String,
    /// MSH-5.
    pub receiving_application: String,
    /// MSH-6.
    pub receiving_facility: String,
    /// MSH-9.1 and MSH-9.2 (`SIU`, `S12`).
    pub message_type: (String, String),
    /// MSH-10.
    pub control_id: String,
    /// MSH-12.
    pub version: String,
}

/// A message mapped: the calls to ingest and what was dropped (segment ids and field names).
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// Its header.
    pub header: Header,
    /// An identify call, then the appointment event when there is one.
    pub calls: Vec<Value>,
    /// `DG1`, `NTE`, `PID-7`, `AIS-3` (unmapped), `PID-3[2]` (another identifier), …
    pub dropped: Vec<String>,
}

/// Why a message was not taken: an HL7 error code (table 0357), where, and whether the
/// message is rejected (AR) or in error (AE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    /// 101 required field missing, 102 data type error, 200 unsupported message type, …
    pub code: u16,
    /// `PID^1^3`.
    pub location: String,
    /// What is wrong, never a value.
    pub message: String,
    /// AR rather than AE.
    pub reject: bool,
}

impl MapError {
    fn missing(segment: &str, field: usize, what: &str) -> Self {
        Self { code: 101, location: format!("{segment}^1^{field}"), message: format!("{segment}-{field} is required: {what}"), reject: false }
    }
}

/// The header of any message that parsed.
pub fn header(m: &Message) -> Header {
    let Some(msh) = m.segment("MSH") else { return Header::default() };
    Header {
        sending_application: m.component(msh, 3, 1),
        sending_facility: m.component(msh, 4, 1),
        receiving_application: m.component(msh, 5, 1),
        receiving_facility: m.component(msh, 6, 1),
        message_type: (m.component(msh, 9, 1), m.component(msh, 9, 2)),
        control_id: m.component(msh, 10, 1),
        version: m.component(msh, 12, 1),
    }
}

/// Segments kept (read for the mapping, or structural); every other one is dropped.
const KEPT: &[&str] = &["MSH", "EVN", "PID", "SCH", "TQ1", "RGS", "AIS", "AIG", "AIL", "AIP"];
/// PID fields read: set id, identifiers, name, phone and email, language.
const PID_USED: &[usize] = &[1, 3, 5, 13, 15];
/// SCH fields read: placer and filler ids, timing, filler status.
const SCH_USED: &[usize] = &[1, 2, 11, 25];

/// The event an SIU trigger means.
fn event_of(trigger: &str) -> Option<&'static str> {
    Some(match trigger {
        "S12" => "appointment_booked",
        "S13" | "S14" => "appointment_rescheduled",
        // A cancellation, a discontinuation and a deletion all mean the visit will not happen.
        "S15" | "S16" | "S17" => "appointment_cancelled",
        "S26" => "appointment_no_show",
        _ => return None,
    })
}

/// Maps a parsed message.
pub fn map(m: &Message, settings: &Hl7Settings) -> Result<Mapped, MapError> {
    let header = header(m);
    let event = match (header.message_type.0.as_str(), header.message_type.1.as_str()) {
        ("SIU", trigger) => Some(event_of(trigger).ok_or_else(|| unsupported(201, "this SIU trigger is not taken: S12, S13, S14, S15, S16, S17 or S26"))?),
        ("ADT", "A04" | "A08") => None,
        ("ADT", _) => return Err(unsupported(201, "this ADT trigger is not taken: A04 or A08")),
        _ => return Err(unsupported(200, "only SIU (S12 to S17, S26) and ADT (A04, A08) messages are taken")),
    };
    if header.control_id.is_empty() {
        return Err(MapError::missing("MSH", 10, "the message control id"));
    }
    let mut dropped: Vec<String> = Vec::new();
    let mut drop = |name: String| {
        if !dropped.contains(&name) {
            dropped.push(name);
        }
    };
    for s in &m.segments {
        if !KEPT.contains(&s.id.as_str()) {
            drop(s.id.clone());
        }
    }
    let pid = m.segment("PID").ok_or_else(|| MapError::missing("PID", 3, "the patient"))?;
    let (external_id, rep) = external_id(m, pid, settings)?;
    for n in pid.filled().filter(|n| !PID_USED.contains(n)) {
        drop(format!("PID-{n}"));
    }
    for r in (1..=m.repetitions(pid, 3)).filter(|&r| r != rep) {
        drop(format!("PID-3[{r}]"));
    }
    let (traits, unreadable) = patient_traits(m, pid, &settings.region);
    for name in unreadable {
        drop(name);
    }
    let mut calls = vec![json!({"type": "identify", "userId": external_id, "traits": traits, "messageId": format!("hl7-{}-patient", header.control_id)})];
    if let Some(event) = event {
        let sch = m.segment("SCH").ok_or_else(|| MapError::missing("SCH", 2, "the appointment"))?;
        for n in sch.filled().filter(|n| !SCH_USED.contains(n)) {
            drop(format!("SCH-{n}"));
        }
        let mut props = Map::new();
        let id = [2, 1].into_iter().map(|f| m.component(sch, f, 1)).find(|v| !v.is_empty()).ok_or_else(|| MapError::missing("SCH", 2, "the filler (or placer) appointment id"))?;
        props.insert("appointment_id".into(), Value::String(id));
        if let Some(start) = start_time(m, sch, settings)? {
            props.insert("appointment_start".into(), Value::String(start.to_string()));
        } else if event != "appointment_cancelled" {
            return Err(MapError::missing("TQ1", 7, "the appointment's start (TQ1-7, SCH-11.4 or AIS-4)"));
        }
        if let Some(ais) = m.segment("AIS") {
            let (code, system) = (m.component(ais, 3, 1), m.component(ais, 3, 3));
            let mapped = settings.service_codes.get(&format!("{system}|{code}")).or_else(|| settings.service_codes.get(&code));
            match mapped {
                Some(vault) => {
                    props.insert("appointment_type".into(), Value::String(vault.clone()));
                }
                None if !code.is_empty() => drop("AIS-3".into()),
                None => {}
            }
        }
        if let Some(given) = m.segment("AIP").map(|aip| m.component(aip, 3, 3)).filter(|g| !g.is_empty()) {
            props.insert("provider_first_name".into(), Value::String(given));
        }
        calls.push(json!({"type": "track", "userId": external_id, "event": event, "properties": props, "messageId": format!("hl7-{}-event", header.control_id)}));
    }
    Ok(Mapped { header, calls, dropped })
}

fn unsupported(code: u16, message: &str) -> MapError {
    MapError { code, location: "MSH^1^9".into(), message: message.into(), reject: true }
}

/// The PID-3 repetition of the configured identifier type (and authority): its id and which
/// repetition it was.
fn external_id(m: &Message, pid: &Segment, settings: &Hl7Settings) -> Result<(String, usize), MapError> {
    for rep in 1..=m.repetitions(pid, 3) {
        let (id, authority, kind) = (m.value(pid, 3, rep, 1, 1), m.value(pid, 3, rep, 4, 1), m.value(pid, 3, rep, 5, 1));
        if kind.eq_ignore_ascii_case(&settings.id_type) && settings.id_authority.as_deref().is_none_or(|a| a == authority) && !id.is_empty() {
            return Ok((id, rep));
        }
    }
    Err(MapError::missing("PID", 3, &format!("an identifier of type {} (the external id)", settings.id_type)))
}

/// Sets a trait once, from a non-empty value.
fn put(traits: &mut Map<String, Value>, name: &str, value: String) {
    if !value.trim().is_empty() && !traits.contains_key(name) {
        traits.insert(name.into(), Value::String(value.trim().to_owned()));
    }
}

/// Names, phone (a cell phone first), email and language from PID (sealed by the ingestion
/// merge like any identifier), and the contacts that could not be read (dropped, named).
fn patient_traits(m: &Message, pid: &Segment, region: &str) -> (Map<String, Value>, Vec<String>) {
    let mut traits = Map::new();
    let mut unreadable = Vec::new();
    put(&mut traits, "last_name", m.value(pid, 5, 1, 1, 1));
    put(&mut traits, "first_name", m.value(pid, 5, 1, 2, 1));
    let mut phones: Vec<(bool, String)> = Vec::new();
    for rep in 1..=m.repetitions(pid, 13) {
        let (use_code, equipment) = (m.value(pid, 13, rep, 2, 1), m.value(pid, 13, rep, 3, 1));
        if use_code == "NET" || equipment.eq_ignore_ascii_case("Internet") || equipment == "X.400" {
            match EmailAddress::parse("email", &m.value(pid, 13, rep, 4, 1)) {
                Ok(email) if !traits.contains_key("email") => put(&mut traits, "email", email.lookup_key()),
                Ok(_) => {}
                Err(_) => unreadable.push(format!("PID-13[{rep}]")),
            }
        } else if equipment == "CP" || equipment == "PH" || equipment.is_empty() {
            let local = m.value(pid, 13, rep, 7, 1);
            let number = if local.is_empty() { m.value(pid, 13, rep, 1, 1) } else { format!("{}{}{}", m.value(pid, 13, rep, 5, 1), m.value(pid, 13, rep, 6, 1), local) };
            match PhoneE164::parse("phone", &number, region) {
                Ok(phone) => phones.push((equipment != "CP", phone.expose().to_owned())),
                Err(_) => unreadable.push(format!("PID-13[{rep}]")),
            }
        } else {
            unreadable.push(format!("PID-13[{rep}]"));
        }
    }
    phones.sort_by_key(|(not_cell, _)| *not_cell);
    if let Some((_, number)) = phones.into_iter().next() {
        put(&mut traits, "phone", number);
    }
    let language = m.component(pid, 15, 1).to_ascii_lowercase();
    let language = match language.as_str() {
        "eng" => "en".to_owned(),
        "spa" => "es".to_owned(),
        other => other.to_owned(),
    };
    if Language::parse("language", &language).is_ok() {
        put(&mut traits, "language", language);
    } else if !language.is_empty() {
        unreadable.push("PID-15".into());
    }
    (traits, unreadable)
}

/// The appointment's start: TQ1-7, else SCH-11.4, else AIS-4.
fn start_time(m: &Message, sch: &Segment, settings: &Hl7Settings) -> Result<Option<Timestamp>, MapError> {
    let candidates = [("TQ1", 7, m.segment("TQ1").map(|t| m.component(t, 7, 1))), ("SCH", 11, Some(m.component(sch, 11, 4))), ("AIS", 4, m.segment("AIS").map(|a| m.component(a, 4, 1)))];
    for (segment, field, value) in candidates {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => {
                return parse_dtm(&v, &settings.timezone).map(Some).ok_or(MapError {
                    code: 102,
                    location: format!("{segment}^1^{field}"),
                    message: format!("{segment}-{field} must be a date and time (YYYYMMDDHHMM[SS][+ZZZZ])"),
                    reject: false,
                });
            }
            None => continue,
        }
    }
    Ok(None)
}

/// Reads an HL7 DTM: `YYYYMMDDHHMM[SS[.S…]][+/-ZZZZ]`; without an offset, in `zone`.
pub fn parse_dtm(text: &str, zone: &TimeZone) -> Option<Timestamp> {
    let (body, offset) = match text.find(['+', '-']) {
        Some(i) => (&text[..i], Some(&text[i..])),
        None => (text, None),
    };
    let body = body.split('.').next()?;
    if body.len() < 12 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| body.get(r).and_then(|s| s.parse::<i32>().ok());
    let second = if body.len() >= 14 { n(12..14)? } else { 0 };
    let civil = DateTime::new(n(0..4)? as i16, n(4..6)? as i8, n(6..8)? as i8, n(8..10)? as i8, n(10..12)? as i8, second as i8, 0).ok()?;
    match offset {
        Some(o) if o.len() == 5 && o[1..].bytes().all(|b| b.is_ascii_digit()) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let seconds = sign * (o[1..3].parse::<i32>().ok()? * 3600 + o[3..5].parse::<i32>().ok()? * 60);
            let offset = jiff::tz::Offset::from_seconds(seconds).ok()?;
            offset.to_timestamp(civil).ok()
        }
        Some(_) => None,
        None => civil.to_zoned(zone.clone()).ok().map(|z| z.timestamp()),
    }
}
