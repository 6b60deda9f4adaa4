//! End to end against the real broker (tansu, `KAFKA_BROKERS`): duplicates, out-of-order,
//! late and garbage events; the consumer process is killed with SIGKILL mid-stream and
//! restarted; the rollups then equal an independent computation exactly, every poison message
//! is in the DLQ, and parked events are kept. Skips (with a message) only without KAFKA_BROKERS.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Command};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use common::*;
use metering::kafka::ERROR_HEADER;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};

const TENANTS: [(&str, &str, &str); 2] = [("e2e-a", "US", "UTC"), ("e2e-b", "IN", "Asia/Kolkata")];
const METERS: [&str; 4] = ["api_calls", "seats", "e2e_max", "e2e_latest"];

/// A small deterministic generator (no randomness crate needed, reproducible failures).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[derive(Clone)]
struct Valid {
    tenant: &'static str,
    meter: &'static str,
    subject: String,
    quantity: Decimal,
    time: DateTime<Utc>,
    id: String,
    region: &'static str,
}

/// (key, value) of a message to produce.
type Record = (String, Vec<u8>);

/// The stream: distinct valid events, exact re-sends, garbage and unknown-tenant events,
/// shuffled; also the number of garbage and of unknown-tenant messages.
fn stream(now: DateTime<Utc>) -> (Vec<Valid>, Vec<Record>, usize, usize) {
    let mut rng = Lcg(42);
    let mut valid = Vec::new();
    for i in 0..2000 {
        let (tenant, region, _) = TENANTS[rng.next(2) as usize];
        valid.push(Valid {
            tenant,
            meter: METERS[rng.next(4) as usize],
            subject: format!("user-{}", rng.next(25)),
            quantity: Decimal::new(rng.next(100_000) as i64, 2),
            // Up to 34 days late, in no particular order.
            time: now - chrono::Duration::seconds(rng.next(34 * 86_400) as i64),
            id: format!("ev-{i}"),
            region,
        });
    }
    let as_json = |v: &Valid| {
        json!({"id": v.id, "tenant": v.tenant, "meter": v.meter, "subject": v.subject,
               "quantity": v.quantity.to_string(), "time": v.time.to_rfc3339(),
               "properties": {"service": "svc"}})
    };
    let mut messages: Vec<Record> = valid
        .iter()
        .map(|v| (v.tenant.to_string(), as_json(v).to_string().into_bytes()))
        .collect();
    for _ in 0..300 {
        let v = &valid[rng.next(2000) as usize];
        messages.push((v.tenant.to_string(), as_json(v).to_string().into_bytes()));
    }
    let garbage: Vec<Value> = vec![
        json!({"id": "g-neg", "tenant": "e2e-a", "meter": "api_calls", "quantity": "-5", "time": now.to_rfc3339()}),
        json!({"id": "g-old", "tenant": "e2e-a", "meter": "api_calls", "quantity": "5",
               "time": (now - chrono::Duration::days(40)).to_rfc3339()}),
        json!({"id": "g-nometer", "tenant": "e2e-a", "quantity": "5", "time": now.to_rfc3339()}),
    ];
    let mut garbage_count = 0;
    for i in 0..10 {
        messages.push(("e2e-a".into(), garbage[i % 3].to_string().into_bytes()));
        messages.push(("e2e-a".into(), format!("{{\"not json {i}").into_bytes()));
        garbage_count += 2;
    }
    for i in 0..20 {
        let ghost = json!({"id": format!("ghost-{i}"), "tenant": "e2e-ghost", "meter": "api_calls",
                           "quantity": "1", "time": now.to_rfc3339()});
        messages.push(("e2e-ghost".into(), ghost.to_string().into_bytes()));
    }
    for i in (1..messages.len()).rev() {
        messages.swap(i, rng.next(i as u64 + 1) as usize);
    }
    (valid, messages, garbage_count, 20)
}

