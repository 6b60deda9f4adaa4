//! `Currency`: an ISO 4217 currency with its minor-unit exponent (USD 2, JPY 0, KWD 3).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::PricingError;

/// A currency Tally can price in: one with a defined minor unit in ISO 4217.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency {
    iso: iso_currency::Currency,
    minor_unit_exponent: u32,
}

impl Currency {
    pub const USD: Currency = Currency {
        iso: iso_currency::Currency::USD,
        minor_unit_exponent: 2,
    };

    /// Parses an ISO 4217 alphabetic code; rejects codes without a minor unit (gold, funds).
    pub fn parse(code: &str) -> Result<Self, PricingError> {
        let invalid = |reason| PricingError::InvalidCode {
            kind: "currency",
            value: code.to_owned(),
            reason,
        };
        let iso = iso_currency::Currency::from_code(code)
            .ok_or_else(|| invalid("not an ISO 4217 code"))?;
        let exponent = iso.exponent().ok_or_else(|| invalid("has no minor unit"))?;
        Ok(Currency {
            iso,
            minor_unit_exponent: u32::from(exponent),
        })
    }

    pub fn code(&self) -> &'static str {
        self.iso.code()
    }

    /// Decimal places of the minor unit: 2 for USD (cents), 0 for JPY, 3 for KWD.
    pub fn minor_unit_exponent(&self) -> u32 {
        self.minor_unit_exponent
    }

    pub fn iso(&self) -> iso_currency::Currency {
        self.iso
    }
}

impl TryFrom<String> for Currency {
    type Error = PricingError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_come_from_iso_4217() {
        let cases = [("USD", 2), ("JPY", 0), ("VND", 0), ("KWD", 3), ("INR", 2)];
        for (code, exponent) in cases {
            assert_eq!(
                Currency::parse(code).unwrap().minor_unit_exponent(),
                exponent
            );
        }
        assert_eq!(Currency::parse("USD").unwrap(), Currency::USD);
        assert!(Currency::parse("XAU").is_err());
        assert!(Currency::parse("ABC").is_err());
    }
}
