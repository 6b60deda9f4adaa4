//! Regions (PPP multiplier, local currency) and the USD-based FX rates table.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::codes::RegionCode;
use crate::currency::Currency;
use crate::error::PricingError;
use crate::versioned::Versioned;

/// A region's terms from one effective date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegionVersion {
    /// List prices (fixed mode) are multiplied by this; 1 = US price level.
    pub ppp_multiplier: Decimal,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub code: RegionCode,
    pub name: String,
    pub versions: Versioned<RegionVersion>,
}

/// Units of `currency` per 1 USD, published on `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FxRate {
    pub currency: Currency,
    pub usd_to_currency: Decimal,
    pub as_of: NaiveDate,
}

/// Every currency's rates, each list sorted by `as_of`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FxTable {
    pub(crate) rates: BTreeMap<Currency, Vec<FxRate>>,
}

impl FxTable {
    /// The latest rate published on or before `date`.
    pub fn at(&self, currency: Currency, date: NaiveDate) -> Result<&FxRate, PricingError> {
        self.rates
            .get(&currency)
            .and_then(|rates| rates.iter().rev().find(|r| r.as_of <= date))
            .ok_or_else(|| PricingError::FxRateMissing {
                currency: currency.code().to_owned(),
                date,
            })
    }

    pub fn currencies(&self) -> impl Iterator<Item = &Currency> {
        self.rates.keys()
    }
}
