//! Charging: usage → price → ledger, in the metering batch's own transaction.
//!
//! [`Rater`] is the metering write path's [`metering::BatchHook`]. For every batch it adds the
//! newly counted usage of summable meters to `charging_usage` (per tenant, tenant-local
//! month, meter and allowance period), re-prices the touched months from those totals with
//! the plan and region fixed for the month, and turns the priced amount into platform tokens
//! ([`pricing::to_tokens`], the one rounding). For a prepaid tenant the tokens not yet
//! charged are debited from its wallet (grants first, then purchased) in the same
//! transaction; what the wallet cannot cover is recorded as unpaid and suspends the tenant
//! (`insufficient_balance`). Postpaid months accrue `amount` for invoicing.
//!
//! Because a month's charge is a function of its usage totals, not of how the usage was
//! batched, the ledger's usage debits always equal the priced rollups; [`reconcile`] proves
//! it from the rollups (part of `tally ledger verify`).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures::future::BoxFuture;
use metering::{BatchHook, CountedUsage, MeteringError};
use pricing::{
    Catalogue, LimitPeriod, MeterCode, PlanCode, PricingError, QuoteRequest, RegionCode,
};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, Row};

use crate::catalogue::CatalogueStore;
use crate::quota::period_start;
use crate::tenants::{self, Cause, Status};

/// Aggregations whose values add up across events, so a month's total prices the month.
/// Gauges (max, latest, time-weighted) and unique counts are billed by invoicing.
pub const RATED_AGGREGATIONS: [&str; 2] = ["sum", "count"];

pub fn is_rated(aggregation: &str) -> bool {
    RATED_AGGREGATIONS.contains(&aggregation)
}

/// The write path's rating hook.
pub struct Rater {
    catalogue: CatalogueStore,
}

impl Rater {
    pub fn new(catalogue: CatalogueStore) -> Self {
        Self { catalogue }
    }
}

