//! THE write path, shared by HTTP and Kafka: one transaction per batch that claims dedupe
//! keys, writes raw events and updates every rollup from exactly the newly inserted rows.

use foldhash::{HashMap, HashMapExt};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};

use crate::bucket::{month_period, tenant_zone, MonthPeriod};
use crate::error::{MeteringError, Result};
use crate::event::{FieldError, UsageEvent};
use crate::meter::{meters_by_code, Meter};
use crate::rollup::{Aggregates, Attributed};
use crate::store::{self, ParkedRow, RawRow};

/// Largest batch `ingest_batch` takes (HTTP sends at most 1,000; Kafka batches are bounded
/// by the consumer's `max_batch_events`).
pub const MAX_BATCH_EVENTS: usize = 100_000;

/// Why a valid event was parked instead of counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkReason {
    UnknownTenant,
    UnknownMeter,
}

impl ParkReason {
    /// Stable snake_case code (`unknown_tenant`, `unknown_meter`).
    pub fn code(self) -> &'static str {
        match self {
            ParkReason::UnknownTenant => "unknown_tenant",
            ParkReason::UnknownMeter => "unknown_meter",
        }
    }
}

/// What happened to one input event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Counted now, for the first time.
    Accepted,
    /// Its `(tenant, id)` was counted before (or earlier in this batch): not counted again.
    Duplicate,
    /// Kept in `metering_parked` with a readable reason; not counted.
    Parked(ParkReason),
}

/// Per-input-index outcomes of one batch, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub outcomes: Vec<EventOutcome>,
}

impl BatchOutcome {
    fn count(&self, f: impl Fn(&EventOutcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(o)).count()
    }
    pub fn accepted(&self) -> usize {
        self.count(|o| *o == EventOutcome::Accepted)
    }
    pub fn duplicates(&self) -> usize {
        self.count(|o| *o == EventOutcome::Duplicate)
    }
    pub fn parked(&self) -> usize {
        self.count(|o| matches!(o, EventOutcome::Parked(_)))
    }
}

/// One newly counted event as the rollups saw it, handed to a [`BatchHook`].
#[derive(Debug, Clone)]
pub struct CountedUsage<'a> {
    pub tenant: &'a str,
    pub meter: &'a str,
    /// The meter's aggregation code (`sum`, `count`, `max`, …).
    pub aggregation: &'static str,
    /// What the event added to a summable bucket (`count`: 1; time-weighted: unit-seconds).
    pub value: Decimal,
    /// Real provider cost in USD (the event's `cost`, else the meter's rate).
    pub cost_usd: Decimal,
    pub time: DateTime<Utc>,
    /// The tenant's IANA time zone.
    pub timezone: &'a str,
}

/// Work that must commit or roll back together with a batch's rollups (rating and wallet
/// debits). It runs inside the batch transaction after the rollups are written; an error
/// rolls the whole batch back, so the caller retries it as a unit.
pub trait BatchHook: Send + Sync {
    fn after_rollups<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        counted: &'c [CountedUsage<'c>],
    ) -> BoxFuture<'c, Result<()>>;
}

struct TenantInfo {
    /// Parsed once per batch, not once per event.
    zone: chrono_tz::Tz,
    region: String,
    timezone: String,
}

/// Ingests a batch in one transaction. On error nothing was written (retry the batch as is);
/// on success every event is accepted, a duplicate, or parked.
pub async fn ingest_batch(pool: &PgPool, events: &[UsageEvent]) -> Result<BatchOutcome> {
    ingest_batch_with(pool, events, None).await
}

