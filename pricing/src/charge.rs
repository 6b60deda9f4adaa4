//! Applies a pricing mode to billable usage: list price with PPP and floor, markup, subsidy or free.

use rust_decimal::Decimal;

use crate::error::PricingError;
use crate::line::UsdCharge;
use crate::mode::{PricingMode, Subsidy};
use crate::money::mul;
use crate::rate_card::{Rate, RatedPart};

/// The usage to charge for and what it really cost us.
pub(crate) struct Usage<'a> {
    pub billable: Decimal,
    pub unit: &'a str,
    pub real_cost_usd: Decimal,
    pub ppp_multiplier: Decimal,
}

/// `rate` is `None` when the meter has no list price here; only `fixed` needs one.
pub(crate) fn charge(
    mode: &PricingMode,
    rate: Option<&Rate>,
    u: &Usage<'_>,
) -> Result<Option<UsdCharge>, PricingError> {
    let cost = u.real_cost_usd;
    let base = |description: String, amount_usd: Decimal, subsidy: bool| UsdCharge {
        description,
        amount_usd,
        ppp_multiplier: Decimal::ONE,
        floor_applied: false,
        real_cost_usd: cost,
        // 0 ≤ amount_usd ≤ cost in every subsidized mode, so this cannot overflow.
        subsidy_usd: subsidy.then(|| cost - amount_usd),
        parts: Vec::new(),
    };
    Ok(Some(match mode {
        PricingMode::Free => base(
            format!(
                "{} {}: free, real cost {cost} USD absorbed",
                u.billable, u.unit
            ),
            Decimal::ZERO,
            true,
        ),
        PricingMode::Fixed => {
            let Some(rate) = rate else { return Ok(None) };
            return fixed(rate, u).map(Some);
        }
        PricingMode::Markup { markup } => {
            let amount = mul(cost, Decimal::ONE + markup, "markup")?;
            let mut c = base(
                format!(
                    "{} {}: real cost {cost} USD × (1 + {markup})",
                    u.billable, u.unit
                ),
                amount,
                false,
            );
            c.parts.push(RatedPart {
                description: "real cost plus markup".into(),
                quantity: Decimal::ONE,
                unit_price_usd: amount,
                amount_usd: amount,
            });
            c
        }
        PricingMode::Subsidized(Subsidy::Share { share }) => {
            let amount = mul(cost, Decimal::ONE - share, "subsidy")?;
            base(
                format!(
                    "{} {}: real cost {cost} USD × (1 − {share}) subsidized",
                    u.billable, u.unit
                ),
                amount,
                true,
            )
        }
        PricingMode::Subsidized(Subsidy::UnitPrice { price_usd }) => {
            // A fixed price below cost; capped at cost so a subsidy is never a margin.
            let amount = mul(u.billable, *price_usd, "subsidized price")?.min(cost);
            let text = format!(
                "{} {} at subsidized {price_usd} USD each, capped at real cost {cost} USD",
                u.billable, u.unit
            );
            base(text, amount, true)
        }
    }))
}

/// List price × PPP multiplier, raised to real cost if PPP would price below it.
fn fixed(rate: &Rate, u: &Usage<'_>) -> Result<UsdCharge, PricingError> {
    let (list_usd, parts) = rate.price(u.billable)?;
    let ppp_usd = mul(list_usd, u.ppp_multiplier, "PPP adjustment")?;
    let floor_applied = ppp_usd < u.real_cost_usd;
    let mut description = format!(
        "{} {}: list {list_usd} USD × PPP {}",
        u.billable, u.unit, u.ppp_multiplier
    );
    if floor_applied {
        description.push_str(&format!(
            " = {ppp_usd} USD, raised to real cost {} USD (PPP floor)",
            u.real_cost_usd
        ));
    }
    Ok(UsdCharge {
        description,
        amount_usd: ppp_usd.max(u.real_cost_usd),
        ppp_multiplier: u.ppp_multiplier,
        floor_applied,
        real_cost_usd: u.real_cost_usd,
        subsidy_usd: None,
        parts,
    })
}
