//! A standalone usage-events consumer (`DATABASE_URL`, `KAFKA_BROKERS`, `KAFKA_USAGE_TOPIC`,
//! `KAFKA_DLQ_TOPIC`, `KAFKA_GROUP`): the process the end-to-end test kills and restarts, and
//! what the benchmark drives. `METERING_MAX_BATCH_EVENTS` / `METERING_MAX_BATCH_WAIT_MS` override
//! the batch bounds, `METERING_WRITERS` the number of writer tasks. `tally serve` runs the same `run_consumer` in-process.

use std::time::Duration;

use metering::kafka::{run_consumer, ConsumerConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut config = match ConsumerConfig::from_env() {
        Ok(Some(c)) => c,
        Ok(None) => fail("KAFKA_BROKERS is not set"),
        Err(e) => fail(&e.to_string()),
    };
    // Batch bounds for tests and benchmarks; the defaults are the production ones.
    if let Some(n) = env_number("METERING_MAX_BATCH_EVENTS") {
        config.max_batch_events = usize::try_from(n).unwrap_or(config.max_batch_events);
    }
    // Extra librdkafka consumer properties, `key=value,key=value` (tests, diagnosis).
    config.add_consumer_properties(
        &std::env::var("METERING_KAFKA_CONSUMER_PROPERTIES").unwrap_or_default(),
    );
    if let Some(ms) = env_number("METERING_MAX_BATCH_WAIT_MS") {
        config.max_batch_wait = Duration::from_millis(ms);
    }
    if let Some(n) = env_number("METERING_WRITERS") {
        config.writers = usize::try_from(n).unwrap_or(config.writers);
    }
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| fail("DATABASE_URL is not set"));
    let pool = sqlx::postgres::PgPoolOptions::new()
        // One connection per writer, one spare.
        .max_connections(u32::try_from(config.writers + 1).unwrap_or(5))
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .unwrap_or_else(|e| fail(&format!("database: {e}")));
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .unwrap_or_else(|e| fail(&format!("signal: {e}")));
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match run_consumer(config, pool, shutdown).await {
        Ok(stats) => println!("metering-consumer stopped: {stats:?}"),
        Err(e) => fail(&e.to_string()),
    }
}

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    Some(
        raw.parse()
            .unwrap_or_else(|_| fail(&format!("{name} must be a number"))),
    )
}

fn fail(message: &str) -> ! {
    eprintln!("metering-consumer: {message}");
    std::process::exit(1)
}
