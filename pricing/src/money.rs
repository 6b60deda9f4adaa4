//! Exact money arithmetic: checked operations and the one place a line is rounded.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::currency::Currency;
use crate::error::PricingError;

/// The rounding mode for every priced line: half to even ("banker's rounding").
pub const LINE_ROUNDING: RoundingStrategy = RoundingStrategy::MidpointNearestEven;

/// Rounds one line's amount to the currency's minor unit, half-even, and fixes the scale
/// so that `12.3` USD reads `12.30` and JPY reads `1500`. This is the only rounding of
/// money in Tally's pricing: a total is the sum of lines that went through here once.
pub fn round_line(amount: Decimal, currency: Currency) -> Decimal {
    let places = currency.minor_unit_exponent();
    let mut rounded = amount.round_dp_with_strategy(places, LINE_ROUNDING);
    rounded.rescale(places);
    rounded
}

/// A rounded amount as an integer count of minor units (cents, yen, fils), for the ledger.
pub fn to_minor_units(rounded: Decimal, currency: Currency) -> Result<i64, PricingError> {
    let scale = Decimal::from(10_i64.pow(currency.minor_unit_exponent()));
    let minor = mul(rounded, scale, "minor units")?;
    if minor.fract() != Decimal::ZERO {
        return Err(PricingError::InvalidInput {
            field: "amount",
            reason: "is not rounded to the currency's minor unit",
        });
    }
    i64::try_from(minor).map_err(|_| PricingError::Overflow {
        what: "minor units",
    })
}

pub fn mul(a: Decimal, b: Decimal, what: &'static str) -> Result<Decimal, PricingError> {
    a.checked_mul(b).ok_or(PricingError::Overflow { what })
}

pub fn add(a: Decimal, b: Decimal, what: &'static str) -> Result<Decimal, PricingError> {
    a.checked_add(b).ok_or(PricingError::Overflow { what })
}

pub fn sub(a: Decimal, b: Decimal, what: &'static str) -> Result<Decimal, PricingError> {
    a.checked_sub(b).ok_or(PricingError::Overflow { what })
}

/// Division; the divisor must be non-zero (callers check), a zero divisor is reported as overflow.
pub fn div(a: Decimal, b: Decimal, what: &'static str) -> Result<Decimal, PricingError> {
    a.checked_div(b).ok_or(PricingError::Overflow { what })
}

/// Sums already-rounded line amounts; no rounding happens here.
pub fn sum<'a>(
    amounts: impl IntoIterator<Item = &'a Decimal>,
    what: &'static str,
) -> Result<Decimal, PricingError> {
    amounts
        .into_iter()
        .try_fold(Decimal::ZERO, |acc, x| add(acc, *x, what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounds_half_even_to_the_minor_unit() {
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        let cases = [
            (dec!(12.345), Currency::USD, "12.34"),
            (dec!(12.355), Currency::USD, "12.36"),
            (dec!(12.3), Currency::USD, "12.30"),
            (dec!(40.5), jpy, "40"),
            (dec!(41.5), jpy, "42"),
            (dec!(1500), jpy, "1500"),
            (dec!(3.789915), kwd, "3.790"),
        ];
        for (amount, currency, want) in cases {
            assert_eq!(
                round_line(amount, currency).to_string(),
                want,
                "{amount} {currency}"
            );
        }
    }

    #[test]
    fn minor_units_are_integers() {
        assert_eq!(to_minor_units(dec!(12.34), Currency::USD), Ok(1234));
        assert!(to_minor_units(dec!(12.345), Currency::USD).is_err());
        assert!(mul(Decimal::MAX, dec!(2), "test").is_err());
    }
}