/// [`ingest_batch`] with a hook that runs in the batch transaction (see [`BatchHook`]).
pub async fn ingest_batch_with(
    pool: &PgPool,
    events: &[UsageEvent],
    hook: Option<&dyn BatchHook>,
) -> Result<BatchOutcome> {
    if events.len() > MAX_BATCH_EVENTS {
        return Err(MeteringError::BatchTooLarge {
            len: events.len(),
            max: MAX_BATCH_EVENTS,
        });
    }
    if events.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let t0 = std::time::Instant::now();
    let mut conn = pool.acquire().await?;
    let acquired = t0.elapsed();
    // Partition DDL commits on its own, so the batch transaction never holds its locks.
    store::ensure_partitions(&mut conn, &months_of(events)).await?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let began = t0.elapsed();
    let outcome = ingest_in_transaction_with(&mut tx, events, hook).await?;
    let body = t0.elapsed();
    tx.commit().await?;
    tracing::debug!(
        events = events.len(),
        acquire_us = acquired.as_micros() as u64,
        begin_us = (began - acquired).as_micros() as u64,
        body_us = (body - began).as_micros() as u64,
        commit_us = (t0.elapsed() - body).as_micros() as u64,
        "ingest_batch"
    );
    Ok(outcome)
}

/// The UTC months (raw partitions) a batch's events fall in, sorted. A batch spans one month
/// or a few: each event is tested against the months already found (two timestamp
/// comparisons each), and only an event outside them is converted to a calendar date.
fn months_of(events: &[UsageEvent]) -> Vec<NaiveDate> {
    let mut found: Vec<(DateTime<Utc>, DateTime<Utc>, NaiveDate)> = Vec::new();
    for e in events {
        if found
            .iter()
            .any(|(lo, hi, _)| *lo <= e.time && e.time < *hi)
        {
            continue;
        }
        let Some(month) = NaiveDate::from_ymd_opt(e.time.year(), e.time.month(), 1) else {
            continue;
        };
        let start = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
        let end = month
            .checked_add_months(chrono::Months::new(1))
            .map_or(DateTime::<Utc>::MAX_UTC, start);
        found.push((start(month), end, month));
    }
    let mut months: Vec<NaiveDate> = found.into_iter().map(|(_, _, m)| m).collect();
    months.sort_unstable();
    months
}

/// The write path inside a caller's transaction (the caller commits; the dedupe claim uses a
/// savepoint, so `conn` must be in a transaction). Raw-event partitions for the batch's months
/// must exist; `ingest_batch` sees to that.
pub async fn ingest_in_transaction(
    conn: &mut PgConnection,
    events: &[UsageEvent],
) -> Result<BatchOutcome> {
    ingest_in_transaction_with(conn, events, None).await
}

