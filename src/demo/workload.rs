//! A month of realistic usage for a few demo tenants: deterministic, with duplicates and garbage.

use chrono::{DateTime, Duration, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// A demo tenant: who it is and how busy it is.
pub struct DemoTenant {
    pub name: &'static str,
    pub display: &'static str,
    pub plan: &'static str,
    pub region: &'static str,
    pub currency: &'static str,
    pub timezone: &'static str,
    pub billing_mode: &'static str,
    /// Share of the month's events.
    pub weight: u32,
    pub users: u32,
    /// Tokens bought before the month's usage arrives (prepaid tenants).
    pub top_up: u64,
}

pub const TENANTS: &[DemoTenant] = &[
    DemoTenant {
        name: "acme",
        display: "Acme Content (IN)",
        plan: "pro",
        region: "IN",
        currency: "INR",
        timezone: "Asia/Kolkata",
        billing_mode: "prepaid",
        weight: 30,
        users: 40,
        top_up: 50_000,
    },
    DemoTenant {
        name: "globex",
        display: "Globex AI (US)",
        plan: "business",
        region: "US",
        currency: "USD",
        timezone: "America/New_York",
        billing_mode: "postpaid",
        weight: 40,
        users: 120,
        top_up: 0,
    },
    DemoTenant {
        name: "initech",
        display: "Initech Flows (BR)",
        plan: "starter",
        region: "BR",
        currency: "BRL",
        timezone: "America/Sao_Paulo",
        billing_mode: "postpaid",
        weight: 15,
        users: 12,
        top_up: 0,
    },
    DemoTenant {
        name: "hooli",
        display: "Hooli Teams (DE→EU)",
        plan: "org_growth",
        region: "DE",
        currency: "EUR",
        timezone: "Europe/Berlin",
        billing_mode: "postpaid",
        weight: 10,
        users: 30,
        top_up: 0,
    },
    DemoTenant {
        name: "umbrella",
        display: "Umbrella Hobby (NG)",
        plan: "free",
        region: "NG",
        currency: "NGN",
        timezone: "Africa/Lagos",
        billing_mode: "prepaid",
        weight: 5,
        users: 3,
        top_up: 100,
    },
    DemoTenant {
        name: "lumen",
        display: "Lumen Studio (US, small wallet)",
        plan: "starter",
        region: "US",
        currency: "USD",
        timezone: "America/Chicago",
        billing_mode: "prepaid",
        weight: 0,
        users: 1,
        top_up: 3,
    },
];

/// The small-wallet tenant's scripted usage today: 16 × 5,000 AI tokens. Starter includes
/// 50,000 a month, so this crosses 70/85/95/100 % of the allowance, then 30,000 over cost
/// 0.06 USD = 6 tokens against a wallet of 3: the tenant is suspended.
pub const SMALL_WALLET_TENANT: &str = "lumen";
const SMALL_WALLET_EVENTS: usize = 16;

/// (meter, service, share of events, quantity range, provider cost per unit in USD micro-dollars)
type MixEntry = (&'static str, &'static str, u32, (u32, u32), u32);

const MIX: &[MixEntry] = &[
    ("ai_tokens", "content-maker", 35, (200, 4_000), 1),
    ("api_calls", "gateway", 30, (1, 40), 0),
    ("workflow_runs", "workflows", 20, (1, 3), 300),
    ("plugin_executions", "workflows", 10, (1, 5), 50),
    ("gateway_messages", "support-bot", 5, (1, 20), 20),
];

pub struct Workload {
    /// Kafka message values in send order (JSON text), with the tenant key.
    pub messages: Vec<(String, Vec<u8>)>,
    /// Distinct valid events per tenant id.
    pub unique_valid: usize,
    pub duplicates: usize,
    pub garbage: usize,
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut x = rng.gen_range(0..total);
    for item in items {
        let w = weight(item);
        if x < w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1]
}

/// A time in the 30 days before `now`, busier in working hours (UTC, for simplicity).
fn when(rng: &mut StdRng, now: DateTime<Utc>) -> DateTime<Utc> {
    loop {
        let t = now - Duration::seconds(rng.gen_range(60..30 * 86_400));
        let busy = (8..20).contains(&t.hour());
        if busy || rng.gen_ratio(1, 3) {
            return t;
        }
    }
}

/// `events` distinct events spread over the tenants by weight, then ~3 % re-sent (the same
/// id: a producer retry) and a handful of malformed messages for the DLQ.
pub fn generate(run: &str, events: usize, seed: u64, now: DateTime<Utc>) -> Workload {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut messages = Vec::with_capacity(events + events / 30 + 8);
    let mut duplicates = 0;
    for n in 0..events {
        let t = pick(&mut rng, TENANTS, |t| t.weight);
        let (meter, service, _, (lo, hi), cost_micro) = *pick(&mut rng, MIX, |m| m.2);
        let quantity = rng.gen_range(lo..=hi);
        let tenant = format!("{}-{run}", t.name);
        let mut event = json!({
            "id": format!("evt-{n:07}"), "tenant": tenant,
            "subject": format!("user-{}", rng.gen_range(1..=t.users)), "meter": meter,
            "quantity": quantity.to_string(), "time": when(&mut rng, now).to_rfc3339(),
            "properties": { "service": service },
        });
        if cost_micro > 0 {
            let micro = u64::from(quantity) * u64::from(cost_micro);
            event["cost"] =
                Value::String(format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000));
        }
        let bytes = serde_json::to_vec(&event).unwrap_or_default();
        if rng.gen_ratio(3, 100) {
            messages.push((tenant.clone(), bytes.clone()));
            duplicates += 1;
        }
        messages.push((tenant, bytes));
    }
    let garbage = [
        b"{not json".to_vec(),
        br#"{"id":"x","tenant":"acme","meter":"ai_tokens","quantity":"-3","time":"2026-01-01T00:00:00Z"}"#.to_vec(),
        br#"{"id":"y","meter":"api_calls","quantity":"1"}"#.to_vec(),
    ];
    // The small-wallet tenant's usage, today (its own partition keeps it in order).
    let lumen = format!("{SMALL_WALLET_TENANT}-{run}");
    for i in 0..SMALL_WALLET_EVENTS {
        let event = json!({
            "id": format!("lumen-{i:02}"), "tenant": lumen, "subject": "studio", "meter": "ai_tokens",
            "quantity": "5000", "time": (now - Duration::seconds(120)).to_rfc3339(),
            "properties": { "service": "image-captions" },
        });
        messages.push((
            lumen.clone(),
            serde_json::to_vec(&event).unwrap_or_default(),
        ));
    }
    let garbage_count = garbage.len();
    for g in garbage {
        let at = rng.gen_range(0..messages.len());
        messages.insert(at, (format!("acme-{run}"), g));
    }
    Workload {
        messages,
        unique_valid: events + SMALL_WALLET_EVENTS,
        duplicates,
        garbage: garbage_count,
    }
}
