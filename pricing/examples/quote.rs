//! Prints a quote as JSON: `cargo run -p pricing --example quote -- pro IN workflow_runs 10000`.

use pricing::{Catalogue, MeterCode, PlanCode, QuoteRequest, RegionCode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let request = QuoteRequest {
        plan: PlanCode::parse(&arg(0, "pro"))?,
        region: RegionCode::parse(&arg(1, "IN"))?,
        meter: MeterCode::parse(&arg(2, "workflow_runs"))?,
        quantity: arg(3, "10000").parse()?,
        real_cost_usd: args.get(4).map(|c| c.parse()).transpose()?,
        period_usage: args.get(5).map(|u| u.parse()).transpose()?,
        at: Some("2026-03-15T12:00:00Z".parse()?),
    };
    let quote = Catalogue::embedded()?.quote(&request)?;
    println!("{}", serde_json::to_string_pretty(&quote)?);
    Ok(())
}
