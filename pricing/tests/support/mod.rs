//! Shared helpers for the pricing tests: the embedded catalogue and a quote builder.
#![allow(dead_code)] // each test binary uses a different subset

use chrono::{DateTime, Utc};
use pricing::{Catalogue, MeterCode, PlanCode, Quote, QuoteRequest, RegionCode};

pub fn catalogue() -> Catalogue {
    Catalogue::embedded().expect("embedded catalogue loads")
}

pub fn at() -> DateTime<Utc> {
    "2026-03-15T12:00:00Z".parse().unwrap()
}

/// A quote at a fixed instant; `usage` and `cost` are "" when absent.
pub fn quote(
    c: &Catalogue,
    plan: &str,
    region: &str,
    meter: &str,
    qty: &str,
    usage: &str,
    cost: &str,
) -> Quote {
    let opt = |s: &str| (!s.is_empty()).then(|| s.parse().unwrap());
    let req = QuoteRequest {
        plan: PlanCode::parse(plan).unwrap(),
        region: RegionCode::parse(region).unwrap(),
        meter: MeterCode::parse(meter).unwrap(),
        quantity: qty.parse().unwrap(),
        real_cost_usd: opt(cost),
        period_usage: opt(usage),
        at: Some(at()),
    };
    c.quote(&req)
        .unwrap_or_else(|e| panic!("{plan}/{region}/{meter} × {qty}: {e}"))
}
