//! Platform tokens: the `TOKEN` asset prepaid wallets hold. One token is one unit of the
//! `ai_credits` meter, so its price in a region is that meter's first list tier with the
//! region's PPP multiplier and FX rate applied — the price a tenant there buys tokens at.
//! Priced usage (already rounded lines in the region's currency) becomes tokens in exactly
//! one place, [`to_tokens`].

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::catalogue::Catalogue;
use crate::codes::{MeterCode, RegionCode};
use crate::currency::Currency;
use crate::error::PricingError;
use crate::money::{div, mul};
use crate::rate_card::RateCard;

/// The meter whose unit is one platform token.
pub const TOKEN_METER: &str = "ai_credits";

/// How priced usage becomes whole tokens: half to even, like every money line.
pub const TOKEN_ROUNDING: RoundingStrategy = RoundingStrategy::MidpointNearestEven;

/// One token's price in a region: an exact rate (not rounded), in the region's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPrice {
    pub currency: Currency,
    pub price: Decimal,
}

impl Catalogue {
    /// The price of one token in `region` at `at` (see the module docs).
    pub fn token_price(
        &self,
        region: &RegionCode,
        at: DateTime<Utc>,
    ) -> Result<TokenPrice, PricingError> {
        let code = MeterCode::parse(TOKEN_METER)?;
        let version = self.meter_at(&code, at)?;
        let list_usd = match version.pricing.rate.as_ref().map(|r| &r.card) {
            Some(RateCard::PerUnit { price_usd }) => *price_usd,
            Some(RateCard::Package { size, price_usd }) => div(*price_usd, *size, "token price")?,
            Some(RateCard::Graduated(tiers) | RateCard::Volume(tiers)) => {
                tiers.first().map(|t| t.price_usd).unwrap_or(Decimal::ZERO)
            }
            None => Decimal::ZERO,
        };
        let region_version = self.region_at(region, at)?;
        let fx = self.fx_rate(region_version.currency, at.date_naive())?;
        let price = mul(
            mul(list_usd, region_version.ppp_multiplier, "token price")?,
            fx.usd_to_currency,
            "token price",
        )?;
        if price <= Decimal::ZERO {
            return Err(PricingError::InvalidInput {
                field: "token price",
                reason: "the token meter has no positive list price",
            });
        }
        Ok(TokenPrice {
            currency: region_version.currency,
            price,
        })
    }
}

/// Whole tokens worth `amount` (a sum of rounded lines in `price.currency`), half-even.
pub fn to_tokens(amount: Decimal, price: TokenPrice) -> Result<u64, PricingError> {
    let tokens = div(amount, price.price, "tokens")?.round_dp_with_strategy(0, TOKEN_ROUNDING);
    u64::try_from(tokens).map_err(|_| PricingError::Overflow { what: "tokens" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-11-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_token_costs_the_credit_list_price_at_the_regions_ppp() {
        let c = Catalogue::embedded().unwrap();
        let us = c
            .token_price(&RegionCode::parse("US").unwrap(), at())
            .unwrap();
        assert_eq!(us.currency.code(), "USD");
        assert_eq!(us.price, Decimal::new(10, 3));
        let india = c
            .token_price(&RegionCode::parse("IN").unwrap(), at())
            .unwrap();
        assert_eq!(india.currency.code(), "INR");
        // 0.010 × 0.35 × 83.50 INR
        assert_eq!(india.price.normalize(), Decimal::new(29225, 5));
    }

    #[test]
    fn usage_money_rounds_half_even_to_whole_tokens() {
        let p = TokenPrice {
            currency: Currency::parse("USD").unwrap(),
            price: Decimal::new(10, 3),
        };
        assert_eq!(to_tokens(Decimal::new(247, 2), p).unwrap(), 247);
        assert_eq!(to_tokens(Decimal::new(5, 3), p).unwrap(), 0); // 0.5 → 0 (even)
        assert_eq!(to_tokens(Decimal::new(15, 3), p).unwrap(), 2); // 1.5 → 2 (even)
        assert_eq!(to_tokens(Decimal::ZERO, p).unwrap(), 0);
    }
}
