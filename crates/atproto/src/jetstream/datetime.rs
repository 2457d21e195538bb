//! RFC 3339 times as AT Protocol records write them
//! (`2024-09-09T19:46:02.102Z`), from unix microseconds.

/// Latest time with a four-digit year: 9999-12-31T23:59:59.999999Z.
#[cfg(test)]
pub(super) const MAX_US: u64 = 253_402_300_799_999_999;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form Bluesky clients write `createdAt`
/// in; the microseconds below the millisecond are dropped.
pub(super) fn format_ms(time_us: u64) -> String {
    let (date_time, micros) = date_time(time_us);
    format!("{date_time}.{:03}Z", micros / 1_000)
}

/// Like [`format_ms`] when `time_us` is a whole millisecond, otherwise
/// with six fractional digits, so that no microsecond is lost.
pub(super) fn format_us(time_us: u64) -> String {
    let (date_time, micros) = date_time(time_us);
    if micros % 1_000 == 0 {
        format!("{date_time}.{:03}Z", micros / 1_000)
    } else {
        format!("{date_time}.{micros:06}Z")
    }
}

/// `YYYY-MM-DDTHH:MM:SS` and the microseconds within the second.
fn date_time(time_us: u64) -> (String, u64) {
    let secs = time_us / 1_000_000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let secs_of_day = secs % 86_400;
    let date_time = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs_of_day / 3_600,
        secs_of_day % 3_600 / 60,
        secs_of_day % 60,
    );
    (date_time, time_us % 1_000_000)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(951_782_400_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ms(1_735_689_599_999_999), "2024-12-31T23:59:59.999Z");
        assert!(format_ms(u64::MAX).ends_with('Z'));
        assert_eq!(format_us(1_725_911_162_102_000), "2024-09-09T19:46:02.102Z");
        assert_eq!(
            format_us(1_725_911_162_102_001),
            "2024-09-09T19:46:02.102001Z"
        );
        assert_eq!(format_us(MAX_US), "9999-12-31T23:59:59.999999Z");
    }
}
