//! `tally demo`: a realistic month through the pipeline — tenants, usage through Kafka (or the
//! HTTP write path without it), rollups, prices, the token ledger — and a summary to read.

mod ingest;
mod report;
mod workload;

use std::process::ExitCode;

use chrono::Utc;

use crate::{config, db};

pub struct DemoArgs {
    pub events: usize,
    pub seed: u64,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let pool = db::connect(&config::db(&config::ProcessEnv)?).await?;
    let caps = db::migrate(&pool).await?;
    let now = Utc::now();
    let run = now.format("%m%d%H%M%S").to_string();
    println!(
        "Tally demo, run {run}: {} events over the last 30 days for {} tenants",
        args.events,
        workload::TENANTS.len()
    );
    println!(
        "storage: {}",
        if caps.timescaledb {
            "TimescaleDB"
        } else {
            "plain PostgreSQL (native partitions)"
        }
    );

    let catalogue = crate::catalogue::CatalogueStore::embedded()?;
    catalogue.refresh(&pool).await?;
    let tenants = ingest::create_tenants(&pool, &run).await?;
    ingest::fund_wallets(&pool, &tenants, &catalogue.current(), now).await?;
    let work = workload::generate(&run, args.events, args.seed, now);
    let outcome = match config::kafka(&config::ProcessEnv) {
        Some(k) => ingest::through_kafka(&pool, &k, &run, &work, &tenants, &catalogue).await?,
        None => {
            println!(
                "KAFKA_BROKERS is unset: sending through the HTTP write path instead of Kafka"
            );
            ingest::through_write_path(&pool, &work, &catalogue).await?
        }
    };
    report::ingestion(&work, &outcome);
    report::usage(&pool, &tenants, now).await?;
    report::prices(&pool, &tenants, now).await?;
    report::charging(&pool, &tenants, &catalogue, Utc::now()).await?;
    let verified = report::ledger(&pool, &tenants, &catalogue.current(), Utc::now()).await?;
    Ok(if verified && outcome.counted == work.unique_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
