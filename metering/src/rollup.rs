//! Pre-aggregation of a batch's newly inserted events into one row per bucket key, so the
//! write path issues one upsert per bucket, never one per event. Merging here follows the same
//! rules as the SQL `ON CONFLICT DO UPDATE` (see `store.rs`), so the order of batches is moot.

use std::collections::BTreeSet;

use foldhash::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use crate::bucket::{bucket_start, Granularity, MonthPeriod};
use crate::error::{MeteringError, Result};
use crate::event::UsageEvent;
use crate::meter::{Aggregation, Meter};

/// Decimal places kept when a derived amount (time-weighted cost) needs a division.
pub const DERIVED_SCALE: u32 = 12;

/// The 5 min bucket width in seconds.
const FIVE_MINUTES: i64 = 300;

/// A bucket's aggregate: the rollup row's mergeable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketAgg<'a> {
    pub aggregation: &'static str,
    pub value: Decimal,
    pub event_count: i64,
    pub cost_usd: Decimal,
    pub latest_time: DateTime<Utc>,
    pub latest_id: &'a str,
}

impl<'a> BucketAgg<'a> {
    fn merge(&mut self, other: &BucketAgg<'a>) -> Result<()> {
        let newer = (other.latest_time, other.latest_id) > (self.latest_time, self.latest_id);
        self.value = match self.aggregation {
            "max" => self.value.max(other.value),
            "latest" if newer => other.value,
            "latest" => self.value,
            _ => add(self.value, other.value)?,
        };
        if newer {
            self.latest_time = other.latest_time;
            self.latest_id = other.latest_id;
        }
        self.event_count += other.event_count;
        self.cost_usd = add(self.cost_usd, other.cost_usd)?;
        Ok(())
    }
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_add(b)
        .ok_or(MeteringError::Overflow("a rollup value"))
}

fn mul(a: Decimal, b: Decimal) -> Result<Decimal> {
    a.checked_mul(b)
        .ok_or(MeteringError::Overflow("a rollup value"))
}

/// Key of a 5m / 1h / 1d rollup row; ordered like the tables' primary keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FixedKey<'a> {
    pub grain: Granularity,
    pub tenant: &'a str,
    pub meter: &'a str,
    pub bucket: DateTime<Utc>,
    pub subject: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// Key of a month rollup row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct MonthKey<'a> {
    pub tenant: &'a str,
    pub meter: &'a str,
    pub month: NaiveDate,
}

/// One member of a unique_count set (grain `month` has empty subject/region/service).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct UniqueMember<'a> {
    pub grain: Granularity,
    pub tenant: &'a str,
    pub meter: &'a str,
    pub bucket: DateTime<Utc>,
    pub subject: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub value: String,
}

/// What one newly inserted event contributes, with its attribution resolved.
pub(crate) struct Attributed<'a> {
    pub event: &'a UsageEvent,
    pub meter: &'a Meter,
    pub region: &'a str,
    pub month: MonthPeriod,
    pub timezone: &'a str,
}

/// Everything a batch adds to the rollups, keyed (hashed while a batch accumulates; the
/// upserts sort the keys, and that sort is the lock order).
#[derive(Default)]
pub(crate) struct Aggregates<'a> {
    pub fixed: HashMap<FixedKey<'a>, BucketAgg<'a>>,
    pub months: HashMap<MonthKey<'a>, (MonthPeriod, &'a str, BucketAgg<'a>)>,
    pub uniques: BTreeSet<UniqueMember<'a>>,
}

/// The event's contribution to a bucket value, and its cost in USD.
pub(crate) fn contribution(event: &UsageEvent, meter: &Meter) -> Result<(Decimal, Decimal)> {
    let q = event.quantity.value();
    let rate = meter.cost_per_unit_usd;
    let (value, default_cost) = match &meter.aggregation {
        Aggregation::Sum => (q, mul(rate, q)?),
        Aggregation::Count => (Decimal::ONE, rate),
        Aggregation::Max | Aggregation::Latest => (q, Decimal::ZERO),
        Aggregation::UniqueCount { .. } => (Decimal::ZERO, Decimal::ZERO),
        Aggregation::TimeWeighted {
            sample_seconds,
            per_seconds,
        } => {
            let unit_seconds = mul(q, Decimal::from(*sample_seconds))?;
            let units = unit_seconds
                .checked_div(Decimal::from(*per_seconds))
                .ok_or(MeteringError::Overflow("a time-weighted cost"))?;
            let cost = mul(rate, units)?
                .round_dp_with_strategy(DERIVED_SCALE, RoundingStrategy::MidpointNearestEven);
            (unit_seconds, cost)
        }
    };
    Ok((value, event.cost_usd().unwrap_or(default_cost)))
}

