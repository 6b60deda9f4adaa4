//! The write path's SQL: claim dedupe keys and write raw events (binary `COPY` when every key
//! is free, one `ON CONFLICT` statement otherwise), grow unique_count sets, upsert
//! pre-aggregated rollup rows, park events. Each step is one round trip per batch (a `COPY`,
//! or a statement with arrays and `UNNEST`); keys and rollup rows go in sorted, which fixes the
//! lock order.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, Row};

use crate::bucket::Granularity;
use crate::copy::BinaryCopy;
use crate::error::{MeteringError, Result};
use crate::rollup::{Aggregates, BucketAgg};

/// A raw event row about to be written, with the region already resolved.
pub(crate) struct RawRow<'a> {
    pub index: i32,
    pub tenant: &'a str,
    pub event_id: &'a str,
    pub meter: &'a str,
    pub subject: &'a str,
    pub quantity: Decimal,
    pub time: DateTime<Utc>,
    pub region: &'a str,
    pub service: &'a str,
    pub properties: &'a str,
    pub cost_usd: Option<Decimal>,
}

/// Creates the raw-event partitions for these months if missing (a no-op query once they exist).
pub(crate) async fn ensure_partitions(conn: &mut PgConnection, months: &[NaiveDate]) -> Result<()> {
    sqlx::query("SELECT metering_ensure_partition(m) FROM UNNEST($1::date[]) AS m")
        .bind(months)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims `(tenant, id)` and inserts the raw event for every row whose key was free. Returns
/// the input indices that were newly inserted. `claim_order` lists every position in `rows`
/// once, in the dedupe index's order `(id, tenant)`: keys are claimed in that order (one
/// global order, so concurrent batches cannot deadlock, and the B-tree takes sorted keys
/// faster); the raw rows go in as given.
///
/// Duplicates are rare, so the first try is a binary `COPY` of every key (a speculative
/// `ON CONFLICT` insertion costs about twice as much per key), then of every row. If any key
/// is taken, the unique violation fails the `COPY`, which rolls back to a savepoint, and the
/// batch goes through the statement that skips taken keys. Either way the claim and the raw
/// rows are written by the caller's transaction, so no key is ever claimed without its write.
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    rows: &[RawRow<'_>],
    claim_order: &[u32],
) -> Result<Vec<i32>> {
    let claim = claim_sequence(rows, claim_order);
    sqlx::query("SAVEPOINT metering_claim")
        .execute(&mut *conn)
        .await?;
    match claim_all(conn, &claim).await {
        Ok(_) => {
            sqlx::query("RELEASE SAVEPOINT metering_claim")
                .execute(&mut *conn)
                .await?;
            copy_rows(conn, rows).await?;
            return Ok(rows.iter().map(|r| r.index).collect());
        }
        Err(MeteringError::Database(e)) if is_taken_key(&e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT metering_claim")
                .execute(&mut *conn)
                .await?;
        }
        Err(e) => return Err(e),
    }
    let mut cols = EventColumns::default();
    for r in claim {
        cols.push(r);
    }
    let inserted = bind_events(sqlx::query(INSERT_NEW), &cols)
        .fetch_all(conn)
        .await?;
    inserted
        .iter()
        .map(|r| r.try_get::<i32, _>(0).map_err(Into::into))
        .collect()
}

/// The rows in `claim_order` when it lists every row exactly once, and sorted by key
/// otherwise: a row whose key went unclaimed would be counted without its dedupe key, so a
/// caller's mistake here costs a sort, never exactly-once.
fn claim_sequence<'r, 'a>(rows: &'r [RawRow<'a>], claim_order: &[u32]) -> Vec<&'r RawRow<'a>> {
    let mut seen = vec![false; rows.len()];
    let mut claim = Vec::with_capacity(rows.len());
    for &k in claim_order {
        match seen.get_mut(k as usize) {
            Some(s) if !*s => {
                *s = true;
                claim.push(&rows[k as usize]);
            }
            _ => break,
        }
    }
    if claim.len() != rows.len() {
        tracing::error!(
            rows = rows.len(),
            listed = claim_order.len(),
            "claim order is not a permutation of the rows; claiming in sorted key order"
        );
        claim = rows.iter().collect();
        claim.sort_unstable_by(|a, b| (a.event_id, a.tenant).cmp(&(b.event_id, b.tenant)));
    }
    claim
}

