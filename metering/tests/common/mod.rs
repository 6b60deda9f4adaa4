//! Helpers shared by the metering integration tests: tenants, meters and event builders.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use metering::{Aggregation, Meter, MeterCode, UsageEvent};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;

/// The fixed "now" the tests parse against.
pub fn now() -> DateTime<Utc> {
    utc("2026-11-21T12:00:00Z")
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub async fn tenant(pool: &PgPool, id: &str, region: &str, timezone: &str) {
    sqlx::query(
        "INSERT INTO tenants (id, name, plan, region, currency, timezone, billing_mode)
         VALUES ($1, $1, 'starter', $2, 'USD', $3, 'postpaid')",
    )
    .bind(id)
    .bind(region)
    .bind(timezone)
    .execute(pool)
    .await
    .unwrap();
}

pub async fn meter(pool: &PgPool, code: &str, aggregation: Aggregation) {
    metering::upsert_meter(
        pool,
        &Meter {
            code: MeterCode::parse(code).unwrap(),
            name: code.into(),
            aggregation,
            unit: "unit".into(),
            cost_per_unit_usd: dec("0.5"),
        },
    )
    .await
    .unwrap();
}

/// An event value; `extra` fields override the defaults.
pub fn event_json(
    id: &str,
    tenant: &str,
    meter: &str,
    quantity: &str,
    time: &str,
    extra: Value,
) -> Value {
    let mut v =
        json!({"id": id, "tenant": tenant, "meter": meter, "quantity": quantity, "time": time});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

pub fn event(
    id: &str,
    tenant: &str,
    meter: &str,
    quantity: &str,
    time: &str,
    extra: Value,
) -> UsageEvent {
    UsageEvent::parse(&event_json(id, tenant, meter, quantity, time, extra), now()).unwrap()
}

/// A fresh, migrated database named after a UUID (for tests that need a multi-thread runtime,
/// which `#[sqlx::test]` does not give). Dropped by nobody: test databases are disposable.
pub async fn fresh_db() -> PgPool {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must be set for database tests");
    let admin = PgPool::connect(&url).await.unwrap();
    let name = format!("metering_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = url.rsplit_once('/').unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    sqlx::migrate!("../migrations").run(&pool).await.unwrap();
    pool
}

/// Polls `probe` every 100 ms until it returns true, panicking after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !probe().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
