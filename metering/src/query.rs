//! Reading usage back from the rollups: per bucket, per meter, optionally grouped by subject,
//! region and service, with exact decimals (non-additive aggregations merged exactly).

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use sqlx::{PgPool, Row};

use crate::bucket::Granularity;
use crate::error::{MeteringError, Result};
use crate::event::{MeterCode, TenantId};
use crate::meter::{get_meter, list_meters, Aggregation, Meter};
use crate::rollup::DERIVED_SCALE;

/// Most buckets one query may span (35 days of 5-minute buckets is 10,080).
pub const MAX_QUERY_BUCKETS: i64 = 20_000;

/// A dimension usage can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKey {
    Subject,
    Region,
    Service,
}

impl GroupKey {
    pub fn column(self) -> &'static str {
        match self {
            GroupKey::Subject => "subject",
            GroupKey::Region => "region",
            GroupKey::Service => "service",
        }
    }

    /// Parses the contract's comma-separated `group_by` (empty string: no grouping).
    pub fn parse_list(raw: &str) -> Result<BTreeSet<GroupKey>> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(GroupKey::from_str)
            .collect()
    }
}

impl FromStr for GroupKey {
    type Err = MeteringError;
    fn from_str(raw: &str) -> Result<Self> {
        match raw {
            "subject" => Ok(GroupKey::Subject),
            "region" => Ok(GroupKey::Region),
            "service" => Ok(GroupKey::Service),
            _ => Err(MeteringError::invalid(
                "group_by",
                "may only contain subject, region, service",
            )),
        }
    }
}

/// What to read. Buckets overlapping `[from, to)` are returned.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub tenant: TenantId,
    /// `None`: every meter in the catalogue.
    pub meter: Option<MeterCode>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    /// Must be empty for `Granularity::Month` (months are per tenant and meter).
    pub group_by: BTreeSet<GroupKey>,
}

/// One bucket of one meter (and group, when grouped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// Bucket start (for months: the instant local midnight of the 1st in the tenant's zone).
    pub bucket: DateTime<Utc>,
    pub meter: MeterCode,
    /// The aggregated value in the meter's unit; exact except time-weighted values, which are
    /// rounded half-even to 12 decimal places.
    pub value: Decimal,
    pub unit: String,
    /// Present only when grouped by that key.
    pub subject: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
    pub event_count: i64,
    pub cost_usd: Decimal,
}

fn validate(q: &UsageQuery) -> Result<()> {
    if q.from >= q.to {
        return Err(MeteringError::invalid("from", "must be before `to`"));
    }
    let width = q.granularity.seconds().unwrap_or(28 * 86_400);
    if (q.to - q.from).num_seconds() / width > MAX_QUERY_BUCKETS {
        return Err(MeteringError::invalid(
            "to",
            format!("the range spans more than {MAX_QUERY_BUCKETS} buckets at this granularity"),
        ));
    }
    if q.granularity == Granularity::Month && !q.group_by.is_empty() {
        return Err(MeteringError::invalid(
            "group_by",
            "month rollups are per tenant and meter; group by subject, region or service at 5m, 1h or 1d",
        ));
    }
    Ok(())
}

/// Usage rows ordered by meter, bucket and group keys.
pub async fn usage(pool: &PgPool, q: &UsageQuery) -> Result<Vec<UsageRow>> {
    validate(q)?;
    let meters = match &q.meter {
        Some(code) => vec![get_meter(pool, code)
            .await?
            .ok_or_else(|| MeteringError::UnknownMeter(code.to_string()))?],
        None => list_meters(pool).await?,
    };
    let mut rows = Vec::new();
    for meter in &meters {
        rows.extend(meter_usage(pool, q, meter).await?);
    }
    Ok(rows)
}

fn value_expr(meter: &Meter, exact_unique: bool) -> &'static str {
    match meter.aggregation {
        Aggregation::Max => "max(value)",
        Aggregation::Latest => "(array_agg(value ORDER BY latest_time DESC, latest_id DESC))[1]",
        Aggregation::UniqueCount { .. } if !exact_unique => "NULL::numeric",
        _ => "sum(value)",
    }
}

async fn meter_usage(pool: &PgPool, q: &UsageQuery, meter: &Meter) -> Result<Vec<UsageRow>> {
    let keys: Vec<&str> = q.group_by.iter().map(|k| k.column()).collect();
    let key_list: String = keys.iter().map(|k| format!(", {k}")).collect();
    let all_keys = keys.len() == 3 || q.granularity == Granularity::Month;
    let (range, lower) = match q.granularity.seconds() {
        Some(width) => (
            "bucket > $3 AND bucket < $4",
            q.from - Duration::seconds(width),
        ),
        None => ("period_end > $3 AND bucket < $4", q.from),
    };
    let rollup = format!(
        "SELECT bucket{key_list}, {} AS value, sum(event_count)::int8 AS event_count, sum(cost_usd) AS cost_usd
         FROM {} WHERE tenant_id = $1 AND meter = $2 AND {range}
         GROUP BY bucket{key_list}",
        value_expr(meter, all_keys),
        q.granularity.table()
    );
    let sql = if matches!(meter.aggregation, Aggregation::UniqueCount { .. }) && !all_keys {
        // Distinct values do not add up across groups: count them from the exact sets.
        format!(
            "WITH r AS ({rollup}), u AS (
                 SELECT bucket{key_list}, count(DISTINCT value)::numeric AS value FROM metering_unique_values
                 WHERE grain = $5 AND tenant_id = $1 AND meter = $2 AND bucket > $3 AND bucket < $4
                 GROUP BY bucket{key_list})
             SELECT r.bucket{key_list}, COALESCE(u.value, 0) AS value, r.event_count, r.cost_usd
             FROM r LEFT JOIN u USING (bucket{key_list}) ORDER BY bucket{key_list}"
        )
    } else {
        format!("{rollup} ORDER BY bucket{key_list}")
    };
    let rows = sqlx::query(&sql)
        .bind(q.tenant.as_str())
        .bind(meter.code.as_str())
        .bind(lower)
        .bind(q.to)
        .bind(q.granularity.code())
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| to_usage_row(r, q, meter)).collect()
}

fn to_usage_row(r: &sqlx::postgres::PgRow, q: &UsageQuery, meter: &Meter) -> Result<UsageRow> {
    let key = |k: GroupKey| -> Result<Option<String>> {
        if q.group_by.contains(&k) {
            Ok(Some(r.try_get(k.column())?))
        } else {
            Ok(None)
        }
    };
    let raw: Decimal = r.try_get("value")?;
    let value = match meter.aggregation {
        Aggregation::TimeWeighted { per_seconds, .. } => raw
            .checked_div(Decimal::from(per_seconds))
            .ok_or(MeteringError::Overflow("a time-weighted value"))?
            .round_dp_with_strategy(DERIVED_SCALE, RoundingStrategy::MidpointNearestEven),
        _ => raw,
    };
    Ok(UsageRow {
        bucket: r.try_get("bucket")?,
        meter: meter.code.clone(),
        value: value.normalize(),
        unit: meter.unit.clone(),
        subject: key(GroupKey::Subject)?,
        region: key(GroupKey::Region)?,
        service: key(GroupKey::Service)?,
        event_count: r.try_get("event_count")?,
        cost_usd: r.try_get::<Decimal, _>("cost_usd")?.normalize(),
    })
}
