//! The demo's summary: what was ingested, the usage, what it costs and bills, the ledger's state.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
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
            "  malformed → DLQ      {:>9}  (usage-events-dlq, reason in the tally-error header)",
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
        d.counted as f64 / secs
    );
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

pub async fn ledger(
    pool: &PgPool,
    tenants: &[Created],
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    rule("Token ledger (prepaid tenants: a monthly grant expiring at month end, and a top-up)");
    let month_end = {
        let (y, m) = if now.month() == 12 {
            (now.year() + 1, 1)
        } else {
            (now.year(), now.month() + 1)
        };
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .unwrap_or(now + Duration::days(30))
    };
    for t in tenants.iter().filter(|t| t.spec.billing_mode == "prepaid") {
        let tenant = ledger::TenantId::parse(&t.id)?;
        let grant = ledger::TransferId::parse("grant-month")?;
        ledger::grant_tokens(
            pool,
            &tenant,
            &grant,
            ledger::Amount::new(50_000)?,
            month_end,
            Some("monthly plan grant"),
            now,
        )
        .await?;
        let top_up = ledger::TransferId::parse("topup-1")?;
        ledger::top_up(
            pool,
            &tenant,
            &top_up,
            ledger::Amount::new(200_000)?,
            Some("card payment"),
            now,
        )
        .await?;
        let spend = ledger::TransferId::parse("usage-demo")?;
        ledger::debit_usage(pool, &tenant, &spend, ledger::Amount::new(80_000)?, now).await?;
        let w = ledger::wallet(pool, &tenant, now).await?;
        println!(
            "  {:<22} available {:>8}  granted {:>7}  purchased {:>8}  pending {}  (80,000 spent: the grant burns first)",
            t.id, w.available.to_string(), w.granted.to_string(), w.purchased.to_string(), w.pending.to_string()
        );
    }
    let report = ledger::verify(pool).await?;
    println!(
        "\n  tally ledger verify: {}",
        if report.is_ok() { "OK" } else { "VIOLATIONS" }
    );
    for line in report.to_string().lines() {
        println!("    {line}");
    }
    Ok(report.is_ok())
}
