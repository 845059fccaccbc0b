//! Timestamps as RFC 3339 UTC, from the system clock, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, to the second: `2026-12-05T18:16:29Z`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format_rfc3339(d.as_secs() as i64, None)
}

/// Now, to the millisecond: `2026-12-05T18:16:29.042Z`.
pub fn now_rfc3339_millis() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format_rfc3339(d.as_secs() as i64, Some(d.subsec_millis()))
}

/// Seconds since the Unix epoch (and optionally milliseconds) as RFC 3339
/// UTC.
pub fn format_rfc3339(secs: i64, millis: Option<u32>) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let frac = millis.map(|m| format!(".{m:03}")).unwrap_or_default();
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_rfc3339(0, None), "1970-01-01T00:00:00Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.
        assert_eq!(format_rfc3339(951_827_696, Some(7)), "2000-02-29T12:34:56.007Z");
        assert_eq!(format_rfc3339(4_102_444_799, None), "2099-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(-1, None), "1969-12-31T23:59:59Z");
        let t = now_rfc3339_millis();
        assert_eq!(t.len(), 24, "{t}");
        assert_eq!(now_rfc3339().len(), 20);
    }
}
