//! How each provider has been doing, for failing over to a channel's backup and for pausing
//! all sending when a channel's providers keep failing. Failures are the answers that say
//! nothing of the recipient: transient errors, timeouts, uncertain hand-offs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Consecutive failures after which a channel's backup takes over.
pub const FAILOVER_AFTER: u32 = 5;
/// How long the backup keeps the traffic before the primary is tried again.
pub const FAILOVER_FOR: Duration = Duration::from_secs(300);
/// Hand-offs remembered per provider.
const WINDOW: usize = 100;

/// One provider's recent hand-offs.
#[derive(Debug, Default)]
pub(crate) struct Health {
    consecutive: u32,
    failover_until: Option<Instant>,
    recent: VecDeque<bool>,
}

impl Health {
    /// Records one hand-off.
    pub(crate) fn record(&mut self, ok: bool, now: Instant) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(ok);
        if ok {
            self.consecutive = 0;
        } else {
            self.consecutive += 1;
            if self.consecutive >= FAILOVER_AFTER {
                self.failover_until = Some(now + FAILOVER_FOR);
            }
        }
    }

    /// Whether traffic should go to the backup now.
    pub(crate) fn failing_over(&self, now: Instant) -> bool {
        self.failover_until.is_some_and(|until| now < until)
    }

    /// Failures and hand-offs in the window.
    pub(crate) fn failures(&self) -> (usize, usize) {
        (self.recent.iter().filter(|ok| !**ok).count(), self.recent.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_in_a_row_fail_over_for_a_while_and_a_success_resets_the_count() {
        let now = Instant::now();
        let mut h = Health::default();
        for _ in 0..4 {
            h.record(false, now);
        }
        h.record(true, now);
        assert!(!h.failing_over(now));
        for _ in 0..5 {
            h.record(false, now);
        }
        assert!(h.failing_over(now) && !h.failing_over(now + FAILOVER_FOR));
        assert_eq!(h.failures(), (9, 10));
    }
}
