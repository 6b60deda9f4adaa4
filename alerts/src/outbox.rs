//! The transactional outbox: billing events written in the caller's transaction, so an event
//! exists exactly when the change that caused it commits.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::error::{AlertsError, Result};
use crate::event::BillingEvent;

/// The columns that make up an event body, for `SELECT`s that read events back.
pub(crate) const EVENT_COLUMNS: &str = "e.id, e.type, e.tenant, e.time, e.data";

/// Writes `event` into the outbox on the caller's connection, normally inside its
/// transaction: a rollback takes the event with it, a commit hands it to the publisher.
pub async fn enqueue(tx: &mut PgConnection, event: &BillingEvent) -> Result<()> {
    enqueue_all(tx, std::slice::from_ref(event)).await
}

/// Writes several events in one round trip (the same transaction rules as [`enqueue`]).
pub async fn enqueue_all(tx: &mut PgConnection, events: &[BillingEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let tenants: Vec<&str> = events.iter().map(|e| e.tenant.as_str()).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.time).collect();
    let data: Vec<Value> = events.iter().map(|e| e.data.clone()).collect();
    sqlx::query(
        "INSERT INTO billing_events (id, type, tenant, time, data)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[])",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&tenants)
    .bind(&times)
    .bind(&data)
    .execute(tx)
    .await?;
    Ok(())
}

/// Rebuilds an event from a row holding [`EVENT_COLUMNS`].
pub(crate) fn event_from_row(row: &PgRow) -> Result<BillingEvent> {
    let event_type: String = row.try_get("type")?;
    let event_type = event_type
        .parse()
        .map_err(|_| AlertsError::Corrupt(format!("billing event type `{event_type}`")))?;
    Ok(BillingEvent {
        id: row.try_get("id")?,
        event_type,
        tenant: row.try_get("tenant")?,
        time: row.try_get("time")?,
        data: row.try_get("data")?,
    })
}
