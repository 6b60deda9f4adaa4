//! The PostgreSQL pool, migrations and capability detection (TimescaleDB when present).

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::config::DbConfig;

/// The SQL migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub async fn connect(cfg: &DbConfig) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(cfg.pool_size)
        .acquire_timeout(cfg.acquire_timeout)
        .connect(&cfg.url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to DATABASE_URL: {e}"))?;
    Ok(pool)
}

/// What the database offers beyond plain PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The extension is installed in this database (hypertables, compression, retention).
    pub timescaledb: bool,
}

/// Installs TimescaleDB when the server offers it, then reports what is in use. Plain
/// PostgreSQL is fully supported: later migrations ask `tally_timescaledb_available()`.
pub async fn detect_capabilities(pool: &PgPool) -> anyhow::Result<Capabilities> {
    let offered: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')",
    )
    .fetch_one(pool)
    .await?;
    if offered {
        if let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS timescaledb")
            .execute(pool)
            .await
        {
            tracing::warn!(error = %e, "timescaledb is offered but could not be created; using plain PostgreSQL");
        }
    }
    let installed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')",
    )
    .fetch_one(pool)
    .await?;
    Ok(Capabilities {
        timescaledb: installed,
    })
}

/// Applies every pending migration; safe to run again and from several instances at once
/// (sqlx takes an advisory lock).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<Capabilities> {
    let caps = detect_capabilities(pool).await?;
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(caps)
}

/// True when every embedded migration has been applied successfully.
pub async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(applied.unwrap_or(0) >= latest)
}
