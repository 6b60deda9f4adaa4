//! The quota view: per tenant and meter, usage in the current hour, local day and local month,
//! the tenant's status and limit overrides — held in memory and answered without a query.
//!
//! The view is rebuilt from PostgreSQL (the rollups both ingestion paths commit) at start and
//! every `REFRESH_INTERVAL`, so an answer reflects usage committed by any instance, through HTTP
//! or Kafka, at most one interval (plus the refresh's own time) ago. Several instances each keep
//! their own view of the same database; none holds state the others need.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use pricing::{Catalogue, Enforcement, LimitPeriod, PlanCode};
use rust_decimal::Decimal;
use sqlx::PgPool;

pub const REFRESH_INTERVAL: Duration = Duration::from_millis(500);

/// A limit in force for one tenant and meter.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitSpec {
    /// `None`: unlimited.
    pub limit: Option<Decimal>,
    pub period: LimitPeriod,
    pub hard: bool,
    pub auto_suspend: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Used {
    hour: Decimal,
    day: Decimal,
    month: Decimal,
}

struct TenantState {
    status: String,
    /// Why a suspended tenant is suspended (`owner`, `insufficient_balance`, `limit`).
    cause: Option<String>,
    plan: String,
    region: String,
    prepaid: bool,
    /// Spendable wallet tokens (unexpired grants + purchased − holds).
    wallet: i64,
    tz: Tz,
    usage: HashMap<String, Used>,
    overrides: HashMap<String, LimitSpec>,
    /// Per-subject limits and their subjects' usage, by (meter, subject).
    subject_limits: HashMap<(String, String), LimitSpec>,
    subject_usage: HashMap<(String, String), Used>,
}

#[derive(Default)]
struct Snapshot {
    taken_at: Option<DateTime<Utc>>,
    tenants: HashMap<String, TenantState>,
}

/// Why a check was refused, in the contract's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    QuotaExceeded,
    Suspended,
    InsufficientBalance,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::QuotaExceeded => "quota_exceeded",
            Refusal::Suspended => "suspended",
            Refusal::InsufficientBalance => "insufficient_balance",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub allowed: bool,
    pub limit: Option<Decimal>,
    pub used: Decimal,
    pub remaining: Option<Decimal>,
    pub period_end: DateTime<Utc>,
    pub reason: Option<Refusal>,
    /// When the usage behind this answer was read from the database.
    pub as_of: Option<DateTime<Utc>>,
}

/// One limit in force with its usage, for `GET /v1/tenants/{id}/limits`.
#[derive(Clone, Debug)]
pub struct LimitStatus {
    pub meter: String,
    pub spec: LimitSpec,
    pub used: Decimal,
    pub period_end: DateTime<Utc>,
    pub overridden: bool,
}

#[derive(Clone, Default)]
pub struct QuotaView {
    inner: Arc<RwLock<Snapshot>>,
}

pub fn parse_period(s: &str) -> Option<LimitPeriod> {
    match s {
        "hourly" => Some(LimitPeriod::Hourly),
        "daily" => Some(LimitPeriod::Daily),
        "monthly" => Some(LimitPeriod::Monthly),
        _ => None,
    }
}

pub fn period_name(p: LimitPeriod) -> &'static str {
    match p {
        LimitPeriod::Hourly => "hourly",
        LimitPeriod::Daily => "daily",
        LimitPeriod::Monthly => "monthly",
    }
}