/// A unique violation on the dedupe key: some event of the batch was counted before (or is
/// being counted by a concurrent batch that has now committed).
fn is_taken_key(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23505")
                && db.constraint() == Some("metering_event_ids_pkey")
        }
        _ => false,
    }
}

/// Every key is free (the fast path): claim them all, by binary `COPY`. A taken key fails
/// the whole `COPY` with a unique violation (and the caller takes the slow path).
const CLAIM_ALL: &str =
    "COPY metering_event_ids (tenant_id, event_id, event_time) FROM STDIN (FORMAT binary)";

async fn claim_all(conn: &mut PgConnection, rows: &[&RawRow<'_>]) -> Result<()> {
    BinaryCopy::send_rows(conn, CLAIM_ALL, rows, |copy, r| {
        copy.row(3);
        copy.text(r.tenant)?;
        copy.text(r.event_id)?;
        copy.field(&r.time)
    })
    .await?;
    Ok(())
}

/// After `CLAIM_ALL`: every raw row, by binary `COPY` (no parameter arrays to unpack, no
/// function-scan materialisation, multi-row heap inserts).
const COPY_ROWS: &str = "COPY metering_events (tenant_id, event_id, meter, subject, quantity, time, region, service, properties, cost_usd)
     FROM STDIN (FORMAT binary)";

async fn copy_rows(conn: &mut PgConnection, rows: &[RawRow<'_>]) -> Result<()> {
    BinaryCopy::send_rows(conn, COPY_ROWS, rows, |copy, r| {
        copy.row(10);
        copy.text(r.tenant)?;
        copy.text(r.event_id)?;
        copy.text(r.meter)?;
        copy.text(r.subject)?;
        copy.field(&r.quantity)?;
        copy.field(&r.time)?;
        copy.text(r.region)?;
        copy.text(r.service)?;
        copy.jsonb(r.properties)?;
        copy.field(&r.cost_usd)
    })
    .await?;
    Ok(())
}

/// Some keys may be taken: claim the free ones and insert exactly their raw rows.
const INSERT_NEW: &str = "
    WITH input AS (
         SELECT * FROM UNNEST($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[],
                              $6::numeric[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::numeric[])
             AS t(idx, tenant_id, event_id, meter, subject, quantity, time, region, service, properties, cost_usd)
     ), claimed AS (
         INSERT INTO metering_event_ids (tenant_id, event_id, event_time)
         SELECT tenant_id, event_id, time FROM input
         ON CONFLICT DO NOTHING
         RETURNING tenant_id, event_id
     ), raw AS (
         INSERT INTO metering_events (tenant_id, event_id, meter, subject, quantity, time, region, service, properties, cost_usd)
         SELECT i.tenant_id, i.event_id, i.meter, i.subject, i.quantity, i.time, i.region, i.service,
                i.properties::jsonb, i.cost_usd
         FROM input i JOIN claimed c USING (tenant_id, event_id)
     )
     SELECT i.idx FROM input i JOIN claimed c USING (tenant_id, event_id)";

fn bind_events<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    cols: &'q EventColumns<'q>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    q.bind(&cols.idx[..])
        .bind(&cols.tenant[..])
        .bind(&cols.event_id[..])
        .bind(&cols.meter[..])
        .bind(&cols.subject[..])
        .bind(&cols.quantity[..])
        .bind(&cols.time[..])
        .bind(&cols.region[..])
        .bind(&cols.service[..])
        .bind(&cols.properties[..])
        .bind(&cols.cost_usd[..])
}

#[derive(Default)]
struct EventColumns<'a> {
    idx: Vec<i32>,
    tenant: Vec<&'a str>,
    event_id: Vec<&'a str>,
    meter: Vec<&'a str>,
    subject: Vec<&'a str>,
    quantity: Vec<Decimal>,
    time: Vec<DateTime<Utc>>,
    region: Vec<&'a str>,
    service: Vec<&'a str>,
    properties: Vec<&'a str>,
    cost_usd: Vec<Option<Decimal>>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, r: &'a RawRow<'a>) {
        self.idx.push(r.index);
        self.tenant.push(r.tenant);
        self.event_id.push(r.event_id);
        self.meter.push(r.meter);
        self.subject.push(r.subject);
        self.quantity.push(r.quantity);
        self.time.push(r.time);
        self.region.push(r.region);
        self.service.push(r.service);
        self.properties.push(r.properties);
        self.cost_usd.push(r.cost_usd);
    }
}

/// A unique_count bucket as the database returns it: grain, tenant, meter, bucket, dims.
type SetKey = (
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    String,
    String,
);

