//! Loading and validating plans, and the cross-check that every meter can be priced on every plan.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::fields::Entry;
use super::load_pricing::{load_mode, load_pricing};
use super::meter::{resolve_mode, resolve_rate, Meter, MeterPricing};
use super::plan::{
    Enforcement, Limit, LimitPeriod, ListPrice, Plan, PlanKind, PlanVersion, Resources, SeatTerms,
    TokenGrant,
};
use super::raw::{RawCount, RawLimit, RawPlan, RawPlanVersion};
use super::region::Region;
use super::Catalogue;
use crate::codes::{MeterCode, PlanCode, RegionCode};
use crate::error::PricingError;
use crate::mode::PricingMode;
use crate::rate_card::{Rate, RateCard};
use crate::versioned::Versioned;

type Meters = BTreeMap<MeterCode, Meter>;
type Regions = BTreeMap<RegionCode, Region>;

pub(super) fn load_plans(
    raw: &[RawPlan],
    meters: &Meters,
    regions: &Regions,
) -> Result<BTreeMap<PlanCode, Plan>, PricingError> {
    let mut plans = BTreeMap::new();
    for p in raw {
        let entry = Entry(format!("plans[{}]", p.code));
        let code = entry.wrap("code", PlanCode::parse(&p.code))?;
        let kind = match p.kind.as_str() {
            "individual" => PlanKind::Individual,
            "organisation" => PlanKind::Organisation,
            other => {
                return Err(entry.invalid(
                    "kind",
                    format!("{other:?} is not individual or organisation"),
                ))
            }
        };
        let mut versions = Vec::new();
        for (i, v) in p.versions.iter().enumerate() {
            let entry = entry.child(format!("versions[{i}]"));
            let version = load_version(&entry, &code, kind, v, meters, regions)?;
            versions.push((version.effective_from, version));
        }
        let versions = Versioned::new(versions).ok_or_else(|| {
            entry.invalid(
                "versions",
                "need at least one, in increasing effective_from order",
            )
        })?;
        if plans
            .insert(code.clone(), Plan { code, versions })
            .is_some()
        {
            return Err(entry.invalid("code", "duplicate plan"));
        }
    }
    Ok(plans)
}

fn load_version(
    entry: &Entry,
    code: &PlanCode,
    kind: PlanKind,
    v: &RawPlanVersion,
    meters: &Meters,
    regions: &Regions,
) -> Result<PlanVersion, PricingError> {
    let price = match (&v.price_usd, v.negotiated) {
        (Some(p), false) => ListPrice::Monthly {
            usd: entry.non_negative("price_usd", p)?,
        },
        (None, true) => ListPrice::Negotiated,
        _ => return Err(entry.invalid("price_usd", "give either price_usd or negotiated = true")),
    };
    let seats = v
        .seats
        .as_ref()
        .map(|s| -> Result<SeatTerms, PricingError> {
            Ok(SeatTerms {
                included: s.included,
                extra_seat_usd: entry.non_negative("seats.extra_seat_usd", &s.extra_seat_usd)?,
            })
        });
    let seats = seats.transpose()?;
    if kind == PlanKind::Individual && seats.is_some() {
        return Err(entry.invalid("seats", "individual plans have no seats"));
    }
    if kind == PlanKind::Organisation && seats.is_none() && price != ListPrice::Negotiated {
        return Err(entry.invalid(
            "seats",
            "organisation plans with a list price need seat terms",
        ));
    }
    let meter_code = |field: &str, text: &str| -> Result<MeterCode, PricingError> {
        let code = entry.wrap(field, MeterCode::parse(text))?;
        meters
            .contains_key(&code)
            .then_some(code)
            .ok_or_else(|| entry.invalid(field, "unknown meter"))
    };
    let mut limits = BTreeMap::new();
    for (meter, l) in &v.limits {
        let field = format!("limits.{meter}");
        limits.insert(
            meter_code(&field, meter)?,
            load_limit(entry, &field, l, v.hard_limits)?,
        );
    }
    let mut overrides = BTreeMap::new();
    for (meter, p) in &v.meters {
        let field = format!("meters.{meter}");
        let e = entry.child(&field);
        let mut pricing = load_pricing(
            &e,
            p.rate.as_ref(),
            p.minimum_charge_usd.as_deref(),
            &p.region_modes,
            regions,
        )?;
        pricing.mode = p
            .mode
            .as_ref()
            .map(|m| load_mode(&e, "mode", m))
            .transpose()?;
        overrides.insert(meter_code(&field, meter)?, pricing);
    }
    if let Some(s) = &seats {
        add_seat_terms(s, &mut limits, &mut overrides)?;
    }
    let token_grant = match &v.token_grant {
        Some(g) => Some(TokenGrant {
            asset: meter_code("token_grant.asset", &g.asset)?,
            amount_per_month: entry.positive("token_grant.amount", &g.amount)?,
        }),
        None => None,
    };
    Ok(PlanVersion {
        code: code.clone(),
        name: v.name.clone(),
        kind,
        effective_from: entry.instant("effective_from", &v.effective_from)?,
        price,
        seats,
        addons: v.addons,
        limits,
        resources: load_resources(entry, &v.resources)?,
        token_grant,
        all_meters_mode: v
            .all_meters_mode
            .as_ref()
            .map(|m| load_mode(entry, "all_meters_mode", m))
            .transpose()?,
        meters: overrides,
    })
}

