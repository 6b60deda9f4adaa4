//! `tally bench rating`: what charging costs the write path. The same events, in batches of
//! 1,000, go through `metering::ingest_batch` (rollups only) and through
//! `metering::ingest_batch_with` + `charging::Rater` (rollups, pricing, wallet debits in the
//! same transaction), for prepaid tenants with funded wallets, on one fresh database.

use std::time::Instant;

use chrono::{Duration, Utc};
use serde_json::json;

use super::fresh_database;
use crate::catalogue::CatalogueStore;
use crate::charging::Rater;

pub struct RatingBenchArgs {
    pub tenants: usize,
    pub events: usize,
    /// Events per write-path batch (HTTP sends ≤ 1,000; the Kafka consumer up to 20,000).
    pub batch: usize,
}

const METERS: [&str; 3] = ["ai_tokens", "workflow_runs", "plugin_executions"];

fn events(prefix: &str, tenants: &[String], n: usize) -> anyhow::Result<Vec<metering::UsageEvent>> {
    let now = Utc::now();
    (0..n)
        .map(|i| {
            let v = json!({"id": format!("{prefix}-{i}"), "tenant": tenants[i % tenants.len()],
                           "subject": format!("u{}", i % 50), "meter": METERS[i % METERS.len()],
                           "quantity": (1 + i % 5_000).to_string(),
                           "time": (now - Duration::seconds((i % 3_600) as i64)).to_rfc3339()});
            metering::UsageEvent::parse(&v, now).map_err(|e| anyhow::anyhow!(e.message))
        })
        .collect()
}

pub async fn run(args: RatingBenchArgs) -> anyhow::Result<()> {
    let (pool, db) = fresh_database("tally_bench_rating").await?;
    let catalogue = CatalogueStore::embedded()?;
    let mut groups: [Vec<String>; 3] = Default::default();
    for (g, ids) in groups.iter_mut().enumerate() {
        for i in 0..args.tenants {
            let id = format!("r{g}-{i:04}");
            let mode = if g == 2 { "postpaid" } else { "prepaid" };
            let (plan, region) = (
                ["starter", "pro", "business"][i % 3],
                ["US", "IN", "BR"][i % 3],
            );
            super::funded_tenant(&pool, &id, plan, region, "America/New_York", mode).await?;
            ids.push(id);
        }
    }
    println!(
        "database {db}: {} tenants per run (prepaid, funded; postpaid in the last), {} events per run in batches of {}",
        args.tenants, args.events, args.batch
    );
    let rater = Rater::new(catalogue);
    let runs = [
        ("rollups only (ingest_batch)", 0),
        ("rollups + rating + wallet debits", 1),
        ("rollups + rating, postpaid", 2),
    ];
    for (name, g) in runs {
        let evs = events(&format!("e{g}"), &groups[g], args.events)?;
        let started = Instant::now();
        for chunk in evs.chunks(args.batch.clamp(1, metering::MAX_BATCH_EVENTS)) {
            if g == 0 {
                metering::ingest_batch(&pool, chunk).await?;
            } else {
                metering::ingest_batch_with(&pool, chunk, Some(&rater)).await?;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  {name:<34} {:>9.0} events/s  ({secs:.2} s)",
            args.events as f64 / secs
        );
    }
    let debits: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ledger_transfers WHERE id LIKE '~usage:%'")
            .fetch_one(&pool)
            .await?;
    let report = crate::charging::reconcile(&pool, &pricing::Catalogue::embedded()?).await?;
    println!(
        "  usage debit legs written: {debits}; {}",
        report.to_string().trim_end()
    );
    Ok(())
}
