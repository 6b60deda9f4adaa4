//! Pricing-mode invariants on generated catalogues: markup never below cost, subsidy never
//! above it, and the PPP floor for any multiplier, rate and caller-supplied cost.

use pricing::{Catalogue, MeterCode, PlanCode, QuoteRequest, RegionCode};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn decimal(max_units: u64, scale: u32) -> impl Strategy<Value = Decimal> {
    (0..max_units * 10u64.pow(scale)).prop_map(move |n| Decimal::new(n as i64, scale))
}

/// A one-plan, one-meter catalogue in a region with the given PPP and mode.
fn catalogue(ppp: Decimal, price: Decimal, cost_rate: Decimal, mode: &str) -> Catalogue {
    let text = format!(
        r#"
version = "prop"
fx = [{{ currency = "USD", rate = "1", as_of = "2026-01-01" }}, {{ currency = "INR", rate = "83.50", as_of = "2026-01-01" }}]
regions = [{{ code = "IN", name = "India", versions = [{{ effective_from = "2026-01-01T00:00:00Z", ppp = "{ppp}", currency = "INR" }}] }}]
[[meters]]
code = "m"
unit = "units"
versions = [{{ effective_from = "2026-01-01T00:00:00Z", cost_usd_per_unit = "{cost_rate}", mode = {mode}, rate = {{ per_unit = "{price}" }} }}]
[[plans]]
code = "p"
kind = "individual"
[[plans.versions]]
effective_from = "2026-01-01T00:00:00Z"
name = "P"
price_usd = "1"
resources = {{ api_keys = 1, gateways = 1, plugins = 1, services = 1, widgets = 1 }}
"#
    );
    Catalogue::from_toml_str(&text).unwrap()
}

fn request(quantity: Decimal, cost: Option<Decimal>) -> QuoteRequest {
    QuoteRequest {
        plan: PlanCode::parse("p").unwrap(),
        region: RegionCode::parse("IN").unwrap(),
        meter: MeterCode::parse("m").unwrap(),
        quantity,
        real_cost_usd: cost,
        period_usage: None,
        at: Some("2026-02-01T00:00:00Z".parse().unwrap()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn modes_respect_real_cost(
        ppp in decimal(2, 2).prop_map(|p| p + Decimal::new(1, 2)),
        price in decimal(1, 6), cost_rate in decimal(1, 6), factor in decimal(1, 2),
        quantity in decimal(1_000_000, 2), cost in prop::option::of(decimal(1_000, 4)),
    ) {
        let cases = [
            ("{ kind = \"fixed\" }".to_owned(), "fixed"),
            (format!("{{ kind = \"markup\", markup = \"{factor}\" }}"), "markup"),
            (format!("{{ kind = \"subsidized\", share = \"{factor}\" }}"), "subsidized"),
            (format!("{{ kind = \"subsidized\", price_usd = \"{price}\" }}"), "subsidized"),
        ];
        for (mode, kind) in cases {
            let q = catalogue(ppp, price, cost_rate, &mode).quote(&request(quantity, cost)).unwrap();
            let line = &q.breakdown[0];
            match kind {
                // PPP floor (fixed) and markup: never below real cost
                "fixed" | "markup" => prop_assert!(line.amount_usd >= line.real_cost_usd, "{mode}: {line:#?}"),
                _ => prop_assert!(line.amount_usd <= line.real_cost_usd, "{mode}: {line:#?}"),
            }
            if kind == "fixed" {
                let list = quantity * price * ppp;
                prop_assert_eq!(line.floor_applied, list < line.real_cost_usd);
                prop_assert_eq!(line.amount_usd, list.max(line.real_cost_usd));
            }
        }
    }
}
