//! The quote API: price a quantity of one meter for a plan in a region, with a breakdown.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalogue::meter::{resolve_mode, resolve_rate};
use crate::catalogue::plan::PlanVersion;
use crate::catalogue::Catalogue;
use crate::charge::{charge, Usage};
use crate::codes::{MeterCode, PlanCode, RegionCode};
use crate::currency::Currency;
use crate::error::PricingError;
use crate::line::{Converter, QuoteLine, UsdCharge};
use crate::mode::ModeKind;
use crate::money::{div, mul, sub, sum};

/// What to price. Without `period_usage` the whole quantity is overage (the contract's
/// `plan`+`region` form); with it, the plan's allowance left after that usage applies first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteRequest {
    pub plan: PlanCode,
    pub region: RegionCode,
    pub meter: MeterCode,
    pub quantity: Decimal,
    /// Real provider cost of the whole quantity; default: the meter's cost rate × quantity.
    pub real_cost_usd: Option<Decimal>,
    /// Usage already counted in the allowance's period (day or month, see `Limit::period`).
    pub period_usage: Option<Decimal>,
    /// When to price; default now. Plan, meter, region and FX rate in force then are used.
    pub at: Option<DateTime<Utc>>,
}

/// A priced quantity. `amount` is the sum of the breakdown's rounded `amount`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub plan: PlanCode,
    pub region: RegionCode,
    pub meter: MeterCode,
    pub quantity: Decimal,
    pub included_quantity: Decimal,
    pub billable_quantity: Decimal,
    pub currency: Currency,
    pub amount: Decimal,
    pub unit_price: Decimal,
    pub real_cost_usd: Decimal,
    pub mode: ModeKind,
    pub breakdown: Vec<QuoteLine>,
    pub priced_at: DateTime<Utc>,
    pub catalogue_version: String,
}

fn non_negative(value: Option<Decimal>, field: &'static str) -> Result<(), PricingError> {
    match value {
        Some(v) if v < Decimal::ZERO => Err(PricingError::InvalidInput {
            field,
            reason: "must not be negative",
        }),
        _ => Ok(()),
    }
}

impl Catalogue {
    /// Prices `req.quantity` units of `req.meter`; see `QuoteRequest` for the allowance rule.
    pub fn quote(&self, req: &QuoteRequest) -> Result<Quote, PricingError> {
        non_negative(Some(req.quantity), "quantity")?;
        non_negative(req.real_cost_usd, "real_cost_usd")?;
        non_negative(req.period_usage, "period_usage")?;
        let at = req.at.unwrap_or_else(Utc::now);
        let plan = self.plan_at(&req.plan, at)?;
        let meter = self.meter(&req.meter)?;
        if meter.addon && !plan.addons {
            return Err(PricingError::AddonNotAvailable {
                plan: req.plan.clone(),
                meter: req.meter.clone(),
            });
        }
        let mv = self.meter_at(&req.meter, at)?;
        let region = self.region_at(&req.region, at)?;
        let fx = *self.fx_rate(region.currency, at.date_naive())?;
        let converter = Converter {
            currency: region.currency,
            fx,
        };

        let included = match req.period_usage {
            Some(used) => allowance_left(plan, &req.meter, used)?.min(req.quantity),
            None => Decimal::ZERO,
        };
        let billable = sub(req.quantity, included, "billable quantity")?;
        let total_cost = match req.real_cost_usd {
            Some(cost) => cost,
            None => mul(mv.cost_usd_per_unit, req.quantity, "real cost")?,
        };
        let billable_cost = match req.real_cost_usd {
            _ if billable == req.quantity => total_cost,
            None => mul(mv.cost_usd_per_unit, billable, "real cost")?,
            Some(cost) => div(
                mul(cost, billable, "real cost share")?,
                req.quantity,
                "real cost share",
            )?,
        };

        let mut breakdown = Vec::new();
        if included > Decimal::ZERO {
            let covered_cost = sub(total_cost, billable_cost, "included cost")?;
            breakdown.push(converter.line(
                included,
                allowance_charge(plan, &req.meter, included, covered_cost, &meter.unit),
            )?);
        }
        let mode = resolve_mode(plan, &req.meter, mv, &req.region);
        let usage = Usage {
            billable,
            unit: &meter.unit,
            real_cost_usd: billable_cost,
            ppp_multiplier: region.ppp_multiplier,
        };
        let usd = charge(mode, resolve_rate(plan, &req.meter, mv), &usage)?.ok_or_else(|| {
            PricingError::NotPriced {
                plan: req.plan.clone(),
                meter: req.meter.clone(),
            }
        })?;
        let charge_line = converter.line(billable, usd)?;
        let unit_price = charge_line.unit_price;
        breakdown.push(charge_line);

        Ok(Quote {
            plan: req.plan.clone(),
            region: req.region.clone(),
            meter: req.meter.clone(),
            quantity: req.quantity,
            included_quantity: included,
            billable_quantity: billable,
            currency: region.currency,
            amount: sum(breakdown.iter().map(|l| &l.amount), "quote total")?,
            unit_price,
            real_cost_usd: total_cost.normalize(),
            mode: mode.kind(),
            breakdown,
            priced_at: at,
            catalogue_version: self.version.clone(),
        })
    }
}

/// Allowance left in the period: the plan's limit minus usage so far; unlimited covers all.
fn allowance_left(
    plan: &PlanVersion,
    meter: &MeterCode,
    used: Decimal,
) -> Result<Decimal, PricingError> {
    Ok(match plan.limit(meter) {
        None => Decimal::ZERO,
        Some(limit) => match limit.limit {
            None => Decimal::MAX,
            Some(l) => sub(l, used, "allowance left")?.max(Decimal::ZERO),
        },
    })
}

fn allowance_charge(
    plan: &PlanVersion,
    meter: &MeterCode,
    included: Decimal,
    cost: Decimal,
    unit: &str,
) -> UsdCharge {
    let terms = plan.limit(meter).map_or(String::new(), |l| match l.limit {
        Some(n) => format!(" ({n} per {})", l.period.noun()),
        None => " (unlimited)".to_owned(),
    });
    UsdCharge {
        description: format!("{included} {unit}: included in plan {}{terms}", plan.code),
        amount_usd: Decimal::ZERO,
        ppp_multiplier: Decimal::ONE,
        floor_applied: false,
        real_cost_usd: cost,
        subsidy_usd: None,
        parts: Vec::new(),
    }
}
