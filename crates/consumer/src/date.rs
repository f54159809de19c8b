//! Calendar dates without a time zone, for birth dates and days of limits.

use std::fmt;

/// A valid Gregorian calendar date.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse_iso(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || !text.is_ascii() || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        Date::new(
            number(&text[0..4])?,
            number(&text[5..7])?,
            number(&text[8..10])?,
        )
    }

    /// Parses `YYYYMMDD`, as in a resident ID number.
    pub fn parse_compact(text: &str) -> Option<Date> {
        // ASCII first: the byte offsets below must fall between characters.
        if text.len() != 8 || !text.is_ascii() {
            return None;
        }
        Date::new(
            number(&text[0..4])?,
            number(&text[4..6])?,
            number(&text[6..8])?,
        )
    }

    /// The date of `days` since 1970-01-01 (Howard Hinnant's civil-from-days).
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u8;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        } as u8;
        let year = (year_of_era + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }

    /// Days since 1970-01-01 (Howard Hinnant's days-from-civil): the inverse of
    /// [`Date::from_days_since_epoch`].
    pub fn days_since_epoch(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let month = i64::from(self.month);
        let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5
            + i64::from(self.day)
            - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The first nanosecond of this day in China (UTC+8), if it is representable in
    /// nanoseconds since 1970 as a `u64` (1970-01-02 to 2554).
    pub fn china_start_ns(self) -> Option<u64> {
        const OFFSET_NS: i64 = 8 * 3600 * 1_000_000_000;
        self.days_since_epoch()
            .checked_mul(86_400 * 1_000_000_000)?
            .checked_sub(OFFSET_NS)
            .and_then(|ns| u64::try_from(ns).ok())
    }

    /// The calendar day in China (UTC+8, no daylight saving) at `unix_ns`: the day limits
    /// reset on.
    pub fn china_day(unix_ns: u64) -> Date {
        const CHINA_OFFSET_SECS: u64 = 8 * 3600;
        let secs = unix_ns / 1_000_000_000 + CHINA_OFFSET_SECS;
        Date::from_days_since_epoch((secs / 86_400) as i64)
    }

    pub fn year(self) -> u16 {
        self.year
    }

    pub fn month(self) -> u8 {
        self.month
    }

    pub fn day(self) -> u8 {
        self.day
    }

    /// Whole years from `self` to `on` (an age).
    pub fn years_until(self, on: Date) -> i32 {
        let mut years = i32::from(on.year) - i32::from(self.year);
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// RFC 3339 in UTC with nanoseconds, from nanoseconds since the Unix epoch:
/// `2026-11-24T17:47:31.967901123Z`.
pub fn rfc3339(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let nanos = ns % 1_000_000_000;
    let date = Date::from_days_since_epoch((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!(
        "{date}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// China time (UTC+8) to the minute, for messages people read: `2026-12-06 00:35 (UTC+8)`.
pub fn china_time(ns: u64) -> String {
    const OFFSET_SECS: u64 = 8 * 3600;
    let secs = ns / 1_000_000_000 + OFFSET_SECS;
    let date = Date::from_days_since_epoch((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!("{date} {:02}:{:02} (UTC+8)", rest / 3600, rest / 60 % 60)
}

/// The first nanosecond of the China day (UTC+8) that contains `unix_ns`.
pub fn china_day_start_ns(unix_ns: u64) -> u64 {
    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    const OFFSET_NS: u64 = 8 * 3600 * 1_000_000_000;
    ((unix_ns + OFFSET_NS) / DAY_NS * DAY_NS).saturating_sub(OFFSET_NS)
}

fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod days_tests {
    use super::*;

    #[test]
    fn days_round_trip_and_china_days_start_at_16_utc() {
        for days in [-1_000, 0, 1, 59, 60, 365, 10_957, 20_416, 20_781, 40_000] {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
        let day = Date::new(2026, 11, 24).unwrap();
        // 2026-11-24 00:00 in China is 2026-11-23 16:00 UTC.
        let start = day.china_start_ns().unwrap();
        assert_eq!(start, 1_795_449_600_000_000_000);
        assert_eq!(Date::china_day(start), day);
        assert_eq!(Date::china_day(start - 1), Date::new(2026, 11, 23).unwrap());
        assert_eq!(Date::new(3000, 1, 1).unwrap().china_start_ns(), None);
        assert_eq!(Date::new(1960, 1, 1).unwrap().china_start_ns(), None);
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            rfc3339(1_795_542_451_967_901_123),
            "2026-11-24T17:47:31.967901123Z"
        );
    }

    #[test]
    fn multibyte_text_is_no_date() {
        assert_eq!(Date::parse_compact("199é001"), None); // 8 bytes, é across byte 4
        assert_eq!(Date::parse_iso("2026-é1-01"), None);
    }

    #[test]
    fn china_time_reads_as_a_wall_clock() {
        // 2026-12-05T16:35:18Z is 00:35 the next day in China.
        assert_eq!(
            china_time(1_796_488_518_632_347_454),
            "2026-12-06 00:35 (UTC+8)"
        );
    }

    #[test]
    fn china_days_start_at_utc_sixteen() {
        // 2026-11-24T17:47Z is 01:47 on the 25th in China; that day began at 16:00Z on the 24th.
        let now = 1_795_542_451_967_901_123;
        let start = china_day_start_ns(now);
        assert_eq!(rfc3339(start), "2026-11-24T16:00:00.000000000Z");
        assert_eq!(Date::china_day(start), Date::china_day(now));
        assert_ne!(Date::china_day(start - 1), Date::china_day(now));
    }
    use super::*;

    #[test]
    fn validates_calendar_dates() {
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2023, 4, 31).is_none());
        assert_eq!(Date::parse_iso("1949-12-31"), Date::new(1949, 12, 31));
        assert_eq!(Date::parse_iso("1949-13-01"), None);
        assert_eq!(Date::parse_iso("1949-1-01"), None);
        assert_eq!(Date::parse_compact("19491231"), Date::new(1949, 12, 31));
        assert_eq!(Date::parse_compact("1949123a"), None);
    }

    #[test]
    fn days_and_china_time() {
        assert_eq!(
            Date::from_days_since_epoch(0),
            Date::new(1970, 1, 1).unwrap()
        );
        assert_eq!(
            Date::from_days_since_epoch(11_016),
            Date::new(2000, 2, 29).unwrap()
        );
        // 2026-11-24 16:30 UTC is already 2026-11-25 00:30 in Hangzhou.
        let ns = 1_795_537_800 * 1_000_000_000;
        assert_eq!(Date::china_day(ns), Date::new(2026, 11, 25).unwrap());
        let birthday = Date::new(2000, 11, 25).unwrap();
        assert_eq!(birthday.years_until(Date::new(2026, 11, 24).unwrap()), 25);
        assert_eq!(birthday.years_until(Date::new(2026, 11, 25).unwrap()), 26);
    }
}
