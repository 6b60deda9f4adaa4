//! Time buckets: fixed UTC grains (5 min, 1 h, 1 day) and calendar months in a tenant's
//! IANA time zone, whose boundaries are local midnight on the 1st.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{MeteringError, Result};

/// A rollup grain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    FiveMinutes,
    Hour,
    Day,
    /// Calendar month in the tenant's time zone; rollups at this grain are per tenant and meter.
    Month,
}

impl Granularity {
    /// The fixed grains, in the order the write path updates them.
    pub const FIXED: [Granularity; 3] = [
        Granularity::FiveMinutes,
        Granularity::Hour,
        Granularity::Day,
    ];

    /// The contract's spelling: `5m`, `1h`, `1d`, `month`.
    pub fn code(self) -> &'static str {
        match self {
            Granularity::FiveMinutes => "5m",
            Granularity::Hour => "1h",
            Granularity::Day => "1d",
            Granularity::Month => "month",
        }
    }

    /// Width in seconds of a fixed grain (`None` for months).
    pub fn seconds(self) -> Option<i64> {
        match self {
            Granularity::FiveMinutes => Some(300),
            Granularity::Hour => Some(3_600),
            Granularity::Day => Some(86_400),
            Granularity::Month => None,
        }
    }

    pub(crate) fn table(self) -> &'static str {
        match self {
            Granularity::FiveMinutes => "metering_rollup_5m",
            Granularity::Hour => "metering_rollup_1h",
            Granularity::Day => "metering_rollup_1d",
            Granularity::Month => "metering_rollup_month",
        }
    }
}

impl FromStr for Granularity {
    type Err = MeteringError;

    fn from_str(raw: &str) -> Result<Self> {
        match raw {
            "5m" => Ok(Granularity::FiveMinutes),
            "1h" => Ok(Granularity::Hour),
            "1d" => Ok(Granularity::Day),
            "month" => Ok(Granularity::Month),
            _ => Err(MeteringError::invalid(
                "granularity",
                "must be one of 5m, 1h, 1d, month",
            )),
        }
    }
}

/// The start of the fixed-grain bucket holding `time`.
pub fn bucket_start(time: DateTime<Utc>, width_seconds: i64) -> DateTime<Utc> {
    let secs = time.timestamp().div_euclid(width_seconds) * width_seconds;
    DateTime::from_timestamp(secs, 0).unwrap_or(time)
}

/// A calendar month in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MonthPeriod {
    /// The local first day of the month.
    pub month: NaiveDate,
    /// The instant local midnight of the 1st happens.
    pub start: DateTime<Utc>,
    /// The instant the next month starts.
    pub end: DateTime<Utc>,
}

/// Local midnight of `day` in `tz`; where midnight falls in a DST gap, the first instant after it.
fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut naive = day.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&naive).earliest() {
            return t.with_timezone(&Utc);
        }
        naive += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

/// The month (in `tz`) that holds `time`.
pub fn month_period(tz: Tz, time: DateTime<Utc>) -> MonthPeriod {
    let local = time.with_timezone(&tz).date_naive();
    let month = local.with_day(1).unwrap_or(local);
    let next = if month.month() == 12 {
        NaiveDate::from_ymd_opt(month.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(month.year(), month.month() + 1, 1)
    }
    .unwrap_or(month);
    MonthPeriod {
        month,
        start: local_midnight(tz, month),
        end: local_midnight(tz, next),
    }
}

/// Parses a tenant's IANA zone name; unknown or missing names fall back to UTC.
pub fn tenant_zone(name: Option<&str>) -> Tz {
    name.and_then(|n| n.parse::<Tz>().ok()).unwrap_or(Tz::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn check(zone: &str, time: &str, month: &str, start: &str, end: &str) {
        let p = month_period(tenant_zone(Some(zone)), utc(time));
        assert_eq!(p.month.to_string(), month, "{zone} {time}");
        assert_eq!(p.start, utc(start), "{zone} {time}");
        assert_eq!(p.end, utc(end), "{zone} {time}");
    }

    #[test]
    fn months_follow_the_tenant_zone_across_dst() {
        check(
            "UTC",
            "2026-11-21T10:00:00Z",
            "2026-11-01",
            "2026-11-01T00:00:00Z",
            "2026-12-01T00:00:00Z",
        );
        check(
            "Asia/Kolkata",
            "2026-10-31T19:00:00Z",
            "2026-11-01",
            "2026-10-31T18:30:00Z",
            "2026-11-30T18:30:00Z",
        );
        check(
            "Asia/Kolkata",
            "2026-10-31T18:00:00Z",
            "2026-10-01",
            "2026-09-30T18:30:00Z",
            "2026-10-31T18:30:00Z",
        );
        // US DST ends 2026-11-01: October starts at UTC-4, November at UTC-4 (midnight precedes 02:00).
        check(
            "America/New_York",
            "2026-11-01T03:59:00Z",
            "2026-10-01",
            "2026-10-01T04:00:00Z",
            "2026-11-01T04:00:00Z",
        );
        check(
            "America/New_York",
            "2026-12-01T04:59:00Z",
            "2026-11-01",
            "2026-11-01T04:00:00Z",
            "2026-12-01T05:00:00Z",
        );
        check(
            "Europe/Berlin",
            "2026-03-31T22:30:00Z",
            "2026-04-01",
            "2026-03-31T22:00:00Z",
            "2026-04-30T22:00:00Z",
        );
        check(
            "Pacific/Auckland",
            "2026-12-31T11:00:00Z",
            "2027-01-01",
            "2026-12-31T11:00:00Z",
            "2027-01-31T11:00:00Z",
        );
    }

    #[test]
    fn fixed_buckets_floor() {
        let t = utc("2026-11-21T10:07:59Z");
        assert_eq!(bucket_start(t, 300), utc("2026-11-21T10:05:00Z"));
        assert_eq!(bucket_start(t, 3600), utc("2026-11-21T10:00:00Z"));
        assert_eq!(bucket_start(t, 86400), utc("2026-11-21T00:00:00Z"));
    }
}
