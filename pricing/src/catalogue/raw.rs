//! The catalogue file's TOML shape. Numbers are strings so no float ever touches a price;
//! `load` turns these into validated types and names the entry and field on any error.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalogue {
    pub version: String,
    pub fx: Vec<RawFx>,
    pub regions: Vec<RawRegion>,
    pub meters: Vec<RawMeter>,
    pub plans: Vec<RawPlan>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFx {
    pub currency: String,
    pub rate: String,
    pub as_of: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegion {
    pub code: String,
    pub name: String,
    pub versions: Vec<RawRegionVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegionVersion {
    pub effective_from: String,
    pub ppp: String,
    pub currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeter {
    pub code: String,
    pub unit: String,
    #[serde(default)]
    pub addon: bool,
    pub versions: Vec<RawMeterVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMeterVersion {
    pub effective_from: String,
    pub cost_usd_per_unit: String,
    pub mode: RawMode,
    pub rate: Option<RawRateCard>,
    pub minimum_charge_usd: Option<String>,
    #[serde(default)]
    pub region_modes: BTreeMap<String, RawMode>,
}

/// Pricing of a meter, on the meter itself or as a plan's override.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPricing {
    pub mode: Option<RawMode>,
    pub rate: Option<RawRateCard>,
    pub minimum_charge_usd: Option<String>,
    #[serde(default)]
    pub region_modes: BTreeMap<String, RawMode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMode {
    pub kind: String,
    pub markup: Option<String>,
    pub share: Option<String>,
    pub price_usd: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum RawRateCard {
    PerUnit(String),
    Package { size: String, price_usd: String },
    Graduated(Vec<RawTier>),
    Volume(Vec<RawTier>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTier {
    pub up_to: Option<String>,
    pub price_usd: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    pub code: String,
    pub kind: String,
    pub versions: Vec<RawPlanVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlanVersion {
    pub effective_from: String,
    pub name: String,
    pub price_usd: Option<String>,
    #[serde(default)]
    pub negotiated: bool,
    pub seats: Option<RawSeats>,
    #[serde(default)]
    pub addons: bool,
    #[serde(default)]
    pub hard_limits: bool,
    #[serde(default)]
    pub limits: BTreeMap<String, RawLimit>,
    #[serde(default)]
    pub resources: BTreeMap<String, RawCount>,
    pub token_grant: Option<RawGrant>,
    pub all_meters_mode: Option<RawMode>,
    #[serde(default)]
    pub meters: BTreeMap<String, RawPricing>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeats {
    pub included: u32,
    pub extra_seat_usd: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimit {
    /// A decimal string, or `"unlimited"`.
    pub limit: String,
    pub period: String,
    pub hard: Option<bool>,
    #[serde(default)]
    pub auto_suspend: bool,
}

/// A resource count: an integer, or the string `"unlimited"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawCount {
    Count(u32),
    Word(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    pub asset: String,
    pub amount: String,
}
