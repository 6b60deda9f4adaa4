//! Turns the raw TOML shape into a validated `Catalogue`: fx, regions, meters, then plans.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::fields::Entry;
use super::load_pricing::{load_mode, load_pricing};
use super::meter::{Meter, MeterVersion};
use super::raw::RawCatalogue;
use super::region::{FxRate, FxTable, Region, RegionVersion};
use super::{load_plan, Catalogue};
use crate::codes::{MeterCode, RegionCode};
use crate::currency::Currency;
use crate::error::PricingError;
use crate::versioned::Versioned;

pub(super) fn load(text: &str) -> Result<Catalogue, PricingError> {
    let raw: RawCatalogue =
        toml::from_str(text).map_err(|e| PricingError::CatalogueSyntax(e.to_string()))?;
    let fx = load_fx(&raw)?;
    let regions = load_regions(&raw, &fx)?;
    let meters = load_meters(&raw, &regions)?;
    let plans = load_plan::load_plans(&raw.plans, &meters, &regions)?;
    let catalogue = Catalogue {
        version: raw.version,
        plans,
        meters,
        regions,
        fx,
    };
    load_plan::check_every_meter_is_priceable(&catalogue)?;
    Ok(catalogue)
}

fn load_fx(raw: &RawCatalogue) -> Result<FxTable, PricingError> {
    let mut rates: BTreeMap<Currency, Vec<FxRate>> = BTreeMap::new();
    for (i, r) in raw.fx.iter().enumerate() {
        let entry = Entry(format!("fx[{i}] ({})", r.currency));
        let currency = entry.wrap("currency", Currency::parse(&r.currency))?;
        let usd_to_currency = entry.positive("rate", &r.rate)?;
        if currency == Currency::USD && usd_to_currency != Decimal::ONE {
            return Err(entry.invalid("rate", "USD is the base currency; its rate is 1"));
        }
        let as_of = entry.date("as_of", &r.as_of)?;
        rates.entry(currency).or_default().push(FxRate {
            currency,
            usd_to_currency,
            as_of,
        });
    }
    for (currency, list) in &mut rates {
        list.sort_by_key(|r| r.as_of);
        if list.windows(2).any(|w| w[0].as_of == w[1].as_of) {
            return Err(
                Entry(format!("fx ({currency})")).invalid("as_of", "two rates on the same date")
            );
        }
    }
    Ok(FxTable { rates })
}

fn load_regions(
    raw: &RawCatalogue,
    fx: &FxTable,
) -> Result<BTreeMap<RegionCode, Region>, PricingError> {
    let mut regions = BTreeMap::new();
    for r in &raw.regions {
        let entry = Entry(format!("regions[{}]", r.code));
        let code = entry.wrap("code", RegionCode::parse(&r.code))?;
        let mut versions = Vec::new();
        for (i, v) in r.versions.iter().enumerate() {
            let entry = entry.child(format!("versions[{i}]"));
            let currency = entry.wrap("currency", Currency::parse(&v.currency))?;
            if fx.currencies().all(|c| *c != currency) {
                return Err(entry.invalid(
                    "currency",
                    format!("no FX rate for {currency} in the fx table"),
                ));
            }
            let version = RegionVersion {
                ppp_multiplier: entry.positive("ppp", &v.ppp)?,
                currency,
            };
            versions.push((entry.instant("effective_from", &v.effective_from)?, version));
        }
        let versions = Versioned::new(versions).ok_or_else(|| {
            entry.invalid(
                "versions",
                "need at least one, in increasing effective_from order",
            )
        })?;
        let region = Region {
            code: code.clone(),
            name: r.name.clone(),
            versions,
        };
        if regions.insert(code, region).is_some() {
            return Err(entry.invalid("code", "duplicate region"));
        }
    }
    Ok(regions)
}

fn load_meters(
    raw: &RawCatalogue,
    regions: &BTreeMap<RegionCode, Region>,
) -> Result<BTreeMap<MeterCode, Meter>, PricingError> {
    let mut meters = BTreeMap::new();
    for m in &raw.meters {
        let entry = Entry(format!("meters[{}]", m.code));
        let code = entry.wrap("code", MeterCode::parse(&m.code))?;
        let mut versions = Vec::new();
        for (i, v) in m.versions.iter().enumerate() {
            let entry = entry.child(format!("versions[{i}]"));
            let minimum = v.minimum_charge_usd.as_deref();
            let mut pricing =
                load_pricing(&entry, v.rate.as_ref(), minimum, &v.region_modes, regions)?;
            pricing.mode = Some(load_mode(&entry, "mode", &v.mode)?);
            let cost_usd_per_unit =
                entry.non_negative("cost_usd_per_unit", &v.cost_usd_per_unit)?;
            versions.push((
                entry.instant("effective_from", &v.effective_from)?,
                MeterVersion {
                    cost_usd_per_unit,
                    pricing,
                },
            ));
        }
        let versions = Versioned::new(versions).ok_or_else(|| {
            entry.invalid(
                "versions",
                "need at least one, in increasing effective_from order",
            )
        })?;
        let meter = Meter {
            code: code.clone(),
            unit: m.unit.clone(),
            addon: m.addon,
            versions,
        };
        if meters.insert(code, meter).is_some() {
            return Err(entry.invalid("code", "duplicate meter"));
        }
    }
    Ok(meters)
}
