//! Event time for correlations: the timestamp text a match carries, as epoch milliseconds.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Below this, an integer timestamp is read as epoch seconds, above as milliseconds:
/// 10^11 seconds is the year 5138, 10^11 milliseconds is March 1973, so the two ranges of
/// real data do not meet.
const SECONDS_LIMIT: i64 = 100_000_000_000;

/// Parse a timestamp as the readers write it: RFC 3339 with an offset or `Z` (`@timestamp`,
/// EVTX `TimeCreated_SystemTime` with 7 fraction digits), a date and time without an offset
/// (Sysmon `UtcTime` `2024-01-01 10:00:00.123`, taken as UTC, which is what Windows writes
/// there), or an integer count of epoch seconds or milliseconds. `None` for anything else.
pub(crate) fn parse_millis(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return if n.unsigned_abs() < SECONDS_LIMIT as u64 {
            n.checked_mul(1000)
        } else {
            Some(n)
        };
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let dt = t.parse::<DateTime>().ok()?;
    dt.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// Epoch milliseconds as RFC 3339 UTC, for report windows.
pub(crate) fn format_millis(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.to_string(),
        // Out of jiff's range only for values no parsed timestamp produces.
        Err(_) => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: i64 = 1_704_103_200_000; // 2024-01-01T10:00:00Z

    #[test]
    fn reads_the_formats_event_sources_write() {
        assert_eq!(parse_millis("2024-01-01T10:00:00Z"), Some(BASE));
        assert_eq!(parse_millis("2024-01-01T10:00:00.250Z"), Some(BASE + 250));
        assert_eq!(parse_millis("2024-01-01T11:00:00+01:00"), Some(BASE));
        assert_eq!(
            parse_millis("2024-01-01T10:00:00.1234567Z"),
            Some(BASE + 123)
        );
        assert_eq!(parse_millis("2024-01-01 10:00:00.500"), Some(BASE + 500));
        assert_eq!(parse_millis("2024-01-01T10:00:00"), Some(BASE));
        assert_eq!(parse_millis("1704103200"), Some(BASE));
        assert_eq!(parse_millis("1704103200000"), Some(BASE));
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for t in [
            "",
            "  ",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "10:00",
            "9223372036854775807x",
        ] {
            assert_eq!(parse_millis(t), None, "{t}");
        }
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_millis(BASE), "2024-01-01T10:00:00Z");
        assert_eq!(format_millis(BASE + 5), "2024-01-01T10:00:00.005Z");
    }
}
