//! Field parsers for catalogue loading: each error names the entry and the field.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::error::PricingError;

/// Where in the catalogue a value came from, e.g. `plans[pro].versions[0]`.
#[derive(Debug, Clone)]
pub(super) struct Entry(pub String);

impl Entry {
    pub fn child(&self, part: impl std::fmt::Display) -> Entry {
        Entry(format!("{}.{part}", self.0))
    }

    pub fn invalid(&self, field: &str, reason: impl Into<String>) -> PricingError {
        PricingError::CatalogueInvalid {
            entry: self.0.clone(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    /// Wraps an error from a code parser so it names this entry and field.
    pub fn wrap<T>(&self, field: &str, r: Result<T, PricingError>) -> Result<T, PricingError> {
        r.map_err(|e| self.invalid(field, e.to_string()))
    }

    pub fn decimal(&self, field: &str, text: &str) -> Result<Decimal, PricingError> {
        // Scientific notation and floats are refused: prices are written as exact decimals.
        text.parse::<Decimal>()
            .map_err(|e| self.invalid(field, format!("{text:?} is not a decimal ({e})")))
    }

    pub fn non_negative(&self, field: &str, text: &str) -> Result<Decimal, PricingError> {
        let value = self.decimal(field, text)?;
        if value < Decimal::ZERO {
            return Err(self.invalid(field, format!("{text} must not be negative")));
        }
        Ok(value)
    }

    pub fn positive(&self, field: &str, text: &str) -> Result<Decimal, PricingError> {
        let value = self.decimal(field, text)?;
        if value <= Decimal::ZERO {
            return Err(self.invalid(field, format!("{text} must be greater than 0")));
        }
        Ok(value)
    }

    pub fn instant(&self, field: &str, text: &str) -> Result<DateTime<Utc>, PricingError> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.invalid(field, format!("{text:?} is not RFC 3339 ({e})")))
    }

    pub fn date(&self, field: &str, text: &str) -> Result<NaiveDate, PricingError> {
        text.parse::<NaiveDate>()
            .map_err(|e| self.invalid(field, format!("{text:?} is not YYYY-MM-DD ({e})")))
    }
}
