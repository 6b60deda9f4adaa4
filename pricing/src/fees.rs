//! A plan's monthly base fee and extra seats, priced in a region's currency (for invoicing).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::catalogue::plan::ListPrice;
use crate::catalogue::Catalogue;
use crate::codes::{PlanCode, RegionCode};
use crate::currency::Currency;
use crate::error::PricingError;
use crate::line::{Converter, QuoteLine, UsdCharge};
use crate::money::{mul, sum};
use crate::rate_card::RatedPart;

/// The recurring fees of one plan for one period (or a share of it, for proration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeRequest {
    pub plan: PlanCode,
    pub region: RegionCode,
    /// Seats in use; seats beyond the plan's included ones are charged. Ignored on individual plans.
    pub seats: u32,
    /// Share of the month charged, in [0, 1]: 1 for a full month, less for a prorated change.
    /// Applied before rounding so a prorated line is still rounded once.
    pub period_fraction: Decimal,
    /// The instant whose plan version, region and FX rate apply (e.g. the period start).
    pub at: DateTime<Utc>,
}

/// Fee lines and their total (the sum of the rounded lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanFees {
    pub plan: PlanCode,
    pub region: RegionCode,
    pub currency: Currency,
    pub total: Decimal,
    pub lines: Vec<QuoteLine>,
}

impl Catalogue {
    /// Prices the base fee and extra seats, PPP-adjusted and converted. Negotiated plans are an error.
    pub fn price_plan_fees(&self, req: &FeeRequest) -> Result<PlanFees, PricingError> {
        if req.period_fraction < Decimal::ZERO || req.period_fraction > Decimal::ONE {
            return Err(PricingError::InvalidInput {
                field: "period_fraction",
                reason: "must be between 0 and 1",
            });
        }
        let plan = self.plan_at(&req.plan, req.at)?;
        let ListPrice::Monthly { usd: base_usd } = plan.price else {
            return Err(PricingError::NegotiatedPrice {
                plan: req.plan.clone(),
            });
        };
        let region = self.region_at(&req.region, req.at)?;
        let fx = *self.fx_rate(region.currency, req.at.date_naive())?;
        let converter = Converter {
            currency: region.currency,
            fx,
        };
        let ppp = region.ppp_multiplier;

        let mut lines = vec![converter.line(
            Decimal::ONE,
            fee(
                format!("{} plan, monthly fee", plan.name),
                Decimal::ONE,
                base_usd,
                ppp,
                req.period_fraction,
            )?,
        )?];
        if let Some(seats) = &plan.seats {
            let extra = req.seats.saturating_sub(seats.included);
            if extra > 0 {
                let text = format!("{extra} extra seats beyond {} included", seats.included);
                let extra = Decimal::from(extra);
                lines.push(converter.line(
                    extra,
                    fee(text, extra, seats.extra_seat_usd, ppp, req.period_fraction)?,
                )?);
            }
        }
        Ok(PlanFees {
            plan: req.plan.clone(),
            region: req.region.clone(),
            currency: region.currency,
            total: sum(lines.iter().map(|l| &l.amount), "fee total")?,
            lines,
        })
    }
}

/// quantity × list price × PPP × period fraction, in USD. Fees have no real cost, so no floor.
fn fee(
    description: String,
    quantity: Decimal,
    price_usd: Decimal,
    ppp: Decimal,
    fraction: Decimal,
) -> Result<UsdCharge, PricingError> {
    let list = mul(quantity, price_usd, "fee")?;
    let amount_usd = mul(mul(list, ppp, "fee PPP")?, fraction, "fee proration")?;
    let description = if fraction == Decimal::ONE {
        format!("{description}: {list} USD × PPP {ppp}")
    } else {
        format!("{description}: {list} USD × PPP {ppp} × {fraction} of the period")
    };
    Ok(UsdCharge {
        description,
        amount_usd,
        ppp_multiplier: ppp,
        floor_applied: false,
        real_cost_usd: Decimal::ZERO,
        subsidy_usd: None,
        parts: vec![RatedPart {
            description: "list price".into(),
            quantity,
            unit_price_usd: price_usd,
            amount_usd: list,
        }],
    })
}