/// [`ingest_in_transaction`] with a hook that runs after the rollups (see [`BatchHook`]).
pub async fn ingest_in_transaction_with(
    conn: &mut PgConnection,
    events: &[UsageEvent],
    hook: Option<&dyn BatchHook>,
) -> Result<BatchOutcome> {
    let mut outcomes = vec![EventOutcome::Duplicate; events.len()];
    // Sorted in the dedupe index's order, (id, tenant): concurrent batches claim keys in one
    // global order and cannot deadlock (and the B-tree takes sorted keys faster). Keys sort
    // with their index, so the first copy of each (tenant, id) in the batch leads its run;
    // later copies stay Duplicate. The sort compares the key slices themselves, not
    // `events[i]` (a cache miss per comparison there made this sort 9 % of the consumer's CPU).
    let mut keyed: Vec<(&str, &str, usize)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.as_str(), e.tenant.as_str(), i))
        .collect();
    keyed.sort_unstable();
    keyed.dedup_by(|later, first| (later.0, later.1) == (first.0, first.1));
    let key_order: Vec<usize> = keyed.into_iter().map(|(_, _, i)| i).collect();
    // Everything but the claim reads the events in arrival order, which is their order in
    // memory: walking them in key order (random, for random ids) made every row's encoding
    // and aggregation a string of cache misses.
    let mut candidates = key_order.clone();
    candidates.sort_unstable();

    let t0 = std::time::Instant::now();
    let tenants = load_tenants(conn, events).await?;
    let meters = load_meters(conn, events).await?;
    let mut raw = Vec::with_capacity(candidates.len());
    // Where each event's row sits in `raw` (arrival order), for the claim's key order below.
    let mut position = vec![u32::MAX; events.len()];
    let mut parked = Vec::new();
    for &i in &candidates {
        let e = &events[i];
        let reason = match (tenants.get(e.tenant.as_str()), meters.get(e.meter.as_str())) {
            (None, _) => Some((
                ParkReason::UnknownTenant,
                format!("tenant `{}` does not exist", e.tenant),
            )),
            (_, None) => Some((
                ParkReason::UnknownMeter,
                format!("meter `{}` is not in the catalogue", e.meter),
            )),
            _ => None,
        };
        match reason {
            Some((code, reason)) => {
                outcomes[i] = EventOutcome::Parked(code);
                parked.push(ParkedRow {
                    tenant: e.tenant.as_str(),
                    event_id: e.id.as_str(),
                    reason_code: code.code(),
                    reason,
                    event: e.to_json().to_string(),
                });
            }
            None => {
                position[i] = u32::try_from(raw.len()).unwrap_or(u32::MAX);
                raw.push(raw_row(i, e, &tenants[e.tenant.as_str()]));
            }
        }
    }

    let looked_up = t0.elapsed();
    let inserted = if raw.is_empty() {
        vec![]
    } else {
        // The claim goes in key order: the positions in `raw` of the keys, sorted.
        let claim_order: Vec<u32> = key_order
            .iter()
            .map(|&i| position[i])
            .filter(|&k| k != u32::MAX)
            .collect();
        store::insert_events(conn, &raw, &claim_order).await?
    };
    let copied = t0.elapsed();
    let mut aggs = Aggregates::default();
    let mut periods: HashMap<&str, MonthPeriod> = HashMap::new();
    let mut counted = Vec::with_capacity(if hook.is_some() { inserted.len() } else { 0 });
    for &i in &inserted {
        let i = usize::try_from(i).unwrap_or(usize::MAX);
        let (Some(e), Some(slot)) = (events.get(i), outcomes.get_mut(i)) else {
            continue;
        };
        *slot = EventOutcome::Accepted;
        let tenant = &tenants[e.tenant.as_str()];
        let meter = &meters[e.meter.as_str()];
        aggs.add(&Attributed {
            event: e,
            meter,
            region: e
                .region
                .as_ref()
                .map_or(tenant.region.as_str(), |r| r.as_str()),
            month: month_of(&mut periods, e.tenant.as_str(), tenant.zone, e.time),
            timezone: &tenant.timezone,
        })?;
        if hook.is_some() {
            let (value, cost_usd) = crate::rollup::contribution(e, meter)?;
            counted.push(CountedUsage {
                tenant: e.tenant.as_str(),
                meter: e.meter.as_str(),
                aggregation: meter.aggregation.code(),
                value,
                cost_usd,
                time: e.time,
                timezone: &tenant.timezone,
            });
        }
    }
    aggs.fold_coarser()?;
    let aggregated = t0.elapsed();
    store::grow_unique_sets(conn, &mut aggs).await?;
    store::upsert_rollups(conn, &aggs).await?;
    tracing::debug!(
        lookup_us = looked_up.as_micros() as u64,
        insert_us = (copied - looked_up).as_micros() as u64,
        aggregate_us = (aggregated - copied).as_micros() as u64,
        upsert_us = (t0.elapsed() - aggregated).as_micros() as u64,
        rows = aggs.fixed.len(),
        "ingest steps"
    );
    store::park(conn, &parked).await?;
    if let Some(hook) = hook {
        if !counted.is_empty() {
            hook.after_rollups(conn, &counted).await?;
        }
    }
    Ok(BatchOutcome { outcomes })
}

/// The tenant's local month holding `time`, from the last one found for the tenant when it
/// holds it (a batch's events almost always share their tenant's month).
fn month_of<'a>(
    periods: &mut HashMap<&'a str, MonthPeriod>,
    tenant: &'a str,
    zone: chrono_tz::Tz,
    time: DateTime<Utc>,
) -> MonthPeriod {
    match periods.get(tenant) {
        Some(p) if p.start <= time && time < p.end => *p,
        _ => {
            let p = month_period(zone, time);
            periods.insert(tenant, p);
            p
        }
    }
}

