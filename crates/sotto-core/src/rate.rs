//! A token bucket with time passed in: `burst` tokens at most, refilled at `per_second`. Used
//! for the send API's limit per API key and for each provider's sending rate.

use jiff::{SignedDuration, Timestamp};

/// A rate: a burst and a steady rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens available at once.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

/// One bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    at: Timestamp,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(rate: Rate, now: Timestamp) -> Self {
        Self { rate, tokens: rate.burst, at: now }
    }

    fn refill(&mut self, now: Timestamp) {
        let elapsed = now.duration_since(self.at).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        self.at = self.at.max(now);
    }

    /// Takes one token now, or says how long until one is there.
    pub fn take(&mut self, now: Timestamp) -> Result<(), SignedDuration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if self.rate.per_second <= 0.0 {
            return Err(SignedDuration::from_hours(1));
        }
        Err(SignedDuration::from_secs_f64((1.0 - self.tokens) / self.rate.per_second))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_served_then_calls_wait_for_the_refill() {
        let t0: Timestamp = "2026-11-29T10:00:00Z".parse().expect("time");
        let mut bucket = TokenBucket::new(Rate { burst: 3.0, per_second: 2.0 }, t0);
        assert!((0..3).all(|_| bucket.take(t0).is_ok()));
        let wait = bucket.take(t0).expect_err("empty");
        assert_eq!(wait, SignedDuration::from_millis(500));
        assert!(bucket.take(t0 + SignedDuration::from_millis(500)).is_ok());
        assert!(bucket.take(t0 + SignedDuration::from_millis(500)).is_err());
        // A clock that steps back never adds tokens.
        assert!(bucket.take(t0).is_err());
    }
}
