//! Reading CloudTrail times. `eventTime` is ISO-8601 UTC (`2025-01-22T22:06:16Z`), sometimes with
//! fractional seconds; exports rename or reformat it (`@timestamp` with milliseconds, offsets,
//! a space instead of `T`). The fast path handles CloudTrail's own form without allocation.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Microseconds since the Unix epoch (UTC), or `None` if `s` is not a time we can read.
pub fn parse_event_time(s: &str) -> Option<i64> {
    fast_utc(s.as_bytes()).or_else(|| slow(s))
}

fn digits(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`.
fn fast_utc(b: &[u8]) -> Option<i64> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if *b.last()? != b'Z' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, sec) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    let mut micros = 0i64;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        if rest[0] != b'.' || rest.len() < 2 || rest.len() > 10 {
            return None;
        }
        let frac = &rest[1..];
        let v = digits(frac)?;
        micros = match frac.len() {
            n if n <= 6 => v * 10i64.pow(6 - n as u32),
            n => v / 10i64.pow(n as u32 - 6),
        };
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y as i32, mo as u32, d as u32)?;
    let days = i64::from(date.to_epoch_days());
    Some(days * MICROS_PER_DAY + ((h * 60 + mi) * 60 + sec) * 1_000_000 + micros)
}

fn slow(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    // Offsets without a colon, or a space separator with an offset.
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.timestamp_micros());
        }
    }
    // No zone at all: CloudTrail times are UTC.
    let naive = s.trim_end_matches(['Z', 'z']);
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_forms() {
        assert_eq!(parse_event_time("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_event_time("2025-01-22T22:06:16Z"), Some(1_737_583_576_000_000));
        assert_eq!(parse_event_time("2020-09-14T00:44:23.000Z"), Some(1_600_044_263_000_000));
        assert_eq!(parse_event_time("2020-09-14T00:44:23.5Z"), Some(1_600_044_263_500_000));
        assert_eq!(parse_event_time("2020-09-14T00:44:23.123456789Z"), Some(1_600_044_263_123_456));
        assert_eq!(parse_event_time("2020-09-14T02:44:23+02:00"), Some(1_600_044_263_000_000));
        assert_eq!(parse_event_time("2020-09-14 00:44:23"), Some(1_600_044_263_000_000));
        assert_eq!(parse_event_time("1969-12-31T23:59:59Z"), Some(-1_000_000));
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "yesterday", "2025-10-21TT00:52:27Z", "2025-13-01T00:00:00Z", "May 19, 2023, 1:49:50 PM"] {
            assert_eq!(parse_event_time(s), None, "{s}");
        }
    }
}
