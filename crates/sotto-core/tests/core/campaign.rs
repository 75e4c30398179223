//! A campaign's send time for each patient: a local time read in the patient's own zone
//! (across a daylight-saving change, and in a gap), never before launch; the first moment
//! any message can be due.

use jiff::Timestamp;
use jiff::civil::{date, time};
use jiff::tz::TimeZone;

use sotto_core::campaign::{Schedule, due_at, earliest_due};

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).expect("zone")
}

fn at(s: &str) -> Timestamp {
    s.parse().expect("instant")
}

#[test]
fn a_local_time_is_ten_in_each_patients_own_zone_on_both_sides_of_a_daylight_saving_change() {
    let launched = at("2026-10-01T00:00:00Z");
    let before = Schedule::Local { date: date(2026, 10, 30), time: time(10, 0, 0, 0) };
    let after = Schedule::Local { date: date(2026, 11, 2), time: time(10, 0, 0, 0) };
    assert_eq!(due_at(&before, Some(&zone("America/New_York")), launched), at("2026-10-30T14:00:00Z"), "EDT, UTC-4");
    assert_eq!(due_at(&after, Some(&zone("America/New_York")), launched), at("2026-11-02T15:00:00Z"), "EST, UTC-5");
    assert_eq!(due_at(&after, Some(&zone("America/Phoenix")), launched), at("2026-11-02T17:00:00Z"), "no daylight saving time in Arizona");
    assert_eq!(due_at(&after, None, launched), at("2026-11-02T10:00:00Z"), "an unknown zone is read as UTC");
}

#[test]
fn a_local_time_inside_a_patients_daylight_saving_gap_is_sent_at_the_first_moment_after_it() {
    let schedule = Schedule::Local { date: date(2027, 3, 14), time: time(2, 30, 0, 0) };
    assert_eq!(due_at(&schedule, Some(&zone("America/Chicago")), at("2027-01-01T00:00:00Z")), at("2027-03-14T08:30:00Z"), "02:30 does not exist; 03:30 CDT is next");
}

#[test]
fn nothing_is_due_before_launch_and_the_first_local_time_anywhere_is_at_utc_plus_fourteen() {
    let launched = at("2026-12-01T12:00:00Z");
    assert_eq!(due_at(&Schedule::At(at("2026-11-30T00:00:00Z")), None, launched), launched);
    assert_eq!(due_at(&Schedule::Now, None, launched), launched);
    let local = Schedule::Local { date: date(2026, 12, 10), time: time(10, 0, 0, 0) };
    assert_eq!(earliest_due(&local, launched), at("2026-12-09T20:00:00Z"));
    for name in ["Pacific/Kiritimati", "Asia/Tokyo", "America/New_York", "Pacific/Honolulu"] {
        assert!(due_at(&local, Some(&zone(name)), launched) >= earliest_due(&local, launched), "{name}");
    }
}
