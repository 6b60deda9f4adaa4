//! The outbox publisher against librdkafka's mock cluster: events reach the topic keyed by
//! tenant with their exact bodies, in bounded batches, are marked published, and an event
//! whose delivery fails is retried later rather than lost.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alerts::{enqueue_all, publish_pending_once, BillingEvent, EventType, MAX_PUBLISH_BATCH};
use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;
use sqlx::PgPool;

const TOPIC: &str = "billing-events";
const PARTITIONS: i32 = 3;

async fn enqueue_events(pool: &PgPool, n: usize) -> Vec<BillingEvent> {
    let events: Vec<_> = (0..n)
        .map(|i| {
            let tenant = if i % 2 == 0 { "acme" } else { "globex" };
            let data = json!({"invoice_id": format!("inv-{i}"), "total": "12.50"});
            BillingEvent::new(
                EventType::InvoiceFinalized,
                tenant,
                chrono::Utc::now(),
                data,
            )
            .unwrap()
        })
        .collect();
    let mut tx = pool.begin().await.unwrap();
    enqueue_all(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    events
}

/// Every message on the topic, by event id, with its key and partition.
fn read_topic(brokers: &str, expected: usize) -> HashMap<String, (String, i32, BillingEvent)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "readback")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut seen = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < expected && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg.unwrap();
        let key = String::from_utf8(msg.key().unwrap().to_vec()).unwrap();
        let event: BillingEvent = serde_json::from_slice(msg.payload().unwrap()).unwrap();
        seen.insert(event.id.clone(), (key, msg.partition(), event));
    }
    seen
}

fn mock_producer(brokers: &str, timeout_ms: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("message.timeout.ms", timeout_ms)
        .create()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn publishes_in_bounded_batches_and_marks_published(pool: PgPool) {
    tenant(&pool, "acme").await;
    tenant(&pool, "globex").await;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let producer = alerts::producer(&brokers).unwrap();

    let n = 1_100;
    let events = enqueue_events(&pool, n).await;
    let mut batches = Vec::new();
    loop {
        let published = publish_pending_once(&pool, &producer, TOPIC).await.unwrap();
        if published == 0 {
            break;
        }
        batches.push(published);
    }
    let full = MAX_PUBLISH_BATCH as usize;
    assert_eq!(batches, [full, full, n - 2 * full]);
    assert_eq!(alerts::pending_count(&pool).await.unwrap(), 0);

    let seen = tokio::task::spawn_blocking(move || read_topic(&brokers, n))
        .await
        .unwrap();
    assert_eq!(seen.len(), n);
    let mut partition_of_tenant = HashMap::new();
    for event in &events {
        let (key, partition, body) = &seen[&event.id];
        assert_eq!(body, event);
        assert_eq!(key, &event.tenant);
        // Keyed by tenant: one tenant's events share a partition.
        assert_eq!(
            partition_of_tenant.entry(key.clone()).or_insert(*partition),
            partition
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn a_failed_delivery_is_recorded_and_retried_not_lost(pool: PgPool) {
    tenant(&pool, "acme").await;
    tenant(&pool, "globex").await;
    let events = enqueue_events(&pool, 3).await;

    // No broker listens here: every delivery times out.
    let dead = mock_producer("127.0.0.1:1", "1000");
    assert_eq!(publish_pending_once(&pool, &dead, TOPIC).await.unwrap(), 0);
    let rows: Vec<(i32, Option<String>, bool)> = sqlx::query_as(
        "SELECT attempts, last_error, next_attempt_at > now() FROM billing_events ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    for (attempts, last_error, backed_off) in rows {
        assert_eq!(attempts, 1);
        assert!(last_error.is_some_and(|e| !e.is_empty()));
        assert!(backed_off);
    }

    // Backed off: a healthy broker does not get them before they are due...
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let producer = alerts::producer(&brokers).unwrap();
    assert_eq!(
        publish_pending_once(&pool, &producer, TOPIC).await.unwrap(),
        0
    );
    // ...and does once they are.
    sqlx::query("UPDATE billing_events SET next_attempt_at = now()")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        publish_pending_once(&pool, &producer, TOPIC).await.unwrap(),
        3
    );
    let seen = tokio::task::spawn_blocking(move || read_topic(&brokers, 3))
        .await
        .unwrap();
    assert!(events.iter().all(|e| seen.contains_key(&e.id)));
    assert_eq!(alerts::pending_count(&pool).await.unwrap(), 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn run_publisher_drains_the_outbox_and_stops_on_shutdown(pool: PgPool) {
    tenant(&pool, "acme").await;
    tenant(&pool, "globex").await;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let (pool, brokers) = (pool.clone(), brokers.clone());
        async move {
            alerts::run_publisher(pool, &brokers, TOPIC, async {
                let _ = stopped.await;
            })
            .await
        }
    });
    enqueue_events(&pool, 20).await;
    let mut waited = 0;
    while alerts::pending_count(&pool).await.unwrap() > 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(alerts::pending_count(&pool).await.unwrap(), 0);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let seen = tokio::task::spawn_blocking(move || read_topic(&brokers, 20))
        .await
        .unwrap();
    assert_eq!(seen.len(), 20);
}

#[sqlx::test(migrations = "../migrations")]
async fn raised_alerts_are_published_with_their_bodies(pool: PgPool) {
    tenant(&pool, "acme").await;
    let mut tx = pool.begin().await.unwrap();
    let raised = alerts::raise_crossed(&mut tx, &change("600", "1000"), chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let producer = alerts::producer(&brokers).unwrap();
    assert_eq!(
        publish_pending_once(&pool, &producer, TOPIC).await.unwrap(),
        4
    );
    let seen = tokio::task::spawn_blocking(move || read_topic(&brokers, 4))
        .await
        .unwrap();
    for alert in raised {
        assert_eq!(seen[&alert.event.id].2, alert.event);
    }
}
