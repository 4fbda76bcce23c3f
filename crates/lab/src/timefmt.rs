//! Wall-clock formatting: journal-style `Nov 26 00:40:01.123` timestamps
//! (UTC), on `common::log`'s calendar (jiff).

use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mon DD HH:MM:SS.mmm` (UTC) for a time since the epoch in milliseconds.
pub fn journal_stamp_ms(ms: u128) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    let dt = common::log::utc_datetime(secs);
    format!(
        "{} {:02} {:02}:{:02}:{:02}.{:03}",
        MONTHS[usize::from(dt.month().unsigned_abs()).saturating_sub(1) % 12],
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        ms % 1000
    )
}

/// [`journal_stamp_ms`] of now.
pub fn now_stamp() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    journal_stamp_ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::log::civil_from_days;

    #[test]
    fn formats_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(journal_stamp_ms(0), "Jan 01 00:00:00.000");
        // 2026-11-26 00:40:01.123 UTC
        assert_eq!(journal_stamp_ms(1_795_653_601_123), "Nov 26 00:40:01.123");
    }
}
