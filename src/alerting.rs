//! Threshold alerts and auto-suspend, evaluated after each quota-view refresh.
//!
//! For every limit at 70 % or more, the thresholds reached are raised once per limit and
//! period (the `alerts` crate's unique key decides, so several instances may evaluate at
//! once); a hard limit with `auto_suspend` suspends the tenant when its 100 % alert is raised. A small
//! in-memory set skips database work for thresholds this instance already saw raised.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use pricing::Catalogue;
use sqlx::PgPool;

use crate::quota::{NearLimit, QuotaView};
use crate::tenants::{self, Status};

/// Most remembered (tenant, meter, period, used-level) keys before the set is cleared.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Default)]
pub struct Alerting {
    seen: HashSet<(String, String, DateTime<Utc>, String)>,
}

impl Alerting {
    /// Raises what the current view shows; returns how many alerts were newly raised.
    pub async fn evaluate(
        &mut self,
        pool: &PgPool,
        view: &QuotaView,
        catalogue: &Catalogue,
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        if self.seen.len() > MAX_REMEMBERED {
            self.seen.clear();
        }
        let mut raised = 0;
        for near in view.near_limits(catalogue, now) {
            // The highest threshold reached identifies the state; nothing new below it.
            let level = alerts::crossed(near.limit, rust_decimal::Decimal::ZERO, near.used)
                .last()
                .map(|t| t.percent().to_string())
                .unwrap_or_default();
            let key = (
                near.tenant.clone(),
                format!("{}/{}", near.meter, near.subject.as_deref().unwrap_or("")),
                near.period_start,
                level,
            );
            if self.seen.contains(&key) {
                continue;
            }
            raised += raise(pool, &near, now).await?;
            self.seen.insert(key);
        }
        for tenant in view.limit_suspensions_cleared(catalogue, now) {
            // Re-checked under the row lock: another instance or the owner may have acted.
            let mut tx = pool.begin().await?;
            let cause: Option<(String, Option<String>)> = sqlx::query_as(
                "SELECT status, suspended_cause FROM tenants WHERE id = $1 FOR UPDATE",
            )
            .bind(&tenant)
            .fetch_optional(&mut *tx)
            .await?;
            if cause == Some(("suspended".into(), Some("limit".into()))) {
                let reason = "hard limit no longer exceeded";
                tenants::set_status_in(&mut tx, &tenant, Status::Active, Some(reason), None)
                    .await?;
                tracing::info!(%tenant, reason, "tenant resumed");
            }
            tx.commit().await?;
        }
        Ok(raised)
    }
}

async fn raise(pool: &PgPool, near: &NearLimit, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let change = alerts::UsageChange {
        tenant: &near.tenant,
        meter: &near.meter,
        subject: near.subject.as_deref(),
        period_start: near.period_start,
        period_end: near.period_end,
        limit: near.limit,
        used_before: rust_decimal::Decimal::ZERO,
        used_after: near.used,
    };
    let raised = alerts::raise_crossed(&mut tx, &change, now).await?;
    tx.commit().await?;
    // Only the evaluation that raised the 100 % alert suspends: once per limit and period,
    // so an owner's resume sticks for the rest of the period.
    let exhausted = raised.iter().any(|a| a.threshold.percent() == 100);
    let tenant_wide = near.subject.is_none();
    if exhausted
        && tenant_wide
        && near.spec.hard
        && near.spec.auto_suspend
        && near.status == "active"
    {
        let reason = format!(
            "hard limit reached: {} {} of {} per {}",
            near.used,
            near.meter,
            near.limit,
            crate::quota::period_name(near.spec.period)
        );
        tenants::set_status(
            pool,
            &near.tenant,
            Status::Suspended,
            Some(&reason),
            Some(tenants::Cause::Limit),
        )
        .await?;
        tracing::info!(tenant = %near.tenant, %reason, "tenant suspended");
    }
    Ok(raised.len())
}
