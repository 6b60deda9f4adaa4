//! Metering property: any permutation, duplication and batching of an event stream yields
//! the same rollups (every grain, the unique_count sets), and the sum rollups equal the sum
//! of the distinct events — against real PostgreSQL (`DATABASE_URL`).

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use metering::{ingest_batch, Aggregation, Meter, MeterCode, UsageEvent};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

const METERS: [&str; 6] = [
    "p_sum", "p_count", "p_max", "p_latest", "p_unique", "p_gauge",
];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// One generated event, tenant left open so that each case writes under fresh tenants.
#[derive(Debug, Clone)]
struct Spec {
    id: u32,
    meter: usize,
    subject: u8,
    service: u8,
    quantity_milli: u32,
    minutes_ago: u32,
    user: u8,
}

impl Spec {
    fn event(&self, tenant: &str) -> UsageEvent {
        let time = now() - Duration::minutes(i64::from(self.minutes_ago));
        let v = json!({
            "id": format!("ev-{}", self.id), "tenant": tenant, "meter": METERS[self.meter],
            "subject": format!("s{}", self.subject), "quantity": Decimal::new(i64::from(self.quantity_milli), 3).to_string(),
            "time": time.to_rfc3339(), "region": if self.service % 2 == 0 { "IN" } else { "US" },
            "properties": {"service": format!("svc{}", self.service), "user": format!("u{}", self.user)},
        });
        UsageEvent::parse(&v, now()).unwrap()
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..6usize,
        0..3u8,
        0..3u8,
        0..50_000u32,
        0..(34 * 24 * 60u32),
        0..4u8,
    )
        .prop_map(
            |(meter, subject, service, quantity_milli, minutes_ago, user)| Spec {
                id: 0,
                meter,
                subject,
                service,
                quantity_milli,
                minutes_ago,
                user,
            },
        )
}

/// Distinct events, then a shuffled, duplicated delivery of them cut into batches.
fn scenario() -> impl Strategy<Value = (Vec<Spec>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec(spec(), 1..40).prop_flat_map(|mut specs| {
        for (i, s) in specs.iter_mut().enumerate() {
            s.id = i as u32;
            // Clustered times so that buckets receive several events.
            s.minutes_ago %= if i % 3 == 0 { 20 } else { 34 * 24 * 60 };
        }
        let n = specs.len();
        let delivery = (
            prop::collection::vec(0..n, 0..n * 2),
            Just((0..n).collect::<Vec<_>>()),
        )
            .prop_map(|(dups, all)| all.into_iter().chain(dups).collect::<Vec<_>>())
            .prop_shuffle();
        (
            Just(specs),
            delivery,
            prop::collection::vec(1..12usize, 1..20),
        )
    })
}

struct Db {
    rt: tokio::runtime::Runtime,
    pool: PgPool,
}

fn db() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = rt.block_on(async {
            let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must be set");
            let admin = PgPool::connect(&url).await.unwrap();
            let name = format!("metering_props_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            let (base, _) = url.rsplit_once('/').unwrap();
            let pool = PgPool::connect(&format!("{base}/{name}")).await.unwrap();
            sqlx::migrate!("../migrations").run(&pool).await.unwrap();
            let aggs = [
                Aggregation::Sum,
                Aggregation::Count,
                Aggregation::Max,
                Aggregation::Latest,
                Aggregation::UniqueCount {
                    property: Some("user".into()),
                },
                Aggregation::TimeWeighted {
                    sample_seconds: 3600,
                    per_seconds: 86_400,
                },
            ];
            for (code, aggregation) in METERS.iter().zip(aggs) {
                let meter = Meter {
                    code: MeterCode::parse(code).unwrap(),
                    name: code.to_string(),
                    aggregation,
                    unit: "u".into(),
                    cost_per_unit_usd: Decimal::new(3, 2),
                };
                metering::upsert_meter(&pool, &meter).await.unwrap();
            }
            pool
        });
        Db { rt, pool }
    })
}

async fn add_tenant(pool: &PgPool, id: &str) {
    sqlx::query(
        "INSERT INTO tenants (id, name, plan, region, currency, timezone, billing_mode)
         VALUES ($1, $1, 'p', 'IN', 'INR', 'Asia/Kolkata', 'prepaid')",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

/// Every rollup row and set member of a tenant, as text, tenant column left out.
async fn snapshot(pool: &PgPool, tenant: &str) -> Vec<String> {
    let cols = "meter, bucket::text, aggregation, value::text, event_count::text, cost_usd::text, latest_time::text, latest_id";
    let mut queries: Vec<String> = [
        "metering_rollup_5m",
        "metering_rollup_1h",
        "metering_rollup_1d",
    ]
    .iter()
    .map(|table| {
        format!(
            "SELECT concat_ws('|', '{table}', {cols}, subject, region, service) FROM {table}
                 WHERE tenant_id = $1 ORDER BY 1"
        )
    })
    .collect();
    queries.push(format!("SELECT concat_ws('|', {cols}, period_month::text, period_end::text) FROM metering_rollup_month WHERE tenant_id = $1 ORDER BY 1"));
    queries.push("SELECT concat_ws('|', grain, meter, bucket::text, subject, region, service, value) FROM metering_unique_values WHERE tenant_id = $1 ORDER BY 1".into());
    let mut out = Vec::new();
    for sql in &queries {
        let rows: Vec<String> = sqlx::query_scalar(sql)
            .bind(tenant)
            .fetch_all(pool)
            .await
            .unwrap();
        out.extend(rows);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn rollups_ignore_order_duplication_and_batching((specs, delivery, cuts) in scenario()) {
        let db = db();
        let case = uuid::Uuid::new_v4().simple().to_string();
        let (reference, shuffled) = (format!("r{}", &case[..12]), format!("s{}", &case[..12]));
        let (ref_rows, got_rows, sum_ok) = db.rt.block_on(async {
            add_tenant(&db.pool, &reference).await;
            add_tenant(&db.pool, &shuffled).await;
            let canonical: Vec<_> = specs.iter().map(|s| s.event(&reference)).collect();
            ingest_batch(&db.pool, &canonical).await.unwrap();
            let stream: Vec<_> = delivery.iter().map(|&i| specs[i].event(&shuffled)).collect();
            let mut rest = &stream[..];
            let mut cut = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*cut.next().unwrap()).min(rest.len());
                ingest_batch(&db.pool, &rest[..n]).await.unwrap();
                rest = &rest[n..];
            }
            let raw_sum: Decimal = specs.iter().filter(|s| s.meter == 0)
                .map(|s| Decimal::new(i64::from(s.quantity_milli), 3)).sum();
            let rolled: Option<Decimal> = sqlx::query_scalar(
                "SELECT sum(value) FROM metering_rollup_1d WHERE tenant_id = $1 AND meter = 'p_sum'")
                .bind(&shuffled).fetch_one(&db.pool).await.unwrap();
            (snapshot(&db.pool, &reference).await, snapshot(&db.pool, &shuffled).await,
             rolled.unwrap_or_default() == raw_sum)
        });
        prop_assert!(!ref_rows.is_empty());
        prop_assert_eq!(ref_rows, got_rows);
        prop_assert!(sum_ok, "sum rollup differs from the sum of distinct events");
    }
}
