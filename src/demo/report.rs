//! The demo's summary: what was ingested, the usage, what it costs and bills, the ledger's state.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use metering::{Granularity, UsageQuery};
use pricing::{Catalogue, FeeRequest, MeterCode, PlanCode, QuoteRequest};
use rust_decimal::Decimal;
use sqlx::PgPool;

use super::ingest::{Created, Delivered};
use super::workload::Workload;
use crate::catalogue::pricing_region;

fn rule(title: &str) {
    println!("\n== {title}");
}

pub fn ingestion(work: &Workload, d: &Delivered) {
    rule(&format!("Ingestion via {}", d.path));
    let secs = d.elapsed.as_secs_f64().max(0.001);
    println!("  messages sent        {:>9}  ({} events, {} producer retries of the same id, {} malformed)", work.messages.len(), work.unique_valid, work.duplicates, work.garbage);
    println!(
        "  events counted       {:>9}  (expected {}: {})",
        d.counted,
        work.unique_valid,
        if d.counted == work.unique_valid {
            "exact"
        } else {
            "MISMATCH"
        }
    );
    if d.via_kafka {
        println!("  duplicates ignored   {:>9}  (the consumer's count, including older demo runs still on the topic)", d.duplicates);
        println!(
            "  malformed → DLQ      {:>9}  (usage-events-dlq, reason in the tally-error header; older demo runs still on the topic included)",
            d.dead_lettered
        );
    } else {
        println!("  duplicates ignored   {:>9}", d.duplicates);
        println!(
            "  malformed, rejected  {:>9}  (HTTP answers them in `rejected` with the field named)",
            d.dead_lettered
        );
    }
    println!(
        "  wall time            {:>9.1} s ({:.0} events/s from first send to last commit)",
        secs,
        per_second(d.counted, secs)
    );
}

/// Events per second, for people to read (never a quantity that is billed or stored).
#[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
fn per_second(count: usize, secs: f64) -> f64 {
    count as f64 / secs
}

