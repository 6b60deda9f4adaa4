//! Meters: units Tally counts, their real provider cost, and their default pricing.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::plan::PlanVersion;
use crate::codes::{MeterCode, RegionCode};
use crate::mode::PricingMode;
use crate::rate_card::Rate;
use crate::versioned::Versioned;

/// How a meter is priced: a mode, a rate card, and modes overriding it per region.
/// On a meter the mode is always set; on a plan's override any part may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeterPricing {
    pub mode: Option<PricingMode>,
    pub rate: Option<Rate>,
    pub region_modes: BTreeMap<RegionCode, PricingMode>,
}

/// A meter's terms from one effective date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterVersion {
    /// What one unit really costs us, used when an event carries no `cost`.
    pub cost_usd_per_unit: Decimal,
    pub pricing: MeterPricing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    pub code: MeterCode,
    pub unit: String,
    /// Add-ons are sold only on plans with `addons = true`.
    pub addon: bool,
    pub versions: Versioned<MeterVersion>,
}

/// The mode in force, most specific first: plan+meter+region, plan+meter, plan (all meters),
/// meter+region, meter.
pub(crate) fn resolve_mode<'a>(
    plan: &'a PlanVersion,
    meter: &MeterCode,
    version: &'a MeterVersion,
    region: &RegionCode,
) -> &'a PricingMode {
    let plan_meter = plan.meters.get(meter);
    plan_meter
        .and_then(|p| p.region_modes.get(region))
        .or_else(|| plan_meter.and_then(|p| p.mode.as_ref()))
        .or(plan.all_meters_mode.as_ref())
        .or_else(|| version.pricing.region_modes.get(region))
        .or(version.pricing.mode.as_ref())
        .unwrap_or(&PricingMode::Free)
}

/// The rate card in force: the plan's override, else the meter's.
pub(crate) fn resolve_rate<'a>(
    plan: &'a PlanVersion,
    meter: &MeterCode,
    version: &'a MeterVersion,
) -> Option<&'a Rate> {
    plan.meters
        .get(meter)
        .and_then(|p| p.rate.as_ref())
        .or(version.pricing.rate.as_ref())
}
