//! `Amount`: a non-negative integer in the asset's smallest unit, bounded to fit `bigint`.

use std::fmt;
use std::str::FromStr;

use crate::error::{LedgerError, Result};

/// An amount in the asset's smallest unit (1 token, 1 cent). At most `i64::MAX` so that every
/// amount and every account counter fits PostgreSQL's `bigint`; sums are checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Amount(u64);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const MAX: Amount = Amount(i64::MAX as u64);

    pub fn new(units: u64) -> Result<Self> {
        if units > Self::MAX.0 {
            return Err(LedgerError::Invalid {
                field: "amount",
                reason: format!("must be at most {}", Self::MAX.0),
            });
        }
        Ok(Self(units))
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0
            .checked_add(other.0)
            .filter(|v| *v <= Self::MAX.0)
            .map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// As stored in a `bigint` column (lossless by construction).
    pub(crate) fn to_db(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    pub(crate) fn from_db(v: i64, what: &str) -> Result<Self> {
        u64::try_from(v)
            .map(Amount)
            .map_err(|_| crate::error::corrupt(format!("negative {what}: {v}")))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Amount {
    type Err = LedgerError;

    /// Decimal digits only (JSON amounts are strings): no sign, no fraction, no exponent.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |reason: &str| LedgerError::Invalid {
            field: "amount",
            reason: reason.to_string(),
        };
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("must be a non-negative integer string"));
        }
        let v: u64 = s.parse().map_err(|_| invalid("out of range"))?;
        Amount::new(v)
    }
}

impl TryFrom<u64> for Amount {
    type Error = LedgerError;
    fn try_from(v: u64) -> Result<Self> {
        Amount::new(v)
    }
}
