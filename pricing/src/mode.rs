//! Pricing modes: how a meter's billed amount relates to its list price and its real cost.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How a meter is billed on a plan in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PricingMode {
    /// Billed 0; the real cost is absorbed and recorded as a subsidy.
    Free,
    /// The rate card's list price, PPP-adjusted, never below real cost.
    Fixed,
    /// Real cost × (1 + `markup`); not PPP-adjusted (regions override the markup instead).
    Markup { markup: Decimal },
    /// Below cost on purpose; the difference is recorded as a subsidy.
    Subsidized(Subsidy),
}

/// The two ways to subsidize: a share of real cost, or a fixed unit price capped at cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Subsidy {
    /// Billed real cost × (1 − `share`), `share` in [0, 1].
    Share { share: Decimal },
    /// Billed `price_usd` per unit, but never more than real cost.
    UnitPrice { price_usd: Decimal },
}

/// The mode's name alone, as reported on a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeKind {
    Free,
    Fixed,
    Markup,
    Subsidized,
}

impl PricingMode {
    pub fn kind(&self) -> ModeKind {
        match self {
            PricingMode::Free => ModeKind::Free,
            PricingMode::Fixed => ModeKind::Fixed,
            PricingMode::Markup { .. } => ModeKind::Markup,
            PricingMode::Subsidized(_) => ModeKind::Subsidized,
        }
    }
}
