//! The synthetic clinic for `sotto demo`: a seeded generator of fictional patients and their
//! appointments, written as ordinary ingestion calls so they pass the same firewall.
//! Names are common given and family names; emails use the reserved `example.org` domain and
//! phone numbers the fictional 555-01xx range.

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const FIRST: &[&str] = &[
    "Ana", "Ben", "Carla", "David", "Elena", "Farah", "George", "Hana", "Ivan", "Julia", "Kofi", "Lena", "Mateo",
    "Nora", "Omar", "Priya", "Quinn", "Rosa", "Samuel", "Tara", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Alvarez", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Johnson", "Khan", "Lopez",
    "Miller", "Nguyen", "Okafor", "Patel", "Quintero", "Rossi", "Smith", "Tanaka", "Usman", "Varga", "Walker", "Young",
];
const ZONES: &[(&str, &str, &str)] = &[
    ("America/New_York", "NY", "212"),
    ("America/Chicago", "IL", "312"),
    ("America/Denver", "CO", "303"),
    ("America/Los_Angeles", "CA", "213"),
    ("America/Phoenix", "AZ", "602"),
    ("America/New_York", "FL", "305"),
];
const PROVIDERS: &[&str] = &["Maria", "James", "Aisha", "Daniel", "Sofia", "Kenji"];
const CHANNELS: &[&str] = &["email", "sms", "push"];
const TIERS: &[&str] = &["standard", "silver", "gold"];

/// How big a clinic to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    /// Number of patients.
    pub patients: usize,
    /// Seed of the generator: the same seed makes the same clinic.
    pub seed: u64,
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn at(now: Timestamp, days: i64, hour: i64) -> String {
    let day_start = now.as_second() - now.as_second().rem_euclid(86_400);
    let t = Timestamp::from_second(day_start).unwrap_or(now) + SignedDuration::from_hours(days * 24 + hour);
    t.to_string()
}

/// The calls (identify and track objects, each with `type` and a stable `messageId`) that
/// build the clinic, patient by patient. Re-running with the same seed repeats message ids,
/// so a second load is a no-op.
pub fn clinic(size: DemoSize, now: Timestamp) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(size.seed);
    let mut calls = Vec::with_capacity(size.patients * 4);
    for n in 0..size.patients {
        let id = format!("demo-{:06}", n + 1);
        let (first, last) = (pick(&mut rng, FIRST), pick(&mut rng, LAST));
        let (zone, state, area) = ZONES[rng.random_range(0..ZONES.len())];
        let mid = |k: &str| format!("demo-{}-{id}-{k}", size.seed);
        let mut traits = json!({
            "email": format!("{}.{}.{}@example.org", first.to_lowercase(), last.to_lowercase(), n + 1),
            "phone": format!("+1{area}55501{:02}", rng.random_range(0..100)),
            "first_name": first,
            "last_name": last,
            "timezone": zone,
            "state_of_residence": state,
            "language": if rng.random_bool(0.2) { "es" } else { "en" },
            "preferred_channel": pick(&mut rng, CHANNELS),
            "status": if rng.random_bool(0.85) { "active" } else { "inactive" },
            "email_verified": rng.random_bool(0.9),
            "phone_verified": rng.random_bool(0.9),
            "membership_tier": pick(&mut rng, TIERS),
        });
        let conditions: Vec<String> = (0..rng.random_range(0..3)).map(|_| format!("condition:{}", rng.random_range(101..131))).collect();
        if !conditions.is_empty() {
            traits["conditions"] = json!(conditions);
        }
        calls.push(json!({"type": "identify", "userId": id, "messageId": mid("identify"), "traits": traits}));
        for k in 0..rng.random_range(0..3) {
            let days_ago = rng.random_range(30..700);
            calls.push(json!({"type": "track", "userId": id, "event": "annual_checkup", "messageId": mid(&format!("checkup-{k}")), "timestamp": at(now, -days_ago, 15)}));
        }
        if rng.random_bool(0.7) {
            let days_ahead = rng.random_range(1..30);
            let appt = format!("appt-{:06}", n + 1);
            let start = at(now, days_ahead, rng.random_range(13..23));
            calls.push(json!({
                "type": "track", "userId": id, "event": "appointment_booked", "messageId": mid("booked"),
                "timestamp": at(now, -rng.random_range(1..10), 14),
                "properties": {
                    "appointment_id": appt, "appointment_start": start,
                    "appointment_type": format!("appt_type:{}", rng.random_range(1..13)),
                    "provider_first_name": pick(&mut rng, PROVIDERS),
                    "first_visit": rng.random_bool(0.25),
                    "location_id": format!("loc-{}", rng.random_range(1..4)),
                }
            }));
            if rng.random_bool(0.5) {
                calls.push(json!({"type": "track", "userId": id, "event": "appointment_confirmed", "messageId": mid("confirmed"), "properties": {"appointment_id": appt}}));
            }
        }
    }
    calls
}

