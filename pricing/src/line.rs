//! Priced lines: a USD charge converted to the local currency and rounded once.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalogue::region::FxRate;
use crate::currency::Currency;
use crate::error::PricingError;
use crate::money::{div, mul, round_line};
use crate::rate_card::RatedPart;

/// One line of a quote or fee breakdown, with everything a person needs to redo it by hand:
/// `amount_unrounded = USD amount × fx_rate`, and `amount = round_line(amount_unrounded)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteLine {
    pub description: String,
    pub quantity: Decimal,
    /// Local currency per unit, unrounded; informative (the amount is what counts).
    pub unit_price: Decimal,
    /// The line's USD amount after mode, PPP and floor, before conversion.
    pub amount_usd: Decimal,
    pub amount_unrounded: Decimal,
    /// Rounded half-even to the currency's minor unit, once.
    pub amount: Decimal,
    pub currency: Currency,
    pub fx_rate: Decimal,
    pub fx_as_of: NaiveDate,
    /// The PPP multiplier applied to the list price (1 for cost-based modes).
    pub ppp_multiplier: Decimal,
    /// True when PPP would have priced below real cost and the price was raised to it.
    pub floor_applied: bool,
    pub real_cost_usd: Decimal,
    /// Real cost not recovered on purpose (free and subsidized modes), in USD.
    pub subsidy_usd: Option<Decimal>,
    /// How the list price was built (tiers, packages, minimum), in USD.
    pub parts: Vec<RatedPart>,
}

/// What a pricing mode decided, in USD, before conversion.
#[derive(Debug, Clone)]
pub(crate) struct UsdCharge {
    pub description: String,
    pub amount_usd: Decimal,
    pub ppp_multiplier: Decimal,
    pub floor_applied: bool,
    pub real_cost_usd: Decimal,
    pub subsidy_usd: Option<Decimal>,
    pub parts: Vec<RatedPart>,
}

/// Converts USD charges into rounded lines in one currency at one FX rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Converter {
    pub currency: Currency,
    pub fx: FxRate,
}

impl Converter {
    pub fn line(&self, quantity: Decimal, charge: UsdCharge) -> Result<QuoteLine, PricingError> {
        let amount_unrounded = mul(
            charge.amount_usd,
            self.fx.usd_to_currency,
            "currency conversion",
        )?;
        let unit_price = if quantity > Decimal::ZERO {
            div(amount_unrounded, quantity, "unit price")?.normalize()
        } else {
            Decimal::ZERO
        };
        Ok(QuoteLine {
            description: charge.description,
            quantity,
            unit_price,
            // normalize() only drops trailing zeros (40.50000 → 40.5); the value is unchanged.
            amount_usd: charge.amount_usd.normalize(),
            amount_unrounded: amount_unrounded.normalize(),
            amount: round_line(amount_unrounded, self.currency),
            currency: self.currency,
            fx_rate: self.fx.usd_to_currency,
            fx_as_of: self.fx.as_of,
            ppp_multiplier: charge.ppp_multiplier,
            floor_applied: charge.floor_applied,
            real_cost_usd: charge.real_cost_usd.normalize(),
            subsidy_usd: charge.subsidy_usd.map(|s| s.normalize()),
            parts: charge.parts,
        })
    }
}
