//! Turns the raw TOML shape into a validated `Catalogue`: fx, regions, meters, then plans.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::fields::Entry;
use super::meter::{Meter, MeterPricing, MeterVersion};
use super::raw::{RawCatalogue, RawMode, RawRateCard, RawTier};
use super::region::{FxRate, FxTable, Region, RegionVersion};
use super::{load_plan, Catalogue};
use crate::codes::{MeterCode, RegionCode};
use crate::currency::Currency;
use crate::error::PricingError;
use crate::mode::{PricingMode, Subsidy};
use crate::rate_card::{Rate, RateCard, Tier};
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

/// Rate card, minimum and region modes; the caller sets the meter-wide mode.
pub(super) fn load_pricing(
    entry: &Entry,
    rate: Option<&RawRateCard>,
    minimum: Option<&str>,
    region_modes: &BTreeMap<String, RawMode>,
    regions: &BTreeMap<RegionCode, Region>,
) -> Result<MeterPricing, PricingError> {
    let minimum = minimum
        .map(|m| entry.non_negative("minimum_charge_usd", m))
        .transpose()?;
    let rate = match (rate, minimum) {
        (Some(card), minimum) => Some(Rate {
            card: load_card(entry, card)?,
            minimum_charge_usd: minimum.unwrap_or(Decimal::ZERO),
        }),
        (None, Some(_)) => return Err(entry.invalid("minimum_charge_usd", "needs a rate")),
        (None, None) => None,
    };
    let mut modes = BTreeMap::new();
    for (region, mode) in region_modes {
        let field = format!("region_modes.{region}");
        let code = entry.wrap(&field, RegionCode::parse(region))?;
        if !regions.contains_key(&code) {
            return Err(entry.invalid(&field, "unknown region"));
        }
        modes.insert(code, load_mode(entry, &field, mode)?);
    }
    Ok(MeterPricing {
        mode: None,
        rate,
        region_modes: modes,
    })
}

pub(super) fn load_mode(
    entry: &Entry,
    field: &str,
    raw: &RawMode,
) -> Result<PricingMode, PricingError> {
    let f = |name: &str| format!("{field}.{name}");
    let extra = [
        ("markup", &raw.markup),
        ("share", &raw.share),
        ("price_usd", &raw.price_usd),
    ];
    let allowed: &[&str] = match raw.kind.as_str() {
        "free" | "fixed" => &[],
        "markup" => &["markup"],
        "subsidized" => &["share", "price_usd"],
        other => {
            return Err(entry.invalid(
                &f("kind"),
                format!("{other:?} is not free, fixed, markup or subsidized"),
            ))
        }
    };
    if let Some((name, _)) = extra
        .iter()
        .find(|(n, v)| v.is_some() && !allowed.contains(n))
    {
        return Err(entry.invalid(&f(name), format!("not allowed for mode {}", raw.kind)));
    }
    Ok(
        match (raw.kind.as_str(), &raw.markup, &raw.share, &raw.price_usd) {
            ("free", ..) => PricingMode::Free,
            ("fixed", ..) => PricingMode::Fixed,
            ("markup", Some(m), ..) => PricingMode::Markup {
                markup: entry.non_negative(&f("markup"), m)?,
            },
            ("subsidized", _, Some(s), None) => {
                let share = entry.non_negative(&f("share"), s)?;
                if share > Decimal::ONE {
                    return Err(entry.invalid(&f("share"), "a subsidy share is at most 1"));
                }
                PricingMode::Subsidized(Subsidy::Share { share })
            }
            ("subsidized", _, None, Some(p)) => PricingMode::Subsidized(Subsidy::UnitPrice {
                price_usd: entry.non_negative(&f("price_usd"), p)?,
            }),
            (kind, ..) => {
                return Err(entry.invalid(field, format!("mode {kind} needs exactly one parameter")))
            }
        },
    )
}

fn load_card(entry: &Entry, raw: &RawRateCard) -> Result<RateCard, PricingError> {
    Ok(match raw {
        RawRateCard::PerUnit(p) => RateCard::PerUnit {
            price_usd: entry.non_negative("rate.per_unit", p)?,
        },
        RawRateCard::Package { size, price_usd } => RateCard::Package {
            size: entry.positive("rate.package.size", size)?,
            price_usd: entry.non_negative("rate.package.price_usd", price_usd)?,
        },
        RawRateCard::Graduated(t) => RateCard::Graduated(load_tiers(entry, "rate.graduated", t)?),
        RawRateCard::Volume(t) => RateCard::Volume(load_tiers(entry, "rate.volume", t)?),
    })
}

fn load_tiers(entry: &Entry, field: &str, raw: &[RawTier]) -> Result<Vec<Tier>, PricingError> {
    let mut tiers = Vec::with_capacity(raw.len());
    let mut previous = Decimal::ZERO;
    for (i, t) in raw.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let last = i + 1 == raw.len();
        let up_to = match (&t.up_to, last) {
            (Some(u), false) => Some(entry.positive(&format!("{field}.up_to"), u)?),
            (None, true) => None,
            (Some(_), true) => {
                return Err(entry.invalid(&field, "the last tier must be open (no up_to)"))
            }
            (None, false) => return Err(entry.invalid(&field, "only the last tier may omit up_to")),
        };
        if let Some(u) = up_to {
            if u <= previous {
                return Err(entry.invalid(&format!("{field}.up_to"), "tiers must ascend"));
            }
            previous = u;
        }
        tiers.push(Tier {
            up_to,
            price_usd: entry.non_negative(&format!("{field}.price_usd"), &t.price_usd)?,
        });
    }
    if tiers.is_empty() {
        return Err(entry.invalid(field, "needs at least one tier"));
    }
    Ok(tiers)
}