/// The consents a clinic would have on file for the patients of `clinic(size, …)`: most
/// patients opted in to email and (in writing) to SMS, with evidence; some opted out by
/// replying STOP or by unsubscribing; some opted in to the newsletter. Each as a consent body.
pub fn clinic_consents(size: DemoSize, now: Timestamp) -> Vec<(String, Value)> {
    let mut rng = StdRng::seed_from_u64(size.seed ^ 0x00C0_45E7);
    let mut out = Vec::with_capacity(size.patients * 3);
    for n in 0..size.patients {
        let id = format!("demo-{:06}", n + 1);
        let signed = at(now, -rng.random_range(30..900), 15);
        let form = json!({"form_version": "intake-2026-01", "method": "signed_intake_form"});
        let roll: f64 = rng.random();
        if roll < 0.88 {
            out.push((id.clone(), json!({"channel": "email", "status": "opted_in", "kind": "express", "source": "paper", "captured_at": signed, "evidence": form})));
        } else if roll < 0.94 {
            out.push((id.clone(), json!({"channel": "email", "status": "opted_out", "kind": "express", "source": "email_unsubscribe", "captured_at": signed, "evidence": {"method": "one_click"}})));
        }
        let roll: f64 = rng.random();
        if roll < 0.82 {
            out.push((id.clone(), json!({"channel": "sms", "status": "opted_in", "kind": "express_written", "source": "paper", "captured_at": signed, "evidence": form})));
        } else if roll < 0.90 {
            out.push((id.clone(), json!({"channel": "sms", "status": "opted_out", "kind": "express", "source": "sms_keyword", "captured_at": signed, "evidence": {"keyword": "STOP"}})));
        }
        if rng.random_bool(0.4) {
            out.push((id.clone(), json!({"channel": "email", "topic": "newsletter", "status": "opted_in", "kind": "express", "source": "web_form", "captured_at": signed, "evidence": {"form_version": "newsletter-2026-01", "method": "web_form"}})));
        }
    }
    out
}

/// The practice's marketing authorization form, as the demo publishes it.
pub fn authorization_form() -> Value {
    json!({
        "version": "demo-marketing-2026", "language": "en",
        "text": "I allow the clinic to use my appointment history to send me news about its wellness programs.",
        "statements": {
            "right_to_revoke": "You may revoke this authorization at any time by writing to the clinic.",
            "conditioning": "Your treatment does not depend on signing this authorization.",
            "redisclosure": "Information shared under this authorization may be redisclosed and no longer protected."
        }
    })
}

/// A few HIPAA marketing authorizations (about one patient in thirty), signed on the demo's
/// form: each as (patient, authorization body).
pub fn clinic_authorizations(size: DemoSize, now: Timestamp) -> Vec<(String, Value)> {
    let mut rng = StdRng::seed_from_u64(size.seed ^ 0x0A07_4012);
    (0..size.patients)
        .filter(|_| rng.random_bool(1.0 / 30.0))
        .map(|n| {
            let id = format!("demo-{:06}", n + 1);
            let body = json!({
                "description_of_information": "appointment history", "disclosed_by": "the clinic",
                "recipients": ["the clinic's patient programs office"], "purpose": "news about wellness programs",
                "expires_at": at(now, 365, 12), "signed_at": at(now, -20, 15), "signature": "typed: patient",
                "statements": {"right_to_revoke": true, "conditioning": true, "redisclosure": true},
                "remuneration": {"involved": false}, "form_version": "demo-marketing-2026"
            });
            (id, body)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_clinic_and_another_seed_another() {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().expect("time");
        let a = clinic(DemoSize { patients: 50, seed: 7 }, now);
        assert_eq!(a, clinic(DemoSize { patients: 50, seed: 7 }, now));
        assert_ne!(a, clinic(DemoSize { patients: 50, seed: 8 }, now));
        assert_eq!(a.iter().filter(|c| c["type"] == "identify").count(), 50);
    }

    #[test]
    fn the_demo_authorizations_are_complete_on_the_demo_form() {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().expect("time");
        sotto_core::authorization::parse_form_text(&authorization_form()).expect("the form is complete");
        let auths = clinic_authorizations(DemoSize { patients: 600, seed: 7 }, now);
        assert!((5..60).contains(&auths.len()), "{}", auths.len());
        for (_, body) in &auths {
            sotto_core::authorization::parse_authorization(body).expect("every authorization is complete");
        }
    }

    #[test]
    fn the_demo_consents_parse_and_include_opt_ins_and_opt_outs_on_both_channels() {
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().expect("time");
        let consents = clinic_consents(DemoSize { patients: 300, seed: 7 }, now);
        for (_, body) in &consents {
            sotto_core::consent::parse_consent(body).expect("every demo consent parses");
        }
        for (channel, status) in [("email", "opted_in"), ("email", "opted_out"), ("sms", "opted_in"), ("sms", "opted_out")] {
            assert!(consents.iter().any(|(_, b)| b["channel"] == channel && b["status"] == status && b.get("topic").is_none()), "{channel} {status}");
        }
    }
}
