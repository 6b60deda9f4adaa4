//! `tally bench …`: benchmarks that need the whole binary, run against a fresh database.
//! Floats here are timings and rates for display, never money.
#![allow(clippy::float_arithmetic)]

mod http_load;
pub mod ingest;
pub mod quota;
pub mod rating;

use std::time::Duration;

use sqlx::PgPool;

/// Latency percentiles of a sample, in microseconds.
pub struct Percentiles {
    pub count: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

pub fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: usize| -> f64 {
        let i = (samples.len().saturating_sub(1) * q) / 1000;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
    };
    Percentiles {
        count: samples.len(),
        p50_us: at(500),
        p99_us: at(990),
        p999_us: at(999),
        max_us: at(1000),
    }
}

/// A new, empty, migrated database next to DATABASE_URL's; dropped by the caller if wanted.
pub async fn fresh_database(name_prefix: &str) -> anyhow::Result<(PgPool, String)> {
    let base = crate::config::db(&crate::config::ProcessEnv)?;
    let admin = crate::db::connect(&base).await?;
    let name = format!(
        "{name_prefix}_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    let (prefix, _) = base
        .url
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL has no database name"))?;
    let mut cfg = base.clone();
    cfg.url = format!("{prefix}/{name}");
    let pool = crate::db::connect(&cfg).await?;
    crate::db::migrate(&pool).await?;
    Ok((pool, name))
}

/// Creates a tenant (USD) with an open wallet funded with a billion tokens, for benchmarks
/// whose prepaid tenants must never run dry.
pub async fn funded_tenant(
    pool: &PgPool,
    id: &str,
    plan: &str,
    region: &str,
    timezone: &str,
    billing_mode: &str,
) -> anyhow::Result<()> {
    let input = crate::tenants::TenantInput {
        id: Some(id.into()),
        name: Some(id.into()),
        plan: Some(plan.into()),
        region: Some(region.into()),
        currency: Some("USD".into()),
        timezone: Some(timezone.into()),
        billing_mode: Some(billing_mode.into()),
    };
    let new = crate::tenants::NewTenant::parse(&input, &|_| true)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    crate::tenants::create(pool, &new).await?;
    let t = ledger::TenantId::parse(id)?;
    ledger::open_wallet(pool, &t).await?;
    let fund = ledger::TransferId::parse("fund")?;
    let amount = ledger::Amount::new(1_000_000_000)?;
    ledger::top_up(pool, &t, &fund, amount, None, chrono::Utc::now()).await?;
    Ok(())
}