impl BatchHook for Rater {
    fn after_rollups<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        counted: &'c [CountedUsage<'c>],
    ) -> BoxFuture<'c, metering::Result<()>> {
        Box::pin(async move {
            let catalogue = self.catalogue.current();
            // A savepoint: a rating failure that is not the database's (a catalogue that cannot
            // price a tenant) must not block metering. Its writes are undone, the usage is
            // still counted, and the error is logged and counted for the operator.
            let mut savepoint = sqlx::Connection::begin(&mut *conn).await?;
            match rate_batch(&mut savepoint, &catalogue, counted, Utc::now()).await {
                Ok(()) => Ok(savepoint.commit().await?),
                Err(ChargeError::Db(e)) => Err(MeteringError::Database(e)),
                Err(e) => {
                    savepoint.rollback().await?;
                    metrics::counter!("tally_rating_failures_total").increment(1);
                    tracing::error!(error = %e, events = counted.len(), "rating failed; the batch is metered but not charged");
                    Ok(())
                }
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChargeError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("pricing: {0}")]
    Pricing(#[from] PricingError),
    #[error("ledger: {0}")]
    Ledger(ledger::LedgerError),
    #[error("tenant: {0}")]
    Tenant(tenants::TenantError),
}

impl From<tenants::TenantError> for ChargeError {
    /// A database error stays a database error: the batch is retried, never left uncharged.
    fn from(e: tenants::TenantError) -> Self {
        match e {
            tenants::TenantError::Db(db) => ChargeError::Db(db),
            other => ChargeError::Tenant(other),
        }
    }
}

impl From<ledger::LedgerError> for ChargeError {
    fn from(e: ledger::LedgerError) -> Self {
        match e {
            ledger::LedgerError::Database(db) => ChargeError::Db(db),
            other => ChargeError::Ledger(other),
        }
    }
}

/// A tenant-local month being charged, as stored in `charging_periods`.
#[derive(Debug, Clone)]
pub struct Period {
    pub tenant: String,
    pub month: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub prepaid: bool,
    pub plan: String,
    pub region: String,
    pub currency: String,
    pub token_price: Decimal,
    pub amount: Decimal,
    pub tokens_due: i64,
    pub tokens_debited: i64,
    pub tokens_unpaid: i64,
}

/// One `charging_usage` row: usage of a meter in one allowance period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowanceUsage {
    pub meter: String,
    pub allowance_start: DateTime<Utc>,
    pub quantity: Decimal,
    pub cost_usd: Decimal,
}

/// The period a plan's included quantity of `meter` applies to (month when it has no limit).
fn allowance_period(
    catalogue: &Catalogue,
    plan: &str,
    meter: &str,
    at: DateTime<Utc>,
) -> LimitPeriod {
    let (Ok(plan), Ok(meter)) = (PlanCode::parse(plan), MeterCode::parse(meter)) else {
        return LimitPeriod::Monthly;
    };
    catalogue
        .plan_at(&plan, at)
        .ok()
        .and_then(|p| p.limit(&meter).map(|l| l.period))
        .unwrap_or(LimitPeriod::Monthly)
}

/// Start of the allowance period of `meter` containing `at`, in the tenant's zone.
pub fn allowance_start(
    catalogue: &Catalogue,
    plan: &str,
    meter: &str,
    tz: Tz,
    at: DateTime<Utc>,
) -> DateTime<Utc> {
    period_start(allowance_period(catalogue, plan, meter, at), tz, at)
}

/// The amount a month's usage costs, in the period's currency: every allowance period priced
/// with the plan's included quantity applied, each line rounded once by the pricing crate.
/// Meters the catalogue does not sell on the plan price at zero.
pub fn price_month(
    catalogue: &Catalogue,
    p: &Period,
    usage: &[AllowanceUsage],
) -> Result<Decimal, ChargeError> {
    let plan = PlanCode::parse(&p.plan)?;
    let region = RegionCode::parse(&p.region)?;
    let mut amount = Decimal::ZERO;
    for u in usage.iter().filter(|u| u.quantity > Decimal::ZERO) {
        let quote = catalogue.quote(&QuoteRequest {
            plan: plan.clone(),
            region: region.clone(),
            meter: MeterCode::parse(&u.meter)?,
            quantity: u.quantity,
            real_cost_usd: Some(u.cost_usd),
            period_usage: Some(Decimal::ZERO),
            at: Some(u.allowance_start),
        });
        match quote {
            Ok(q) => amount = checked_add(amount, q.amount)?,
            Err(
                PricingError::UnknownMeter(_)
                | PricingError::NotPriced { .. }
                | PricingError::AddonNotAvailable { .. }
                | PricingError::NegotiatedPrice { .. },
            ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(amount)
}

/// Decimal addition that reports an overflow instead of panicking.
fn checked_add(a: Decimal, b: Decimal) -> Result<Decimal, ChargeError> {
    a.checked_add(b)
        .ok_or(ChargeError::Pricing(PricingError::Overflow {
            what: "rated usage",
        }))
}

/// Tokens a month's usage is worth at the period's token price.
pub fn tokens_for(p: &Period, amount: Decimal) -> Result<i64, ChargeError> {
    let currency = pricing::Currency::parse(&p.currency)?;
    let tokens = pricing::to_tokens(
        amount,
        pricing::TokenPrice {
            currency,
            price: p.token_price,
        },
    )?;
    i64::try_from(tokens)
        .map_err(|_| ChargeError::Pricing(PricingError::Overflow { what: "tokens" }))
}

struct TenantRow {
    plan: String,
    region: String,
    billing_mode: String,
    status: String,
    tz: Tz,
}

async fn load_tenants(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<BTreeMap<String, TenantRow>, ChargeError> {
    let rows = sqlx::query(
        "SELECT id, plan, region, billing_mode, status, timezone FROM tenants WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let tz: String = r.try_get("timezone")?;
        out.insert(
            r.try_get("id")?,
            TenantRow {
                plan: r.try_get("plan")?,
                region: r.try_get("region")?,
                billing_mode: r.try_get("billing_mode")?,
                status: r.try_get("status")?,
                tz: Tz::from_str(&tz).unwrap_or(Tz::UTC),
            },
        );
    }
    Ok(out)
}

const PERIOD_COLUMNS: &str = "tenant_id, period_month, period_start, period_end, billing_mode, plan, region, currency, token_price, amount, tokens_due, tokens_debited, tokens_unpaid";

fn period_from(r: &sqlx::postgres::PgRow) -> Result<Period, sqlx::Error> {
    Ok(Period {
        tenant: r.try_get("tenant_id")?,
        month: r.try_get("period_month")?,
        start: r.try_get("period_start")?,
        end: r.try_get("period_end")?,
        prepaid: r.try_get::<String, _>("billing_mode")? == "prepaid",
        plan: r.try_get("plan")?,
        region: r.try_get("region")?,
        currency: r.try_get("currency")?,
        token_price: r.try_get("token_price")?,
        amount: r.try_get("amount")?,
        tokens_due: r.try_get("tokens_due")?,
        tokens_debited: r.try_get("tokens_debited")?,
        tokens_unpaid: r.try_get("tokens_unpaid")?,
    })
}

/// Creates the touched months' period rows if missing (plan and region fixed now), then
/// locks them in key order — the first lock a charging transaction takes.
async fn lock_periods(
    conn: &mut PgConnection,
    catalogue: &Catalogue,
    keys: &BTreeSet<(String, NaiveDate)>,
    tenants: &BTreeMap<String, TenantRow>,
) -> Result<Vec<Period>, ChargeError> {
    #[derive(Default)]
    struct NewPeriods<'a> {
        tenant: Vec<&'a str>,
        month: Vec<NaiveDate>,
        start: Vec<DateTime<Utc>>,
        end: Vec<DateTime<Utc>>,
        mode: Vec<&'a str>,
        plan: Vec<&'a str>,
        region: Vec<String>,
        currency: Vec<&'static str>,
        token_price: Vec<Decimal>,
    }
    let mut cols = NewPeriods::default();
    for (tenant, month) in keys {
        let t = &tenants[tenant];
        let mp = metering::bucket::month_period(t.tz, local_noon(*month, t.tz));
        // A country the catalogue does not price falls back to US prices (as quotes do).
        let region = crate::catalogue::pricing_region(catalogue, &t.region)?;
        let price = catalogue.token_price(&region, mp.start)?;
        cols.tenant.push(tenant);
        cols.month.push(*month);
        cols.start.push(mp.start);
        cols.end.push(mp.end);
        cols.mode.push(&t.billing_mode);
        cols.plan.push(&t.plan);
        cols.region.push(region.as_str().to_string());
        cols.currency.push(price.currency.code());
        cols.token_price.push(price.price);
    }
    sqlx::query(
        "INSERT INTO charging_periods (tenant_id, period_month, period_start, period_end, billing_mode, plan, region, currency, token_price)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::numeric[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&cols.tenant)
    .bind(&cols.month)
    .bind(&cols.start)
    .bind(&cols.end)
    .bind(&cols.mode)
    .bind(&cols.plan)
    .bind(&cols.region)
    .bind(&cols.currency)
    .bind(&cols.token_price)
    .execute(&mut *conn)
    .await?;
    let rows = sqlx::query(&format!(
        "SELECT {PERIOD_COLUMNS} FROM charging_periods
          WHERE (tenant_id, period_month) IN (SELECT * FROM UNNEST($1::text[], $2::date[]))
          ORDER BY tenant_id, period_month FOR UPDATE"
    ))
    .bind(&cols.tenant)
    .bind(&cols.month)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.iter().map(period_from).collect::<Result<_, _>>()?)
}

/// Noon of a month's first local day: an instant certainly inside that local month.
fn local_noon(month: NaiveDate, tz: Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    tz.from_local_datetime(&month.and_hms_opt(12, 0, 0).unwrap_or_default())
        .earliest()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
}

/// Rates one batch's counted usage inside its transaction (see the module docs).
pub async fn rate_batch(
    conn: &mut PgConnection,
    catalogue: &Catalogue,
    counted: &[CountedUsage<'_>],
    now: DateTime<Utc>,
) -> Result<(), ChargeError> {
    let rated: Vec<&CountedUsage> = counted.iter().filter(|c| is_rated(c.aggregation)).collect();
    if rated.is_empty() {
        return Ok(());
    }
    let ids: BTreeSet<&str> = rated.iter().map(|c| c.tenant).collect();
    let tenants = load_tenants(conn, &ids.into_iter().collect::<Vec<_>>()).await?;
    let month_of = |c: &CountedUsage| {
        tenants.get(c.tenant).map(|t| {
            (
                c.tenant.to_string(),
                metering::bucket::month_period(t.tz, c.time).month,
            )
        })
    };
    let keys: BTreeSet<(String, NaiveDate)> = rated.iter().filter_map(|c| month_of(c)).collect();
    let periods = lock_periods(conn, catalogue, &keys, &tenants).await?;
    let plan_of: BTreeMap<(&str, NaiveDate), &str> = periods
        .iter()
        .map(|p| ((p.tenant.as_str(), p.month), p.plan.as_str()))
        .collect();

    // The batch's usage per allowance period, in key order (the rows' lock order).
    /// (tenant, month, meter, allowance start) → (quantity, cost in USD).
    type UsageKey = (String, NaiveDate, String, DateTime<Utc>);
    let mut sums: BTreeMap<UsageKey, (Decimal, Decimal)> = BTreeMap::new();
    for c in &rated {
        let Some((tenant, month)) = month_of(c) else {
            continue;
        };
        let tz = tenants[c.tenant].tz;
        let plan = plan_of.get(&(c.tenant, month)).copied().unwrap_or_default();
        let start = allowance_start(catalogue, plan, c.meter, tz, c.time);
        let slot = sums
            .entry((tenant, month, c.meter.to_string(), start))
            .or_default();
        *slot = (
            checked_add(slot.0, c.value)?,
            checked_add(slot.1, c.cost_usd)?,
        );
    }
    let keys: Vec<&UsageKey> = sums.keys().collect();
    sqlx::query(
        "INSERT INTO charging_usage AS u (tenant_id, period_month, meter, allowance_start, quantity, cost_usd)
         SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::timestamptz[], $5::numeric[], $6::numeric[])
         ON CONFLICT (tenant_id, period_month, meter, allowance_start)
         DO UPDATE SET quantity = u.quantity + EXCLUDED.quantity, cost_usd = u.cost_usd + EXCLUDED.cost_usd",
    )
    .bind(keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.3).collect::<Vec<_>>())
    .bind(sums.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(sums.values().map(|v| v.1).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;

    let usage = load_usage(conn, &periods).await?;
    let mut priced = Vec::with_capacity(periods.len());
    for p in periods {
        let rows = usage
            .get(&(p.tenant.clone(), p.month))
            .map_or(&[][..], Vec::as_slice);
        let amount = price_month(catalogue, &p, rows)?;
        let due = tokens_for(&p, amount)?;
        priced.push((p, amount, due));
    }
    // Grants before debits, every tenant in order: the lock order (world, then revenue and
    // wallets) is the same in every charging transaction.
    // Only a month's first charge needs it: the grant id is the month's, so once credited
    // (here or by the periodic pass) later charges of the month find it in the wallet.
    for (p, _, due) in &priced {
        let first_charge = p.tokens_debited + p.tokens_unpaid == 0;
        if p.prepaid && first_charge && *due > 0 {
            ensure_grant(conn, catalogue, p, now).await?;
        }
    }
    let mut stored = Vec::with_capacity(priced.len());
    let mut owed = Vec::new();
    for (mut p, amount, due) in priced {
        let delta = due - p.tokens_debited - p.tokens_unpaid;
        p.amount = amount;
        p.tokens_due = due;
        if p.prepaid && delta > 0 {
            owed.push((stored.len(), delta));
        }
        stored.push(p);
    }
    // Every wallet debit of the batch in one ledger call (a tenant with usage in two months
    // is debited in a second round, so each call locks each wallet once).
    let mut short = Vec::new();
    while !owed.is_empty() {
        let mut seen = BTreeSet::new();
        let (round, later): (Vec<_>, Vec<_>) = owed
            .into_iter()
            .partition(|(i, _)| seen.insert(stored[*i].tenant.clone()));
        owed = later;
        let debits = round
            .iter()
            .map(|&(i, delta)| {
                let p = &stored[i];
                Ok((
                    ledger::TenantId::parse(&p.tenant)?,
                    ledger::TransferId::parse(&usage_id(p.month, p.tokens_debited))?,
                    ledger::Amount::new(u64::try_from(delta).unwrap_or(0))?,
                ))
            })
            .collect::<Result<Vec<_>, ledger::LedgerError>>()?;
        let taken = ledger::debit_usage_up_to_many_in(conn, &debits, now).await?;
        for (&(i, delta), paid) in round.iter().zip(taken) {
            let p = &mut stored[i];
            let paid = i64::try_from(paid.get()).unwrap_or(i64::MAX);
            p.tokens_debited += paid;
            p.tokens_unpaid += delta - paid;
            let status = tenants.get(&p.tenant).map(|t| t.status.as_str());
            if paid < delta && status == Some("active") {
                short.push((p.tenant.clone(), p.month, p.tokens_unpaid));
            }
        }
    }
    for p in &mut stored {
        p.tokens_due = p.tokens_due.max(p.tokens_debited + p.tokens_unpaid);
    }
    store_periods(conn, &stored).await?;
    // Suspensions last: the tenant row is the last lock a charging transaction takes.
    for (tenant, month, unpaid) in short {
        let reason = format!(
            "insufficient balance: the wallet could not cover {unpaid} tokens of {} usage",
            month.format("%Y-%m")
        );
        tenants::set_status_in(
            conn,
            &tenant,
            Status::Suspended,
            Some(&reason),
            Some(Cause::InsufficientBalance),
        )
        .await?;
        tracing::info!(%tenant, %reason, "tenant suspended");
    }
    Ok(())
}

/// Every `charging_usage` row of these months, grouped by month.
async fn load_usage(
    conn: &mut PgConnection,
    periods: &[Period],
) -> Result<BTreeMap<(String, NaiveDate), Vec<AllowanceUsage>>, ChargeError> {
    let tenants: Vec<&str> = periods.iter().map(|p| p.tenant.as_str()).collect();
    let months: Vec<NaiveDate> = periods.iter().map(|p| p.month).collect();
    let rows = sqlx::query(
        "SELECT tenant_id, period_month, meter, allowance_start, quantity, cost_usd FROM charging_usage
          WHERE (tenant_id, period_month) IN (SELECT * FROM UNNEST($1::text[], $2::date[]))
          ORDER BY tenant_id, period_month, meter, allowance_start",
    )
    .bind(&tenants)
    .bind(&months)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: BTreeMap<(String, NaiveDate), Vec<AllowanceUsage>> = BTreeMap::new();
    for r in rows {
        out.entry((r.try_get("tenant_id")?, r.try_get("period_month")?))
            .or_default()
            .push(AllowanceUsage {
                meter: r.try_get("meter")?,
                allowance_start: r.try_get("allowance_start")?,
                quantity: r.try_get("quantity")?,
                cost_usd: r.try_get("cost_usd")?,
            });
    }
    Ok(out)
}

/// Writes the periods' amounts and token counters back, in one statement.
async fn store_periods(conn: &mut PgConnection, periods: &[Period]) -> Result<(), ChargeError> {
    sqlx::query(
        "UPDATE charging_periods c SET amount = u.amount, tokens_due = u.due, tokens_debited = u.debited,
                tokens_unpaid = u.unpaid, updated_at = now()
           FROM UNNEST($1::text[], $2::date[], $3::numeric[], $4::int8[], $5::int8[], $6::int8[])
                AS u(tenant_id, period_month, amount, due, debited, unpaid)
          WHERE c.tenant_id = u.tenant_id AND c.period_month = u.period_month",
    )
    .bind(periods.iter().map(|p| p.tenant.as_str()).collect::<Vec<_>>())
    .bind(periods.iter().map(|p| p.month).collect::<Vec<_>>())
    .bind(periods.iter().map(|p| p.amount).collect::<Vec<_>>())
    .bind(periods.iter().map(|p| p.tokens_due).collect::<Vec<_>>())
    .bind(periods.iter().map(|p| p.tokens_debited).collect::<Vec<_>>())
    .bind(periods.iter().map(|p| p.tokens_unpaid).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The grant id of a plan's month: `plan-pro-2026-11`. Each plan grants at most once a
/// month, so an upgrade mid-month adds the new plan's grant and nothing repeats.
pub fn grant_id(plan: &str, month: NaiveDate) -> String {
    format!("plan-{plan}-{}", month.format("%Y-%m"))
}

/// Credits the plan's monthly token grant for a period still running (idempotent by id).
async fn ensure_grant(
    conn: &mut PgConnection,
    catalogue: &Catalogue,
    p: &Period,
    now: DateTime<Utc>,
) -> Result<(), ChargeError> {
    let Some(g) = MonthGrant::of(catalogue, &p.tenant, &p.plan, p.month, p.start)? else {
        return Ok(());
    };
    if p.end <= now {
        return Ok(());
    }
    ledger::grant_tokens_in(
        conn,
        &g.tenant,
        &g.id,
        g.amount,
        p.end,
        Some(&g.reason),
        now,
    )
    .await?;
    Ok(())
}

/// A plan's grant for one tenant-local month: its ledger id, amount and reason.
struct MonthGrant {
    tenant: ledger::TenantId,
    id: ledger::TransferId,
    amount: ledger::Amount,
    reason: String,
}

impl MonthGrant {
    /// `None` when the plan (as in force at `at`) grants nothing.
    fn of(
        catalogue: &Catalogue,
        tenant: &str,
        plan: &str,
        month: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<Option<Self>, ChargeError> {
        let Some(amount) = grant_amount(catalogue, plan, at) else {
            return Ok(None);
        };
        Ok(Some(MonthGrant {
            tenant: ledger::TenantId::parse(tenant)?,
            id: ledger::TransferId::parse(&grant_id(plan, month))?,
            amount,
            reason: format!("{plan} plan grant for {}", month.format("%Y-%m")),
        }))
    }

    /// The account the grant's tokens live in once credited.
    fn account(&self) -> Result<String, ChargeError> {
        Ok(ledger::grant_account_id(&self.tenant, &self.id)?
            .as_str()
            .to_string())
    }
}

/// The plan's monthly token grant in force at `at`, if any.
pub fn grant_amount(
    catalogue: &Catalogue,
    plan: &str,
    at: DateTime<Utc>,
) -> Option<ledger::Amount> {
    let plan = catalogue.plan_at(&PlanCode::parse(plan).ok()?, at).ok()?;
    let g = plan.token_grant.as_ref()?;
    if g.asset.as_str() != pricing::TOKEN_METER {
        return None;
    }
    let units = u64::try_from(g.amount_per_month.trunc()).ok()?;
    ledger::Amount::new(units).ok().filter(|a| !a.is_zero())
}

/// Debits up to `tokens` from the wallet (what it can cover, one lock of the wallet); returns
/// how many were debited.
async fn pay(
    conn: &mut PgConnection,
    p: &Period,
    tokens: i64,
    now: DateTime<Utc>,
) -> Result<i64, ChargeError> {
    let Some(up_to) = u64::try_from(tokens).ok().filter(|t| *t > 0) else {
        return Ok(0);
    };
    let tenant = ledger::TenantId::parse(&p.tenant)?;
    let id = ledger::TransferId::parse(&usage_id(p.month, p.tokens_debited))?;
    let debited =
        ledger::debit_usage_up_to_in(conn, &tenant, &id, ledger::Amount::new(up_to)?, now).await?;
    Ok(i64::try_from(debited.get()).unwrap_or(i64::MAX))
}

/// `rate-2026-11-at1200`: the month's debit made when 1,200 tokens had been debited before it
/// (every debit is positive, so each has its own id, deterministically).
pub fn usage_id(month: NaiveDate, debited_before: i64) -> String {
    format!("rate-{}-at{debited_before}", month.format("%Y-%m"))
}

/// Pays unpaid tokens from whatever the wallet now holds (after a top-up or a grant), oldest
/// month first, and resumes a tenant suspended for `insufficient_balance` once nothing is
/// unpaid and the wallet holds tokens again. Returns whether the tenant was resumed.
pub async fn settle(pool: &PgPool, tenant: &str, now: DateTime<Utc>) -> Result<bool, ChargeError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(&format!(
        "SELECT {PERIOD_COLUMNS} FROM charging_periods WHERE tenant_id = $1 AND tokens_unpaid > 0
          ORDER BY period_month FOR UPDATE"
    ))
    .bind(tenant)
    .fetch_all(&mut *tx)
    .await?;
    let mut periods = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut p = period_from(r)?;
        let paid = pay(&mut tx, &p, p.tokens_unpaid, now).await?;
        p.tokens_debited += paid;
        p.tokens_unpaid -= paid;
        periods.push(p);
    }
    store_periods(&mut tx, &periods).await?;
    let unpaid: i64 = periods.iter().map(|p| p.tokens_unpaid).sum();
    let cause: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT status, suspended_cause FROM tenants WHERE id = $1 AND deleted_at IS NULL FOR UPDATE")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?;
    let mut resumed = false;
    if let Some((status, Some(cause))) = cause {
        let t = ledger::TenantId::parse(tenant)?;
        if status == "suspended"
            && cause == Cause::InsufficientBalance.as_str()
            && unpaid == 0
            && !ledger::available_in(&mut tx, &t, now).await?.is_zero()
        {
            tenants::set_status_in(
                &mut tx,
                tenant,
                Status::Active,
                Some("wallet covers usage again"),
                None,
            )
            .await?;
            resumed = true;
        }
    }
    tx.commit().await?;
    if resumed {
        tracing::info!(tenant, "tenant resumed: wallet covers usage again");
    }
    Ok(resumed)
}

/// Credits every prepaid tenant's monthly grant for its current month (from the plan), then
/// settles tenants that owe tokens. Idempotent; run periodically by `serve`.
pub async fn grant_and_settle(
    pool: &PgPool,
    catalogue: &Catalogue,
    now: DateTime<Utc>,
) -> Result<(usize, usize), ChargeError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT id, plan, timezone FROM tenants WHERE billing_mode = 'prepaid' AND deleted_at IS NULL AND status <> 'canceled'",
    )
    .fetch_all(pool)
    .await?;
    // One query finds the tenants whose grant for their current month is not there yet.
    let mut wanted = Vec::new();
    for (id, plan, tz) in &rows {
        let mp = metering::bucket::month_period(Tz::from_str(tz).unwrap_or(Tz::UTC), now);
        if let Some(g) = MonthGrant::of(catalogue, id, plan, mp.month, now)? {
            wanted.push((g.account()?, g, mp.end));
        }
    }
    let existing: BTreeSet<String> =
        sqlx::query_scalar("SELECT id FROM ledger_accounts WHERE id = ANY($1)")
            .bind(wanted.iter().map(|w| w.0.as_str()).collect::<Vec<_>>())
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let mut granted = 0;
    for (_, g, expires_at) in wanted.iter().filter(|w| !existing.contains(&w.0)) {
        granted += usize::from(credit(pool, g, *expires_at, now).await?);
    }
    let owing: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tenant_id FROM charging_periods WHERE tokens_unpaid > 0
         UNION SELECT id FROM tenants WHERE status = 'suspended' AND suspended_cause = 'insufficient_balance' AND deleted_at IS NULL",
    )
    .fetch_all(pool)
    .await?;
    let mut resumed = 0;
    for t in owing {
        resumed += usize::from(settle(pool, &t, now).await?);
    }
    Ok((granted, resumed))
}

/// Credits `plan`'s grant for the tenant's current local month (idempotent); whether it was
/// credited now.
pub async fn grant_current(
    pool: &PgPool,
    catalogue: &Catalogue,
    tenant: &str,
    plan: &str,
    tz: &str,
    now: DateTime<Utc>,
) -> Result<bool, ChargeError> {
    let mp = metering::bucket::month_period(Tz::from_str(tz).unwrap_or(Tz::UTC), now);
    match MonthGrant::of(catalogue, tenant, plan, mp.month, now)? {
        Some(g) => credit(pool, &g, mp.end, now).await,
        None => Ok(false),
    }
}

/// Credits a month's grant in its own transaction; whether it was credited now.
async fn credit(
    pool: &PgPool,
    g: &MonthGrant,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, ChargeError> {
    let reason = Some(g.reason.as_str());
    match ledger::grant_tokens(pool, &g.tenant, &g.id, g.amount, expires_at, reason, now).await {
        Ok(ledger::TransferResult::Created) => Ok(true),
        Ok(_) | Err(ledger::LedgerError::WalletNotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A month whose ledger debits do not match its priced rollups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub tenant: String,
    pub month: NaiveDate,
    pub what: String,
}

/// Reconciliation report: per prepaid tenant and month, priced rollups = tokens due =
/// ledger usage debits + unpaid tokens.
#[derive(Debug, Default)]
pub struct Reconciliation {
    pub periods: usize,
    pub tokens_debited: i64,
    pub tokens_unpaid: i64,
    pub mismatches: Vec<Mismatch>,
}

impl std::fmt::Display for Reconciliation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "charging reconciliation: {} prepaid tenant-months, {} tokens debited, {} unpaid: {}",
            self.periods,
            self.tokens_debited,
            self.tokens_unpaid,
            if self.mismatches.is_empty() {
                "ok"
            } else {
                "MISMATCH"
            }
        )?;
        for m in &self.mismatches {
            writeln!(f, "  {} {}: {}", m.tenant, m.month.format("%Y-%m"), m.what)?;
        }
        Ok(())
    }
}

/// Recomputes every prepaid month's charge from the 5-minute rollups (independently of
/// `charging_usage`) and compares it with the period row and the ledger's usage debits.
pub async fn reconcile(
    pool: &PgPool,
    catalogue: &Catalogue,
) -> Result<Reconciliation, ChargeError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let columns: Vec<String> = PERIOD_COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect();
    let rows = sqlx::query(&format!(
        "SELECT {}, t.timezone FROM charging_periods c JOIN tenants t ON t.id = c.tenant_id
          WHERE c.billing_mode = 'prepaid' ORDER BY c.tenant_id, c.period_month",
        columns.join(", ")
    ))
    .fetch_all(&mut *tx)
    .await?;
    let mut report = Reconciliation::default();
    for r in &rows {
        let p = period_from(r)?;
        report.periods += 1;
        report.tokens_debited += p.tokens_debited;
        report.tokens_unpaid += p.tokens_unpaid;
        let tz = Tz::from_str(&r.try_get::<String, _>("timezone")?).unwrap_or(Tz::UTC);
        let buckets = sqlx::query(
            "SELECT meter, bucket, sum(value) AS value, sum(cost_usd) AS cost_usd FROM metering_rollup_5m
              WHERE tenant_id = $1 AND bucket >= $2 AND bucket < $3 AND aggregation = ANY($4)
              GROUP BY meter, bucket ORDER BY meter, bucket",
        )
        .bind(&p.tenant)
        .bind(p.start)
        .bind(p.end)
        .bind(&RATED_AGGREGATIONS[..])
        .fetch_all(&mut *tx)
        .await?;
        let mut from_rollups: BTreeMap<(String, DateTime<Utc>), (Decimal, Decimal)> =
            BTreeMap::new();
        for b in &buckets {
            let meter: String = b.try_get("meter")?;
            let at: DateTime<Utc> = b.try_get("bucket")?;
            let start = allowance_start(catalogue, &p.plan, &meter, tz, at);
            let slot = from_rollups.entry((meter, start)).or_default();
            *slot = (
                checked_add(slot.0, b.try_get("value")?)?,
                checked_add(slot.1, b.try_get("cost_usd")?)?,
            );
        }
        let usage: Vec<AllowanceUsage> = from_rollups
            .into_iter()
            .map(
                |((meter, allowance_start), (quantity, cost_usd))| AllowanceUsage {
                    meter,
                    allowance_start,
                    quantity,
                    cost_usd,
                },
            )
            .collect();
        let expected = tokens_for(&p, price_month(catalogue, &p, &usage)?)?;
        let ledger_debited: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(amount), 0)::bigint FROM ledger_transfers WHERE id LIKE $1 AND kind = 'posted'",
        )
        .bind(format!("~usage:{}:rate-{}-at%", p.tenant.replace('_', "\\_"), p.month.format("%Y-%m")))
        .fetch_one(&mut *tx)
        .await?;
        let mut problems = Vec::new();
        if expected != p.tokens_due {
            problems.push(format!(
                "priced rollups are worth {expected} tokens, the period says {} due",
                p.tokens_due
            ));
        }
        if ledger_debited != p.tokens_debited {
            problems.push(format!(
                "ledger usage debits total {ledger_debited}, the period says {} debited",
                p.tokens_debited
            ));
        }
        if p.tokens_debited + p.tokens_unpaid != p.tokens_due {
            problems.push(format!(
                "debited {} + unpaid {} != due {}",
                p.tokens_debited, p.tokens_unpaid, p.tokens_due
            ));
        }
        for what in problems {
            report.mismatches.push(Mismatch {
                tenant: p.tenant.clone(),
                month: p.month,
                what,
            });
        }
    }
    tx.commit().await?;
    Ok(report)
}
