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
    /// Hidden so that a total and the other cells cannot reveal a small one.
    Suppressed,
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
            Shown::Suppressed => s.serialize_str("suppressed"),
        }
    }
}

fn hidden(s: Shown) -> bool {
    matches!(s, Shown::FewerThan11 | Shown::Suppressed)
}

/// A table of `columns` counts a row shown with its totals: the answer has one more column
/// (each row's total) and one more row (each column's total, and the grand total), also when
/// the table has no rows. Every cell is disclosed;
/// then, wherever a row or a column (its total included) hides exactly one cell, the smallest
/// other non-zero cell of that line is suppressed too (complementary suppression), until no
/// line hides a single cell, so subtracting the cells shown never isolates a small count.
pub fn disclose_table(table: &[Vec<u64>], columns: usize) -> Vec<Vec<Shown>> {
    let width = table.iter().map(Vec::len).max().unwrap_or(0).max(columns);
    let mut rows: Vec<Vec<u64>> = table.iter().map(|r| {
        let mut r = r.clone();
        r.resize(width, 0);
        let total = r.iter().sum();
        r.push(total);
        r
    }).collect();
    rows.push((0..=width).map(|c| rows.iter().map(|r| r[c]).sum()).collect());
    let rows = rows;
    let width = width + 1;
    let mut shown: Vec<Vec<Shown>> = rows.iter().map(|r| r.iter().map(|n| disclose(*n)).collect()).collect();
    let mut lines: Vec<Vec<(usize, usize)>> = (0..rows.len()).map(|r| (0..rows[r].len()).map(|c| (r, c)).collect()).collect();
    lines.extend((0..width).map(|c| (0..rows.len()).filter(|r| c < rows[*r].len()).map(|r| (r, c)).collect()));
    loop {
        let mut changed = false;
        for line in &lines {
            if line.iter().filter(|(r, c)| hidden(shown[*r][*c])).count() != 1 {
                continue;
            }
            let partner = line.iter().filter(|(r, c)| !hidden(shown[*r][*c]) && rows[*r][*c] > 0).min_by_key(|(r, c)| rows[*r][*c]);
            if let Some((r, c)) = partner {
                shown[*r][*c] = Shown::Suppressed;
                changed = true;
            }
        }
        if !changed {
            return shown;
        }
    }
}

/// A total and its parts (a count and its breakdown by reason) shown together: the parts and
/// what they leave unexplained form one row of a table, so that subtracting the parts shown
/// from the total never isolates a hidden one. Parts may overlap (a message denied for two
/// reasons counts under each); the total is then disclosed on its own, since no subtraction
/// is exact.
pub fn disclose_parts(total: u64, parts: &[u64]) -> (Shown, Vec<Shown>) {
    let sum: u64 = parts.iter().sum();
    let mut cells = parts.to_vec();
    cells.push(total.saturating_sub(sum));
    let row = disclose_table(&[cells], parts.len() + 1).swap_remove(0);
    let shown_total = if sum <= total { row[parts.len() + 1] } else { disclose(total) };
    (shown_total, row[..parts.len()].to_vec())
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
    fn a_line_never_hides_a_single_cell_that_its_total_would_give_away() {
        // Two templates (rows) by outcome (columns): sent, bounced, denied; then the totals.
        let table = disclose_table(&[vec![120, 3, 40], vec![95, 30, 22]], 3);
        assert_eq!(table.len(), 3, "a row of column totals");
        assert_eq!(table[0].len(), 4, "a column of row totals");
        assert_eq!(table[0][1], Shown::FewerThan11);
        assert_eq!(table[0][2], Shown::Suppressed, "the row's smallest other cell hides with it");
        assert_eq!(table[1][1], Shown::Suppressed, "and the column's");
        for (r, row) in table.iter().enumerate() {
            assert_ne!(row.iter().filter(|s| hidden(**s)).count(), 1, "row {r}: {row:?}");
        }
        for c in 0..4 {
            let column: Vec<Shown> = table.iter().map(|row| row[c]).collect();
            assert_ne!(column.iter().filter(|s| hidden(**s)).count(), 1, "column {c}: {column:?}");
        }
        let single = disclose_table(&[vec![75, 15, 5]], 3);
        assert_eq!(single[0][1], Shown::Suppressed);
        assert_eq!(single[1][1], Shown::Suppressed, "a one-row table's total row would repeat the hidden cell");
        assert_eq!(disclose_table(&[vec![120, 0, 40]], 3)[0], vec![Shown::About(120), Shown::Zero, Shown::About(40), Shown::About(160)], "nothing small, nothing hidden");
        assert_eq!(disclose_table(&[], 3), vec![vec![Shown::Zero; 4]], "no rows: a row of zero totals as wide as the table");
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

    #[test]
    fn a_total_and_its_parts_never_give_a_hidden_part_away() {
        // 20 denied: 5 for one reason, 15 for another; showing 20 and 15 would give the 5 away.
        let (total, parts) = disclose_parts(20, &[5, 15]);
        assert_eq!(parts[0], Shown::FewerThan11);
        assert!(matches!(parts[1], Shown::Suppressed) || matches!(total, Shown::Suppressed), "{total:?} {parts:?}");
        let (total, parts) = disclose_parts(200, &[150, 50]);
        assert_eq!((total, parts), (Shown::About(200), vec![Shown::About(150), Shown::About(50)]), "nothing small, nothing hidden");
        let (total, _) = disclose_parts(12, &[12, 12]);
        assert_eq!(total, Shown::About(15), "overlapping parts: the total on its own");
    }
}
