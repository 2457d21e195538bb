//! RFC 3339 times as AT Protocol records write them
//! (`2024-09-09T19:46:02.102Z`), to and from unix microseconds.
//!
//! The parser is strict, following the AT Protocol's datetime format, a
//! subset of RFC 3339: `YYYY-MM-DDTHH:MM:SS`, optional fractional seconds
//! (one digit or more; digits past the microsecond are dropped), then `Z`
//! or a `+HH:MM` / `-HH:MM` offset. Uppercase `T` and `Z` only, no space
//! separator, and no `-00:00` ("unknown offset"). A leap second (`:60`)
//! counts as the next second, as unix time has none.

/// Latest time with a four-digit year: 9999-12-31T23:59:59.999999Z.
#[cfg(test)]
pub(super) const MAX_US: u64 = 253_402_300_799_999_999;

/// Unix microseconds of an RFC 3339 time; `None` when `s` is not one (see
/// the module docs for the accepted form) or is before 1970-01-01T00:00Z.
pub(super) fn parse_us(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, sep)| b[at] != sep)
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut rest = &b[19..];
    let mut micros = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let kept = &fraction[..len.min(6)];
        micros = digits(kept)? * 10_i64.pow(6 - kept.len() as u32);
        rest = &fraction[len..];
    }
    let offset_secs = match rest {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 || (*sign == b'-' && hours == 0 && minutes == 0) {
                return None;
            }
            let secs = hours * 3_600 + minutes * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };

    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(secs * 1_000_000 + micros as u64)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form Bluesky clients write `createdAt`
/// in; the microseconds below the millisecond are dropped.
pub(crate) fn format_ms(time_us: u64) -> String {
    let (date_time, micros) = date_time(time_us);
    format!("{date_time}.{:03}Z", micros / 1_000)
}

/// Like [`format_ms`] when `time_us` is a whole millisecond, otherwise
/// with six fractional digits, so that [`parse_us`] gives `time_us` back
/// (for four-digit years, up to [`MAX_US`]).
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

/// The value of a run of ASCII digits (at most 18 of them).
fn digits(run: &[u8]) -> Option<i64> {
    run.iter().try_fold(0, |value, &c| {
        c.is_ascii_digit().then(|| value * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date, negative before it
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    use proptest::prelude::*;

    /// 2024-09-09T19:46:02Z.
    const SECS: u64 = 1_725_911_162;

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

    #[test]
    fn parses_utc_with_any_fraction() {
        let cases = [
            ("2024-09-09T19:46:02Z", 0),
            ("2024-09-09T19:46:02.1Z", 100_000),
            ("2024-09-09T19:46:02.12Z", 120_000),
            ("2024-09-09T19:46:02.102Z", 102_000),
            ("2024-09-09T19:46:02.1023Z", 102_300),
            ("2024-09-09T19:46:02.10234Z", 102_340),
            ("2024-09-09T19:46:02.102345Z", 102_345),
            ("2024-09-09T19:46:02.1023456Z", 102_345),
            ("2024-09-09T19:46:02.10234567Z", 102_345),
            ("2024-09-09T19:46:02.102345678Z", 102_345),
            ("2024-09-09T19:46:02.102345678901234567890Z", 102_345),
        ];
        for (s, micros) in cases {
            assert_eq!(parse_us(s), Some(SECS * 1_000_000 + micros), "{s}");
        }
    }

    #[test]
    fn parses_offsets() {
        let at = |s| parse_us(s).map(|us| us / 1_000_000);
        assert_eq!(at("2024-09-09T20:46:02+01:00"), Some(SECS));
        assert_eq!(at("2024-09-09T19:46:02+00:00"), Some(SECS));
        assert_eq!(at("2024-09-09T14:16:02-05:30"), Some(SECS));
        assert_eq!(at("2024-09-10T05:16:02.5+09:30"), Some(SECS));
        assert_eq!(at("1970-01-01T01:00:00+01:00"), Some(0));
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(parse_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_us("2000-02-29T00:00:00Z"), Some(951_782_400_000_000));
        assert_eq!(
            parse_us("2024-12-31T23:59:59.999999Z"),
            Some(1_735_689_599_999_999)
        );
        assert_eq!(parse_us("9999-12-31T23:59:59.999999Z"), Some(MAX_US));
        // A leap second is the next second.
        assert_eq!(
            parse_us("2016-12-31T23:59:60Z"),
            parse_us("2017-01-01T00:00:00Z")
        );
    }

    #[test]
    fn refuses_what_is_not_an_rfc_3339_time() {
        for s in [
            "",
            "2024",
            "2024-09-09",
            "2024-09-09T19:46:02",
            "2024-09-09T19:46Z",
            "2024-09-09 19:46:02Z",
            "2024-09-09t19:46:02Z",
            "2024-09-09T19:46:02z",
            "2024-09-09T19:46:02.Z",
            "2024-09-09T19:46:02.102",
            "2024-09-09T19:46:02.102ZZ",
            "2024-09-09T19:46:02.102Z ",
            " 2024-09-09T19:46:02.102Z",
            "2024-09-09T19:46:02+01",
            "2024-09-09T19:46:02+0100",
            "2024-09-09T19:46:02+24:00",
            "2024-09-09T19:46:02+01:60",
            "2024-09-09T19:46:02-00:00",
            "2024-13-09T19:46:02Z",
            "2024-00-09T19:46:02Z",
            "2024-09-00T19:46:02Z",
            "2024-09-31T19:46:02Z",
            "2023-02-29T19:46:02Z",
            "1900-02-29T19:46:02Z",
            "2024-09-09T24:00:00Z",
            "2024-09-09T19:60:02Z",
            "2024-09-09T19:46:61Z",
            "+2024-09-09T19:46:02Z",
            "12024-09-09T19:46:02Z",
            "2024-9-09T19:46:02.12Z",
            "2024-09-09T19:46:02.１Z",
            "２０24-09-09T19:46:02Z",
        ] {
            assert_eq!(parse_us(s), None, "{s:?}");
        }
    }

    #[test]
    fn refuses_times_before_the_epoch() {
        assert_eq!(parse_us("1969-12-31T23:59:59.999999Z"), None);
        assert_eq!(parse_us("1970-01-01T00:30:00+01:00"), None);
        assert_eq!(parse_us("0000-01-01T00:00:00Z"), None);
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(time_us in 0..=MAX_US) {
            prop_assert_eq!(parse_us(&format_us(time_us)), Some(time_us));
            prop_assert_eq!(
                parse_us(&format_ms(time_us)),
                Some(time_us / 1_000 * 1_000)
            );
        }

        #[test]
        fn any_string_is_parsed_or_refused(s in "\\PC{0,40}") {
            let _ = parse_us(&s);
        }

        #[test]
        fn almost_times_never_panic(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.0-9]{0,12}[Z+:0-9-]{0,7}") {
            let _ = parse_us(&s);
        }
    }
}
