//! The wall clock as the protocol stamps time: Jetstream events and
//! interactions in microseconds since the epoch, the like graph and JWT
//! claims in whole seconds, records' `createdAt` in RFC 3339. One
//! definition, so every crate reads the same clock the same way.

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

/// A protocol time in microseconds as the graph keeps it: whole seconds,
/// saturating at `u32::MAX`.
pub fn secs_of_us(time_us: u64) -> u32 {
    (time_us / 1_000_000).min(u64::from(u32::MAX)) as u32
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds), the form Bluesky
/// clients write records' `createdAt` in.
pub fn rfc3339(time_us: u64) -> String {
    crate::jetstream::datetime::format_ms(time_us)
}

/// Now, as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(now_us())
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

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_735_689_599_999_999), "2024-12-31T23:59:59.999Z");
        assert!(rfc3339(u64::MAX).ends_with('Z'));
        assert!(now_rfc3339().starts_with("20"));
    }
}
