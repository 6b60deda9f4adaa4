//! The publisher against the real broker (tansu, `KAFKA_BROKERS`): raised alerts and other
//! events reach a fresh topic with their exact bodies, keyed by tenant, and are marked
//! published. Skips (with a message) only without KAFKA_BROKERS.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alerts::{enqueue, publish_pending_once, raise_crossed, BillingEvent};
use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::PgPool;

const PARTITIONS: i32 = 3;

fn read_topic(brokers: &str, topic: &str, expected: usize) -> HashMap<String, (String, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-readback"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut seen = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < expected && Instant::now() < deadline {
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let msg = msg.unwrap();
        let key = String::from_utf8(msg.key().unwrap().to_vec()).unwrap();
        let event: BillingEvent = serde_json::from_slice(msg.payload().unwrap()).unwrap();
        seen.insert(event.id, (key, msg.payload().unwrap().to_vec()));
    }
    seen
}

#[sqlx::test(migrations = "../migrations")]
async fn events_reach_the_real_broker_and_are_marked_published(pool: PgPool) {
    let Some(brokers) = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        eprintln!("KAFKA_BROKERS is not set: skipping the real-broker publisher test");
        return;
    };
    let topic = format!("billing-events-test-{}", uuid::Uuid::now_v7().simple());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let new_topic = NewTopic::new(&topic, PARTITIONS, TopicReplication::Fixed(1));
    for r in admin
        .create_topics([&new_topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }

    tenant(&pool, "acme").await;
    let mut tx = pool.begin().await.unwrap();
    let now = chrono::Utc::now();
    let raised = raise_crossed(&mut tx, &change("600", "1000"), now)
        .await
        .unwrap();
    let suspended = BillingEvent::tenant_suspended("acme", "quota_exceeded", now).unwrap();
    enqueue(&mut tx, &suspended).await.unwrap();
    tx.commit().await.unwrap();

    let producer = alerts::producer(&brokers).unwrap();
    assert_eq!(
        publish_pending_once(&pool, &producer, &topic)
            .await
            .unwrap(),
        5
    );
    assert_eq!(alerts::pending_count(&pool).await.unwrap(), 0);

    let seen = tokio::task::spawn_blocking({
        let (brokers, topic) = (brokers.clone(), topic.clone());
        move || read_topic(&brokers, &topic, 5)
    })
    .await
    .unwrap();
    let mut expected: Vec<BillingEvent> = raised.into_iter().map(|a| a.event).collect();
    expected.push(suspended);
    assert_eq!(seen.len(), expected.len());
    for event in expected {
        let (key, payload) = &seen[&event.id];
        assert_eq!(key, "acme");
        assert_eq!(payload, &event.to_json_bytes().unwrap());
    }
}
