//! Helpers shared by the alerts integration tests.
#![allow(dead_code)]

use alerts::UsageChange;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

pub fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub async fn tenant(pool: &PgPool, id: &str) {
    sqlx::query(
        "INSERT INTO tenants (id, name, plan, region, currency, timezone, billing_mode)
         VALUES ($1, $1, 'starter', 'IN', 'USD', 'UTC', 'postpaid')",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

/// November 2026 for `acme`'s `ai_tokens`, limit 1000, tenant-wide.
pub fn change(before: &str, after: &str) -> UsageChange<'static> {
    UsageChange {
        tenant: "acme",
        meter: "ai_tokens",
        subject: None,
        period_start: utc("2026-11-01T00:00:00Z"),
        period_end: utc("2026-12-01T00:00:00Z"),
        limit: dec("1000"),
        used_before: dec(before),
        used_after: dec(after),
    }
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}
