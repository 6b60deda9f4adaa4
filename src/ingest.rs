//! HTTP ingestion's group commit: concurrent `POST /v1/events` requests are merged into one
//! write-path transaction (rollups + rating) instead of one each.
//!
//! A few writer tasks take requests from a bounded queue. A writer takes the first waiting
//! request, then every other one already waiting, up to `max_events`, and writes them as one
//! batch; each request gets its own slice of the outcomes. The merged batch is exactly what
//! the requests would have done one after another in queue order (a `(tenant, id)` sent by two
//! of them counts once, for the first). A merged batch that fails is retried request by
//! request, so one request's bad event never fails another's. With no concurrency nothing
//! waits: a lone request is written at once, as before.

use std::sync::Arc;

use metering::{BatchOutcome, MeteringError, UsageEvent};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::catalogue::CatalogueStore;
use crate::charging::Rater;

/// Requests waiting for a writer at most; a full queue makes senders wait (back-pressure).
pub const QUEUE_REQUESTS: usize = 256;
/// Events one merged batch holds at most (eight full requests).
pub const DEFAULT_MAX_EVENTS: usize = 8_000;
/// Writer tasks (each holds one database connection while writing).
pub const DEFAULT_WRITERS: usize = 2;

struct Job {
    events: Vec<UsageEvent>,
    reply: oneshot::Sender<metering::Result<BatchOutcome>>,
}

/// The handle the API holds; cheap to clone.
#[derive(Clone)]
pub struct Coalescer {
    tx: mpsc::Sender<Job>,
}

impl Coalescer {
    /// Starts `writers` writer tasks merging up to `max_events` events per transaction
    /// (`max_events` ≤ one request's size turns merging off). Must run inside a Tokio runtime;
    /// the writers stop when every handle is dropped.
    pub fn spawn(
        pool: PgPool,
        catalogue: CatalogueStore,
        writers: usize,
        max_events: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE_REQUESTS);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            let (rx, pool) = (rx.clone(), pool.clone());
            let rater = Rater::new(catalogue.clone());
            tokio::spawn(async move {
                while let Some(jobs) = take(&rx, max_events).await {
                    write(&pool, &rater, jobs).await;
                }
            });
        }
        Self { tx }
    }

    /// Writes `events` (merged with concurrent requests' events) and returns their outcomes.
    pub async fn ingest(&self, events: Vec<UsageEvent>) -> metering::Result<BatchOutcome> {
        let (reply, answer) = oneshot::channel();
        let stopped = || MeteringError::Config("the ingestion writers have stopped".into());
        self.tx
            .send(Job { events, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The first waiting job, then whatever else is already waiting while the batch holds fewer
/// than `max_events` (so at most `max_events` + one request: well under
/// `metering::MAX_BATCH_EVENTS`).
async fn take(rx: &Mutex<mpsc::Receiver<Job>>, max_events: usize) -> Option<Vec<Job>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut total = first.events.len();
    let mut jobs = vec![first];
    while total < max_events {
        let Ok(job) = rx.try_recv() else { break };
        total += job.events.len();
        jobs.push(job);
    }
    Some(jobs)
}

async fn write(pool: &PgPool, rater: &Rater, jobs: Vec<Job>) {
    if let [_] = jobs.as_slice() {
        for job in jobs {
            let outcome = metering::ingest_batch_with(pool, &job.events, Some(rater)).await;
            let _ = job.reply.send(outcome);
        }
        return;
    }
    let sizes: Vec<usize> = jobs.iter().map(|j| j.events.len()).collect();
    let all: Vec<UsageEvent> = jobs.iter().flat_map(|j| j.events.iter().cloned()).collect();
    match metering::ingest_batch_with(pool, &all, Some(rater)).await {
        Ok(outcome) => {
            metrics::counter!("tally_ingest_merged_requests_total").increment(jobs.len() as u64);
            let mut rest = outcome.outcomes.as_slice();
            for (job, n) in jobs.into_iter().zip(sizes) {
                let (mine, after) = rest.split_at(n.min(rest.len()));
                rest = after;
                let _ = job.reply.send(Ok(BatchOutcome {
                    outcomes: mine.to_vec(),
                }));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = jobs.len(), "merged batch failed; writing its requests one by one");
            for job in jobs {
                let outcome = metering::ingest_batch_with(pool, &job.events, Some(rater)).await;
                let _ = job.reply.send(outcome);
            }
        }
    }
}
