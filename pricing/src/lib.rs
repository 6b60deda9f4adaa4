//! Plan catalogue, rate cards and pricing modes: pure, exact decimal arithmetic, no I/O.
//!
//! Load a [`Catalogue`] once (from the embedded `catalogue.toml` or any TOML string), then
//! call [`Catalogue::quote`] for usage and [`Catalogue::price_plan_fees`] for recurring fees.
//! Every amount is a `rust_decimal::Decimal`; each line is rounded once by
//! [`money::round_line`] (half-even, to the currency's minor unit) and totals add rounded lines.

pub mod catalogue;
mod charge;
pub mod codes;
pub mod currency;
pub mod error;
mod fees;
pub mod line;
pub mod mode;
pub mod money;
mod quote;
pub mod rate_card;
pub mod tokens;
pub mod versioned;

pub use catalogue::meter::{Meter, MeterVersion};
pub use catalogue::plan::{
    Enforcement, Limit, LimitPeriod, ListPrice, Plan, PlanKind, PlanVersion, Resources, SeatTerms,
    TokenGrant,
};
pub use catalogue::region::{FxRate, Region, RegionVersion};
pub use catalogue::{Catalogue, EMBEDDED_CATALOGUE_TOML};
pub use codes::{MeterCode, PlanCode, RegionCode};
pub use currency::Currency;
pub use error::PricingError;
pub use fees::{FeeRequest, PlanFees};
pub use line::QuoteLine;
pub use mode::{ModeKind, PricingMode, Subsidy};
pub use quote::{Quote, QuoteRequest};
pub use rate_card::{Rate, RateCard, RatedPart, Tier};
pub use tokens::{to_tokens, TokenPrice, TOKEN_METER};
