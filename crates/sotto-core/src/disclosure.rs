//! Disclosure control for counts shown to people (segment sizes, decision summaries): counts
//! of 1 to 10 are shown as "fewer than 11" (the CMS cell-size rule), and larger counts are
//! rounded to the nearest multiple of 5 (15 at the least), so that subtracting two overlapping counts (a
//! segment with and without one condition) does not reveal a single patient.
//!
//! What remains possible: two counts on either side of a rounding boundary differ by 5 and
//! say that at least one patient differs, not which; many overlapping queries can narrow a
//! count to its rounding interval, never below it. Exact counts are only in audited member
//! lists, which need their own scope.

use serde::Serialize;

/// The base counts above the small-cell threshold are rounded to.
pub const ROUNDING_BASE: u64 = 5;
/// The largest count shown only as "fewer than 11".
pub const SMALL_CELL: u64 = 10;

/// A count as it may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Nobody.
    Zero,
    /// 1 to 10.
    FewerThan11,
    /// 11 or more, rounded to the nearest multiple of [`ROUNDING_BASE`].
    About(u64),
}

/// The count as it may be shown to people.
pub fn disclose(count: u64) -> Shown {
    match count {
        0 => Shown::Zero,
        1..=SMALL_CELL => Shown::FewerThan11,
        n => Shown::About(((n + ROUNDING_BASE / 2) / ROUNDING_BASE * ROUNDING_BASE).max(SMALL_CELL + ROUNDING_BASE)),
    }
}

impl Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Shown::Zero => s.serialize_u64(0),
            Shown::FewerThan11 => s.serialize_str("fewer than 11"),
            Shown::About(n) => s.serialize_u64(*n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_hidden_and_larger_ones_rounded_to_five() {
        assert_eq!(disclose(0), Shown::Zero);
        assert_eq!(disclose(1), Shown::FewerThan11);
        assert_eq!(disclose(10), Shown::FewerThan11);
        assert_eq!(disclose(11), Shown::About(15));
        assert_eq!(disclose(12), Shown::About(15));
        assert_eq!(disclose(13), Shown::About(15));
        assert_eq!(disclose(845), Shown::About(845));
        assert_eq!(disclose(844), Shown::About(845));
        assert_eq!(disclose(843), Shown::About(845));
        assert_eq!(disclose(842), Shown::About(840));
    }

    #[test]
    fn removing_one_patient_from_a_count_never_shows_a_difference_of_one() {
        for n in 1..5_000u64 {
            let (a, b) = (disclose(n), disclose(n - 1));
            if let (Shown::About(x), Shown::About(y)) = (a, b) {
                assert!(x == y || x - y == ROUNDING_BASE, "{n}: {x} vs {y}");
            }
        }
    }
}
