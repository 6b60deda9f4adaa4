//! Hand-computed quotes against the embedded catalogue; the arithmetic is in each comment
//! and the same numbers appear in docs/PRICING.md.

mod support;

use pricing::ModeKind;
use rust_decimal::Decimal;
use support::{catalogue, quote};

/// (plan, region, meter, quantity, period usage, real cost USD, expected "amount CUR", mode)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    ModeKind,
);

fn check(cases: &[Case]) {
    let c = catalogue();
    for &(plan, region, meter, qty, usage, cost, want, mode) in cases {
        let q = quote(&c, plan, region, meter, qty, usage, cost);
        let got = format!("{} {}", q.amount, q.currency);
        assert_eq!(
            got, want,
            "{plan}/{region}/{meter} × {qty}: {:#?}",
            q.breakdown
        );
        assert_eq!(q.mode, mode, "{plan}/{region}/{meter}");
        let sum: Decimal = q.breakdown.iter().map(|l| l.amount).sum();
        assert_eq!(sum, q.amount, "total is the sum of rounded lines");
    }
}

#[test]
fn fixed_prices_in_usd() {
    use ModeKind::Fixed;
    check(&[
        // 12,345 × 0.001 = 12.345 → half-even → 12.34
        (
            "pro",
            "US",
            "workflow_runs",
            "12345",
            "",
            "",
            "12.34 USD",
            Fixed,
        ),
        // 1,234,567 × 0.000002 = 2.469134 → 2.47
        (
            "pro",
            "US",
            "ai_tokens",
            "1234567",
            "",
            "",
            "2.47 USD",
            Fixed,
        ),
        // graduated: 100,000 × 0.0005 + 50,000 × 0.0004 = 50 + 20 = 70
        (
            "pro",
            "US",
            "plugin_executions",
            "150000",
            "",
            "",
            "70.00 USD",
            Fixed,
        ),
        // volume: 150,000 all at 0.008 = 1,200
        (
            "pro",
            "US",
            "ai_credits",
            "150000",
            "",
            "",
            "1200.00 USD",
            Fixed,
        ),
        // volume: 10,001 × 0.009 = 90.009, less than 10,000 × 0.010 = 100 → no-cliff rule: 100
        (
            "pro",
            "US",
            "ai_credits",
            "10001",
            "",
            "",
            "100.00 USD",
            Fixed,
        ),
        // package: ceil(1,234,567 / 1,000) = 1,235 × 0.15 = 185.25
        (
            "pro",
            "US",
            "gateway_messages",
            "1234567",
            "",
            "",
            "185.25 USD",
            Fixed,
        ),
        // package: one message still starts a package: 1 × 0.15
        (
            "pro",
            "US",
            "gateway_messages",
            "1",
            "",
            "",
            "0.15 USD",
            Fixed,
        ),
        // minimum charge: 1 GB × 0.50 = 0.50, topped up to the 1.00 minimum
        ("pro", "US", "storage_gb", "1", "", "", "1.00 USD", Fixed),
        // seats on an org plan, no allowance: 3 × 5 = 15
        (
            "org_starter",
            "US",
            "seats",
            "3",
            "",
            "",
            "15.00 USD",
            Fixed,
        ),
    ]);
}

#[test]
fn regions_and_currencies() {
    use ModeKind::{Fixed, Subsidized};
    check(&[
        // 2.469134 × PPP 0.35 = 0.8641969 (≥ cost 0.6172835) × 83.50 = 72.16044115 → 72.16
        (
            "pro",
            "IN",
            "ai_tokens",
            "1234567",
            "",
            "",
            "72.16 INR",
            Fixed,
        ),
        // 3 × 0.50 = 1.50 × PPP 0.50 = 0.75 (≥ cost 0.30) × 5.40 = 4.05
        ("pro", "BR", "storage_gb", "3", "", "", "4.05 BRL", Fixed),
        // 300 × 0.001 = 0.30 × PPP 0.90 = 0.27 × 150 = 40.5 → half-even → 40 (0 decimals)
        ("pro", "JP", "workflow_runs", "300", "", "", "40 JPY", Fixed),
        // 100 × 0.001 × 0.90 × 150 = 13.5 → half-even → 14
        ("pro", "JP", "workflow_runs", "100", "", "", "14 JPY", Fixed),
        // 12.345 × PPP 1.00 × 0.307 = 3.789915 → 3.790 (3 decimals)
        (
            "pro",
            "KW",
            "workflow_runs",
            "12345",
            "",
            "",
            "3.790 KWD",
            Fixed,
        ),
        // PPP floor: 10,000 × 0.001 × 0.35 = 3.50 < cost 10,000 × 0.0004 = 4.00 → 4.00 × 83.50 = 334.00
        (
            "pro",
            "IN",
            "workflow_runs",
            "10000",
            "",
            "",
            "334.00 INR",
            Fixed,
        ),
        // NG subsidy: cost 1,000,000 × 0.0000005 = 0.50 × (1 − 0.5) = 0.25 × 1,500 = 375.00
        (
            "pro",
            "NG",
            "ai_tokens",
            "1000000",
            "",
            "",
            "375.00 NGN",
            Subsidized,
        ),
        // 12.345 × PPP 0.35 = 4.32075 < cost 12,345 × 0.0004 = 4.938 → floor: 4.938 × 25,000 = 123,450 (0 decimals)
        (
            "pro",
            "VN",
            "workflow_runs",
            "12345",
            "",
            "",
            "123450 VND",
            Fixed,
        ),
    ]);
}