/// The value a unique_count meter counts for this event, if it has one.
fn unique_value(event: &UsageEvent, property: Option<&str>) -> Option<String> {
    let raw = match property {
        None => return (!event.subject.is_empty()).then(|| event.subject.clone()),
        Some(p) => event.properties().get(p)?,
    };
    match raw {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl<'a> Aggregates<'a> {
    pub fn add(&mut self, a: &Attributed<'a>) -> Result<()> {
        let e = a.event;
        let (value, cost_usd) = contribution(e, a.meter)?;
        let agg = BucketAgg {
            aggregation: a.meter.aggregation.code(),
            value,
            event_count: 1,
            cost_usd,
            latest_time: e.time,
            latest_id: e.id.as_str(),
        };
        let unique = match &a.meter.aggregation {
            Aggregation::UniqueCount { property } => unique_value(e, property.as_deref()),
            _ => None,
        };
        let (tenant, meter, service) = (e.tenant.as_str(), e.meter.as_str(), e.service());
        // Only the 5 min row per event; `fold_coarser` derives the 1 h and 1 d rows from them.
        let key = FixedKey {
            grain: Granularity::FiveMinutes,
            tenant,
            meter,
            bucket: bucket_start(e.time, FIVE_MINUTES),
            subject: &e.subject,
            region: a.region,
            service,
        };
        merge_into(&mut self.fixed, key, &agg)?;
        for grain in Granularity::FIXED {
            let bucket = bucket_start(e.time, grain.seconds().unwrap_or(86_400));
            if let Some(v) = &unique {
                self.uniques.insert(UniqueMember {
                    grain,
                    tenant,
                    meter,
                    bucket,
                    subject: &e.subject,
                    region: a.region,
                    service,
                    value: v.clone(),
                });
            }
        }
        let key = MonthKey {
            tenant,
            meter,
            month: a.month.month,
        };
        match self.months.get_mut(&key) {
            Some((_, _, existing)) => existing.merge(&agg)?,
            None => {
                self.months.insert(key, (a.month, a.timezone, agg));
            }
        }
        if let Some(v) = unique {
            self.uniques.insert(UniqueMember {
                grain: Granularity::Month,
                tenant,
                meter,
                bucket: a.month.start,
                subject: "",
                region: "",
                service: "",
                value: v,
            });
        }
        Ok(())
    }

    /// Adds the 1 h and 1 d rows, each the merge of the batch's 5 min rows inside it. Buckets
    /// nest (all are floored from the epoch) and every merge is associative and commutative
    /// (sums, max, the latest by time and id), so this equals merging event by event, with
    /// one map operation per 5 min row instead of two per event. Call once, after the last
    /// `add` and before the unique counts are added.
    pub fn fold_coarser(&mut self) -> Result<()> {
        let fine: Vec<(FixedKey<'a>, BucketAgg<'a>)> = self
            .fixed
            .iter()
            .filter(|(k, _)| k.grain == Granularity::FiveMinutes)
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        for (k, agg) in fine {
            for grain in [Granularity::Hour, Granularity::Day] {
                let key = FixedKey {
                    grain,
                    bucket: bucket_start(k.bucket, grain.seconds().unwrap_or(86_400)),
                    ..k.clone()
                };
                merge_into(&mut self.fixed, key, &agg)?;
            }
        }
        Ok(())
    }

    /// Adds `count` values new to the set of the bucket a unique member belongs to. The member
    /// came from this batch, so its bucket is always present.
    pub fn add_new_uniques(&mut self, member: &UniqueMember<'a>, count: i64) -> Result<()> {
        let slot = if member.grain == Granularity::Month {
            self.months
                .iter_mut()
                .find(|(k, (p, _, _))| {
                    k.tenant == member.tenant && k.meter == member.meter && p.start == member.bucket
                })
                .map(|(_, (_, _, agg))| agg)
        } else {
            let key = FixedKey {
                grain: member.grain,
                tenant: member.tenant,
                meter: member.meter,
                bucket: member.bucket,
                subject: member.subject,
                region: member.region,
                service: member.service,
            };
            self.fixed.get_mut(&key)
        };
        debug_assert!(
            slot.is_some(),
            "unique member without a bucket in the batch"
        );
        if let Some(agg) = slot {
            agg.value = add(agg.value, Decimal::from(count))?;
        }
        Ok(())
    }
}

fn merge_into<'a>(
    map: &mut HashMap<FixedKey<'a>, BucketAgg<'a>>,
    key: FixedKey<'a>,
    agg: &BucketAgg<'a>,
) -> Result<()> {
    match map.get_mut(&key) {
        Some(existing) => existing.merge(agg),
        None => {
            map.insert(key, agg.clone());
            Ok(())
        }
    }
}
