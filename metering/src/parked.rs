//! Parked events and housekeeping: replaying events parked for an unknown tenant or meter once
//! it exists, and the periodic partition / dedupe-key maintenance.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::error::Result;
use crate::event::UsageEvent;
use crate::ingest::{ingest_in_transaction_with, BatchHook, BatchOutcome, EventOutcome};

/// Most parked events one replay call takes.
pub const MAX_REPLAY_EVENTS: i64 = 1_000;

/// What a replay did: `outcome` per replayed event, plus events too old to accept any more
/// (they stay parked, reason unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayOutcome {
    pub outcome: BatchOutcome,
    pub expired: usize,
}

/// Re-ingests up to `limit` (≤ `MAX_REPLAY_EVENTS`) parked events, oldest first, in one
/// transaction: counted or duplicate ones leave the parked table, still-unknown ones stay.
pub async fn replay_parked(pool: &PgPool, now: DateTime<Utc>, limit: i64) -> Result<ReplayOutcome> {
    replay(pool, now, limit, None, REPLAY_ALL).await
}

/// Re-ingests up to `limit` parked events **whose cause has cleared** (the tenant exists and is
/// not deleted, or the meter now exists), oldest first, through `hook` (rating) like any
/// batch. Cheap to run periodically: events still unattributable are not touched.
pub async fn replay_cleared_with(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
    hook: Option<&dyn BatchHook>,
) -> Result<ReplayOutcome> {
    replay(pool, now, limit, hook, REPLAY_CLEARED).await
}

const REPLAY_ALL: &str = "SELECT tenant_id, event_id, event FROM metering_parked
    ORDER BY parked_at, tenant_id, event_id LIMIT $1 FOR UPDATE SKIP LOCKED";

const REPLAY_CLEARED: &str = "SELECT p.tenant_id, p.event_id, p.event FROM metering_parked p
    WHERE (p.reason_code = 'unknown_tenant'
           AND EXISTS (SELECT 1 FROM tenants t WHERE t.id = p.tenant_id AND t.deleted_at IS NULL))
       OR (p.reason_code = 'unknown_meter'
           AND EXISTS (SELECT 1 FROM metering_meters m WHERE m.code = p.event->>'meter'))
    ORDER BY p.parked_at, p.tenant_id, p.event_id LIMIT $1 FOR UPDATE OF p SKIP LOCKED";

async fn replay(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
    hook: Option<&dyn BatchHook>,
    select: &str,
) -> Result<ReplayOutcome> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(select)
        .bind(limit.clamp(0, MAX_REPLAY_EVENTS))
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(ReplayOutcome::default());
    }
    let mut events = Vec::with_capacity(rows.len());
    let mut expired = 0;
    for r in &rows {
        match UsageEvent::parse(&r.try_get::<serde_json::Value, _>("event")?, now) {
            Ok(e) => events.push(e),
            Err(_) => expired += 1,
        }
    }
    let months: Vec<_> = events
        .iter()
        .map(|e| crate::bucket::month_period(chrono_tz::Tz::UTC, e.time).month)
        .collect();
    crate::store::ensure_partitions(&mut tx, &months).await?;
    let outcome = ingest_in_transaction_with(&mut tx, &events, hook).await?;
    let (mut tenants, mut ids) = (Vec::new(), Vec::new());
    for (e, o) in events.iter().zip(&outcome.outcomes) {
        if matches!(o, EventOutcome::Accepted | EventOutcome::Duplicate) {
            tenants.push(e.tenant.as_str());
            ids.push(e.id.as_str());
        }
    }
    sqlx::query("DELETE FROM metering_parked p USING UNNEST($1::text[], $2::text[]) AS d(t, i) WHERE p.tenant_id = d.t AND p.event_id = d.i")
        .bind(tenants)
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ReplayOutcome { outcome, expired })
}

/// Housekeeping for a daily scheduler: creates the coming months' raw-event partitions, drops
/// raw partitions older than `retain_raw_months`, expires dedupe keys past the acceptance window.
pub async fn maintain(pool: &PgPool, retain_raw_months: i32) -> Result<()> {
    sqlx::query("SELECT metering_maintain($1)")
        .bind(retain_raw_months.max(2))
        .execute(pool)
        .await?;
    Ok(())
}
