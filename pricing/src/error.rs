//! The crate's one error type: every way a catalogue load or a price computation can fail.

use chrono::{DateTime, NaiveDate, Utc};

use crate::codes::{MeterCode, PlanCode, RegionCode};

/// Everything that can go wrong in `pricing`; each variant names what a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A code (plan, meter, region, currency) did not parse.
    #[error("invalid {kind} code {value:?}: {reason}")]
    InvalidCode {
        kind: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The catalogue text is not valid TOML or does not have the expected shape.
    #[error("catalogue is not well-formed: {0}")]
    CatalogueSyntax(String),
    /// A catalogue entry failed validation; `entry` and `field` say where.
    #[error("catalogue entry {entry}, field {field}: {reason}")]
    CatalogueInvalid {
        entry: String,
        field: String,
        reason: String,
    },
    #[error("unknown plan {0}")]
    UnknownPlan(PlanCode),
    #[error("unknown meter {0}")]
    UnknownMeter(MeterCode),
    #[error("unknown region {0}")]
    UnknownRegion(RegionCode),
    /// The entry exists but no version of it was in force at that instant.
    #[error("{entry} has no version in force at {at}")]
    NotInForce { entry: String, at: DateTime<Utc> },
    #[error("no FX rate for {currency} dated on or before {date}")]
    FxRateMissing { currency: String, date: NaiveDate },
    /// The plan does not sell this add-on meter (e.g. RAM on Free).
    #[error("plan {plan} does not offer the add-on {meter}")]
    AddonNotAvailable { plan: PlanCode, meter: MeterCode },
    /// The meter has no list price for this plan and region, so it cannot be quoted.
    #[error("meter {meter} has no list price on plan {plan}")]
    NotPriced { plan: PlanCode, meter: MeterCode },
    /// The plan's price is set per contract, not by the catalogue.
    #[error("plan {plan} is priced per contract (negotiated)")]
    NegotiatedPrice { plan: PlanCode },
    /// A caller-supplied number is out of range; `field` names it.
    #[error("{field}: {reason}")]
    InvalidInput {
        field: &'static str,
        reason: &'static str,
    },
    /// Checked arithmetic overflowed; `what` names the computation.
    #[error("arithmetic overflow computing {what}")]
    Overflow { what: &'static str },
}