fn load_limit(
    entry: &Entry,
    field: &str,
    l: &RawLimit,
    hard_by_default: bool,
) -> Result<Limit, PricingError> {
    let limit = match l.limit.as_str() {
        "unlimited" => None,
        n => Some(entry.non_negative(&format!("{field}.limit"), n)?),
    };
    let period = match l.period.as_str() {
        "hourly" => LimitPeriod::Hourly,
        "daily" => LimitPeriod::Daily,
        "monthly" => LimitPeriod::Monthly,
        other => {
            return Err(entry.invalid(
                &format!("{field}.period"),
                format!("{other:?} is not hourly, daily or monthly"),
            ))
        }
    };
    let enforcement = if l.hard.unwrap_or(hard_by_default) {
        Enforcement::Hard
    } else {
        Enforcement::Soft
    };
    Ok(Limit {
        limit,
        period,
        enforcement,
        auto_suspend: l.auto_suspend,
    })
}

/// Seat terms define the `seats` allowance and the extra-seat rate, unless given explicitly.
fn add_seat_terms(
    s: &SeatTerms,
    limits: &mut BTreeMap<MeterCode, Limit>,
    overrides: &mut BTreeMap<MeterCode, MeterPricing>,
) -> Result<(), PricingError> {
    let seats = MeterCode::parse("seats")?;
    limits.entry(seats.clone()).or_insert(Limit {
        limit: Some(Decimal::from(s.included)),
        period: LimitPeriod::Monthly,
        enforcement: Enforcement::Soft,
        auto_suspend: false,
    });
    let o = overrides.entry(seats).or_default();
    o.mode.get_or_insert(PricingMode::Fixed);
    o.rate.get_or_insert(Rate {
        card: RateCard::PerUnit {
            price_usd: s.extra_seat_usd,
        },
        minimum_charge_usd: Decimal::ZERO,
    });
    Ok(())
}

fn load_resources(
    entry: &Entry,
    raw: &BTreeMap<String, RawCount>,
) -> Result<Resources, PricingError> {
    let count = |name: &str| -> Result<Option<u32>, PricingError> {
        let field = format!("resources.{name}");
        match raw.get(name) {
            Some(RawCount::Count(n)) => Ok(Some(*n)),
            Some(RawCount::Word(w)) if w == "unlimited" => Ok(None),
            Some(RawCount::Word(w)) => {
                Err(entry.invalid(&field, format!("{w:?} is not a count or \"unlimited\"")))
            }
            None => Err(entry.invalid(&field, "missing")),
        }
    };
    const KNOWN: [&str; 5] = ["api_keys", "gateways", "plugins", "services", "widgets"];
    if let Some(unknown) = raw.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(entry.invalid(&format!("resources.{unknown}"), "unknown resource"));
    }
    Ok(Resources {
        api_keys: count("api_keys")?,
        gateways: count("gateways")?,
        plugins: count("plugins")?,
        services: count("services")?,
        widgets: count("widgets")?,
    })
}

/// A meter whose resolved mode is `fixed` needs a rate card, on every plan and region.
pub(super) fn check_every_meter_is_priceable(c: &Catalogue) -> Result<(), PricingError> {
    for plan in c.plans.values() {
        for (from, version) in plan.versions.iter() {
            for meter in c.meters.values() {
                if meter.addon && !version.addons {
                    continue;
                }
                for (_, mv) in meter.versions.iter() {
                    let rate = resolve_rate(version, &meter.code, mv);
                    for region in c.regions.keys() {
                        let mode = resolve_mode(version, &meter.code, mv, region);
                        if *mode == PricingMode::Fixed && rate.is_none() {
                            let entry = Entry(format!("plans[{}].versions[{from}]", plan.code));
                            let reason = format!("fixed mode in region {region} but no rate card");
                            return Err(entry.invalid(&format!("meters.{}", meter.code), reason));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
