//! `run_consumer`: read → batch → write (one transaction) → DLQ → store offsets.
//! Offsets are stored only after the batch's database commit and DLQ deliveries.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch, Semaphore};

use super::config::{ConsumerConfig, INBOX_BATCHES};
use super::context::{DrainContext, Progress};
use super::dlq::{self, DeadLetter};
use crate::error::Result;
use crate::event::UsageEvent;
use crate::ingest::{ingest_batch_with, BatchHook};

/// Longest pause between retries of a failed database or DLQ write.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);

/// Totals over a consumer's life (returned at shutdown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    pub batches: u64,
    pub messages: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub parked: u64,
    pub dead_lettered: u64,
}

/// A message detached from the consumer: its key and value copied into one allocation.
struct Received {
    partition: i32,
    offset: i64,
    /// The key's bytes, then the value's.
    bytes: Vec<u8>,
    /// The key's length (`None`: the message had no key).
    key_len: Option<usize>,
    /// Whether the message had a value (an empty one is still a value).
    has_payload: bool,
    /// Its share of `max_buffered_bytes`, returned once its batch is done.
    cost: u32,
}

impl Received {
    fn detach(msg: &impl Message, cost: u32) -> Self {
        let (key, payload) = (msg.key(), msg.payload());
        let mut bytes =
            Vec::with_capacity(key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len));
        bytes.extend_from_slice(key.unwrap_or_default());
        bytes.extend_from_slice(payload.unwrap_or_default());
        Received {
            partition: msg.partition(),
            offset: msg.offset(),
            bytes,
            key_len: key.map(<[u8]>::len),
            has_payload: payload.is_some(),
            cost,
        }
    }

    fn key(&self) -> Option<&[u8]> {
        self.key_len.map(|n| &self.bytes[..n])
    }

    fn payload(&self) -> Option<&[u8]> {
        self.has_payload
            .then(|| &self.bytes[self.key_len.unwrap_or(0)..])
    }
}

type Kafka = StreamConsumer<DrainContext>;

fn consumer(config: &ConsumerConfig, progress: Arc<Progress>) -> Result<Kafka> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        // How long a broker may hold a fetch while it has less than fetch.min.bytes. Kafka
        // answers as soon as data is there; tansu 0.6 holds every fetch for the whole wait,
        // so librdkafka's 500 ms default capped a consumer at one fetch per 500 ms (about
        // 80,000 events/s, docs/BENCHMARKS.md). 25 ms costs an idle consumer 40 small
        // requests a second per broker.
        .set("fetch.wait.max.ms", "25");
    for (k, v) in &config.consumer_overrides {
        cc.set(k, v);
    }
    let context = DrainContext {
        progress,
        drain_timeout: config.rebalance_drain_timeout,
    };
    let consumer: Kafka = cc.create_with_context(context)?;
    consumer.subscribe(&[&config.topic])?;
    Ok(consumer)
}

