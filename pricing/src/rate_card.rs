//! Rate cards: list price in USD for a quantity — per unit, package, graduated or volume tiers, minimum.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::PricingError;
use crate::money::{add, div, mul, sub};

/// One price band; `up_to` is the inclusive upper bound, `None` for the last, open tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub up_to: Option<Decimal>,
    pub price_usd: Decimal,
}

/// The shape of a list price. Tiers are validated ascending with only the last one open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateCard {
    /// `price_usd` for every unit.
    PerUnit { price_usd: Decimal },
    /// `price_usd` for every started package of `size` units (rounded up).
    Package { size: Decimal, price_usd: Decimal },
    /// Each tier's units at that tier's price (like income tax bands).
    Graduated(Vec<Tier>),
    /// All units at the price of the tier the total falls in, but never less than a
    /// smaller quantity would cost (the "no cliff" rule).
    Volume(Vec<Tier>),
}

/// A rate card and the minimum charge that applies once any billable unit is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub card: RateCard,
    pub minimum_charge_usd: Decimal,
}

/// One step of a list-price computation, in USD before any PPP, FX or rounding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RatedPart {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price_usd: Decimal,
    pub amount_usd: Decimal,
}

impl RatedPart {
    fn new(
        description: String,
        quantity: Decimal,
        unit_price_usd: Decimal,
    ) -> Result<Self, PricingError> {
        let amount_usd = mul(quantity, unit_price_usd, "rate card amount")?;
        Ok(RatedPart {
            description,
            quantity,
            unit_price_usd,
            amount_usd,
        })
    }
}

impl Rate {
    /// The list price of `quantity` units in USD, with the parts that explain it.
    /// The parts' amounts add up to the returned total exactly.
    pub fn price(&self, quantity: Decimal) -> Result<(Decimal, Vec<RatedPart>), PricingError> {
        let mut parts = match &self.card {
            RateCard::PerUnit { price_usd } => {
                vec![RatedPart::new(
                    format!("{quantity} units at {price_usd} USD"),
                    quantity,
                    *price_usd,
                )?]
            }
            RateCard::Package { size, price_usd } => vec![package(quantity, *size, *price_usd)?],
            RateCard::Graduated(tiers) => graduated(quantity, tiers)?,
            RateCard::Volume(tiers) => volume(quantity, tiers)?,
        };
        let mut total = parts.iter().try_fold(Decimal::ZERO, |acc, p| {
            add(acc, p.amount_usd, "rate card total")
        })?;
        if quantity > Decimal::ZERO && total < self.minimum_charge_usd {
            let top_up = sub(self.minimum_charge_usd, total, "minimum charge")?;
            let text = format!("minimum charge {} USD: top-up", self.minimum_charge_usd);
            parts.push(RatedPart::new(text, Decimal::ONE, top_up)?);
            total = self.minimum_charge_usd;
        }
        Ok((total, parts))
    }
}

fn package(
    quantity: Decimal,
    size: Decimal,
    price_usd: Decimal,
) -> Result<RatedPart, PricingError> {
    let packages = div(quantity, size, "package count")?.ceil();
    let text = format!(
        "{packages} packages of {size} units at {price_usd} USD ({quantity} units, rounded up)"
    );
    RatedPart::new(text, packages, price_usd)
}

fn graduated(quantity: Decimal, tiers: &[Tier]) -> Result<Vec<RatedPart>, PricingError> {
    let mut parts = Vec::new();
    let mut start = Decimal::ZERO;
    for tier in tiers {
        let end = tier.up_to.map_or(quantity, |up| up.min(quantity));
        if end > start || parts.is_empty() {
            let units = sub(end, start, "tier units")?.max(Decimal::ZERO);
            let band = tier
                .up_to
                .map_or(format!("above {start}"), |up| format!("{start} to {up}"));
            parts.push(RatedPart::new(
                format!("{units} units in tier {band} at {} USD", tier.price_usd),
                units,
                tier.price_usd,
            )?);
        }
        match tier.up_to {
            Some(up) if up < quantity => start = up,
            _ => break,
        }
    }
    Ok(parts)
}