/// The first instant of a local date (the earliest, should DST skip midnight).
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&naive).earliest() {
        Some(t) => t.with_timezone(&Utc),
        // Midnight does not exist that day: the day starts an hour later.
        None => (tz.from_local_datetime(&(naive + Days::hours(1))).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// When the period containing `now` ends: the next UTC hour, or the tenant's next local
/// midnight or first of the month.
pub fn period_end(period: LimitPeriod, tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    match period {
        LimitPeriod::Hourly => {
            let start = now
                .with_minute(0)
                .and_then(|t| t.with_second(0))
                .and_then(|t| t.with_nanosecond(0));
            start.unwrap_or(now) + Days::hours(1)
        }
        LimitPeriod::Daily => {
            local_midnight(tz, now.with_timezone(&tz).date_naive() + Days::days(1))
        }
        LimitPeriod::Monthly => {
            let local = now.with_timezone(&tz).date_naive();
            let (y, m) = if local.month() == 12 {
                (local.year() + 1, 1)
            } else {
                (local.year(), local.month() + 1)
            };
            local_midnight(tz, NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(local))
        }
    }
}

/// When the period containing `now` started (see `period_end`).
pub fn period_start(period: LimitPeriod, tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    match period {
        LimitPeriod::Hourly => period_end(period, tz, now) - Days::hours(1),
        LimitPeriod::Daily => local_midnight(tz, now.with_timezone(&tz).date_naive()),
        LimitPeriod::Monthly => {
            let local = now.with_timezone(&tz).date_naive();
            local_midnight(tz, local.with_day(1).unwrap_or(local))
        }
    }
}

/// A finite limit at or past its first alert threshold (70 %), for the alerting pass.
#[derive(Clone, Debug)]
pub struct NearLimit {
    pub tenant: String,
    pub status: String,
    pub meter: String,
    /// Set for a subject's own limit (which never suspends the tenant).
    pub subject: Option<String>,
    pub spec: LimitSpec,
    pub limit: Decimal,
    pub used: Decimal,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// The plan's limits overlaid with the tenant's overrides, by meter.
fn limits_of(
    catalogue: &Catalogue,
    t: &TenantState,
    now: DateTime<Utc>,
) -> Vec<(String, LimitSpec, bool)> {
    let mut out: Vec<(String, LimitSpec, bool)> = Vec::new();
    if let Some(plan) = PlanCode::parse(&t.plan)
        .ok()
        .and_then(|p| catalogue.plan_at(&p, now).ok())
    {
        for (meter, l) in &plan.limits {
            let spec = LimitSpec {
                limit: l.limit,
                period: l.period,
                hard: l.enforcement == Enforcement::Hard,
                auto_suspend: l.auto_suspend,
            };
            out.push((meter.as_str().to_string(), spec, false));
        }
    }
    for (meter, spec) in &t.overrides {
        match out.iter_mut().find(|(m, _, _)| m == meter) {
            Some(entry) => *entry = (meter.clone(), spec.clone(), true),
            None => out.push((meter.clone(), spec.clone(), true)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The one limit in force for `meter`: the override, else the plan's (no allocation on the
/// hot path beyond the answer).
fn limit_of(
    catalogue: &Catalogue,
    t: &TenantState,
    meter: &str,
    now: DateTime<Utc>,
) -> Option<LimitSpec> {
    if let Some(spec) = t.overrides.get(meter) {
        return Some(spec.clone());
    }
    let plan = catalogue
        .plan_at(&PlanCode::parse(&t.plan).ok()?, now)
        .ok()?;
    let l = plan
        .limits
        .iter()
        .find(|(m, _)| m.as_str() == meter)
        .map(|(_, l)| l)?;
    Some(LimitSpec {
        limit: l.limit,
        period: l.period,
        hard: l.enforcement == Enforcement::Hard,
        auto_suspend: l.auto_suspend,
    })
}

/// Whether a prepaid tenant's wallet covers `quantity` more of `meter`: its price beyond
/// what is left of the plan's allowance, in tokens. A meter the catalogue cannot price
/// (unknown, not sold on the plan) costs nothing here; the rating path decides.
fn covers(
    catalogue: &Catalogue,
    t: &TenantState,
    meter: &str,
    quantity: Decimal,
    now: DateTime<Utc>,
) -> bool {
    let price = || -> Option<i64> {
        let plan = PlanCode::parse(&t.plan).ok()?;
        let code = pricing::MeterCode::parse(meter).ok()?;
        let allowance = catalogue
            .plan_at(&plan, now)
            .ok()?
            .limit(&code)
            .map(|l| l.period);
        let used = used_in(
            t.usage.get(meter),
            allowance.unwrap_or(LimitPeriod::Monthly),
        );
        let region = crate::catalogue::pricing_region(catalogue, &t.region).ok()?;
        let quote = catalogue
            .quote(&pricing::QuoteRequest {
                plan,
                region: region.clone(),
                meter: code,
                quantity,
                real_cost_usd: None,
                period_usage: Some(used),
                at: Some(now),
            })
            .ok()?;
        let token = catalogue.token_price(&region, now).ok()?;
        i64::try_from(pricing::to_tokens(quote.amount, token).ok()?).ok()
    };
    price().is_none_or(|tokens| tokens <= t.wallet)
}

fn used_in(u: Option<&Used>, period: LimitPeriod) -> Decimal {
    let u = u.copied().unwrap_or_default();
    match period {
        LimitPeriod::Hourly => u.hour,
        LimitPeriod::Daily => u.day,
        LimitPeriod::Monthly => u.month,
    }
}

impl QuotaView {
    /// May `tenant` (and `subject`, when it has a limit of its own) use `quantity` more of
    /// `meter` now? `None` if the tenant is unknown. Refusals, first match: the tenant is
    /// suspended or canceled; a hard limit (the subject's or the tenant's) would be exceeded;
    /// a prepaid wallet cannot pay for the quantity's price beyond the plan's allowance.
    pub fn check(
        &self,
        catalogue: &Catalogue,
        tenant: &str,
        meter: &str,
        subject: Option<&str>,
        quantity: Decimal,
        now: DateTime<Utc>,
    ) -> Option<Answer> {
        let snap = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let t = snap.tenants.get(tenant)?;
        let spec = limit_of(catalogue, t, meter, now);
        let period = spec.as_ref().map_or(LimitPeriod::Monthly, |s| s.period);
        let used = used_in(t.usage.get(meter), period);
        let limit = spec.as_ref().and_then(|s| s.limit);
        let over = |spec: Option<&LimitSpec>, used: Decimal| {
            spec.is_some_and(|s| s.hard && s.limit.is_some_and(|l| used + quantity > l))
        };
        let tenant_over = over(spec.as_ref(), used);
        // A subject's own limit, when it has one, is the answer's limit.
        let subject_key = subject.map(|s| (meter.to_string(), s.to_string()));
        let subject_spec = subject_key.as_ref().and_then(|k| t.subject_limits.get(k));
        let (limit, used, period) = match (subject_spec, &subject_key) {
            (Some(sp), Some(k)) => (
                sp.limit,
                used_in(t.subject_usage.get(k), sp.period),
                sp.period,
            ),
            _ => (limit, used, period),
        };
        let subject_over = subject_spec.is_some_and(|sp| over(Some(sp), used));
        let remaining = limit.map(|l| (l - used).max(Decimal::ZERO));
        let reason = if t.status == "suspended" || t.status == "canceled" {
            Some(Refusal::Suspended)
        } else if tenant_over || subject_over {
            Some(Refusal::QuotaExceeded)
        } else if t.prepaid && !self::covers(catalogue, t, meter, quantity, now) {
            Some(Refusal::InsufficientBalance)
        } else {
            None
        };
        Some(Answer {
            allowed: reason.is_none(),
            limit,
            used,
            remaining,
            period_end: period_end(period, t.tz, now),
            reason,
            as_of: snap.taken_at,
        })
    }

    /// Every limit in force for `tenant` with its usage; `None` if the tenant is unknown.
    pub fn limits(
        &self,
        catalogue: &Catalogue,
        tenant: &str,
        now: DateTime<Utc>,
    ) -> Option<Vec<LimitStatus>> {
        let snap = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let t = snap.tenants.get(tenant)?;
        Some(
            limits_of(catalogue, t, now)
                .into_iter()
                .map(|(meter, spec, overridden)| LimitStatus {
                    used: used_in(t.usage.get(&meter), spec.period),
                    period_end: period_end(spec.period, t.tz, now),
                    meter,
                    spec,
                    overridden,
                })
                .collect(),
        )
    }

    /// Tenants suspended for a hard limit (`auto_suspend`) none of whose such limits is
    /// exhausted any more: a new period began, the plan was upgraded or the limit overridden.
    pub fn limit_suspensions_cleared(
        &self,
        catalogue: &Catalogue,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        let snap = self.inner.read().unwrap_or_else(|e| e.into_inner());
        snap.tenants
            .iter()
            .filter(|(_, t)| t.status == "suspended" && t.cause.as_deref() == Some("limit"))
            .filter(|(_, t)| {
                !limits_of(catalogue, t, now).iter().any(|(meter, spec, _)| {
                    spec.hard
                        && spec.auto_suspend
                        && spec
                            .limit
                            .is_some_and(|l| used_in(t.usage.get(meter), spec.period) >= l)
                })
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every finite, non-zero limit whose usage has reached 70 % in the current period.
    pub fn near_limits(&self, catalogue: &Catalogue, now: DateTime<Utc>) -> Vec<NearLimit> {
        let snap = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let seventy = Decimal::new(70, 2);
        let mut out = Vec::new();
        for (tenant, t) in &snap.tenants {
            let mut near =
                |meter: &str, subject: Option<&String>, spec: &LimitSpec, used: Decimal| {
                    let Some(limit) = spec.limit.filter(|l| *l > Decimal::ZERO) else {
                        return;
                    };
                    if used >= limit * seventy {
                        out.push(NearLimit {
                            tenant: tenant.clone(),
                            status: t.status.clone(),
                            period_start: period_start(spec.period, t.tz, now),
                            period_end: period_end(spec.period, t.tz, now),
                            meter: meter.to_string(),
                            subject: subject.cloned(),
                            spec: spec.clone(),
                            limit,
                            used,
                        });
                    }
                };
            for (meter, spec, _) in limits_of(catalogue, t, now) {
                near(
                    &meter,
                    None,
                    &spec,
                    used_in(t.usage.get(&meter), spec.period),
                );
            }
            for (key, spec) in &t.subject_limits {
                let used = used_in(t.subject_usage.get(key), spec.period);
                near(&key.0, Some(&key.1), spec, used);
            }
        }
        out
    }

    /// Rebuilds the view from the database as of `now`.
    pub async fn refresh(&self, pool: &PgPool, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let mut tenants: HashMap<String, TenantState> = HashMap::new();
        type Row = (
            String,
            String,
            Option<String>,
            String,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, status, suspended_cause, plan, region, billing_mode, timezone FROM tenants WHERE deleted_at IS NULL",
        )
        .fetch_all(pool)
        .await?;
        for (id, status, cause, plan, region, billing_mode, tz) in rows {
            let tz = Tz::from_str(&tz).unwrap_or(Tz::UTC);
            tenants.insert(
                id,
                TenantState {
                    status,
                    cause,
                    plan,
                    region,
                    prepaid: billing_mode == "prepaid",
                    wallet: 0,
                    tz,
                    usage: HashMap::new(),
                    overrides: HashMap::new(),
                    subject_limits: HashMap::new(),
                    subject_usage: HashMap::new(),
                },
            );
        }
        let wallets: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tenant, COALESCE(sum(credits_posted - debits_posted - debits_pending), 0)::bigint
               FROM ledger_accounts
              WHERE asset = 'TOKEN' AND tenant IS NOT NULL AND id LIKE '~wallet:%'
                AND (expires_at IS NULL OR expires_at > $1)
              GROUP BY tenant",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        for (tenant, available) in wallets {
            if let Some(t) = tenants.get_mut(&tenant) {
                t.wallet = available;
            }
        }
        self::load_subject_limits(pool, &mut tenants, now).await?;
        let overrides: Vec<(String, String, Option<Decimal>, String, bool, bool)> = sqlx::query_as(
            r#"SELECT tenant_id, meter, "limit", period, hard, auto_suspend FROM tenant_limits"#,
        )
        .fetch_all(pool)
        .await?;
        for (tenant, meter, limit, period, hard, auto_suspend) in overrides {
            if let (Some(t), Some(period)) = (tenants.get_mut(&tenant), parse_period(&period)) {
                t.overrides.insert(
                    meter,
                    LimitSpec {
                        limit,
                        period,
                        hard,
                        auto_suspend,
                    },
                );
            }
        }
        let recent: Vec<(String, String, Decimal, Decimal)> = sqlx::query_as(
            "SELECT r.tenant_id, r.meter,
                    COALESCE(sum(r.value) FILTER (WHERE r.bucket >= date_trunc('hour', $1::timestamptz)), 0),
                    COALESCE(sum(r.value) FILTER (
                        WHERE r.bucket >= (date_trunc('day', $1::timestamptz AT TIME ZONE t.timezone) AT TIME ZONE t.timezone)), 0)
               FROM metering_rollup_5m r JOIN tenants t ON t.id = r.tenant_id
              WHERE r.bucket >= $1::timestamptz - interval '26 hours' AND r.bucket <= $1
                AND r.aggregation IN ('sum', 'count')
              GROUP BY r.tenant_id, r.meter",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        for (tenant, meter, hour, day) in recent {
            if let Some(t) = tenants.get_mut(&tenant) {
                let u = t.usage.entry(meter).or_default();
                u.hour = hour;
                u.day = day;
            }
        }
        let month: Vec<(String, String, Decimal)> = sqlx::query_as(
            "SELECT tenant_id, meter, value FROM metering_rollup_month WHERE bucket <= $1 AND period_end > $1",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        for (tenant, meter, value) in month {
            if let Some(t) = tenants.get_mut(&tenant) {
                t.usage.entry(meter).or_default().month = value;
            }
        }
        let mut snap = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *snap = Snapshot {
            taken_at: Some(now),
            tenants,
        };
        Ok(())
    }
}

/// Per-subject limits and, for the subjects that have one, their usage in the current hour,
/// local day and local month (5-minute rollups up to the first whole hour, hourly after).
async fn load_subject_limits(
    pool: &PgPool,
    tenants: &mut HashMap<String, TenantState>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    type Row = (String, String, String, Option<Decimal>, String, bool);
    let rows: Vec<Row> = sqlx::query_as(
        r#"SELECT tenant_id, meter, subject, "limit", period, hard FROM tenant_subject_limits"#,
    )
    .fetch_all(pool)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    for (tenant, meter, subject, limit, period, hard) in rows {
        if let (Some(t), Some(period)) = (tenants.get_mut(&tenant), parse_period(&period)) {
            let spec = LimitSpec {
                limit,
                period,
                hard,
                auto_suspend: false,
            };
            t.subject_limits.insert((meter, subject), spec);
        }
    }
    let used: Vec<(String, String, String, Decimal, Decimal, Decimal)> = sqlx::query_as(
        "WITH l AS (
             SELECT l.tenant_id, l.meter, l.subject,
                    date_trunc('hour', $1::timestamptz) AS hour_start,
                    date_trunc('day', $1::timestamptz AT TIME ZONE t.timezone) AT TIME ZONE t.timezone AS day_start,
                    date_trunc('month', $1::timestamptz AT TIME ZONE t.timezone) AT TIME ZONE t.timezone AS month_start
               FROM tenant_subject_limits l JOIN tenants t ON t.id = l.tenant_id
         ), b AS (
             SELECT l.*, r.bucket, r.value FROM l JOIN metering_rollup_5m r
                 ON r.tenant_id = l.tenant_id AND r.meter = l.meter AND r.subject = l.subject
              WHERE r.aggregation IN ('sum', 'count') AND r.bucket <= $1
                AND r.bucket >= l.month_start
                AND (r.bucket < date_trunc('hour', l.month_start + interval '1 hour' - interval '1 microsecond')
                     OR r.bucket >= date_trunc('hour', least(l.day_start, l.hour_start)))
             UNION ALL
             SELECT l.*, r.bucket, r.value FROM l JOIN metering_rollup_1h r
                 ON r.tenant_id = l.tenant_id AND r.meter = l.meter AND r.subject = l.subject
              WHERE r.aggregation IN ('sum', 'count') AND r.bucket <= $1
                AND r.bucket >= date_trunc('hour', l.month_start + interval '1 hour' - interval '1 microsecond')
                AND r.bucket < date_trunc('hour', least(l.day_start, l.hour_start))
         )
         SELECT tenant_id, meter, subject,
                COALESCE(sum(value) FILTER (WHERE bucket >= hour_start), 0),
                COALESCE(sum(value) FILTER (WHERE bucket >= day_start), 0),
                COALESCE(sum(value), 0)
           FROM b GROUP BY tenant_id, meter, subject",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    for (tenant, meter, subject, hour, day, month) in used {
        if let Some(t) = tenants.get_mut(&tenant) {
            t.subject_usage
                .insert((meter, subject), Used { hour, day, month });
        }
    }
    Ok(())
}

/// Keeps the view current until shutdown; after each refresh raises threshold alerts,
/// suspends on exhausted hard limits and resumes tenants whose limit suspension cleared.
pub async fn refresh_loop(
    view: QuotaView,
    pool: PgPool,
    catalogue: crate::catalogue::CatalogueStore,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut alerting = crate::alerting::Alerting::default();
    loop {
        let now = Utc::now();
        match view.refresh(&pool, now).await {
            Err(e) => {
                tracing::warn!(error = %e, "quota view refresh failed; answering from the previous one")
            }
            Ok(()) => {
                let catalogue = catalogue.current();
                if let Err(e) = alerting.evaluate(&pool, &view, &catalogue, now).await {
                    tracing::warn!(error = %e, "alert evaluation failed; retrying next refresh");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(REFRESH_INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn periods_end_at_local_boundaries() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let now = at("2026-11-30T20:00:00Z"); // 01:30 on 1 December in India
        assert_eq!(
            period_end(LimitPeriod::Daily, tz, now),
            at("2026-12-01T18:30:00Z")
        );
        assert_eq!(
            period_end(LimitPeriod::Monthly, tz, now),
            at("2026-12-31T18:30:00Z")
        );
        assert_eq!(
            period_end(LimitPeriod::Hourly, tz, now),
            at("2026-11-30T21:00:00Z")
        );
        // Across the DST change in New York (2 Nov 2026): the local day is 25 hours long.
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            period_end(LimitPeriod::Daily, ny, at("2026-11-01T12:00:00Z")),
            at("2026-11-02T05:00:00Z")
        );
    }
}