fn raw_row<'a>(index: usize, e: &'a UsageEvent, tenant: &'a TenantInfo) -> RawRow<'a> {
    RawRow {
        index: i32::try_from(index).unwrap_or(i32::MAX),
        tenant: e.tenant.as_str(),
        event_id: e.id.as_str(),
        meter: e.meter.as_str(),
        subject: &e.subject,
        quantity: e.quantity.value(),
        time: e.time,
        region: e
            .region
            .as_ref()
            .map_or(tenant.region.as_str(), |r| r.as_str()),
        service: e.service(),
        properties: e.properties_json(),
        cost_usd: e.cost_usd(),
    }
}

/// The distinct values, sorted (hashing first: a batch has few distinct tenants and meters
/// among thousands of events).
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let set: foldhash::HashSet<&str> = values.collect();
    let mut out: Vec<&str> = set.into_iter().collect();
    out.sort_unstable();
    out
}

async fn load_tenants(
    conn: &mut PgConnection,
    events: &[UsageEvent],
) -> Result<HashMap<String, TenantInfo>> {
    let ids: Vec<&str> = distinct(events.iter().map(|e| e.tenant.as_str()));
    let rows = sqlx::query(
        "SELECT id, region, timezone FROM tenants WHERE id = ANY($1) AND deleted_at IS NULL",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let timezone: String = r.try_get("timezone")?;
            let info = TenantInfo {
                zone: tenant_zone(Some(&timezone)),
                region: r.try_get("region")?,
                timezone,
            };
            Ok((r.try_get("id")?, info))
        })
        .collect()
}

async fn load_meters(
    conn: &mut PgConnection,
    events: &[UsageEvent],
) -> Result<HashMap<String, Meter>> {
    let codes: Vec<String> = distinct(events.iter().map(|e| e.meter.as_str()))
        .into_iter()
        .map(str::to_owned)
        .collect();
    let meters = meters_by_code(conn, &codes).await?;
    Ok(meters
        .into_iter()
        .map(|m| (m.code.to_string(), m))
        .collect())
}

/// A JSON array split into valid events and per-index validation errors (HTTP's first step).
#[derive(Debug, Default)]
pub struct ParsedBatch {
    /// The valid events, in input order.
    pub events: Vec<UsageEvent>,
    /// `indices[k]` is the input index of `events[k]`.
    pub indices: Vec<usize>,
    /// Input index and reason of every invalid element.
    pub rejected: Vec<(usize, FieldError)>,
}

/// Parses every element; one bad element never affects its siblings.
pub fn parse_batch(values: &[Value], now: DateTime<Utc>) -> ParsedBatch {
    let mut parsed = ParsedBatch::default();
    for (i, v) in values.iter().enumerate() {
        match UsageEvent::parse(v, now) {
            Ok(e) => {
                parsed.events.push(e);
                parsed.indices.push(i);
            }
            Err(err) => parsed.rejected.push((i, err)),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time: &str) -> UsageEvent {
        let now = "2026-12-02T00:00:00Z".parse().unwrap();
        let v = serde_json::json!({"id": time, "tenant": "t", "meter": "api_calls",
            "subject": "s", "quantity": "1", "time": time});
        UsageEvent::parse(&v, now).unwrap()
    }

    #[test]
    fn months_of_finds_every_utc_month_once_at_its_edges() {
        let events: Vec<UsageEvent> = [
            "2026-12-01T00:00:00Z",
            "2026-11-30T23:59:59.999Z",
            "2026-11-15T12:00:00Z",
            "2026-11-01T00:00:00Z",
            "2026-12-01T23:00:00Z",
            "2026-11-20T09:00:00-05:00",
            "2026-12-01T00:30:00+01:00", // 2026-11-30T23:30Z
        ]
        .iter()
        .map(|t| at(t))
        .collect();
        let months = months_of(&events);
        let want: Vec<NaiveDate> = ["2026-11-01", "2026-12-01"]
            .iter()
            .map(|d| d.parse().unwrap())
            .collect();
        assert_eq!(months, want);
        let one = months_of(&events[..1]);
        assert_eq!(one, want[1..]);
        assert_eq!(months_of(&[]), Vec::<NaiveDate>::new());
    }
}
