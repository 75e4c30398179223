//! De-identified reports per campaign and per template: by template version, how many
//! messages were delivered, sent, bounced, failed, left uncertain, denied (and why), still
//! pending or cancelled, and how many were clicked or unsubscribed from. Every count of 1 to
//! 10 is hidden and larger ones rounded; complementary suppression keeps any row or column
//! total from giving a hidden count away.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use sotto_core::disclosure::{Shown, disclose, disclose_table};
use sotto_core::scope::Scope;
use sotto_store::{ReportLine, ReportScope, Store};

use crate::{App, AppError, RequestCtx};

/// The outcome columns, each a set of outbox states; together they cover every message once.
const OUTCOMES: &[(&str, &[&str])] = &[
    ("delivered", &["delivered"]),
    ("sent", &["sent"]),
    ("bounced", &["bounced"]),
    ("failed", &["failed", "dead"]),
    ("uncertain", &["uncertain"]),
    ("denied", &["denied"]),
    ("pending", &["queued", "held", "deferred", "sending"]),
    ("cancelled", &["cancelled"]),
];

/// Builds the report from its lines.
pub(crate) fn report(lines: &[ReportLine]) -> Value {
    let mut rows: BTreeMap<(String, Option<i64>), Vec<&ReportLine>> = BTreeMap::new();
    for line in lines {
        rows.entry((line.template_id.clone(), line.template_version)).or_default().push(line);
    }
    let keys: Vec<&(String, Option<i64>)> = rows.keys().collect();
    let outcome = |ls: &[&ReportLine], states: &[&str]| ls.iter().filter(|l| states.contains(&l.state.as_str())).map(|l| l.count.max(0) as u64).sum::<u64>();
    let table: Vec<Vec<u64>> = rows.values().map(|ls| OUTCOMES.iter().map(|(_, states)| outcome(ls, states)).collect()).collect();
    // Rows, then the row of column totals; each row ends with its own total.
    let shown = disclose_table(&table, OUTCOMES.len());
    let (totals, messages) = (table.len(), OUTCOMES.len());
    let engagement = |ls: &[&ReportLine], f: fn(&ReportLine) -> i64| ls.iter().map(|l| f(l).max(0) as u64).sum::<u64>();
    let mut out_rows = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let ls = &rows[*key];
        let mut row = Map::new();
        row.insert("template_id".into(), json!(key.0));
        row.insert("version".into(), json!(key.1));
        row.insert("messages".into(), json!(shown[i][messages]));
        for (j, (name, _)) in OUTCOMES.iter().enumerate() {
            row.insert((*name).into(), json!(shown[i][j]));
        }
        row.insert("clicked".into(), json!(disclose(engagement(ls, |l| l.clicked))));
        row.insert("unsubscribed".into(), json!(disclose(engagement(ls, |l| l.unsubscribed))));
        // A reason's count can equal its outcome's: while that outcome is hidden, so is it.
        for (field, state, column) in [("denied_by_reason", "denied", "denied"), ("deferred_by_reason", "deferred", "pending")] {
            let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
            for l in ls.iter().filter(|l| l.state == state) {
                for r in l.reasons.split_whitespace() {
                    *reasons.entry(r).or_default() += l.count.max(0) as u64;
                }
            }
            let column = OUTCOMES.iter().position(|(n, _)| *n == column);
            let hidden = column.is_some_and(|j| matches!(shown[i][j], Shown::FewerThan11 | Shown::Suppressed));
            // Shown beside their outcome's count, the reasons are suppressed together with it.
            let cell = column.map_or(0, |j| table[i][j]);
            let parts = sotto_core::disclosure::disclose_parts(cell, &reasons.values().copied().collect::<Vec<_>>()).1;
            let shown_reasons: BTreeMap<&str, Shown> = reasons.keys().zip(parts).map(|(r, p)| (*r, if hidden { Shown::Suppressed } else { p })).collect();
            row.insert(field.into(), json!(shown_reasons));
        }
        out_rows.push(Value::Object(row));
    }
    let mut total = Map::new();
    total.insert("messages".into(), json!(shown[totals][messages]));
    for (j, (name, _)) in OUTCOMES.iter().enumerate() {
        total.insert((*name).into(), json!(shown[totals][j]));
    }
    let all: Vec<&ReportLine> = lines.iter().collect();
    total.insert("clicked".into(), json!(disclose(engagement(&all, |l| l.clicked))));
    total.insert("unsubscribed".into(), json!(disclose(engagement(&all, |l| l.unsubscribed))));
    json!({
        "rows": out_rows,
        "total": total,
        "disclosure": "counts of 1 to 10 show as \"fewer than 11\", larger ones are rounded to 5; \"suppressed\" hides a further cell so that no total gives a hidden one away",
    })
}

