//! The wall clock as the protocol stamps time: Jetstream events and
//! interactions in microseconds since the epoch, the like graph and JWT
//! claims in whole seconds. One definition, so every crate reads the same
//! clock the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the epoch (0 for a clock set before it).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros().min(u128::from(u64::MAX)) as u64)
}

/// Whole seconds since the epoch, saturating at `u32::MAX` (the graph
/// keeps like times in 32 bits).
pub fn now_secs() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().min(u64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_read_the_same_clock() {
        let (us, secs) = (now_us(), now_secs());
        assert!(us / 1_000_000 >= u64::from(secs) - 1);
        assert!(us / 1_000_000 <= u64::from(secs) + 1);
        assert!(secs > 1_700_000_000, "a clock after 2023");
    }
}
