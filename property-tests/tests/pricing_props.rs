//! Pricing invariants: monotone rate cards and quotes, the PPP floor, one rounding per line,
//! and FX round trips — over random shapes, quantities, plans, meters and regions.

use chrono::{DateTime, Utc};
use pricing::{
    Catalogue, Currency, MeterCode, ModeKind, PlanCode, Quote, QuoteRequest, Rate, RateCard,
    RegionCode, Tier,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::sync::OnceLock;

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue::embedded().unwrap())
}

fn at() -> DateTime<Utc> {
    "2026-03-15T12:00:00Z".parse().unwrap()
}

/// A non-negative decimal with up to `scale` places, below `max_units` whole units.
fn decimal(max_units: u64, scale: u32) -> impl Strategy<Value = Decimal> {
    (0..max_units * 10u64.pow(scale)).prop_map(move |n| Decimal::new(n as i64, scale))
}

/// Quantities, half of them near the small tier bounds of the embedded catalogue.
fn quantity() -> impl Strategy<Value = Decimal> {
    prop_oneof![decimal(20_000, 2), decimal(3_000_000, 2)]
}

fn price() -> impl Strategy<Value = Decimal> {
    decimal(10, 6)
}

fn tiers() -> impl Strategy<Value = Vec<Tier>> {
    (
        prop::collection::vec((1u64..50_000, price()), 0..4),
        price(),
    )
        .prop_map(|(bounded, last)| {
            let mut up_to = Decimal::ZERO;
            let mut tiers: Vec<Tier> = bounded
                .into_iter()
                .map(|(width, price_usd)| {
                    up_to += Decimal::from(width);
                    Tier {
                        up_to: Some(up_to),
                        price_usd,
                    }
                })
                .collect();
            tiers.push(Tier {
                up_to: None,
                price_usd: last,
            });
            tiers
        })
}

fn rate() -> impl Strategy<Value = Rate> {
    let card = prop_oneof![
        price().prop_map(|price_usd| RateCard::PerUnit { price_usd }),
        (1u64..5_000, price()).prop_map(|(size, price_usd)| RateCard::Package {
            size: Decimal::from(size),
            price_usd
        }),
        tiers().prop_map(RateCard::Graduated),
        tiers().prop_map(RateCard::Volume),
    ];
    (card, decimal(5, 2)).prop_map(|(card, minimum_charge_usd)| Rate {
        card,
        minimum_charge_usd,
    })
}

/// Quantities around the card's tier bounds, where the interesting steps are.
fn rate_and_quantities() -> impl Strategy<Value = (Rate, Decimal, Decimal)> {
    rate().prop_flat_map(|rate| {
        let top = match &rate.card {
            RateCard::Graduated(t) | RateCard::Volume(t) => {
                t.iter().filter_map(|t| t.up_to).max().unwrap_or_default()
            }
            RateCard::Package { size, .. } => *size * Decimal::from(3),
            RateCard::PerUnit { .. } => Decimal::from(10_000),
        };
        let max = u64::try_from((top * Decimal::from(1_200)).trunc()).unwrap_or(1) + 1_000;
        let q = (0..max).prop_map(|n| Decimal::new(n as i64, 3));
        (Just(rate), q.clone(), q)
    })
}

const PLANS: [&str; 9] = [
    "free",
    "starter",
    "pro",
    "business",
    "enterprise",
    "org_starter",
    "org_growth",
    "org_pro",
    "org_business",
];
const METERS: [&str; 10] = [
    "api_calls",
    "workflow_runs",
    "plugin_executions",
    "gateway_messages",
    "ai_tokens",
    "ai_credits",
    "storage_gb",
    "ram_gb",
    "cpu_vcpu",
    "seats",
];
const REGIONS: [&str; 17] = [
    "US", "GB", "EU", "IN", "BR", "MX", "NG", "ZA", "ID", "PH", "VN", "EG", "PK", "TR", "AR", "JP",
    "KW",
];