/// Inserts unique_count set members; adds the number of members new to each bucket's set to
/// that bucket's aggregate.
pub(crate) async fn grow_unique_sets(
    conn: &mut PgConnection,
    aggs: &mut Aggregates<'_>,
) -> Result<()> {
    if aggs.uniques.is_empty() {
        return Ok(());
    }
    let members: Vec<_> = aggs.uniques.iter().cloned().collect();
    let rows = sqlx::query(
        "INSERT INTO metering_unique_values (grain, tenant_id, meter, bucket, subject, region, service, value)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])
         ON CONFLICT DO NOTHING
         RETURNING grain, tenant_id, meter, bucket, subject, region, service",
    )
    .bind(members.iter().map(|m| m.grain.code()).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.tenant).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.meter).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.bucket).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.subject).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.region).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.service).collect::<Vec<_>>())
    .bind(members.iter().map(|m| m.value.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let mut new_per_bucket: HashMap<SetKey, i64> = HashMap::new();
    for r in &rows {
        let key = (
            r.try_get("grain")?,
            r.try_get("tenant_id")?,
            r.try_get("meter")?,
            r.try_get("bucket")?,
            r.try_get("subject")?,
            r.try_get("region")?,
            r.try_get("service")?,
        );
        *new_per_bucket.entry(key).or_default() += 1;
    }
    // Map the returned keys back to borrowed members, one per bucket.
    let mut seen = std::collections::HashSet::new();
    for m in &members {
        let key = (
            m.grain.code().to_owned(),
            m.tenant.to_owned(),
            m.meter.to_owned(),
            m.bucket,
            m.subject.to_owned(),
            m.region.to_owned(),
            m.service.to_owned(),
        );
        if let Some(n) = new_per_bucket.get(&key) {
            if seen.insert(key.clone()) {
                aggs.add_new_uniques(m, *n)?;
            }
        }
    }
    Ok(())
}

const MERGE: &str = "
    value = CASE r.aggregation
        WHEN 'max' THEN GREATEST(r.value, EXCLUDED.value)
        WHEN 'latest' THEN CASE WHEN (EXCLUDED.latest_time, EXCLUDED.latest_id) > (r.latest_time, r.latest_id)
                                THEN EXCLUDED.value ELSE r.value END
        ELSE r.value + EXCLUDED.value END,
    latest_id = CASE WHEN (EXCLUDED.latest_time, EXCLUDED.latest_id) > (r.latest_time, r.latest_id)
                     THEN EXCLUDED.latest_id ELSE r.latest_id END,
    latest_time = GREATEST(r.latest_time, EXCLUDED.latest_time),
    event_count = r.event_count + EXCLUDED.event_count,
    cost_usd = r.cost_usd + EXCLUDED.cost_usd,
    updated_at = now()";

#[derive(Default)]
struct AggColumns<'a> {
    aggregation: Vec<&'static str>,
    value: Vec<Decimal>,
    event_count: Vec<i64>,
    cost_usd: Vec<Decimal>,
    latest_time: Vec<DateTime<Utc>>,
    latest_id: Vec<&'a str>,
}

impl<'a> AggColumns<'a> {
    fn push(&mut self, a: &BucketAgg<'a>) {
        self.aggregation.push(a.aggregation);
        self.value.push(a.value);
        self.event_count.push(a.event_count);
        self.cost_usd.push(a.cost_usd);
        self.latest_time.push(a.latest_time);
        self.latest_id.push(a.latest_id);
    }
}

/// One upsert per grain table, with one row per bucket key, in key order: concurrent batches
/// lock rows in one global order and cannot deadlock.
pub(crate) async fn upsert_rollups(conn: &mut PgConnection, aggs: &Aggregates<'_>) -> Result<()> {
    let mut sorted: Vec<_> = aggs.fixed.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for grain in Granularity::FIXED {
        let (mut tenant, mut meter, mut bucket, mut subject, mut region, mut service) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut cols = AggColumns::default();
        for (k, a) in sorted.iter().filter(|(k, _)| k.grain == grain) {
            tenant.push(k.tenant);
            meter.push(k.meter);
            bucket.push(k.bucket);
            subject.push(k.subject);
            region.push(k.region);
            service.push(k.service);
            cols.push(a);
        }
        if tenant.is_empty() {
            continue;
        }
        sqlx::query(&format!(
            "INSERT INTO {} AS r (tenant_id, meter, bucket, subject, region, service,
                                  aggregation, value, event_count, cost_usd, latest_time, latest_id)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::numeric[], $9::int8[], $10::numeric[], $11::timestamptz[], $12::text[])
             ON CONFLICT (tenant_id, meter, bucket, subject, region, service) DO UPDATE SET {MERGE}",
            grain.table()
        ))
        .bind(tenant)
        .bind(meter)
        .bind(bucket)
        .bind(subject)
        .bind(region)
        .bind(service)
        .bind(cols.aggregation)
        .bind(cols.value)
        .bind(cols.event_count)
        .bind(cols.cost_usd)
        .bind(cols.latest_time)
        .bind(cols.latest_id)
        .execute(&mut *conn)
        .await?;
    }
    upsert_months(conn, aggs).await
}

