//! What the dispatch worker keeps for launched campaigns: each message waits for its
//! patient's local send time (read from the zone the patient has at dispatch), and a
//! throttled campaign is claimed only as fast as its own shared token bucket allows, so the
//! throttle holds across every worker process and nothing is precomputed at launch.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use sotto_core::campaign::{Schedule, due_at};
use sotto_store::{ClaimScope, OutboxRow, Store, Verdict};

use crate::campaigns::stored_spec;
use crate::{App, AppError, micros};

/// The launched campaigns as one round sees them.
#[derive(Debug, Default)]
pub(crate) struct LaunchedCampaigns {
    /// Each campaign's schedule and launch.
    schedules: BTreeMap<String, (Schedule, Timestamp)>,
    /// Campaigns with a throttle, and its rate per second.
    throttled: BTreeMap<String, f64>,
}

/// The bucket of a campaign's throttle, beside the providers' own.
fn bucket(campaign: &str) -> String {
    format!("campaign:{campaign}")
}

/// A bucket holds at most one second of its rate (and at least one message).
fn burst(per_second: f64) -> f64 {
    per_second.max(1.0)
}

impl LaunchedCampaigns {
    /// When a claimed message is due for a patient in `tz`, if that is after `now`: a
    /// campaign's local time in the patient's zone. Other messages are due at once.
    pub(crate) fn wait_until(&self, claim: &OutboxRow, tz: Option<&TimeZone>, now: Timestamp) -> Option<Timestamp> {
        let (schedule, launched) = self.schedules.get(claim.campaign_id.as_deref()?)?;
        Some(due_at(schedule, tz, *launched)).filter(|due| *due > now)
    }
}

impl<S: Store> App<S> {
    /// The campaigns whose messages may be claimed now, with their schedules and throttles.
    pub(crate) async fn launched_campaigns(&self) -> Result<LaunchedCampaigns, AppError> {
        let mut out = LaunchedCampaigns::default();
        for row in self.store.campaigns_in_state("launched").await? {
            let spec = stored_spec(&row)?;
            let launched = row.launched_at.and_then(|at| Timestamp::from_microsecond(at).ok()).unwrap_or(Timestamp::UNIX_EPOCH);
            if let Some(per_minute) = spec.throttle_per_minute {
                out.throttled.insert(row.id.clone(), f64::from(per_minute) / 60.0);
            }
            out.schedules.insert(row.id, (spec.schedule, launched));
        }
        Ok(out)
    }

    /// Claims up to `limit` due messages: every message outside a throttled campaign, then of
    /// each throttled campaign as many as its bucket grants (tokens not used go back).
    pub(crate) async fn claim_due(&self, worker: &str, now: Timestamp, lease_until: Timestamp, limit: i64, launched: &LaunchedCampaigns) -> Result<Vec<OutboxRow>, AppError> {
        let except: Vec<String> = launched.throttled.keys().cloned().collect();
        let mut claims = self.store.claim_outbox(worker, micros(now), micros(lease_until), limit, ClaimScope::AllExcept(&except)).await?;
        for (id, per_second) in &launched.throttled {
            let room = limit - claims.len() as i64;
            if room <= 0 {
                break;
            }
            let granted = self.store.take_send_tokens(&bucket(id), *per_second, burst(*per_second), room, micros(now)).await?;
            if granted == 0 {
                continue;
            }
            let got = self.store.claim_outbox(worker, micros(now), micros(lease_until), granted, ClaimScope::Campaign(id)).await?;
            self.store.return_send_tokens(&bucket(id), granted - got.len() as i64, burst(*per_second)).await?;
            claims.extend(got);
        }
        claims.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(claims)
    }

    /// Gives back the throttle tokens of messages that went back to wait for their local time.
    pub(crate) async fn return_waiting_tokens(&self, launched: &LaunchedCampaigns, decided: &[(OutboxRow, Verdict)]) -> Result<(), AppError> {
        let mut waiting: BTreeMap<&str, i64> = BTreeMap::new();
        for (claim, verdict) in decided {
            if let (Verdict::Wait { .. }, Some(id)) = (verdict, claim.campaign_id.as_deref())
                && launched.throttled.contains_key(id)
            {
                *waiting.entry(id).or_default() += 1;
            }
        }
        for (id, n) in waiting {
            self.store.return_send_tokens(&bucket(id), n, burst(launched.throttled[id])).await?;
        }
        Ok(())
    }
}
