//! Demo set-up and delivery: tenants with wallets, then events through Kafka or the write path.

use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use sqlx::PgPool;

use super::workload::{Workload, TENANTS};
use crate::config::KafkaConfig;
use crate::tenants::{self, NewTenant, TenantInput};

/// How long the demo waits for the consumer to count every event.
const CONSUME_DEADLINE: Duration = Duration::from_secs(300);
/// Messages in flight to the broker at once.
const PRODUCE_WINDOW: usize = 5_000;

pub struct Created {
    pub id: String,
    pub spec: &'static super::workload::DemoTenant,
}

pub async fn create_tenants(pool: &PgPool, run: &str) -> anyhow::Result<Vec<Created>> {
    let mut out = Vec::new();
    for spec in TENANTS {
        let id = format!("{}-{run}", spec.name);
        let input = TenantInput {
            id: Some(id.clone()),
            name: Some(spec.display.into()),
            plan: Some(spec.plan.into()),
            region: Some(spec.region.into()),
            currency: Some(spec.currency.into()),
            timezone: Some(spec.timezone.into()),
            billing_mode: Some(spec.billing_mode.into()),
        };
        let new = NewTenant::parse(&input, &|_| true)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
        tenants::create(pool, &new).await?;
        ledger::open_wallet(pool, &ledger::TenantId::parse(&id)?).await?;
        out.push(Created { id, spec });
    }
    Ok(out)
}

/// Buys each prepaid tenant's starting tokens and credits its plan's grant for this month.
pub async fn fund_wallets(
    pool: &PgPool,
    tenants: &[Created],
    catalogue: &pricing::Catalogue,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    for t in tenants.iter().filter(|t| t.spec.top_up > 0) {
        ledger::top_up(
            pool,
            &ledger::TenantId::parse(&t.id)?,
            &ledger::TransferId::parse("first-purchase")?,
            ledger::Amount::new(t.spec.top_up)?,
            Some("card payment"),
            now,
        )
        .await?;
    }
    crate::charging::grant_and_settle(pool, catalogue, now).await?;
    Ok(())
}

pub struct Delivered {
    pub path: &'static str,
    pub via_kafka: bool,
    pub counted: usize,
    pub duplicates: usize,
    pub dead_lettered: usize,
    pub elapsed: Duration,
}

/// Events counted in the rollups for these tenants (distinct ids, by construction).
async fn counted(pool: &PgPool, tenants: &[super::ingest::Created]) -> anyhow::Result<usize> {
    let ids: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM metering_event_ids WHERE tenant_id = ANY($1)")
            .bind(&ids)
            .fetch_one(pool)
            .await?;
    Ok(n as usize)
}

pub async fn through_kafka(
    pool: &PgPool,
    k: &KafkaConfig,
    run: &str,
    work: &Workload,
    tenants: &[Created],
    catalogue: &crate::catalogue::CatalogueStore,
) -> anyhow::Result<Delivered> {
    println!(
        "producing {} messages to Kafka topic {} at {}",
        work.messages.len(),
        k.usage_topic,
        k.brokers
    );
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &k.brokers)
        .set("linger.ms", "5")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "30000")
        .create()
        .context("creating the Kafka producer")?;
    let started = Instant::now();
    for chunk in work.messages.chunks(PRODUCE_WINDOW) {
        let sends = chunk.iter().map(|(key, value)| {
            producer.send(
                FutureRecord::to(&k.usage_topic).key(key).payload(value),
                Duration::from_secs(30),
            )
        });
        for r in futures::future::join_all(sends).await {
            r.map_err(|(e, _)| anyhow::anyhow!("Kafka delivery failed: {e}"))?;
        }
    }
    let produced = started.elapsed();
    println!(
        "produced in {:.1} s; consuming with group tally-demo-{run}",
        produced.as_secs_f64()
    );

    let mut c = metering::kafka::ConsumerConfig::new(k.brokers.clone());
    c.topic = k.usage_topic.clone();
    c.dlq_topic = k.dlq_topic.clone();
    c.group = format!("tally-demo-{run}");
    c.consumer_overrides
        .push(("auto.offset.reset".into(), "earliest".into()));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let rater = std::sync::Arc::new(crate::charging::Rater::new(catalogue.clone()));
    let consumer = tokio::spawn(metering::kafka::run_consumer_with(
        c,
        pool.clone(),
        Some(rater),
        async move {
            let _ = stop_rx.changed().await;
        },
    ));
    let deadline = Instant::now() + CONSUME_DEADLINE;
    let mut seen = 0;
    while Instant::now() < deadline && !consumer.is_finished() {
        seen = counted(pool, tenants).await?;
        if seen >= work.unique_valid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    // Give the DLQ writes of the last batch a moment, then stop and collect the totals.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    let stats = consumer.await??;
    Ok(Delivered {
        path: "Kafka (usage-events → consumer group → PostgreSQL)",
        via_kafka: true,
        counted: seen,
        duplicates: stats.duplicates as usize,
        dead_lettered: stats.dead_lettered as usize,
        elapsed,
    })
}

/// Without Kafka: the same write path HTTP uses, in batches of 1,000.
pub async fn through_write_path(
    pool: &PgPool,
    work: &Workload,
    catalogue: &crate::catalogue::CatalogueStore,
) -> anyhow::Result<Delivered> {
    let rater = crate::charging::Rater::new(catalogue.clone());
    let started = Instant::now();
    let now = chrono::Utc::now();
    let (mut counted, mut duplicates, mut rejected) = (0, 0, 0);
    for chunk in work.messages.chunks(1_000) {
        let mut events = Vec::with_capacity(chunk.len());
        for (_, bytes) in chunk {
            match metering::UsageEvent::parse_json(bytes, now) {
                Ok(e) => events.push(e),
                Err(_) => rejected += 1,
            }
        }
        let outcome = metering::ingest_batch_with(pool, &events, Some(&rater)).await?;
        counted += outcome.accepted();
        duplicates += outcome.duplicates();
    }
    Ok(Delivered {
        path: "HTTP write path (POST /v1/events batches of 1,000)",
        via_kafka: false,
        counted,
        duplicates,
        dead_lettered: rejected,
        elapsed: started.elapsed(),
    })
}
