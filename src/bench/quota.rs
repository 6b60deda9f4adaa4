//! `tally bench quota`: quota checks from the in-memory view, in process and over HTTP, side by
//! side with a naive one-query-per-check baseline, on one fresh database in one run.

use std::time::{Duration, Instant};

use chrono::Utc;
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::PgPool;

use super::{fresh_database, http_load, percentiles, Percentiles};
use crate::api::AppState;
use crate::catalogue::CatalogueStore;
use crate::quota::QuotaView;
use crate::tenants::{self, NewTenant, TenantInput};

pub struct QuotaBenchArgs {
    pub tenants: usize,
    pub checks: usize,
    pub http_rate: u64,
    pub http_seconds: u64,
}

const METERS: [&str; 3] = ["api_calls", "workflow_runs", "ai_tokens"];
const NAIVE_CONCURRENCY: usize = 8;
const HTTP_CONNECTIONS: usize = 16;

async fn seed(pool: &PgPool, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    let mut events = Vec::new();
    let now = Utc::now();
    for i in 0..n {
        let id = format!("bench-{i:05}");
        let input = TenantInput {
            id: Some(id.clone()),
            name: Some(id.clone()),
            plan: Some(["free", "starter", "pro", "business"][i % 4].into()),
            region: Some("US".into()),
            currency: Some("USD".into()),
            timezone: Some("America/New_York".into()),
            // Half prepaid: their checks also price the quantity against the wallet.
            billing_mode: Some(["prepaid", "postpaid"][i % 2].into()),
        };
        let new = NewTenant::parse(&input, &|_| true).map_err(|e| anyhow::anyhow!(e.message))?;
        tenants::create(pool, &new).await?;
        for (m, meter) in METERS.iter().enumerate() {
            let v = json!({"id": format!("seed-{m}"), "tenant": id, "subject": "s", "meter": meter,
                           "quantity": (i % 40 + 1).to_string(), "time": now.to_rfc3339()});
            events.push(
                metering::UsageEvent::parse(&v, now).map_err(|e| anyhow::anyhow!(e.message))?,
            );
        }
        ids.push(id);
    }
    for chunk in events.chunks(1_000) {
        metering::ingest_batch(pool, chunk).await?;
    }
    Ok(ids)
}

fn row(name: &str, p: &Percentiles, rate: f64) {
    println!(
        "  {:<34} {:>9} {:>11.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        name, p.count, rate, p.p50_us, p.p99_us, p.p999_us, p.max_us
    );
}

/// The baseline: every check is one SQL query computing usage and limit from the tables.
async fn naive_check(pool: &PgPool, tenant: &str, meter: &str) -> anyhow::Result<bool> {
    let (status, used): (String, Decimal) = sqlx::query_as(
        "SELECT t.status, COALESCE((SELECT m.value FROM metering_rollup_month m
                 WHERE m.tenant_id = t.id AND m.meter = $2 AND m.bucket <= now() AND m.period_end > now()), 0)
           FROM tenants t WHERE t.id = $1",
    )
    .bind(tenant)
    .bind(meter)
    .fetch_one(pool)
    .await?;
    Ok(status == "active" && used >= Decimal::ZERO)
}

pub async fn run(args: QuotaBenchArgs) -> anyhow::Result<()> {
    let (pool, db) = fresh_database("tally_bench_quota").await?;
    println!(
        "database {db}: seeding {} tenants with usage of {} meters",
        args.tenants,
        METERS.len()
    );
    let ids = seed(&pool, args.tenants).await?;
    let catalogue = CatalogueStore::embedded()?;
    let view = QuotaView::default();
    let started = Instant::now();
    view.refresh(&pool, Utc::now()).await?;
    println!(
        "quota view rebuilt from the database in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "\n  {:<34} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9}",
        "path", "checks", "checks/s", "p50 µs", "p99 µs", "p99.9 µs", "max µs"
    );

    let cat = catalogue.current();
    let mut samples = Vec::with_capacity(args.checks);
    let started = Instant::now();
    for i in 0..args.checks {
        let t0 = Instant::now();
        let a = view.check(
            &cat,
            &ids[i % ids.len()],
            METERS[i % METERS.len()],
            None,
            Decimal::ONE,
            Utc::now(),
        );
        samples.push(t0.elapsed());
        std::hint::black_box(a);
    }
    let rate = args.checks as f64 / started.elapsed().as_secs_f64();
    row("in-process view (1 thread)", &percentiles(samples), rate);

    let naive_checks = (args.checks / 10).max(1_000);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..NAIVE_CONCURRENCY {
        let (pool, ids) = (pool.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for i in (w..naive_checks).step_by(NAIVE_CONCURRENCY) {
                let t0 = Instant::now();
                naive_check(&pool, &ids[i % ids.len()], METERS[i % METERS.len()]).await?;
                lat.push(t0.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let rate = naive_checks as f64 / started.elapsed().as_secs_f64();
    row(
        &format!("naive: 1 SQL query/check ({NAIVE_CONCURRENCY} conc.)"),
        &percentiles(lat),
        rate,
    );

    let owner = "bench-owner-token-0123456789";
    let state = AppState::new(pool.clone(), owner, None, catalogue.clone());
    state.quota.refresh(&pool, Utc::now()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server =
        tokio::spawn(async move { axum::serve(listener, crate::api::router(state)).await });
    let total = (args.http_rate * args.http_seconds) as usize;
    let requests = (0..total)
        .map(|i| {
            let body = json!({"tenant": ids[i % ids.len()], "meter": METERS[i % METERS.len()], "quantity": "1"}).to_string();
            http_load::post("/v1/quota/check", owner, &body)
        })
        .collect();
    let started = Instant::now();
    let (lat, errors) = http_load::run(addr, requests, HTTP_CONNECTIONS, args.http_rate).await?;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    row(
        &format!("HTTP loopback, paced {}/s", args.http_rate),
        &percentiles(lat),
        rate,
    );
    if errors > 0 {
        println!("  ({errors} non-2xx answers)");
    }
    server.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("\n(latencies over HTTP are measured from each request's scheduled send time)");
    Ok(())
}
