//! `tally serve`: migrate, then run the HTTP API until SIGINT/SIGTERM, shutting down gracefully.

use std::time::Duration;

use crate::catalogue::{self, CatalogueStore};
use crate::{api, config, db, telemetry};

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

pub async fn run() -> anyhow::Result<()> {
    let db_cfg = config::db(&config::ProcessEnv)?;
    let cfg = config::serve(&config::ProcessEnv)?;
    let pool = db::connect(&db_cfg).await?;
    let caps = db::migrate(&pool).await?;
    tracing::info!(timescaledb = caps.timescaledb, "migrations applied");
    let catalogue = CatalogueStore::embedded()?;
    catalogue.refresh(&pool).await?;
    let mut state = api::AppState::new(
        pool.clone(),
        &cfg.owner_token,
        telemetry::metrics_handle(),
        catalogue.clone(),
    );
    state.rate_limits = crate::ratelimit::RateLimits::new(cfg.instances);
    let rate_limits = state.rate_limits.clone();
    state.quota.refresh(&pool, chrono::Utc::now()).await?;
    let quota = state.quota.clone();
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on TALLY_LISTEN={}: {e}", cfg.listen))?;
    tracing::info!(addr = %cfg.listen, "tally serving");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, api::router(state)).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; draining requests");
        let _ = stop_tx.send(true);
    });
    tokio::spawn(catalogue::refresh_loop(
        catalogue.clone(),
        pool.clone(),
        stop_rx.clone(),
    ));
    tokio::spawn(sweep_loop(pool.clone(), catalogue.clone(), stop_rx.clone()));
    tokio::spawn(shrink_loop(rate_limits, stop_rx.clone()));
    tokio::spawn(maintain_loop(
        pool.clone(),
        cfg.raw_retention_months,
        stop_rx.clone(),
    ));
    tokio::spawn(crate::quota::refresh_loop(
        quota,
        pool.clone(),
        catalogue.clone(),
        stop_rx.clone(),
    ));
    let publisher = spawn_publisher(&cfg, &pool, stop_rx.clone());
    let consumer = spawn_consumer(&cfg, &pool, &catalogue, stop_rx.clone());
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        joined = &mut server => joined??,
        // Bound the drain: once the signal arrives, in-flight work gets SHUTDOWN_GRACE.
        _ = stop_rx.changed() => match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
            Ok(joined) => joined??,
            Err(_) => tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; exiting"),
        },
    }
    if let Some(consumer) = consumer {
        match tokio::time::timeout(SHUTDOWN_GRACE, consumer).await {
            Ok(Ok(Ok(stats))) => tracing::info!(?stats, "usage consumer stopped"),
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "usage consumer failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "usage consumer panicked"),
            Err(_) => tracing::warn!("usage consumer did not stop within {SHUTDOWN_GRACE:?}"),
        }
    }
    if let Some(publisher) = publisher {
        match tokio::time::timeout(SHUTDOWN_GRACE, publisher).await {
            Ok(Ok(Ok(()))) => tracing::info!("billing event publisher stopped"),
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "billing event publisher failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "billing event publisher panicked"),
            Err(_) => {
                tracing::warn!("billing event publisher did not stop within {SHUTDOWN_GRACE:?}")
            }
        }
    }
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shrink_loop(
    limits: crate::ratelimit::RateLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(crate::ratelimit::SHRINK_INTERVAL) => limits.shrink(),
            _ = stop.changed() => return,
        }
    }
}

/// How often metering housekeeping runs (`metering_maintain`).
const MAINTAIN_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// How soon a failed housekeeping run is tried again.
const MAINTAIN_RETRY: Duration = Duration::from_secs(300);

/// Metering housekeeping at start and then daily: raw partitions for the months around now,
/// dedupe keys past the 40-day window, raw partitions past retention. Safe on several
/// instances at once: the function takes an advisory lock and a concurrent call returns.
async fn maintain_loop(
    pool: sqlx::PgPool,
    retain_months: i32,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let next = match metering::maintain(&pool, retain_months).await {
            Ok(()) => {
                tracing::info!(retain_months, "metering housekeeping done");
                MAINTAIN_INTERVAL
            }
            Err(e) => {
                tracing::warn!(error = %e, "metering housekeeping failed; retrying in 5 minutes");
                MAINTAIN_RETRY
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = stop.changed() => return,
        }
    }
}

/// How often expired pending transfers and grants are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Expires timed-out holds and grants, credits each prepaid tenant's monthly grant once its
/// period starts, settles unpaid tokens (resuming tenants whose wallet covers them again), and
/// counts parked events whose tenant or meter has appeared since.
/// Safe on several instances at once: sweep and grant transfers have ids derived from what
/// they do, so a second instance gets `exists`; settling locks the tenant's period rows.
async fn sweep_loop(
    pool: sqlx::PgPool,
    catalogue: CatalogueStore,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        let now = chrono::Utc::now();
        match ledger::sweep(&pool, now).await {
            Ok(report) => tracing::debug!(?report, "ledger sweep"),
            Err(e) => tracing::warn!(error = %e, "ledger sweep failed; retrying next interval"),
        }
        match crate::charging::grant_and_settle(&pool, &catalogue.current(), now).await {
            Ok((granted, resumed)) => tracing::debug!(granted, resumed, "grants and settlement"),
            Err(e) => {
                tracing::warn!(error = %e, "grants/settlement failed; retrying next interval")
            }
        }
    }
}

type ConsumerTask = tokio::task::JoinHandle<metering::Result<metering::kafka::ConsumerStats>>;

/// Starts the usage consumer when KAFKA_BROKERS is set; it stops when `stop` flips.
fn spawn_consumer(
    cfg: &config::ServeConfig,
    pool: &sqlx::PgPool,
    catalogue: &CatalogueStore,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<ConsumerTask> {
    let Some(k) = &cfg.kafka else {
        tracing::info!("KAFKA_BROKERS unset: no Kafka consumer or producer");
        return None;
    };
    let mut c = metering::kafka::ConsumerConfig::new(k.brokers.clone());
    c.topic = k.usage_topic.clone();
    c.dlq_topic = k.dlq_topic.clone();
    c.group = k.group.clone();
    // Static group membership: a restarted instance gets its partitions back at once instead
    // of waiting for the broker to expire its old member. Must differ between instances.
    if let Ok(id) = std::env::var("KAFKA_GROUP_INSTANCE_ID") {
        if !id.trim().is_empty() {
            c.consumer_overrides.push(("group.instance.id".into(), id));
        }
    }
    tracing::info!(brokers = %k.brokers, topic = %c.topic, group = %c.group, "starting the usage consumer");
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    let rater = std::sync::Arc::new(crate::charging::Rater::new(catalogue.clone()));
    Some(tokio::spawn(metering::kafka::run_consumer_with(
        c,
        pool.clone(),
        Some(rater),
        shutdown,
    )))
}

/// Publishes the billing-events outbox to Kafka when KAFKA_BROKERS is set. Several instances
/// may publish at once: consumers dedupe on the event id (publication is at least once).
fn spawn_publisher(
    cfg: &config::ServeConfig,
    pool: &sqlx::PgPool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<alerts::Result<()>>> {
    let k = cfg.kafka.as_ref()?;
    let (pool, brokers, topic) = (
        pool.clone(),
        k.brokers.clone(),
        k.billing_events_topic.clone(),
    );
    tracing::info!(%topic, "starting the billing event publisher");
    Some(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        alerts::run_publisher(pool, &brokers, &topic, shutdown).await
    }))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