#[test]
fn allowance_and_modes() {
    use ModeKind::{Fixed, Free, Markup};
    check(&[
        // Pro includes 100,000 tokens/month; 90,000 used → 10,000 left; 25,000 − 10,000 = 15,000 × 0.000002 = 0.03
        (
            "pro",
            "US",
            "ai_tokens",
            "25000",
            "90000",
            "",
            "0.03 USD",
            Fixed,
        ),
        // 2,000 runs/day; 1,500 used → 500 left; 1,000 − 500 = 500 × 0.001 = 0.50
        (
            "pro",
            "US",
            "workflow_runs",
            "1000",
            "1500",
            "",
            "0.50 USD",
            Fixed,
        ),
        // allowance already exhausted: 1,000 × 0.001 = 1.00
        (
            "pro",
            "US",
            "workflow_runs",
            "1000",
            "5000",
            "",
            "1.00 USD",
            Fixed,
        ),
        // unlimited runs on Enterprise: all included
        (
            "enterprise",
            "US",
            "workflow_runs",
            "1000000",
            "0",
            "",
            "0.00 USD",
            Fixed,
        ),
        // 10 seats included on Org Starter, 9 used: 1 included, 2 × 5 = 10
        (
            "org_starter",
            "US",
            "seats",
            "3",
            "9",
            "",
            "10.00 USD",
            Fixed,
        ),
        // free mode: billed 0, cost 5,000 × 0.0000005 = 0.0025 absorbed
        ("free", "US", "ai_tokens", "5000", "", "", "0.00 USD", Free),
        // markup: cost 1,000,000 × 0.0000005 = 0.50 × 1.30 = 0.65
        (
            "enterprise",
            "US",
            "ai_tokens",
            "1000000",
            "",
            "",
            "0.65 USD",
            Markup,
        ),
        // markup with the caller's cost: 0.0031 × 1.30 = 0.00403 → 0.00
        (
            "enterprise",
            "US",
            "ai_tokens",
            "1250",
            "",
            "0.0031",
            "0.00 USD",
            Markup,
        ),
        // caller's cost above list: 100 × 0.001 = 0.10 < 0.50 → floor 0.50
        (
            "pro",
            "US",
            "workflow_runs",
            "100",
            "",
            "0.50",
            "0.50 USD",
            Fixed,
        ),
        // API calls are not billed: free mode on every plan
        (
            "business",
            "US",
            "api_calls",
            "100000",
            "",
            "",
            "0.00 USD",
            Free,
        ),
    ]);
}

#[test]
fn breakdown_explains_the_numbers() {
    let c = catalogue();
    let q = quote(&c, "pro", "IN", "workflow_runs", "10000", "", "");
    let line = &q.breakdown[0];
    assert!(line.floor_applied);
    assert_eq!(line.ppp_multiplier.to_string(), "0.35");
    assert_eq!(line.fx_rate.to_string(), "83.50");
    assert_eq!(line.fx_as_of.to_string(), "2025-12-31");
    assert_eq!(line.amount_usd.to_string(), "4");
    assert_eq!(q.real_cost_usd.to_string(), "4");

    let q = quote(&c, "pro", "US", "ai_tokens", "25000", "90000", "");
    assert_eq!(q.included_quantity.to_string(), "10000");
    assert_eq!(q.billable_quantity.to_string(), "15000");
    assert_eq!(q.breakdown.len(), 2);
    assert_eq!(q.breakdown[0].amount.to_string(), "0.00");

    let q = quote(&c, "free", "US", "ai_tokens", "5000", "", "");
    assert_eq!(
        q.breakdown[0].subsidy_usd.map(|s| s.to_string()),
        Some("0.0025".into())
    );
    let q = quote(&c, "pro", "NG", "ai_tokens", "1000000", "", "");
    assert_eq!(
        q.breakdown[0]
            .subsidy_usd
            .map(|s| s.normalize().to_string()),
        Some("0.25".into())
    );
}

#[test]
fn quote_serializes_decimals_as_strings() {
    let c = catalogue();
    let q = quote(&c, "pro", "JP", "workflow_runs", "300", "", "");
    let json = serde_json::to_value(&q).unwrap();
    assert_eq!(json["amount"], "40");
    assert_eq!(json["currency"], "JPY");
    assert_eq!(json["mode"], "fixed");
    assert_eq!(json["breakdown"][0]["amount_unrounded"], "40.5");
    let q = quote(&c, "pro", "US", "workflow_runs", "12345", "", "");
    assert_eq!(serde_json::to_value(&q).unwrap()["amount"], "12.34");
}
