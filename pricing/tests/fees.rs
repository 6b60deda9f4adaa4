//! Monthly base fees and extra seats per region, computed by hand.

mod support;

use pricing::{FeeRequest, PlanCode, PricingError, RegionCode};
use rust_decimal::Decimal;
use support::{at, catalogue};

fn check(cases: &[(&str, &str, u32, &str, &str)]) {
    let c = catalogue();
    for &(plan, region, seats, fraction, want) in cases {
        let req = FeeRequest {
            plan: PlanCode::parse(plan).unwrap(),
            region: RegionCode::parse(region).unwrap(),
            seats,
            period_fraction: fraction.parse().unwrap(),
            at: at(),
        };
        let fees = c.price_plan_fees(&req).unwrap();
        assert_eq!(
            format!("{} {}", fees.total, fees.currency),
            want,
            "{plan}/{region}: {:#?}",
            fees.lines
        );
        let sum: Decimal = fees.lines.iter().map(|l| l.amount).sum();
        assert_eq!(sum, fees.total);
    }
}

#[test]
fn base_fees_and_seats() {
    check(&[
        // 29 × 1.00 = 29.00
        ("pro", "US", 1, "1", "29.00 USD"),
        // 29 × PPP 0.35 = 10.15 × 83.50 = 847.525 → half-even → 847.52
        ("pro", "IN", 1, "1", "847.52 INR"),
        // 29 × 0.90 = 26.1 × 150 = 3,915
        ("pro", "JP", 1, "1", "3915 JPY"),
        // 99 + (30 − 25) × 4 = 99 + 20 = 119
        ("org_growth", "US", 30, "1", "119.00 USD"),
        // seats within the included 25: base fee only
        ("org_growth", "US", 20, "1", "99.00 USD"),
        // half a month of Starter: 9 × 0.5 = 4.50
        ("starter", "US", 1, "0.5", "4.50 USD"),
        // Free costs nothing, but the line still exists
        ("free", "US", 1, "1", "0.00 USD"),
    ]);
}

#[test]
fn negotiated_plans_have_no_list_fee() {
    let req = FeeRequest {
        plan: PlanCode::parse("org_enterprise").unwrap(),
        region: RegionCode::parse("US").unwrap(),
        seats: 500,
        period_fraction: Decimal::ONE,
        at: at(),
    };
    assert!(matches!(
        catalogue().price_plan_fees(&req),
        Err(PricingError::NegotiatedPrice { .. })
    ));
}