fn volume(quantity: Decimal, tiers: &[Tier]) -> Result<Vec<RatedPart>, PricingError> {
    // The tier the quantity falls in, and the dearest full lower tier (the no-cliff floor).
    let mut floor: Option<(Decimal, Decimal, Decimal)> = None;
    let mut applied = &tiers[tiers.len() - 1];
    for tier in tiers {
        match tier.up_to {
            Some(up) if up < quantity => {
                let full = mul(up, tier.price_usd, "volume floor")?;
                if floor.is_none_or(|(best, _, _)| full > best) {
                    floor = Some((full, up, tier.price_usd));
                }
            }
            _ => {
                applied = tier;
                break;
            }
        }
    }
    let all = RatedPart::new(
        format!("all {quantity} units at {} USD", applied.price_usd),
        quantity,
        applied.price_usd,
    )?;
    let mut parts = vec![all];
    if let Some((full, up, price)) = floor.filter(|(full, _, _)| *full > parts[0].amount_usd) {
        let top_up = sub(full, parts[0].amount_usd, "volume floor")?;
        let text = format!("no-cliff rule: not less than {up} units at {price} USD; top-up");
        parts.push(RatedPart::new(text, Decimal::ONE, top_up)?);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn tiers() -> Vec<Tier> {
        vec![
            Tier {
                up_to: Some(dec!(10000)),
                price_usd: dec!(0.010),
            },
            Tier {
                up_to: Some(dec!(100000)),
                price_usd: dec!(0.009),
            },
            Tier {
                up_to: None,
                price_usd: dec!(0.008),
            },
        ]
    }

    fn check(card: RateCard, minimum: Decimal, quantity: Decimal, want_usd: Decimal) {
        let rate = Rate {
            card,
            minimum_charge_usd: minimum,
        };
        let (total, parts) = rate.price(quantity).unwrap();
        assert_eq!(total, want_usd, "{rate:?} × {quantity}: {parts:#?}");
        let sum: Decimal = parts.iter().map(|p| p.amount_usd).sum();
        assert_eq!(sum, total, "parts add up");
    }

    #[test]
    fn rate_card_shapes() {
        let per_unit = || RateCard::PerUnit {
            price_usd: dec!(0.001),
        };
        let package = || RateCard::Package {
            size: dec!(1000),
            price_usd: dec!(0.002),
        };
        // 12,345 × 0.001 = 12.345
        check(per_unit(), dec!(0), dec!(12345), dec!(12.345));
        // ceil(1,234,567 / 1,000) = 1,235 packages × 0.002 = 2.470
        check(package(), dec!(0), dec!(1234567), dec!(2.470));
        // ceil(1 / 1,000) = 1 package: one token costs a whole package
        check(package(), dec!(0), dec!(1), dec!(0.002));
        // graduated 150,000: 10,000 × 0.010 + 90,000 × 0.009 + 50,000 × 0.008 = 100 + 810 + 400
        check(
            RateCard::Graduated(tiers()),
            dec!(0),
            dec!(150000),
            dec!(1310),
        );
        // volume 150,000: all at 0.008 = 1,200
        check(RateCard::Volume(tiers()), dec!(0), dec!(150000), dec!(1200));
        // volume 10,001: 10,001 × 0.009 = 90.009 < 10,000 × 0.010 = 100, so the no-cliff rule charges 100
        check(RateCard::Volume(tiers()), dec!(0), dec!(10001), dec!(100));
        // volume 12,000: 12,000 × 0.009 = 108 > 100, no top-up
        check(RateCard::Volume(tiers()), dec!(0), dec!(12000), dec!(108));
        // minimum 1.00: 300 × 0.001 = 0.30, topped up to 1.00; zero usage stays 0
        check(per_unit(), dec!(1), dec!(300), dec!(1));
        check(per_unit(), dec!(1), dec!(0), dec!(0));
        check(RateCard::Graduated(tiers()), dec!(0), dec!(0), dec!(0));
    }
}
