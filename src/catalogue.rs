//! The plan catalogue in force: the embedded one, or the latest the owner stored in the database.
//!
//! Every instance holds the catalogue in memory and re-reads the newest stored version every
//! `REFRESH_INTERVAL`, so an owner's edit reaches all instances within that interval. Versions
//! are effective-dated inside the document, so an edit never rewrites a past period.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pricing::{Catalogue, PlanCode, PricingError, RegionCode};
use sqlx::PgPool;

pub const REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Largest catalogue document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

#[derive(Clone)]
pub struct CatalogueStore {
    inner: Arc<RwLock<Loaded>>,
}

struct Loaded {
    /// Id of the stored document, 0 for the embedded catalogue.
    id: i64,
    text: Arc<str>,
    catalogue: Arc<Catalogue>,
}

impl CatalogueStore {
    pub fn embedded() -> Result<Self, PricingError> {
        let catalogue = Catalogue::embedded()?;
        let loaded = Loaded {
            id: 0,
            text: pricing::EMBEDDED_CATALOGUE_TOML.into(),
            catalogue: Arc::new(catalogue),
        };
        Ok(Self {
            inner: Arc::new(RwLock::new(loaded)),
        })
    }

    pub fn current(&self) -> Arc<Catalogue> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .catalogue
            .clone()
    }

    pub fn document(&self) -> (i64, Arc<str>) {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        (g.id, g.text.clone())
    }

    fn install(&self, id: i64, text: String, catalogue: Catalogue) {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if id >= g.id {
            *g = Loaded {
                id,
                text: text.into(),
                catalogue: Arc::new(catalogue),
            };
        }
    }

    /// Loads the newest stored document if it is newer than the one in memory.
    pub async fn refresh(&self, pool: &PgPool) -> anyhow::Result<()> {
        let (have, _) = self.document();
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, body FROM catalogue_documents WHERE id > $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(have)
        .fetch_optional(pool)
        .await?;
        if let Some((id, body)) = row {
            let catalogue = Catalogue::from_toml_str(&body)
                .map_err(|e| anyhow::anyhow!("stored catalogue {id} no longer loads: {e}"))?;
            self.install(id, body, catalogue);
            tracing::info!(id, "catalogue loaded from the database");
        }
        Ok(())
    }

    /// Validates and stores a new document, refusing one that changes anything already in
    /// force at `now`, then installs it.
    pub async fn publish(
        &self,
        pool: &PgPool,
        text: String,
        now: DateTime<Utc>,
    ) -> Result<(i64, Arc<Catalogue>), PublishError> {
        let next = Catalogue::from_toml_str(&text).map_err(PublishError::Invalid)?;
        self.current()
            .check_successor(&next, now)
            .map_err(PublishError::RewritesPast)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO catalogue_documents (version, body) VALUES ($1, $2) RETURNING id",
        )
        .bind(next.version())
        .bind(&text)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d)
                if d.constraint() == Some("catalogue_documents_version_key") =>
            {
                PublishError::VersionExists(next.version().to_string())
            }
            _ => PublishError::Db(e),
        })?;
        self.install(id, text, next);
        Ok((id, self.current()))
    }

    pub fn is_plan(&self, code: &str, at: DateTime<Utc>) -> bool {
        PlanCode::parse(code).is_ok_and(|c| self.current().plan_at(&c, at).is_ok())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Invalid(PricingError),
    #[error("{0}")]
    RewritesPast(PricingError),
    #[error("catalogue version '{0}' is already stored; give the new document a new version")]
    VersionExists(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The pricing region for a tenant's country: its own, the EU for euro-area countries, else
/// the US list prices (no PPP adjustment).
pub fn pricing_region(catalogue: &Catalogue, country: &str) -> Result<RegionCode, PricingError> {
    let code = RegionCode::parse(country)?;
    catalogue
        .pricing_region(&code)
        .or_else(|_| RegionCode::parse("US"))
}

/// Re-reads the stored catalogue periodically until shutdown.
pub async fn refresh_loop(
    store: CatalogueStore,
    pool: PgPool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REFRESH_INTERVAL) => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = store.refresh(&pool).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "catalogue refresh failed; keeping the one in memory"
            );
        }
    }
}