/// Consumes `config.topic` into the database until `shutdown` resolves, then commits the
/// stored offsets and returns the totals. Database and DLQ failures are retried (bounded
/// backoff) without storing offsets; invalid messages go to the DLQ and never stall it.
pub async fn run_consumer(
    config: ConsumerConfig,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<ConsumerStats> {
    run_consumer_with(config, pool, None, shutdown).await
}

/// [`run_consumer`] with a hook that runs inside every batch transaction (rating).
pub async fn run_consumer_with(
    config: ConsumerConfig,
    pool: PgPool,
    hook: Option<Arc<dyn BatchHook>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<ConsumerStats> {
    config.validate()?;
    let config = Arc::new(config);
    let progress = Arc::new(Progress::default());
    let kafka = Arc::new(consumer(&config, progress.clone())?);
    let producer = dlq::producer(&config.brokers)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let budget = Arc::new(Semaphore::new(config.max_buffered_bytes));
    let mut inboxes = Vec::with_capacity(config.writers);
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..config.writers {
        let (tx, rx) = mpsc::channel::<Received>(config.max_batch_events * INBOX_BATCHES);
        inboxes.push(tx);
        let processor = Processor {
            config: config.clone(),
            pool: pool.clone(),
            producer: producer.clone(),
            kafka: kafka.clone(),
            progress: progress.clone(),
            hook: hook.clone(),
            budget: budget.clone(),
            stats: ConsumerStats::default(),
        };
        writers.spawn(processor.run(rx, stop_rx.clone()));
    }
    let reader = tokio::spawn(read(
        kafka.clone(),
        inboxes,
        progress.clone(),
        Budget {
            bytes: budget,
            max: config.max_buffered_bytes,
        },
        stop_rx,
    ));
    let mut shutdown = std::pin::pin!(futures::FutureExt::fuse(shutdown));
    let mut stats = ConsumerStats::default();
    let mut result = Ok(());
    // Until shutdown, or until a writer stops on its own (a failure retrying cannot fix).
    tokio::select! {
        _ = &mut shutdown => {}
        done = writers.join_next() => {
            if let Some(finished) = done {
                result = stats.absorb(finished);
            }
        }
    }
    // Writers finish the batch in hand (or abandon its retries, offsets unstored) and stop.
    let _ = stop_tx.send(true);
    while let Some(finished) = writers.join_next().await {
        let r = stats.absorb(finished);
        if result.is_ok() {
            result = r;
        }
    }
    progress.writers_stopped();
    let _ = reader.await;
    if let Err(e) = kafka.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final commit");
    }
    result.map(|()| stats)
}

impl ConsumerStats {
    /// Adds a finished writer's totals; its error, if it failed.
    fn absorb(
        &mut self,
        finished: std::result::Result<(ConsumerStats, Result<()>), tokio::task::JoinError>,
    ) -> Result<()> {
        let (s, r) = finished.map_err(|e| {
            crate::error::MeteringError::Config(format!("a consumer writer task failed: {e}"))
        })?;
        self.batches += s.batches;
        self.messages += s.messages;
        self.accepted += s.accepted;
        self.duplicates += s.duplicates;
        self.parked += s.parked;
        self.dead_lettered += s.dead_lettered;
        r
    }
}

/// The bytes read and not yet written (`max_buffered_bytes`).
struct Budget {
    bytes: Arc<Semaphore>,
    max: usize,
}

impl Budget {
    /// A message's share: its key and value bytes (at least 1, at most the whole budget).
    fn cost(&self, msg: &impl Message) -> u32 {
        let len = msg.payload().map_or(0, <[u8]>::len) + msg.key().map_or(0, <[u8]>::len);
        u32::try_from(len.clamp(1, self.max)).unwrap_or(u32::MAX)
    }
}

/// The reader: receives and detaches messages, and hands each to the writer that owns
/// its partition (`partition % writers`), so a partition's batches stay in order and its
/// offsets are stored by one writer only. Each writer's inbox holds several batches and the
/// reader only waits when the byte budget is spent (or an inbox holds `INBOX_BATCHES`
/// batches), so one busy writer does not starve the others. Rebalance callbacks run in here.
async fn read(
    kafka: Arc<Kafka>,
    inboxes: Vec<mpsc::Sender<Received>>,
    progress: Arc<Progress>,
    budget: Budget,
    mut stop: watch::Receiver<bool>,
) {
    // One stream for the reader's life: `recv()` would register and unregister a waker slot
    // (a mutex each time) per message.
    let mut stream = kafka.stream();
    loop {
        // Biased: under load the next message is ready at once, and the stop signal is only
        // polled when the reader would wait anyway.
        let msg = tokio::select! {
            biased;
            m = stream.next() => m,
            _ = stop.changed() => return,
        };
        let msg = match msg {
            Some(Ok(m)) => m,
            None => return,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "kafka receive error");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let cost = budget.cost(&msg);
        match budget.bytes.try_acquire_many(cost) {
            Ok(permit) => permit.forget(),
            Err(_) => {
                let acquired = tokio::select! {
                    _ = stop.changed() => return,
                    p = budget.bytes.acquire_many(cost) => p,
                };
                match acquired {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
            }
        }
        let received = Received::detach(&msg, cost);
        drop(msg);
        let owner = usize::try_from(received.partition).unwrap_or(0) % inboxes.len();
        progress.sent(1);
        let received = match inboxes[owner].try_send(received) {
            Ok(()) => continue,
            Err(mpsc::error::TrySendError::Closed(_)) => return,
            Err(mpsc::error::TrySendError::Full(r)) => r,
        };
        let send = inboxes[owner].send(received);
        // A full inbox must not keep the reader from seeing a shutdown.
        let sent = tokio::select! {
            _ = stop.changed() => return,
            r = send => r,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Collects one batch: waits for a first message, then closes on count, bytes or time.
async fn collect(
    rx: &mut mpsc::Receiver<Received>,
    config: &ConsumerConfig,
) -> Option<Vec<Received>> {
    let first = rx.recv().await?;
    let opened = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + config.max_batch_wait;
    let mut bytes = first.payload().map_or(0, <[u8]>::len);
    let mut batch = vec![first];
    while batch.len() < config.max_batch_events && bytes < config.max_batch_bytes {
        // What is already waiting is taken without arming a timer per message (the clock is
        // read every 1,024 messages, so the time bound still holds).
        if let Ok(m) = rx.try_recv() {
            bytes += m.payload().map_or(0, <[u8]>::len);
            batch.push(m);
            if batch.len() % 1024 == 0 && tokio::time::Instant::now() >= deadline {
                break;
            }
            continue;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                bytes += m.payload().map_or(0, <[u8]>::len);
                batch.push(m);
            }
            Ok(None) | Err(_) => break,
        }
    }
    tracing::debug!(
        events = batch.len(),
        collect_ms = opened.elapsed().as_millis() as u64,
        "batch collected"
    );
    Some(batch)
}

struct Processor {
    config: Arc<ConsumerConfig>,
    pool: PgPool,
    producer: rdkafka::producer::FutureProducer,
    kafka: Arc<Kafka>,
    progress: Arc<Progress>,
    hook: Option<Arc<dyn BatchHook>>,
    /// `max_buffered_bytes`: a batch's share goes back once it is done.
    budget: Arc<Semaphore>,
    stats: ConsumerStats,
}

impl Processor {
    /// One writer: batches from its inbox until the inbox closes, `stop` flips between
    /// batches, or a batch fails for good. Returns its totals and how it ended.
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Received>,
        mut stop: watch::Receiver<bool>,
    ) -> (ConsumerStats, Result<()>) {
        let result = loop {
            if *stop.borrow() {
                break Ok(());
            }
            let batch = tokio::select! {
                _ = stop.changed() => break Ok(()),
                batch = collect(&mut rx, &self.config) => batch,
            };
            let Some(batch) = batch else { break Ok(()) };
            let cost: usize = batch.iter().map(|m| m.cost as usize).sum();
            // A stop during the batch lets it finish, or abandon its retries (offsets unstored).
            let processed = self.process(batch, stop.clone()).await;
            self.budget.add_permits(cost);
            if let Err(e) = processed {
                break Err(e);
            }
        };
        (self.stats, result)
    }

    async fn process(&mut self, batch: Vec<Received>, stop: watch::Receiver<bool>) -> Result<()> {
        let now = Utc::now();
        let t0 = std::time::Instant::now();
        let mut events = Vec::with_capacity(batch.len());
        let mut origins = Vec::with_capacity(batch.len());
        let mut letters = Vec::new();
        for m in &batch {
            let parsed = match m.payload() {
                None => Err(crate::event::FieldError::new(
                    "event",
                    "message has no value",
                )),
                Some(p) => UsageEvent::parse_json(p, now),
            };
            match parsed {
                Ok(e) => {
                    events.push(e);
                    origins.push(m);
                }
                Err(err) => letters.push(DeadLetter {
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    reason: err.to_string(),
                    source: format!("{}/{}/{}", self.config.topic, m.partition, m.offset),
                }),
            }
        }
        let parsed_at = t0.elapsed();
        let Some(outcome) = self
            .write(&events, &origins, &mut letters, stop.clone())
            .await
        else {
            return Ok(());
        };
        tracing::debug!(
            events = events.len(),
            parse_ms = parsed_at.as_millis() as u64,
            write_ms = (t0.elapsed() - parsed_at).as_millis() as u64,
            "batch written"
        );
        if !letters.is_empty() {
            let sent = retry("DLQ delivery", stop, || {
                dlq::send_all(&self.producer, &self.config.dlq_topic, &letters)
            })
            .await;
            // Kafka errors are transient: dead letters are retried until delivered.
            match sent {
                None => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(())) => {}
            }
        }
        self.store_offsets(&batch);
        self.stats.batches += 1;
        self.stats.messages += batch.len() as u64;
        self.stats.accepted += outcome.accepted() as u64;
        self.stats.duplicates += outcome.duplicates() as u64;
        self.stats.parked += outcome.parked() as u64;
        self.stats.dead_lettered += letters.len() as u64;
        // The same counters as the HTTP path's, exported at `/metrics` by `tally serve`;
        // `tally_kafka_messages_done_total` counts messages whose batch has committed and
        // whose offsets are stored (the benchmark times the consumer by it).
        metrics::counter!("tally_events_accepted_total", "path" => "kafka")
            .increment(outcome.accepted() as u64);
        metrics::counter!("tally_events_duplicate_total", "path" => "kafka")
            .increment(outcome.duplicates() as u64);
        metrics::counter!("tally_events_parked_total", "path" => "kafka")
            .increment(outcome.parked() as u64);
        metrics::counter!("tally_events_dead_lettered_total", "path" => "kafka")
            .increment(letters.len() as u64);
        metrics::counter!("tally_kafka_messages_done_total").increment(batch.len() as u64);
        self.progress.done(batch.len() as u64);
        Ok(())
    }

    /// Writes the batch, retrying transient failures. A batch that fails for a reason of its
    /// own (say, a decimal overflow) is written event by event, and the events that still
    /// fail become dead letters: one bad event never stalls the partition.
    async fn write(
        &self,
        events: &[UsageEvent],
        origins: &[&Received],
        letters: &mut Vec<DeadLetter>,
        stop: watch::Receiver<bool>,
    ) -> Option<crate::ingest::BatchOutcome> {
        match retry("database write", stop.clone(), || {
            ingest_batch_with(&self.pool, events, self.hook.as_deref())
        })
        .await?
        {
            Ok(outcome) => return Some(outcome),
            Err(e) => tracing::warn!(error = %e, "batch failed; writing its events one by one"),
        }
        let mut outcome = crate::ingest::BatchOutcome::default();
        for (e, m) in events.iter().zip(origins) {
            match retry("database write", stop.clone(), || {
                ingest_batch_with(&self.pool, std::slice::from_ref(e), self.hook.as_deref())
            })
            .await?
            {
                Ok(one) => outcome.outcomes.extend(one.outcomes),
                Err(err) => {
                    letters.push(DeadLetter {
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().map(<[u8]>::to_vec),
                        reason: format!("not written: {err}"),
                        source: format!("{}/{}/{}", self.config.topic, m.partition, m.offset),
                    });
                }
            }
        }
        Some(outcome)
    }

    fn store_offsets(&self, batch: &[Received]) {
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for m in batch {
            let slot = next.entry(m.partition).or_insert(m.offset + 1);
            *slot = (*slot).max(m.offset + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in next {
            if let Err(e) = tpl.add_partition_offset(&self.config.topic, p, Offset::Offset(o)) {
                tracing::warn!(error = %e, "offset list");
            }
        }
        // Fails for partitions revoked meanwhile: their new owner re-reads (and dedupes) them.
        if let Err(e) = self.kafka.store_offsets(&tpl) {
            tracing::warn!(error = %e, "storing offsets");
        }
    }
}

/// Retries `op` with doubling backoff while it fails transiently. `None`: the consumer is
/// stopping; `Some(Err)`: a failure retrying cannot fix.
async fn retry<T, F, Fut>(
    what: &str,
    mut stop: watch::Receiver<bool>,
    mut op: F,
) -> Option<Result<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match op().await {
            Ok(v) => return Some(Ok(v)),
            Err(e) if !e.is_transient() => return Some(Err(e)),
            Err(e) => tracing::error!(error = %e, "{what} failed; retrying in {backoff:?}"),
        }
        tokio::select! {
            _ = stop.changed() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        if *stop.borrow() {
            return None;
        }
        backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
    }
}
