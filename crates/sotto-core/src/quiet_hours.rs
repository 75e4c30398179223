//! Quiet hours: daily sending windows in the recipient's local time, the US states' time
//! zones for recipients whose zone is unknown, and the next instant a message may go out.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// A daily window `[start, end)` in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// First allowed local time.
    pub start: Time,
    /// First local time no longer allowed.
    pub end: Time,
}

impl Window {
    /// A window from whole hours, such as 8 to 21.
    pub fn hours(start: i8, end: i8) -> Self {
        Self { start: Time::constant(start, 0, 0, 0), end: Time::constant(end, 0, 0, 0) }
    }

    /// Parses `HH:MM-HH:MM` with start before end.
    pub fn parse(raw: &str) -> Option<Self> {
        let (a, b) = raw.split_once('-')?;
        let start: Time = a.trim().parse().ok()?;
        let end: Time = b.trim().parse().ok()?;
        (start < end).then_some(Self { start, end })
    }

    /// The part of the day both windows allow, if any.
    pub fn intersect(self, other: Window) -> Option<Window> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then_some(Window { start, end })
    }

    /// Whether `t` falls inside the window in zone `tz`.
    pub fn contains(self, t: Timestamp, tz: &TimeZone) -> bool {
        let local = t.to_zoned(tz.clone()).time();
        self.start <= local && local < self.end
    }
}

/// Every US zone, for recipients whose state and zone are both unknown.
pub const US_ZONES: &[&str] = &[
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
    "America/Anchorage", "Pacific/Honolulu",
];

/// The zones a US state or territory spans (two-letter code).
pub fn zones_for_state(state: &str) -> Option<&'static [&'static str]> {
    const E: &[&str] = &["America/New_York"];
    const C: &[&str] = &["America/Chicago"];
    const M: &[&str] = &["America/Denver"];
    const P: &[&str] = &["America/Los_Angeles"];
    const EC: &[&str] = &["America/New_York", "America/Chicago"];
    const CM: &[&str] = &["America/Chicago", "America/Denver"];
    const MP: &[&str] = &["America/Denver", "America/Los_Angeles"];
    Some(match state {
        "CT" | "DE" | "DC" | "GA" | "ME" | "MD" | "MA" | "NH" | "NJ" | "NY" | "NC" | "OH" | "PA" | "RI" | "SC" | "VT" | "VA" | "WV" => E,
        "FL" | "IN" | "KY" | "MI" | "TN" => EC,
        "AL" | "AR" | "IL" | "IA" | "LA" | "MN" | "MS" | "MO" | "OK" | "WI" => C,
        "KS" | "NE" | "ND" | "SD" | "TX" => CM,
        "CO" | "MT" | "NM" | "UT" | "WY" => M,
        "ID" | "OR" | "NV" => MP,
        "CA" | "WA" => P,
        "AZ" => &["America/Phoenix"],
        "AK" => &["America/Anchorage", "America/Adak"],
        "HI" => &["Pacific/Honolulu"],
        "PR" | "VI" => &["America/Puerto_Rico"],
        "GU" | "MP" => &["Pacific/Guam"],
        "AS" => &["Pacific/Pago_Pago"],
        _ => return None,
    })
}

/// Resolves zone names, skipping any the database does not know.
pub fn zones(names: &[&str]) -> Vec<TimeZone> {
    names.iter().filter_map(|n| TimeZone::get(n).ok()).collect()
}

const HORIZON: SignedDuration = SignedDuration::from_hours(8 * 24);

/// The earliest instant at or after `from` that is inside `window` in every zone, or `None`
/// when the zones share no such instant within eight days (the intersection is empty).
pub fn next_allowed(from: Timestamp, window: Window, zones: &[TimeZone]) -> Option<Timestamp> {
    let mut t = from;
    for _ in 0..256 {
        if t.duration_since(from) > HORIZON {
            return None;
        }
        let mut moved = false;
        for tz in zones {
            let local = t.to_zoned(tz.clone());
            let time = local.time();
            let opening_day = if time < window.start {
                Some(local.date())
            } else if time >= window.end {
                local.date().tomorrow().ok()
            } else {
                None
            };
            if let Some(day) = opening_day {
                let opening = day.to_datetime(window.start).to_zoned(tz.clone()).ok()?.timestamp();
                if opening > t {
                    t = opening;
                    moved = true;
                }
            }
        }
        if !moved {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_message_due_before_eight_local_is_released_at_eight() {
        let chicago = zones(&["America/Chicago"]);
        // 07:59 in Chicago (CST, UTC-6) is 13:59 UTC.
        assert_eq!(next_allowed(at("2026-01-15T13:59:00Z"), Window::hours(8, 21), &chicago), Some(at("2026-01-15T14:00:00Z")));
        assert_eq!(next_allowed(at("2026-01-15T14:30:00Z"), Window::hours(8, 21), &chicago), Some(at("2026-01-15T14:30:00Z")));
        // 21:00 local rolls to 08:00 the next day.
        assert_eq!(next_allowed(at("2026-01-16T03:00:00Z"), Window::hours(8, 21), &chicago), Some(at("2026-01-16T14:00:00Z")));
    }

    #[test]
    fn conflicting_zones_send_only_in_the_intersection() {
        // Pacific and Eastern: 08:00-21:00 in both is 11:00-21:00 Eastern.
        let both = zones(&["America/New_York", "America/Los_Angeles"]);
        let t = next_allowed(at("2026-01-15T13:00:00Z"), Window::hours(8, 21), &both).expect("window");
        assert_eq!(t, at("2026-01-15T16:00:00Z"));
        assert!(Window::hours(8, 21).contains(t, &both[0]) && Window::hours(8, 21).contains(t, &both[1]));
    }

    #[test]
    fn zones_with_no_common_window_are_reported() {
        let far = zones(&["America/New_York", "Asia/Tokyo"]);
        assert_eq!(next_allowed(at("2026-01-15T13:00:00Z"), Window::hours(8, 10), &far), None);
        assert!(next_allowed(at("2026-01-15T13:00:00Z"), Window::hours(8, 21), &far).is_some());
    }

    #[test]
    fn windows_parse_and_intersect() {
        let w = Window::parse("08:00-21:00").expect("parse");
        assert_eq!(w.intersect(Window::hours(8, 20)), Some(Window::hours(8, 20)));
        assert_eq!(Window::parse("21:00-08:00"), None);
        assert_eq!(zones_for_state("FL").map(<[_]>::len), Some(2));
    }
}
