//! The versioned, effective-dated catalogue: plans, meters, regions and FX rates, loaded from TOML.

mod fields;
mod load;
mod load_plan;
mod load_pricing;
pub mod meter;
pub mod plan;
mod raw;
pub mod region;
mod successor;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::codes::{MeterCode, PlanCode, RegionCode};
use crate::currency::Currency;
use crate::error::PricingError;
use meter::{Meter, MeterVersion};
use plan::{Plan, PlanVersion};
use region::{FxRate, FxTable, Region, RegionVersion};

/// The catalogue shipped with Tally (`pricing/catalogue.toml`).
pub const EMBEDDED_CATALOGUE_TOML: &str = include_str!("../../catalogue.toml");

/// Everything needed to price usage; immutable once loaded.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub(crate) version: String,
    pub(crate) plans: BTreeMap<PlanCode, Plan>,
    pub(crate) meters: BTreeMap<MeterCode, Meter>,
    pub(crate) regions: BTreeMap<RegionCode, Region>,
    pub(crate) fx: FxTable,
}

impl Catalogue {
    /// Loads the catalogue embedded in the binary. Load it once at start-up.
    pub fn embedded() -> Result<Catalogue, PricingError> {
        Self::from_toml_str(EMBEDDED_CATALOGUE_TOML)
    }

    /// Loads and validates a catalogue; errors name the offending entry and field.
    pub fn from_toml_str(text: &str) -> Result<Catalogue, PricingError> {
        load::load(text)
    }

    /// The catalogue's own version label (e.g. `2026-01`), for audit trails.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The plan's terms in force at `at`; a later change never alters an earlier answer.
    pub fn plan_at(
        &self,
        code: &PlanCode,
        at: DateTime<Utc>,
    ) -> Result<&PlanVersion, PricingError> {
        let plan = self
            .plans
            .get(code)
            .ok_or_else(|| PricingError::UnknownPlan(code.clone()))?;
        plan.versions
            .at(at)
            .ok_or_else(|| not_in_force(format!("plan {code}"), at))
    }

    pub fn meter(&self, code: &MeterCode) -> Result<&Meter, PricingError> {
        self.meters
            .get(code)
            .ok_or_else(|| PricingError::UnknownMeter(code.clone()))
    }

    pub fn meter_at(
        &self,
        code: &MeterCode,
        at: DateTime<Utc>,
    ) -> Result<&MeterVersion, PricingError> {
        self.meter(code)?
            .versions
            .at(at)
            .ok_or_else(|| not_in_force(format!("meter {code}"), at))
    }

    pub fn region(&self, code: &RegionCode) -> Result<&Region, PricingError> {
        self.regions
            .get(code)
            .ok_or_else(|| PricingError::UnknownRegion(code.clone()))
    }

    pub fn region_at(
        &self,
        code: &RegionCode,
        at: DateTime<Utc>,
    ) -> Result<&RegionVersion, PricingError> {
        self.region(code)?
            .versions
            .at(at)
            .ok_or_else(|| not_in_force(format!("region {code}"), at))
    }

    /// The latest USD→`currency` rate published on or before `date`.
    pub fn fx_rate(&self, currency: Currency, date: NaiveDate) -> Result<&FxRate, PricingError> {
        self.fx.at(currency, date)
    }

    /// The pricing region for a country: its own entry if the catalogue has one, else `EU`
    /// for a euro-area country (by ISO 4217 usage), else `UnknownRegion`.
    pub fn pricing_region(&self, country: &RegionCode) -> Result<RegionCode, PricingError> {
        if self.regions.contains_key(country) {
            return Ok(country.clone());
        }
        let uses_euro = country
            .as_str()
            .parse::<iso_currency::Country>()
            .is_ok_and(|c| iso_currency::Currency::EUR.used_by().contains(&c));
        let eu = RegionCode::parse("EU")?;
        if uses_euro && self.regions.contains_key(&eu) {
            return Ok(eu);
        }
        Err(PricingError::UnknownRegion(country.clone()))
    }

    pub fn plans(&self) -> impl Iterator<Item = &Plan> {
        self.plans.values()
    }

    pub fn meters(&self) -> impl Iterator<Item = &Meter> {
        self.meters.values()
    }

    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }
}

fn not_in_force(entry: String, at: DateTime<Utc>) -> PricingError {
    PricingError::NotInForce { entry, at }
}
