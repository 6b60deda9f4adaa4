//! Threshold alerts: raised once per (tenant, meter, subject, period, threshold), each with its
//! `quota.threshold_crossed` billing event in the same transaction.

use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::{PgConnection, PgPool, Row};

use crate::error::{AlertsError, Result};
use crate::event::{BillingEvent, EventType};
use crate::outbox::{enqueue_all, event_from_row, EVENT_COLUMNS};
use crate::threshold::{crossed, Threshold};

/// The most alerts [`list_alerts`] returns at once.
pub const MAX_LIST_ALERTS: u32 = 1000;

/// A change of usage against one limit in one period, as the quota path sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageChange<'a> {
    pub tenant: &'a str,
    pub meter: &'a str,
    /// `None` for a tenant-wide limit, the subject for a per-subject one.
    pub subject: Option<&'a str>,
    /// The limit's period, `[period_start, period_end)` (the caller computes it in the
    /// tenant's time zone).
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub limit: Decimal,
    pub used_before: Decimal,
    pub used_after: Decimal,
}

/// One alert that was newly raised.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub threshold: Threshold,
    /// The `quota.threshold_crossed` event enqueued with it.
    pub event: BillingEvent,
}

impl UsageChange<'_> {
    fn validate(&self) -> Result<()> {
        if self.tenant.is_empty() {
            return Err(AlertsError::invalid("tenant", "must not be empty"));
        }
        if self.meter.is_empty() {
            return Err(AlertsError::invalid("meter", "must not be empty"));
        }
        if self.subject == Some("") {
            return Err(AlertsError::invalid(
                "subject",
                "must not be empty (use None for a tenant-wide limit)",
            ));
        }
        if self.period_end <= self.period_start {
            return Err(AlertsError::invalid(
                "period_end",
                "must be after period_start",
            ));
        }
        let negative = [
            ("limit", self.limit),
            ("used_before", self.used_before),
            ("used_after", self.used_after),
        ];
        match negative
            .into_iter()
            .find(|(_, v)| v.is_sign_negative() && !v.is_zero())
        {
            Some((field, _)) => Err(AlertsError::invalid(field, "must not be negative")),
            None => Ok(()),
        }
    }

    fn event(&self, threshold: Threshold, now: DateTime<Utc>) -> Result<BillingEvent> {
        let data = json!({
            "meter": self.meter,
            "subject": self.subject,
            "threshold": threshold.percent(),
            "limit": self.limit.normalize().to_string(),
            "used": self.used_after.normalize().to_string(),
            "period_start": self.period_start.trunc_subsecs(6),
            "period_end": self.period_end.trunc_subsecs(6),
        });
        BillingEvent::new(EventType::QuotaThresholdCrossed, self.tenant, now, data)
    }
}

/// Raises every threshold `change` newly crosses, on the caller's connection (normally inside
/// the transaction that records the usage), and enqueues one `quota.threshold_crossed` event
/// per alert actually inserted. A threshold already raised for this period — by an earlier
/// call or by another instance racing this one — is skipped without an event: the unique key
/// `alerts_once_per_period` decides, and a racing insert waits for the winner's commit.
///
/// Returns the newly raised alerts, lowest threshold first.
pub async fn raise_crossed(
    tx: &mut PgConnection,
    change: &UsageChange<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<Alert>> {
    change.validate()?;
    let thresholds = crossed(change.limit, change.used_before, change.used_after);
    if thresholds.is_empty() {
        return Ok(Vec::new());
    }
    let candidates = thresholds
        .into_iter()
        .map(|t| Ok((t, change.event(t, now)?)))
        .collect::<Result<Vec<_>>>()?;
    let inserted = insert_alerts(tx, change, &candidates).await?;
    let alerts: Vec<Alert> = candidates
        .into_iter()
        .filter(|(t, _)| inserted.contains(t))
        .map(|(threshold, event)| Alert { threshold, event })
        .collect();
    let events: Vec<BillingEvent> = alerts.iter().map(|a| a.event.clone()).collect();
    enqueue_all(tx, &events).await?;
    Ok(alerts)
}

/// Inserts the candidate alerts in ascending threshold order (a fixed lock order, so racing
/// transactions cannot deadlock) and returns the thresholds that were new.
async fn insert_alerts(
    tx: &mut PgConnection,
    change: &UsageChange<'_>,
    candidates: &[(Threshold, BillingEvent)],
) -> Result<Vec<Threshold>> {
    let percents: Vec<i16> = candidates
        .iter()
        .map(|(t, _)| i16::from(t.percent()))
        .collect();
    let event_ids: Vec<&str> = candidates.iter().map(|(_, e)| e.id.as_str()).collect();
    let raised_at = candidates.first().map(|(_, e)| e.time);
    let rows = sqlx::query(
        r#"INSERT INTO alerts (tenant, meter, subject, period_start, period_end, threshold,
                               "limit", used, event_id, raised_at)
           SELECT $1, $2, $3, $4, $5, c.threshold, $6, $7, c.event_id, $8
           FROM unnest($9::smallint[], $10::text[]) WITH ORDINALITY AS c(threshold, event_id, n)
           ORDER BY c.n
           ON CONFLICT ON CONSTRAINT alerts_once_per_period DO NOTHING
           RETURNING threshold"#,
    )
    .bind(change.tenant)
    .bind(change.meter)
    .bind(change.subject.unwrap_or(""))
    .bind(change.period_start)
    .bind(change.period_end)
    .bind(change.limit)
    .bind(change.used_after)
    .bind(raised_at)
    .bind(&percents)
    .bind(&event_ids)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|row| {
            let percent: i16 = row.try_get("threshold")?;
            u8::try_from(percent)
                .ok()
                .and_then(Threshold::from_percent)
                .ok_or_else(|| AlertsError::Corrupt(format!("alert threshold {percent}")))
        })
        .collect()
}

/// The alerts raised for `tenant`, newest first, as their billing event bodies. `limit` is
/// clamped to `1..=MAX_LIST_ALERTS`.
pub async fn list_alerts(pool: &PgPool, tenant: &str, limit: u32) -> Result<Vec<BillingEvent>> {
    let limit = i64::from(limit.clamp(1, MAX_LIST_ALERTS));
    let sql = format!(
        "SELECT {EVENT_COLUMNS}
         FROM alerts a JOIN billing_events e ON e.id = a.event_id
         WHERE a.tenant = $1
         ORDER BY a.raised_at DESC, a.event_id DESC
         LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(event_from_row).collect()
}
