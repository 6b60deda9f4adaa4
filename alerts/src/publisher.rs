//! The outbox publisher: unpublished billing events go to Kafka in bounded batches and are
//! marked published only after the broker acknowledged them (at least once).

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use sqlx::{PgPool, Row};

use crate::error::Result;
use crate::event::BillingEvent;
use crate::outbox::{event_from_row, EVENT_COLUMNS};

/// The most events one [`publish_pending_once`] call takes (and holds locks on).
pub const MAX_PUBLISH_BATCH: i64 = 500;
/// How long the broker has to acknowledge one event before it counts as failed.
pub const DELIVERY_TIMEOUT_MS: u64 = 30_000;
/// The first retry delay of a failed event; it doubles per attempt up to [`MAX_BACKOFF_S`].
pub const MIN_BACKOFF_S: i32 = 5;
/// The longest a failed event waits before its next attempt. Events are never given up on.
pub const MAX_BACKOFF_S: i32 = 300;
/// How long an idle publisher sleeps before looking for new events.
pub const IDLE_POLL_MS: u64 = 500;
/// How long the publisher backs off after a database or Kafka error of its own.
pub const ERROR_PAUSE_MS: u64 = 2_000;
/// The most characters of a delivery error kept in `last_error`.
const MAX_ERROR_CHARS: usize = 1_000;

/// The producer the publisher uses. `acks=all`, so an acknowledged event is on every
/// in-sync replica; idempotent (tested against tansu and librdkafka's mock cluster), so a
/// librdkafka-internal retry does not duplicate or reorder within a partition. Duplicates
/// from redelivery after a crash remain possible: consumers dedupe on the event `id`.
pub fn producer(brokers: &str) -> Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", DELIVERY_TIMEOUT_MS.to_string())
        .create()?)
}

/// Publishes one batch of due, unpublished events to `topic` (key = tenant, value = the event
/// body) and records the outcome of each; returns how many were published.
///
/// The batch is locked `FOR UPDATE SKIP LOCKED` for the duration, so several instances can
/// run this at once without sending the same event twice (short of a crash between the
/// broker's ack and the commit, which is why publication is at least once).
pub async fn publish_pending_once(
    pool: &PgPool,
    producer: &FutureProducer,
    topic: &str,
) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM billing_events e
         WHERE e.published_at IS NULL AND e.next_attempt_at <= now()
         ORDER BY e.id
         LIMIT $1
         FOR UPDATE SKIP LOCKED"
    );
    let rows = sqlx::query(&sql)
        .bind(MAX_PUBLISH_BATCH)
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
    let outcomes = send_all(producer, topic, &events).await;

    let mut published = Vec::new();
    let (mut failed, mut errors) = (Vec::new(), Vec::new());
    for (event, outcome) in events.iter().zip(outcomes) {
        match outcome {
            Ok(()) => published.push(event.id.as_str()),
            Err(e) => {
                failed.push(event.id.as_str());
                errors.push(e.chars().take(MAX_ERROR_CHARS).collect::<String>());
            }
        }
    }
    mark(&mut tx, &published, &failed, &errors).await?;
    tx.commit().await?;
    if !failed.is_empty() {
        tracing::warn!(
            failed = failed.len(),
            first_error = %errors[0],
            "billing events not acknowledged; will retry"
        );
    }
    Ok(published.len())
}

/// Sends every event concurrently and waits for each acknowledgement.
async fn send_all(
    producer: &FutureProducer,
    topic: &str,
    events: &[BillingEvent],
) -> Vec<std::result::Result<(), String>> {
    let sends = events.iter().map(|event| async move {
        let body = event.to_json_bytes().map_err(|e| e.to_string())?;
        let record = FutureRecord::to(topic).key(&event.tenant).payload(&body);
        producer
            .send(record, Duration::from_millis(DELIVERY_TIMEOUT_MS))
            .await
            .map(|_| ())
            .map_err(|(e, _)| e.to_string())
    });
    join_all(sends).await
}

/// Marks acknowledged events published and schedules the failed ones for a later attempt.
async fn mark(
    tx: &mut sqlx::PgConnection,
    published: &[&str],
    failed: &[&str],
    errors: &[String],
) -> Result<()> {
    if !published.is_empty() {
        sqlx::query(
            "UPDATE billing_events SET published_at = clock_timestamp() WHERE id = ANY($1)",
        )
        .bind(published)
        .execute(&mut *tx)
        .await?;
    }
    if !failed.is_empty() {
        sqlx::query(
            "UPDATE billing_events e
             SET attempts = e.attempts + 1,
                 last_error = f.error,
                 next_attempt_at = clock_timestamp() + make_interval(secs =>
                     least($3::int, $4::int * (1 << least(e.attempts, 16))))
             FROM unnest($1::text[], $2::text[]) AS f(id, error)
             WHERE e.id = f.id",
        )
        .bind(failed)
        .bind(errors)
        .bind(MAX_BACKOFF_S)
        .bind(MIN_BACKOFF_S)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Runs the publisher until `shutdown` resolves: a full batch is followed at once by the next,
/// an idle one by a short sleep. Errors of its own (database, broker unreachable) are logged
/// and retried after a pause; the batch in flight when shutdown comes is finished first.
pub async fn run_publisher(
    pool: PgPool,
    brokers: &str,
    topic: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut producer = producer(brokers)?;
    tokio::pin!(shutdown);
    loop {
        let mut pause = match publish_pending_once(&pool, &producer, topic).await {
            Ok(n) if n as i64 >= MAX_PUBLISH_BATCH => Duration::ZERO,
            Ok(_) => Duration::from_millis(IDLE_POLL_MS),
            Err(e) => {
                tracing::warn!(error = %e, "billing event publisher failed; retrying");
                Duration::from_millis(ERROR_PAUSE_MS)
            }
        };
        // An idempotent producer that hit a fatal error (e.g. a lost sequence) refuses every
        // later send; only a new producer recovers. Unacknowledged events are retried anyway.
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::warn!(?code, %reason, "billing event producer failed fatally; recreating it");
            producer = self::producer(brokers)?;
            pause = Duration::from_millis(ERROR_PAUSE_MS);
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    producer.flush(Duration::from_millis(DELIVERY_TIMEOUT_MS))?;
    Ok(())
}

/// How many events wait to be published (for metrics and readiness reports).
pub async fn pending_count(pool: &PgPool) -> Result<i64> {
    let row = sqlx::query("SELECT count(*) AS n FROM billing_events WHERE published_at IS NULL")
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}