async fn upsert_months(conn: &mut PgConnection, aggs: &Aggregates<'_>) -> Result<()> {
    if aggs.months.is_empty() {
        return Ok(());
    }
    let (mut tenant, mut meter, mut month, mut start, mut end, mut tz) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut cols = AggColumns::default();
    let mut sorted: Vec<_> = aggs.months.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (k, (period, zone, a)) in sorted {
        tenant.push(k.tenant);
        meter.push(k.meter);
        month.push(k.month);
        start.push(period.start);
        end.push(period.end);
        tz.push(*zone);
        cols.push(a);
    }
    sqlx::query(&format!(
        "INSERT INTO metering_rollup_month AS r (tenant_id, meter, period_month, bucket, period_end, timezone,
                                                 aggregation, value, event_count, cost_usd, latest_time, latest_id)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], $4::timestamptz[], $5::timestamptz[], $6::text[],
                              $7::text[], $8::numeric[], $9::int8[], $10::numeric[], $11::timestamptz[], $12::text[])
         ON CONFLICT (tenant_id, meter, period_month) DO UPDATE SET {MERGE}"
    ))
    .bind(tenant)
    .bind(meter)
    .bind(month)
    .bind(start)
    .bind(end)
    .bind(tz)
    .bind(cols.aggregation)
    .bind(cols.value)
    .bind(cols.event_count)
    .bind(cols.cost_usd)
    .bind(cols.latest_time)
    .bind(cols.latest_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A valid event the write path could not attribute.
pub(crate) struct ParkedRow<'a> {
    pub tenant: &'a str,
    pub event_id: &'a str,
    pub reason_code: &'static str,
    pub reason: String,
    pub event: String,
}

/// Keeps parked events with their reason; a re-sent parked event refreshes its reason.
pub(crate) async fn park(conn: &mut PgConnection, rows: &[ParkedRow<'_>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO metering_parked (tenant_id, event_id, reason_code, reason, event)
         SELECT t, i, c, r, e::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(t, i, c, r, e)
         ON CONFLICT (tenant_id, event_id) DO UPDATE
             SET reason_code = EXCLUDED.reason_code, reason = EXCLUDED.reason, event = EXCLUDED.event, parked_at = now()",
    )
    .bind(rows.iter().map(|r| r.tenant).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reason_code).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.reason.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event.as_str()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(index: i32, tenant: &'a str, event_id: &'a str) -> RawRow<'a> {
        RawRow {
            index,
            tenant,
            event_id,
            meter: "api_calls",
            subject: "user-1",
            quantity: Decimal::ONE,
            time: DateTime::<Utc>::UNIX_EPOCH,
            region: "US",
            service: "",
            properties: "{}",
            cost_usd: None,
        }
    }

    fn keys(claim: &[&RawRow<'_>]) -> Vec<(i32, String)> {
        claim
            .iter()
            .map(|r| (r.index, format!("{}/{}", r.event_id, r.tenant)))
            .collect()
    }

    #[test]
    fn the_claim_follows_a_valid_order_and_sorts_by_key_otherwise() {
        let rows = [row(0, "t1", "b"), row(1, "t2", "a"), row(2, "t1", "a")];
        let given = keys(&claim_sequence(&rows, &[2, 1, 0]));
        assert_eq!(
            given,
            [(2, "a/t1".into()), (1, "a/t2".into()), (0, "b/t1".into())]
        );
        // Not a permutation (a row missing, one twice, one out of range): every row is still
        // claimed, in key order.
        for bad in [&[2, 1][..], &[2, 2, 0], &[2, 1, 7], &[]] {
            assert_eq!(keys(&claim_sequence(&rows, bad)), given);
        }
    }
}
