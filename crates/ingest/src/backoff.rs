//! Exponential backoff with full jitter.

use std::time::Duration;

use rand::RngExt;

/// Delays for attempt `n` (from 0) are drawn uniformly from
/// `[min, min(max, min * 2^n)]`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// Failures since the last [`Backoff::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self
            .min
            .saturating_mul(1 << self.attempt.min(31))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(nanos(self.min)..=nanos(cap)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_bounds_and_reset() {
        let min = Duration::from_millis(250);
        let max = Duration::from_secs(30);
        let mut backoff = Backoff::new(min, max);
        for attempt in 0..64u32 {
            let cap = min.saturating_mul(1 << attempt.min(31)).min(max);
            let delay = backoff.next_delay();
            assert!(delay >= min && delay <= cap, "attempt {attempt}: {delay:?}");
        }
        assert_eq!(backoff.attempts(), 64);
        backoff.reset();
        assert_eq!(backoff.attempts(), 0);
        assert!(backoff.next_delay() <= min);
    }

    #[test]
    fn equal_bounds_give_a_fixed_delay() {
        let d = Duration::from_millis(10);
        let mut backoff = Backoff::new(d, d);
        assert_eq!(backoff.next_delay(), d);
        assert_eq!(backoff.next_delay(), d);
    }
}
