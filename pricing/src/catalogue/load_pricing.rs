//! Loading a meter's pricing: modes, rate cards, tiers and region overrides.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::fields::Entry;
use super::meter::MeterPricing;
use super::raw::{RawMode, RawRateCard, RawTier};
use super::region::Region;
use crate::codes::RegionCode;
use crate::error::PricingError;
use crate::mode::{PricingMode, Subsidy};
use crate::rate_card::{Rate, RateCard, Tier};

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