/// Quotes unless the plan does not sell the add-on (Free and RAM, say).
fn quote(
    plan: &str,
    region: &str,
    meter: &str,
    quantity: Decimal,
    usage: Option<Decimal>,
    cost: Option<Decimal>,
) -> Option<Quote> {
    let req = QuoteRequest {
        plan: PlanCode::parse(plan).unwrap(),
        region: RegionCode::parse(region).unwrap(),
        meter: MeterCode::parse(meter).unwrap(),
        quantity,
        real_cost_usd: cost,
        period_usage: usage,
        at: Some(at()),
    };
    match catalogue().quote(&req) {
        Ok(q) => Some(q),
        Err(pricing::PricingError::AddonNotAvailable { .. }) => None,
        Err(e) => panic!("{plan}/{region}/{meter} × {quantity}: {e}"),
    }
}

fn half_minor_unit(currency: Currency) -> Decimal {
    Decimal::new(5, currency.minor_unit_exponent() + 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_rate_card_is_non_decreasing_in_quantity((rate, a, b) in rate_and_quantities()) {
        let (low, high) = (a.min(b), a.max(b));
        let (p_low, _) = rate.price(low).unwrap();
        let (p_high, parts) = rate.price(high).unwrap();
        prop_assert!(p_low <= p_high, "{rate:?}: {low} → {p_low}, {high} → {p_high}");
        prop_assert_eq!(parts.iter().map(|p| p.amount_usd).sum::<Decimal>(), p_high);
    }

    #[test]
    fn quotes_are_non_decreasing_in_quantity(
        plan in prop::sample::select(&PLANS[..]), meter in prop::sample::select(&METERS[..]),
        region in prop::sample::select(&REGIONS[..]), a in quantity(), b in quantity(),
        usage in prop::option::of(decimal(3_000_000, 0)),
    ) {
        let (low, high) = (a.min(b), a.max(b));
        if let (Some(ql), Some(qh)) = (quote(plan, region, meter, low, usage, None), quote(plan, region, meter, high, usage, None)) {
            prop_assert!(ql.amount <= qh.amount, "{plan}/{region}/{meter}: {low} → {}, {high} → {}", ql.amount, qh.amount);
        }
    }

    #[test]
    fn lines_are_rounded_once_floored_and_summed(
        plan in prop::sample::select(&PLANS[..]), meter in prop::sample::select(&METERS[..]),
        region in prop::sample::select(&REGIONS[..]), quantity in quantity(),
        usage in prop::option::of(decimal(3_000_000, 0)), cost in prop::option::of(decimal(500, 6)),
    ) {
        let Some(q) = quote(plan, region, meter, quantity, usage, cost) else { return Ok(()) };
        let half = half_minor_unit(q.currency);
        for line in &q.breakdown {
            // one rounding per line, error at most half a minor unit, in the currency's scale
            prop_assert!((line.amount - line.amount_unrounded).abs() <= half, "{line:#?}");
            prop_assert_eq!(line.amount.scale(), q.currency.minor_unit_exponent());
            prop_assert_eq!(line.amount_unrounded, line.amount_usd * line.fx_rate);
        }
        prop_assert_eq!(q.breakdown.iter().map(|l| l.amount).sum::<Decimal>(), q.amount);
        let charge = q.breakdown.last().unwrap();
        match q.mode {
            // the PPP floor: fixed prices never go below real cost
            ModeKind::Fixed => prop_assert!(charge.amount_usd >= charge.real_cost_usd, "{charge:#?}"),
            ModeKind::Markup => prop_assert!(charge.amount_usd >= charge.real_cost_usd, "{charge:#?}"),
            ModeKind::Subsidized => {
                prop_assert!(charge.amount_usd <= charge.real_cost_usd, "{charge:#?}");
                prop_assert_eq!(charge.subsidy_usd.unwrap(), charge.real_cost_usd - charge.amount_usd);
            }
            ModeKind::Free => prop_assert_eq!(charge.amount, Decimal::ZERO),
        }
    }

    #[test]
    fn usd_to_local_and_back_is_within_one_cent(region in prop::sample::select(&REGIONS[..]), cents in 0i64..10_000_000_000) {
        let c = catalogue();
        let currency = c.region_at(&RegionCode::parse(region).unwrap(), at()).unwrap().currency;
        let fx = c.fx_rate(currency, at().date_naive()).unwrap();
        let usd = Decimal::new(cents, 2);
        let local = pricing::money::round_line(usd * fx.usd_to_currency, currency);
        let back = pricing::money::round_line(local / fx.usd_to_currency, Currency::USD);
        prop_assert!((back - usd).abs() <= Decimal::new(1, 2), "{usd} USD → {local} {currency} → {back} USD");
    }
}