async fn month_to_date(
    pool: &PgPool,
    tenant: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<metering::UsageRow>> {
    let q = UsageQuery {
        tenant: metering::TenantId::parse(tenant).map_err(|e| anyhow::anyhow!(e.message))?,
        meter: None,
        from: now - Duration::days(1),
        to: now + Duration::seconds(1),
        granularity: Granularity::Month,
        group_by: Default::default(),
    };
    let rows = metering::usage(pool, &q).await?;
    let latest = rows.iter().map(|r| r.bucket).filter(|b| *b <= now).max();
    Ok(rows
        .into_iter()
        .filter(|r| Some(r.bucket) == latest && r.value > Decimal::ZERO)
        .collect())
}

pub async fn usage(pool: &PgPool, tenants: &[Created], now: DateTime<Utc>) -> anyhow::Result<()> {
    rule("Usage over the last 30 days (from the 1-day rollups)");
    println!(
        "  {:<22} {:<18} {:>8} {:>14} {:>14}",
        "tenant", "meter", "events", "quantity", "real cost USD"
    );
    for t in tenants {
        let q = UsageQuery {
            tenant: metering::TenantId::parse(&t.id).map_err(|e| anyhow::anyhow!(e.message))?,
            meter: None,
            from: now - Duration::days(31),
            to: now + Duration::seconds(1),
            granularity: Granularity::Day,
            group_by: Default::default(),
        };
        let mut totals: BTreeMap<String, (i64, Decimal, Decimal)> = BTreeMap::new();
        for r in metering::usage(pool, &q).await? {
            let e = totals.entry(r.meter.as_str().to_string()).or_default();
            e.0 += r.event_count;
            e.1 += r.value;
            e.2 += r.cost_usd;
        }
        for (meter, (events, qty, cost)) in totals.iter().filter(|(_, v)| v.0 > 0) {
            println!(
                "  {:<22} {:<18} {:>8} {:>14} {:>14}",
                t.id,
                meter,
                events,
                qty.to_string(),
                cost.round_dp(4).to_string()
            );
        }
    }
    Ok(())
}

pub async fn prices(pool: &PgPool, tenants: &[Created], now: DateTime<Utc>) -> anyhow::Result<()> {
    let catalogue = Catalogue::embedded()?;
    rule(&format!(
        "Month to date, priced with catalogue {} (allowances applied, one rounding per line)",
        catalogue.version()
    ));
    println!(
        "  {:<22} {:<11} {:>6} {:>4} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "tenant", "plan", "region", "cur", "plan fee", "usage", "total", "cost USD", "billed USD"
    );
    for t in tenants {
        let plan = PlanCode::parse(t.spec.plan)?;
        let region = pricing_region(&catalogue, t.spec.region)?;
        let fees = catalogue.price_plan_fees(&FeeRequest {
            plan: plan.clone(),
            region: region.clone(),
            seats: t.spec.users,
            period_fraction: Decimal::ONE,
            at: now,
        });
        let (fee, mut billed_usd, currency) = match &fees {
            Ok(f) => (
                f.total,
                f.lines.iter().map(|l| l.amount_usd).sum::<Decimal>(),
                f.currency.code().to_string(),
            ),
            Err(_) => (Decimal::ZERO, Decimal::ZERO, "-".into()),
        };
        let (mut usage_total, mut cost) = (Decimal::ZERO, Decimal::ZERO);
        let mut notes = Vec::new();
        for row in month_to_date(pool, &t.id, now).await? {
            cost += row.cost_usd;
            let req = QuoteRequest {
                plan: plan.clone(),
                region: region.clone(),
                meter: MeterCode::parse(row.meter.as_str())?,
                quantity: row.value,
                real_cost_usd: Some(row.cost_usd),
                period_usage: Some(Decimal::ZERO),
                at: Some(now),
            };
            match catalogue.quote(&req) {
                Ok(q) => {
                    usage_total += q.amount;
                    billed_usd += q.breakdown.iter().map(|l| l.amount_usd).sum::<Decimal>();
                }
                Err(e) => notes.push(format!("{}: {e}", row.meter.as_str())),
            }
        }
        println!(
            "  {:<22} {:<11} {:>6} {:>4} {:>12} {:>12} {:>12} {:>12} {:>12}",
            t.id,
            t.spec.plan,
            region.as_str(),
            currency,
            fee.to_string(),
            usage_total.to_string(),
            (fee + usage_total).to_string(),
            cost.round_dp(2).to_string(),
            billed_usd.round_dp(2).to_string()
        );
        for n in notes {
            println!("  {:<22}   not billed: {n}", "");
        }
    }
    println!("  (fees and usage in the tenant's currency; cost = provider cost, billed USD = the same lines before FX)");
    Ok(())
}

/// Charging: what the write path debited or accrued, the alerts, and the small wallet's
/// suspension and resumption.
pub async fn charging(
    pool: &PgPool,
    tenants: &[Created],
    catalogue: &crate::catalogue::CatalogueStore,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    rule("Charging in the write path (priced per batch; prepaid wallets debited in the same transaction)");
    let view = crate::quota::QuotaView::default();
    view.refresh(pool, now).await?;
    // Raises every crossing the view shows (older demo runs' tenants in this database too).
    crate::alerting::Alerting::default()
        .evaluate(pool, &view, &catalogue.current(), now)
        .await?;
    println!(
        "  {:<22} {:<8} {:>7} {:>12} {:>10} {:>9} {:>7}  status",
        "tenant", "mode", "month", "priced", "tokens due", "debited", "unpaid"
    );
    for t in tenants {
        let rows: Vec<(chrono::NaiveDate, String, Decimal, i64, i64, i64)> = sqlx::query_as(
            "SELECT period_month, currency, amount, tokens_due, tokens_debited, tokens_unpaid
               FROM charging_periods WHERE tenant_id = $1 ORDER BY period_month",
        )
        .bind(&t.id)
        .fetch_all(pool)
        .await?;
        let status: (String, Option<String>) =
            sqlx::query_as("SELECT status, suspended_cause FROM tenants WHERE id = $1")
                .bind(&t.id)
                .fetch_one(pool)
                .await?;
        let status = match status {
            (s, Some(cause)) if s == "suspended" => format!("suspended ({cause})"),
            (s, _) => s,
        };
        for (month, currency, amount, due, debited, unpaid) in rows {
            let tokens = |n: i64| {
                if t.spec.billing_mode == "prepaid" {
                    n.to_string()
                } else {
                    "-".into()
                }
            };
            println!(
                "  {:<22} {:<8} {:>7} {:>8} {currency} {:>10} {:>9} {:>7}  {status}",
                t.id,
                t.spec.billing_mode,
                month.format("%Y-%m").to_string(),
                amount.to_string(),
                tokens(due),
                tokens(debited),
                tokens(unpaid),
            );
        }
    }
    println!("  (postpaid months accrue for the invoice; tokens = priced amount ÷ the region's token price, half-even)");

    let alerts: Vec<(String, String, i16)> = sqlx::query_as(
        "SELECT tenant, meter, threshold FROM alerts WHERE tenant = ANY($1) ORDER BY tenant, meter, threshold",
    )
    .bind(tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    println!(
        "\n  threshold alerts raised: {} (once per limit, threshold and period)",
        alerts.len()
    );
    let mut grouped: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (tenant, meter, threshold) in alerts {
        grouped
            .entry((tenant, meter))
            .or_default()
            .push(format!("{threshold} %"));
    }
    for ((tenant, meter), thresholds) in grouped {
        println!("    {tenant:<22} {meter:<18} {}", thresholds.join(", "));
    }

    let Some(small) = tenants
        .iter()
        .find(|t| t.spec.name == super::workload::SMALL_WALLET_TENANT)
    else {
        return Ok(());
    };
    let id = ledger::TenantId::parse(&small.id)?;
    let w = ledger::wallet(pool, &id, now).await?;
    let status: String = sqlx::query_scalar("SELECT status FROM tenants WHERE id = $1")
        .bind(&small.id)
        .fetch_one(pool)
        .await?;
    let check = view.check(
        &catalogue.current(),
        &small.id,
        "ai_tokens",
        None,
        Decimal::ONE,
        now,
    );
    println!(
        "
  {}: wallet {} tokens, status {status}; quota check for 1 more AI token → allowed {}, reason {}",
        small.id,
        w.available,
        check.as_ref().is_some_and(|a| a.allowed),
        check.and_then(|a| a.reason).map_or("-", |r| r.as_str()),
    );
    ledger::top_up(
        pool,
        &id,
        &ledger::TransferId::parse("refill")?,
        ledger::Amount::new(20)?,
        Some("card payment"),
        now,
    )
    .await?;
    let resumed = crate::charging::settle(pool, &small.id, now).await?;
    let w = ledger::wallet(pool, &id, now).await?;
    println!(
        "  the owner tops it up with 20 tokens: the unpaid tokens are paid first, wallet {} → {}",
        w.available,
        if resumed {
            "resumed"
        } else {
            "still suspended"
        }
    );
    let events: Vec<String> =
        sqlx::query_scalar("SELECT type FROM billing_events WHERE tenant = $1 ORDER BY id")
            .bind(&small.id)
            .fetch_all(pool)
            .await?;
    println!("  billing-events for it, in order: {}", events.join(", "));
    Ok(())
}

pub async fn ledger(
    pool: &PgPool,
    tenants: &[Created],
    catalogue: &Catalogue,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    rule("Token ledger (prepaid wallets: this month's plan grant burns first, then purchased tokens)");
    for t in tenants.iter().filter(|t| t.spec.billing_mode == "prepaid") {
        let tenant = ledger::TenantId::parse(&t.id)?;
        let w = ledger::wallet(pool, &tenant, now).await?;
        println!(
            "  {:<22} available {:>8}  granted {:>6}  purchased {:>8}  pending {}",
            t.id,
            w.available.to_string(),
            w.granted.to_string(),
            w.purchased.to_string(),
            w.pending
        );
    }
    let report = ledger::verify(pool).await?;
    let charging = crate::charging::reconcile(pool, catalogue).await?;
    let ok = report.is_ok() && charging.mismatches.is_empty();
    println!(
        "
  tally ledger verify: {}",
        if ok { "OK" } else { "VIOLATIONS" }
    );
    for line in report
        .to_string()
        .lines()
        .chain(charging.to_string().lines())
    {
        println!("    {line}");
    }
    Ok(ok)
}
