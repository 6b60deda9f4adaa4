//! Plans and their effective-dated terms: list price, seats, limits, resources, token grant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::meter::MeterPricing;
use crate::codes::{MeterCode, PlanCode};
use crate::mode::PricingMode;
use crate::versioned::Versioned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Individual,
    Organisation,
}

/// A plan's monthly list price, or a contract price set outside the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ListPrice {
    Monthly { usd: Decimal },
    Negotiated,
}

/// Seats an organisation plan includes, and the monthly price of each extra seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatTerms {
    pub included: u32,
    pub extra_seat_usd: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitPeriod {
    Hourly,
    Daily,
    Monthly,
}

impl LimitPeriod {
    /// The period's name as a noun: `hour`, `day`, `month`.
    pub fn noun(&self) -> &'static str {
        match self {
            LimitPeriod::Hourly => "hour",
            LimitPeriod::Daily => "day",
            LimitPeriod::Monthly => "month",
        }
    }
}

/// Hard limits block usage beyond them; soft limits let it through and bill it as overage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    Hard,
    Soft,
}

/// A plan's limit on one meter; it is also the allowance included in the plan's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// `None` means unlimited (everything included).
    pub limit: Option<Decimal>,
    pub period: LimitPeriod,
    pub enforcement: Enforcement,
    /// Default for suspending the tenant when the limit is crossed (operators can override).
    pub auto_suspend: bool,
}

/// Counts of things a tenant may create; `None` means unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Resources {
    pub api_keys: Option<u32>,
    pub gateways: Option<u32>,
    pub plugins: Option<u32>,
    pub services: Option<u32>,
    pub widgets: Option<u32>,
}

/// Tokens credited to the tenant's wallet at the start of every monthly period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenGrant {
    pub asset: MeterCode,
    pub amount_per_month: Decimal,
}

/// The terms of a plan from `effective_from` until the next version starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanVersion {
    pub code: PlanCode,
    pub name: String,
    pub kind: PlanKind,
    pub effective_from: DateTime<Utc>,
    pub price: ListPrice,
    pub seats: Option<SeatTerms>,
    /// Whether add-on meters (RAM, CPU, storage) may be bought on this plan.
    pub addons: bool,
    pub limits: BTreeMap<MeterCode, Limit>,
    pub resources: Resources,
    pub token_grant: Option<TokenGrant>,
    /// A mode for every meter on this plan (Free's `free`), below per-meter overrides.
    #[serde(skip)]
    pub all_meters_mode: Option<PricingMode>,
    /// Per-meter overrides of the catalogue's meter pricing.
    #[serde(skip)]
    pub meters: BTreeMap<MeterCode, MeterPricing>,
}

impl PlanVersion {
    pub fn limit(&self, meter: &MeterCode) -> Option<&Limit> {
        self.limits.get(meter)
    }
}

/// A plan and its history.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub code: PlanCode,
    pub versions: Versioned<PlanVersion>,
}
