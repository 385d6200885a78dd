//! Timestamps: Unix seconds (or milliseconds and finer, recognised by magnitude), RFC 3339,
//! and plain UTC date-times or dates.

use std::str::FromStr;

/// Parses a timestamp to Unix seconds (UTC).
///
/// Accepted, in order: an integer (seconds; with 12–14 digits milliseconds, 15–17
/// microseconds, 18+ nanoseconds — every real shop log in seconds has at most 11), a decimal
/// number of seconds (floored), RFC 3339 (`2024-05-01T12:00:00Z`, any offset), a date-time
/// without offset taken as UTC (`2024-05-01 12:00:00` or with `T`), a date (`2024-05-01`,
/// midnight UTC).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(n) = text.parse::<i64>() {
        let magnitude = n.unsigned_abs();
        return Some(match magnitude {
            0..100_000_000_000 => n,
            100_000_000_000..100_000_000_000_000 => n.div_euclid(1_000),
            100_000_000_000_000..100_000_000_000_000_000 => n.div_euclid(1_000_000),
            _ => n.div_euclid(1_000_000_000),
        });
    }
    let first = text.as_bytes()[0];
    if (first.is_ascii_digit() || first == b'-')
        && let Ok(f) = text.parse::<f64>()
        && f.is_finite()
        && f.abs() < 1e11
        && !text.contains(['e', 'E'])
    {
        return Some(f.floor() as i64);
    }
    if let Ok(ts) = jiff::Timestamp::from_str(text) {
        return Some(ts.as_second());
    }
    if let Ok(dt) = jiff::civil::DateTime::from_str(text) {
        return jiff::tz::TimeZone::UTC
            .to_timestamp(dt)
            .ok()
            .map(|t| t.as_second());
    }
    if let Ok(date) = jiff::civil::Date::from_str(text) {
        return jiff::tz::TimeZone::UTC
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .ok()
            .map(|t| t.as_second());
    }
    None
}

/// Unix seconds as RFC 3339 UTC (`1970-01-01T00:00:00Z`), or the number itself if out of range.
pub fn format_timestamp(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_timestamp("881250949"), Some(881_250_949));
        assert_eq!(parse_timestamp("1433221332117"), Some(1_433_221_332));
        assert_eq!(parse_timestamp("12.9"), Some(12));
        assert_eq!(parse_timestamp("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_timestamp("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp("1970-01-02 00:00:00"), Some(86_400));
        assert_eq!(parse_timestamp("1970-01-02"), Some(86_400));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("1e9"), None);
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(format_timestamp(60), "1970-01-01T00:01:00Z");
    }
}
