//! `tally bench ingest`: `POST /v1/events` over loopback HTTP in batches of 1,000, through the
//! real router (parsing, auth, the write path with rollups and rating), with several concurrent
//! connections: every request in its own transaction at once (as before group commit), the
//! same through 2 writers, and group commit (`crate::ingest::Coalescer`), on one fresh database.

use std::time::Instant;

use chrono::{Duration, Utc};
use serde_json::json;

use super::{fresh_database, http_load};
use crate::api::AppState;
use crate::catalogue::CatalogueStore;

pub struct IngestBenchArgs {
    pub tenants: usize,
    pub requests: usize,
    pub connections: usize,
}

const PER_REQUEST: usize = 1_000;
const METERS: [&str; 4] = [
    "ai_tokens",
    "workflow_runs",
    "plugin_executions",
    "api_calls",
];

pub async fn run(args: IngestBenchArgs) -> anyhow::Result<()> {
    let (pool, db) = fresh_database("tally_bench_ingest").await?;
    let mut ids = Vec::new();
    for i in 0..args.tenants {
        let id = format!("h-{i:04}");
        let (plan, tz) = (
            ["starter", "pro", "business"][i % 3],
            ["America/New_York", "Asia/Kolkata"][i % 2],
        );
        super::funded_tenant(&pool, &id, plan, "US", tz, ["prepaid", "postpaid"][i % 2]).await?;
        ids.push(id);
    }
    println!(
        "database {db}: {} tenants (half prepaid); {} requests of {PER_REQUEST} events per run over {} connections",
        args.tenants, args.requests, args.connections
    );
    let owner = "bench-owner-token-0123456789";
    let now = Utc::now();
    let runs = [
        // Before group commit: every request wrote its own transaction at once.
        (
            "own transaction, all at once",
            args.connections,
            PER_REQUEST,
        ),
        (
            "own transaction, 2 writers",
            crate::ingest::DEFAULT_WRITERS,
            PER_REQUEST,
        ),
        (
            "group commit, 2 writers (≤ 8,000)",
            crate::ingest::DEFAULT_WRITERS,
            crate::ingest::DEFAULT_MAX_EVENTS,
        ),
    ];
    for (run, (name, writers, max_events)) in runs.into_iter().enumerate() {
        let catalogue = CatalogueStore::embedded()?;
        let mut state = AppState::new(pool.clone(), owner, None, catalogue.clone());
        state.ingest =
            crate::ingest::Coalescer::spawn(pool.clone(), catalogue, writers, max_events);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server =
            tokio::spawn(async move { axum::serve(listener, crate::api::router(state)).await });
        let requests: Vec<Vec<u8>> = (0..args.requests)
            .map(|r| {
                let events: Vec<_> = (0..PER_REQUEST)
                    .map(|k| {
                        let i = r * PER_REQUEST + k;
                        json!({"id": format!("r{run}-{i}"), "tenant": ids[i % ids.len()],
                               "subject": format!("u{}", i % 40), "meter": METERS[i % METERS.len()],
                               "quantity": (1 + i % 997).to_string(),
                               "time": (now - Duration::seconds((i % 7_200) as i64)).to_rfc3339()})
                    })
                    .collect();
                http_load::post(
                    "/v1/events",
                    owner,
                    &serde_json::to_string(&events).unwrap_or_default(),
                )
            })
            .collect();
        let started = Instant::now();
        // A rate far above what is reachable: each connection sends its next request as soon as
        // the previous answer arrives.
        let (_, errors) = http_load::run(addr, requests, args.connections, 1_000_000).await?;
        let secs = started.elapsed().as_secs_f64();
        server.abort();
        let events = args.requests * PER_REQUEST;
        println!(
            "  {name:<36} {:>9.0} events/s  ({events} events in {secs:.2} s{})",
            events as f64 / secs,
            if errors > 0 {
                format!(", {errors} non-2xx answers")
            } else {
                String::new()
            }
        );
    }
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM metering_event_ids")
        .fetch_one(&pool)
        .await?;
    let report = crate::charging::reconcile(&pool, &pricing::Catalogue::embedded()?).await?;
    println!(
        "  events counted: {counted}; {}",
        report.to_string().trim_end()
    );
    Ok(())
}
