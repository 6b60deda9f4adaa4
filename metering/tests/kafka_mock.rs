//! The consumer against librdkafka's mock cluster: valid events reach the rollups once,
//! poison messages go to the DLQ with a `tally-error` header and do not stall the stream,
//! and offsets are committed for everything processed.

mod common;

use std::time::Duration;

use common::*;
use metering::kafka::{run_consumer, ConsumerConfig, ConsumerStats, ERROR_HEADER};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
}

/// A mock cluster with topics `usage` (3 partitions) and `dlq`, its bootstrap servers and a
/// producer for it (the cluster lives as long as the returned handle).
fn mock_cluster() -> (
    MockCluster<'static, DefaultProducerContext>,
    String,
    FutureProducer,
) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("usage", 3, 1).unwrap();
    cluster.create_topic("dlq", 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    (cluster, brokers, producer)
}

/// A consumer of topic `usage` (dead letters to `dlq`) in group `group`.
fn config(brokers: &str, group: &str) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(brokers);
    config.topic = "usage".into();
    config.dlq_topic = "dlq".into();
    config.group = group.into();
    config
}

/// Runs a consumer until `n` distinct events are counted, gives the last batch time to store
/// its offsets, stops it and returns its totals.
async fn consume_until_counted(
    config: ConsumerConfig,
    pool: &sqlx::PgPool,
    n: i64,
) -> ConsumerStats {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(run_consumer(config, pool.clone(), async {
        let _ = stopped.await;
    }));
    let p = pool.clone();
    eventually(60, &format!("{n} events counted"), || {
        let p = p.clone();
        async move {
            let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM metering_event_ids")
                .fetch_one(&p)
                .await
                .unwrap();
            counted == n
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(()).unwrap();
    handle.await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_writes_batches_dead_letters_poison_and_commits() {
    let pool = fresh_db().await;
    tenant(&pool, "acme", "IN", "UTC").await;
    let (_cluster, brokers, producer) = mock_cluster();

    let recent = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let mut expected_total = 0u64;
    for i in 0..300u64 {
        let q = i % 7;
        let ev = event_json(
            &format!("e{i}"),
            "acme",
            "api_calls",
            &q.to_string(),
            &recent,
            json!({}),
        );
        produce(&producer, "usage", "acme", ev.to_string().as_bytes()).await;
        expected_total += q;
        if i % 10 == 0 {
            // The same event again: counted once.
            produce(&producer, "usage", "acme", ev.to_string().as_bytes()).await;
        }
        if i % 50 == 0 {
            produce(&producer, "usage", "acme", b"{definitely not json").await;
            let negative = event_json(
                &format!("n{i}"),
                "acme",
                "api_calls",
                "-1",
                &recent,
                json!({}),
            );
            produce(&producer, "usage", "acme", negative.to_string().as_bytes()).await;
        }
    }
    // Two events whose sum overflows a Decimal in one batch: the batch is retried event by
    // event and both are counted; the stream does not stall.
    tenant(&pool, "huge", "US", "UTC").await;
    for i in 0..2 {
        let big = event_json(
            &format!("big{i}"),
            "huge",
            "api_calls",
            "50000000000000000000000000000",
            &recent,
            json!({}),
        );
        produce(&producer, "usage", "huge", big.to_string().as_bytes()).await;
    }
    let produced = 300 + 30 + 12 + 2;

    let mut config = config(&brokers, "g1");
    config.max_batch_events = 64;
    let stats = consume_until_counted(config, &pool, 302).await;
    assert_eq!(stats.messages, produced);
    assert_eq!(
        (stats.accepted, stats.duplicates, stats.dead_lettered),
        (302, 30, 12)
    );

    let total: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT sum(value) FROM metering_rollup_1d WHERE tenant_id = 'acme'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(total, rust_decimal::Decimal::from(expected_total));

    // Every poison message is in the DLQ with its reason.
    let dlq: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    dlq.subscribe(&["dlq"]).unwrap();
    let mut reasons = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reasons.len() < 12 && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(200)) {
            let headers = m.headers().unwrap();
            let reason = headers
                .iter()
                .find(|h| h.key == ERROR_HEADER)
                .and_then(|h| h.value)
                .unwrap();
            reasons.push(String::from_utf8(reason.to_vec()).unwrap());
        }
    }
    assert_eq!(reasons.len(), 12);
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.starts_with("event: is not valid JSON"))
            .count(),
        6
    );
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.as_str() == "quantity: must not be negative")
            .count(),
        6
    );

    // Committed offsets cover every message.
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "g1")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition("usage", p);
    }
    let committed = probe
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let sum: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum();
    assert_eq!(sum, produced as i64);
}

/// `max_buffered_bytes` bounds what the reader holds ahead of the writers: with room for only
/// a few messages every batch stays that small, and the stream still drains completely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_ahead_is_bounded_by_the_byte_budget() {
    let pool = fresh_db().await;
    for t in ["t0", "t1", "t2"] {
        tenant(&pool, t, "IN", "UTC").await;
    }
    let (_cluster, brokers, producer) = mock_cluster();
    let recent = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let mut smallest = usize::MAX;
    for i in 0..120u64 {
        let key = format!("t{}", i % 3);
        let ev = event_json(&format!("e{i}"), &key, "api_calls", "2", &recent, json!({}));
        let payload = ev.to_string();
        smallest = smallest.min(payload.len() + key.len());
        produce(&producer, "usage", &key, payload.as_bytes()).await;
    }
    const BUDGET: usize = 1_000;
    let mut config = config(&brokers, "budget");
    config.max_buffered_bytes = BUDGET;
    config.max_batch_wait = Duration::from_millis(20);
    let stats = consume_until_counted(config, &pool, 120).await;
    assert_eq!((stats.messages, stats.accepted), (120, 120));
    // No batch can hold more messages than the budget has room for.
    let most_per_batch = (BUDGET / smallest) as u64;
    assert!(most_per_batch < 10, "messages are ~{smallest} bytes");
    assert!(
        stats.batches >= 120 / most_per_batch,
        "{} batches for 120 messages with room for {most_per_batch} at a time",
        stats.batches
    );
    let total: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT sum(value) FROM metering_rollup_month")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(total, rust_decimal::Decimal::from(240));
}