fn spawn_consumer(db_url: &str, brokers: &str, topic: &str, dlq: &str, group: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_metering-consumer"))
        .env("DATABASE_URL", db_url)
        .env("KAFKA_BROKERS", brokers)
        .env("KAFKA_USAGE_TOPIC", topic)
        .env("KAFKA_DLQ_TOPIC", dlq)
        .env("KAFKA_GROUP", group)
        .env("METERING_MAX_BATCH_EVENTS", "50")
        .env("METERING_MAX_BATCH_WAIT_MS", "50")
        .env(
            "RUST_LOG",
            std::env::var("METERING_E2E_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
        )
        // Static membership: the restarted process takes over the killed one's place in the
        // group at once instead of waiting for the broker to expire the dead member.
        .env(
            "METERING_KAFKA_CONSUMER_PROPERTIES",
            format!("group.instance.id={group}-member"),
        )
        .spawn()
        .expect("spawn metering-consumer")
}

async fn produce_all(producer: &FutureProducer, topic: &str, messages: &[Record]) {
    for (key, payload) in messages {
        // One record per produce request (tansu 0.6 cannot resume inside a record batch).
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_restart_and_rollups_match_an_independent_computation() {
    let Some(brokers) = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        println!("SKIPPED kafka_e2e: KAFKA_BROKERS is unset (scripts/stack up prints it)");
        return;
    };
    let pool = fresh_db().await;
    let db_url: String = {
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&pool)
            .await
            .unwrap();
        let url = std::env::var("DATABASE_URL").unwrap();
        format!("{}/{name}", url.rsplit_once('/').unwrap().0)
    };
    for (id, region, tz) in TENANTS {
        tenant(&pool, id, region, tz).await;
    }
    meter(&pool, "e2e_max", metering::Aggregation::Max).await;
    meter(&pool, "e2e_latest", metering::Aggregation::Latest).await;

    let run = uuid::Uuid::new_v4().simple().to_string();
    let (topic, dlq, group) = (
        format!("usage-e2e-{run}"),
        format!("usage-e2e-dlq-{run}"),
        format!("e2e-{run}"),
    );
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let topics = [
        NewTopic::new(&topic, 3, TopicReplication::Fixed(1)),
        NewTopic::new(&dlq, 1, TopicReplication::Fixed(1)),
    ];
    for r in admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .set("enable.idempotence", "false")
        .create()
        .unwrap();

    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    let (valid, messages, garbage, ghosts) = stream(now);
    let split = messages.len() * 6 / 10;
    produce_all(&producer, &topic, &messages[..split]).await;

    let mut child = spawn_consumer(&db_url, &brokers, &topic, &dlq, &group);
    eventually(120, "the first consumer to make progress", || {
        let pool = pool.clone();
        async move { count(&pool, "SELECT count(*) FROM metering_event_ids").await >= 200 }
    })
    .await;
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    let at_kill = count(&pool, "SELECT count(*) FROM metering_event_ids").await;
    println!("killed the consumer with {at_kill} events written");

    produce_all(&producer, &topic, &messages[split..]).await;
    let mut child = spawn_consumer(&db_url, &brokers, &topic, &dlq, &group);
    let distinct = valid.len() as i64;
    eventually(
        180,
        "every valid event written and every unknown-tenant event parked",
        || {
            let pool = pool.clone();
            async move {
                count(&pool, "SELECT count(*) FROM metering_event_ids").await == distinct
                    && count(&pool, "SELECT count(*) FROM metering_parked").await == ghosts as i64
            }
        },
    )
    .await;
    let sources = dead_letter_sources(&brokers, &dlq, garbage).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "consumer exits cleanly on SIGTERM"
    );
    assert_eq!(
        sources.len(),
        garbage,
        "every poison message is in the DLQ (once or more)"
    );

    assert_eq!(hourly(&pool).await, expected_hourly(&valid));
    assert_eq!(monthly(&pool).await, expected_monthly(&valid));
}

