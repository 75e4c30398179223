//! Time-based triggers: a patient entering a journey's segment, or a date trait coming up (a
//! birthday every year, a renewal once), starts a run keyed by the patient. A scan finds them
//! and starts the runs in one transaction taken by one leader; a run for a date waits at its
//! first step until the moment, at the local time in the patient's zone.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use sotto_core::journey::{Trigger, occurrence};
use sotto_store::{AuditContext, RunRow, Store};

use crate::journey_runner::{Context, Live, new_run};
use crate::{App, AppError, micros};

/// A yearly date's run may start again this long after the last one began, unless the
/// journey says otherwise.
const YEARLY_REENTRY: SignedDuration = SignedDuration::from_hours(24 * 300);

/// Patients read per page while looking for dates.
const PAGE: i64 = 5_000;

impl<S: Store> App<S> {
    /// Starts every run a segment or date trigger calls for at `now`; answers how many.
    pub async fn journey_scan(&self, now: Timestamp) -> Result<usize, AppError> {
        let journeys = self.runnable_journeys().await?;
        let audit = AuditContext { actor: "system:journeys".into(), request_id: String::new(), source_ip: None, at_micros: micros(now) };
        let mut started = 0;
        for (id, live) in &journeys.live {
            let reentry = match &live.journey.trigger {
                Trigger::Event { .. } => continue,
                Trigger::Date { yearly: true, .. } => live.journey.reentry_after.or(Some(YEARLY_REENTRY)),
                _ => live.journey.reentry_after,
            };
            let restart_before = reentry.map(|after| micros(now) - after.as_micros() as i64);
            // Keys whose run is under way, or ended too recently to start again, are skipped
            // here; the store checks again when it writes.
            let taken: BTreeMap<String, (String, i64)> = self.store.journey_run_keys(id).await?.into_iter().map(|(k, state, at)| (k, (state, at))).collect();
            let free = |key: &str| taken.get(key).is_none_or(|(state, at)| state == "done" && restart_before.is_some_and(|cutoff| *at <= cutoff));
            let runs = match &live.journey.trigger {
                Trigger::Segment(segment) => self.segment_entries(id, live, segment, now, &free).await?,
                _ => self.date_entries(id, live, now, &free).await?,
            };
            for chunk in runs.chunks(2_000) {
                started += self.store.start_runs(chunk, restart_before, &audit).await?;
            }
        }
        Ok(started)
    }

    async fn segment_entries(&self, id: &str, live: &Live, segment: &str, now: Timestamp, free: &(dyn Fn(&str) -> bool + Sync)) -> Result<Vec<RunRow>, AppError> {
        let members = self.segment_members_now(segment, now).await?;
        Ok(members.into_iter().filter(|m| free(m)).filter_map(|m| new_run(&self.keyring, id, live.version, &live.journey, m.clone(), &m, &Context::default(), micros(now), micros(now))).collect())
    }

    async fn date_entries(&self, id: &str, live: &Live, now: Timestamp, free: &(dyn Fn(&str) -> bool + Sync)) -> Result<Vec<RunRow>, AppError> {
        let Trigger::Date { property, .. } = &live.journey.trigger else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.store.patient_traits(&after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.0.clone();
            for (external_id, traits, zone) in page {
                if !free(&external_id) {
                    continue;
                }
                let traits: Map<String, Value> = serde_json::from_str(&traits).unwrap_or_default();
                let tz = zone.as_deref().and_then(|z| TimeZone::get(z).ok());
                // The run counts as started at its moment, so a yearly one starts again a year on.
                if let Some(at) = occurrence(&live.journey.trigger, traits.get(property), tz.as_ref(), now) {
                    out.extend(new_run(&self.keyring, id, live.version, &live.journey, external_id.clone(), &external_id, &Context::default(), micros(at), micros(at)));
                }
            }
        }
        Ok(out)
    }
}