/// Each arm's recipients and conversions: conversions and non-conversions disclosed as a
/// table (so neither gives the other away), and a rate only where both are shown as numbers.
pub(crate) fn arms_json(lines: &[(String, i64, i64)], measured: bool) -> Value {
    let table: Vec<Vec<u64>> = lines.iter().map(|(_, n, c)| vec![c.max(&0).unsigned_abs(), (n - c).max(0).unsigned_abs()]).collect();
    let shown = disclose_table(&table, 2);
    let mut arms = Map::new();
    for (i, (arm, recipients, converted)) in lines.iter().enumerate() {
        let mut entry = Map::new();
        entry.insert("recipients".into(), json!(shown[i][2]));
        if measured {
            entry.insert("converted".into(), json!(shown[i][0]));
            let rate = match (shown[i][0], shown[i][1]) {
                (Shown::About(_), Shown::About(_)) if *recipients > 0 => json!((*converted as f64 * 100.0 / *recipients as f64).round()),
                _ => Value::Null,
            };
            entry.insert("conversion_rate_percent".into(), rate);
        }
        arms.insert(arm.clone(), Value::Object(entry));
    }
    Value::Object(arms)
}

impl<S: Store> App<S> {
    /// A campaign's report.
    pub async fn campaign_report(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsRead, &crate::path_object("campaign", "cmp_", id)).await?;
        let row = self.campaign_row(id).await?;
        let mut answer = report(&self.store.report_lines(ReportScope::Campaign(id)).await?);
        answer["campaign"] = json!({"id": row.id, "name": row.name, "state": row.state});
        let spec = crate::campaigns::stored_spec(&row)?;
        if let Some(launched) = row.launched_at
            && (spec.conversion.is_some() || spec.holdout_percent.unwrap_or(0) > 0 || !spec.variant_b.is_empty())
        {
            let (event, days) = spec.conversion.as_ref().map_or(("", 0), |c| (c.event.as_str(), c.within_days));
            let lines = self.store.conversions(id, event, launched, launched + i64::from(days) * 86_400_000_000).await?;
            answer["arms"] = arms_json(&lines, spec.conversion.is_some());
            if let Some(c) = &spec.conversion {
                answer["conversion"] = json!({"event": c.event, "within_days": c.within_days});
            }
        }
        Ok(answer)
    }

    /// A template's report, over every message it was used for.
    pub async fn template_report(&self, ctx: &RequestCtx, id: &str) -> Result<Value, AppError> {
        self.require(ctx, Scope::CampaignsRead, &crate::path_object("template", "tpl_", id)).await?;
        let template = self.store.template(id).await?.ok_or(AppError::NotFound("template"))?;
        let mut answer = report(&self.store.report_lines(ReportScope::Template(id)).await?);
        answer["template"] = json!({"id": template.id, "name": template.name});
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(version: i64, state: &str, count: i64, clicked: i64) -> ReportLine {
        ReportLine { template_id: "tpl_1".into(), template_version: Some(version), state: state.into(), reasons: if state == "denied" { "channel_opted_out".into() } else { String::new() }, count, clicked, unsubscribed: 0 }
    }

    #[test]
    fn a_small_outcome_is_hidden_with_a_partner_so_the_rows_total_cannot_reveal_it() {
        let answer = report(&[line(1, "delivered", 120, 30), line(1, "bounced", 3, 0), line(1, "denied", 40, 0)]);
        let row = &answer["rows"][0];
        assert_eq!(row["bounced"], "fewer than 11");
        assert_eq!(row["denied"], "suppressed", "{row}");
        assert_eq!(row["clicked"], 30);
        assert_eq!(row["denied_by_reason"]["channel_opted_out"], "suppressed", "a reason would give its hidden outcome away");
        assert_eq!(answer["total"]["messages"], 165);
        assert_eq!(answer["total"]["denied"], "suppressed", "one template: the total row would repeat the row's hidden cell");
    }
}
