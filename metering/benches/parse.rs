//! Parsing cost per event (the consumer's largest CPU share in docs/BENCHMARKS.md):
//! `cargo bench -p metering --bench parse`. Prints ns per event for the ingest bench's
//! payload shape, best of `PARSE_BENCH_ROUNDS` (7) rounds of `PARSE_BENCH_EVENTS` (200,000).
//! This machine's speed drifts by tens of percent, so docs/BENCHMARKS.md also gives the
//! instructions per event under valgrind (`cachegrind`, one round minus two rounds).

use std::time::Instant;

use chrono::Utc;
use metering::UsageEvent;
use serde_json::json;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const METERS: [&str; 4] = ["api_calls", "ai_tokens", "workflow_runs", "storage_gb"];

fn main() {
    let n: usize = std::env::var("PARSE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let rounds: usize = std::env::var("PARSE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let now = Utc::now();
    let payloads: Vec<String> = (0..n)
        .map(|i| {
            let time = now - chrono::Duration::seconds(((i * 7919) % 7200) as i64);
            json!({"id": format!("k0123456789abcdef0123456789abcdef-{i}"), "tenant": format!("bench-t{}", i % 16),
                "meter": METERS[i % 4],
                "subject": format!("user-{}", (i * 31) % 500), "quantity": format!("{}.{}", i % 1000, i % 97),
                "time": time.to_rfc3339(), "properties": {"service": format!("svc{}", i % 5)}})
            .to_string()
        })
        .collect();
    let mut best = u128::MAX;
    for _ in 0..rounds {
        let started = Instant::now();
        let events: Vec<UsageEvent> = payloads
            .iter()
            .map(|p| UsageEvent::parse_json(p.as_bytes(), now).unwrap())
            .collect();
        drop(events);
        best = best.min(started.elapsed().as_nanos() / n.max(1) as u128);
    }
    println!("parse_json + drop: {best} ns per event (best of {rounds} rounds of {n})");
}
