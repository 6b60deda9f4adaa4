//! Requests the quote API must refuse, each with an error a caller can act on.

mod support;

use pricing::{MeterCode, PlanCode, PricingError, QuoteRequest, RegionCode};
use rust_decimal::Decimal;
use support::{at, catalogue};

fn request(plan: &str, region: &str, meter: &str, quantity: &str) -> QuoteRequest {
    QuoteRequest {
        plan: PlanCode::parse(plan).unwrap(),
        region: RegionCode::parse(region).unwrap(),
        meter: MeterCode::parse(meter).unwrap(),
        quantity: quantity.parse().unwrap(),
        real_cost_usd: None,
        period_usage: None,
        at: Some(at()),
    }
}

#[test]
fn euro_area_countries_price_in_the_eu_region() {
    let c = catalogue();
    let region = |code: &str| c.pricing_region(&RegionCode::parse(code).unwrap());
    assert_eq!(region("FR").unwrap().as_str(), "EU");
    assert_eq!(region("DE").unwrap().as_str(), "EU");
    assert_eq!(region("IN").unwrap().as_str(), "IN");
    assert!(matches!(region("CH"), Err(PricingError::UnknownRegion(_))));
}

#[test]
fn refusals() {
    let c = catalogue();
    let err = |r: QuoteRequest| c.quote(&r).unwrap_err();
    assert!(matches!(
        err(request("free", "US", "ram_gb", "1")),
        PricingError::AddonNotAvailable { .. }
    ));
    assert!(matches!(
        err(request("gold", "US", "ai_tokens", "1")),
        PricingError::UnknownPlan(_)
    ));
    assert!(matches!(
        err(request("pro", "FR", "ai_tokens", "1")),
        PricingError::UnknownRegion(_)
    ));
    assert!(matches!(
        err(request("pro", "US", "bananas", "1")),
        PricingError::UnknownMeter(_)
    ));
    assert!(matches!(
        err(request("pro", "US", "ai_tokens", "-1")),
        PricingError::InvalidInput {
            field: "quantity",
            ..
        }
    ));
    let mut before = request("pro", "US", "ai_tokens", "1");
    before.at = Some("2025-06-01T00:00:00Z".parse().unwrap());
    assert!(matches!(err(before), PricingError::NotInForce { .. }));
    let mut huge = request("pro", "US", "ram_gb", "1");
    huge.quantity = Decimal::MAX;
    assert!(matches!(err(huge), PricingError::Overflow { .. }));
}