/// Distinct `tally-source` headers in the DLQ (a message may be dead-lettered twice after a kill).
async fn dead_letter_sources(brokers: &str, dlq: &str, want: usize) -> BTreeSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{dlq}-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[dlq]).unwrap();
    let mut sources = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sources.len() < want && std::time::Instant::now() < deadline {
        let polled = tokio::task::block_in_place(|| {
            consumer
                .poll(Duration::from_millis(200))
                .map(|r| r.map(|m| m.detach()))
        });
        if let Some(Ok(m)) = polled {
            let headers = m.headers().unwrap();
            assert!(headers
                .iter()
                .any(|h| h.key == ERROR_HEADER && h.value.is_some_and(|v| !v.is_empty())));
            let source = headers
                .iter()
                .find(|h| h.key == "tally-source")
                .and_then(|h| h.value)
                .unwrap();
            sources.insert(String::from_utf8(source.to_vec()).unwrap());
        }
    }
    sources
}

type HourKey = (String, String, DateTime<Utc>, String, String);

async fn hourly(pool: &PgPool) -> BTreeMap<HourKey, Decimal> {
    let rows = sqlx::query(
        "SELECT tenant_id, meter, bucket, subject, region, value FROM metering_rollup_1h",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let key = (
                r.get("tenant_id"),
                r.get("meter"),
                r.get("bucket"),
                r.get("subject"),
                r.get("region"),
            );
            (key, r.get::<Decimal, _>("value").normalize())
        })
        .collect()
}

/// The expected 1-hour rollups, computed from the distinct valid events alone.
fn expected_hourly(valid: &[Valid]) -> BTreeMap<HourKey, Decimal> {
    let mut groups: HashMap<HourKey, Vec<&Valid>> = HashMap::new();
    for v in valid {
        let hour = Utc
            .timestamp_opt(
                v.time.timestamp() - i64::from(v.time.minute() * 60 + v.time.second()),
                0,
            )
            .unwrap();
        let key = (
            v.tenant.into(),
            v.meter.into(),
            hour,
            v.subject.clone(),
            v.region.into(),
        );
        groups.entry(key).or_default().push(v);
    }
    groups
        .into_iter()
        .map(|(k, evs)| (k.clone(), expected_value(&k.1, &evs)))
        .collect()
}

fn expected_value(meter: &str, evs: &[&Valid]) -> Decimal {
    match meter {
        "api_calls" => evs.iter().map(|v| v.quantity).sum(),
        "seats" => Decimal::from(
            evs.iter()
                .map(|v| &v.subject)
                .collect::<BTreeSet<_>>()
                .len(),
        ),
        "e2e_max" => evs.iter().map(|v| v.quantity).max().unwrap(),
        _ => {
            evs.iter()
                .max_by_key(|v| (v.time, v.id.clone()))
                .unwrap()
                .quantity
        }
    }
    .normalize()
}

async fn monthly(pool: &PgPool) -> BTreeMap<(String, String, String), Decimal> {
    let rows = sqlx::query(
        "SELECT tenant_id, meter, period_month::text AS m, value FROM metering_rollup_month",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                (r.get("tenant_id"), r.get("meter"), r.get("m")),
                r.get::<Decimal, _>("value").normalize(),
            )
        })
        .collect()
}

fn expected_monthly(valid: &[Valid]) -> BTreeMap<(String, String, String), Decimal> {
    let mut groups: HashMap<(String, String, String), Vec<&Valid>> = HashMap::new();
    for v in valid {
        let tz: chrono_tz::Tz = TENANTS
            .iter()
            .find(|t| t.0 == v.tenant)
            .unwrap()
            .2
            .parse()
            .unwrap();
        let local = v.time.with_timezone(&tz);
        let month = format!("{:04}-{:02}-01", local.year(), local.month());
        groups
            .entry((v.tenant.into(), v.meter.into(), month))
            .or_default()
            .push(v);
    }
    groups
        .into_iter()
        .map(|(k, evs)| (k.clone(), expected_value(&k.1, &evs)))
        .collect()
}
