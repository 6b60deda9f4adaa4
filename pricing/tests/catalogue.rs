//! The embedded catalogue's contents, effective dating, and load-time validation errors.

mod support;

use chrono::{DateTime, Utc};
use pricing::{Catalogue, Enforcement, LimitPeriod, ListPrice, MeterCode, PlanCode, PricingError};
use support::{at, catalogue};

const PLANS: [&str; 10] = [
    "free",
    "starter",
    "pro",
    "business",
    "enterprise",
    "org_starter",
    "org_growth",
    "org_pro",
    "org_business",
    "org_enterprise",
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

#[test]
fn embedded_catalogue_has_every_plan_meter_and_region() {
    let c = catalogue();
    for plan in PLANS {
        c.plan_at(&PlanCode::parse(plan).unwrap(), at()).unwrap();
    }
    for meter in METERS {
        c.meter_at(&MeterCode::parse(meter).unwrap(), at()).unwrap();
    }
    let regions: Vec<String> = c.regions().map(|r| r.code.to_string()).collect();
    assert!(regions.len() >= 17, "{regions:?}");
    for code in [
        "US", "GB", "EU", "IN", "BR", "MX", "NG", "ZA", "ID", "PH", "VN", "EG", "PK", "TR", "AR",
        "JP", "KW",
    ] {
        assert!(regions.contains(&code.to_owned()), "{code}");
    }
}

#[test]
fn plan_terms_match_the_price_list() {
    let c = catalogue();
    let cases = [
        // plan, monthly USD, runs/day, tokens/month, api calls/hour, api keys
        ("free", "0", Some("50"), "10000", "1000", Some(1)),
        ("starter", "9", Some("500"), "50000", "10000", Some(2)),
        ("pro", "29", Some("2000"), "100000", "50000", Some(5)),
        (
            "business",
            "79",
            Some("10000"),
            "500000",
            "100000",
            Some(10),
        ),
        ("enterprise", "199", None, "1000000", "200000", Some(20)),
    ];
    let meter = |m: &str| MeterCode::parse(m).unwrap();
    for (plan, usd, runs, tokens, calls, keys) in cases {
        let v = c.plan_at(&PlanCode::parse(plan).unwrap(), at()).unwrap();
        assert_eq!(
            v.price,
            ListPrice::Monthly {
                usd: usd.parse().unwrap()
            },
            "{plan}"
        );
        let runs_limit = v.limit(&meter("workflow_runs")).unwrap();
        assert_eq!(runs_limit.limit, runs.map(|r| r.parse().unwrap()), "{plan}");
        assert_eq!(runs_limit.period, LimitPeriod::Daily);
        let hard = if plan == "free" {
            Enforcement::Hard
        } else {
            Enforcement::Soft
        };
        assert_eq!(runs_limit.enforcement, hard, "{plan}");
        assert_eq!(
            v.limit(&meter("ai_tokens")).unwrap().limit,
            Some(tokens.parse().unwrap())
        );
        assert_eq!(
            v.limit(&meter("api_calls")).unwrap().enforcement,
            Enforcement::Hard
        );
        assert_eq!(
            v.limit(&meter("api_calls")).unwrap().limit,
            Some(calls.parse().unwrap())
        );
        assert_eq!(v.resources.api_keys, keys);
    }
    let pro = c.plan_at(&PlanCode::parse("pro").unwrap(), at()).unwrap();
    assert_eq!(
        pro.token_grant
            .as_ref()
            .unwrap()
            .amount_per_month
            .to_string(),
        "500"
    );
    let org = c
        .plan_at(&PlanCode::parse("org_enterprise").unwrap(), at())
        .unwrap();
    assert_eq!(org.price, ListPrice::Negotiated);
}

const TWO_VERSIONS: &str = r#"
version = "test"
fx = [{ currency = "USD", rate = "1", as_of = "2025-01-01" }]
regions = [{ code = "US", name = "US", versions = [{ effective_from = "2025-01-01T00:00:00Z", ppp = "1", currency = "USD" }] }]
[[meters]]
code = "workflow_runs"
unit = "runs"
versions = [{ effective_from = "2025-01-01T00:00:00Z", cost_usd_per_unit = "0.0004", mode = { kind = "fixed" }, rate = { per_unit = "0.001" } }]
[[plans]]
code = "pro"
kind = "individual"
[[plans.versions]]
effective_from = "2025-01-01T00:00:00Z"
name = "Pro"
price_usd = "25"
resources = { api_keys = 5, gateways = 10, plugins = 25, services = 20, widgets = 20 }
[[plans.versions]]
effective_from = "2026-01-01T00:00:00Z"
name = "Pro"
price_usd = "29"
resources = { api_keys = 5, gateways = 10, plugins = 25, services = 20, widgets = 20 }
"#;

#[test]
fn a_new_version_never_rewrites_the_past() {
    let c = Catalogue::from_toml_str(TWO_VERSIONS).unwrap();
    let pro = PlanCode::parse("pro").unwrap();
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let price = |s| c.plan_at(&pro, t(s)).unwrap().price.clone();
    assert_eq!(
        price("2025-12-31T23:59:59Z"),
        ListPrice::Monthly {
            usd: "25".parse().unwrap()
        }
    );
    assert_eq!(
        price("2026-01-01T00:00:00Z"),
        ListPrice::Monthly {
            usd: "29".parse().unwrap()
        }
    );
    assert!(matches!(
        c.plan_at(&pro, t("2024-06-01T00:00:00Z")),
        Err(PricingError::NotInForce { .. })
    ));
}

/// Each broken catalogue must fail naming this entry and field.
fn check_invalid(from: &str, to: &str, entry: &str, field: &str) {
    let text = TWO_VERSIONS.replacen(from, to, 1);
    assert_ne!(text, TWO_VERSIONS, "{from:?} not found");
    match Catalogue::from_toml_str(&text) {
        Err(PricingError::CatalogueInvalid {
            entry: e, field: f, ..
        }) => {
            assert_eq!((e.as_str(), f.as_str()), (entry, field), "{from} → {to}")
        }
        other => panic!("{from} → {to}: {other:?}"),
    }
}

#[test]
fn load_errors_name_the_entry_and_field() {
    check_invalid(
        r#"price_usd = "25""#,
        r#"price_usd = "-25""#,
        "plans[pro].versions[0]",
        "price_usd",
    );
    check_invalid(
        r#"per_unit = "0.001""#,
        r#"per_unit = "1e-3x""#,
        "meters[workflow_runs].versions[0]",
        "rate.per_unit",
    );
    check_invalid(
        r#"ppp = "1""#,
        r#"ppp = "0""#,
        "regions[US].versions[0]",
        "ppp",
    );
    check_invalid(
        r#"currency = "USD", rate = "1""#,
        r#"currency = "USD", rate = "2""#,
        "fx[0] (USD)",
        "rate",
    );
    check_invalid(
        r#"kind = "fixed""#,
        r#"kind = "cheap""#,
        "meters[workflow_runs].versions[0]",
        "mode.kind",
    );
    check_invalid(
        r#"widgets = 20 }"#,
        r#"widgets = "lots" }"#,
        "plans[pro].versions[0]",
        "resources.widgets",
    );
    check_invalid(
        "2026-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        "plans[pro]",
        "versions",
    );
    // A float where a decimal string belongs is a shape error, never silently accepted.
    let floats = TWO_VERSIONS.replacen(r#"price_usd = "25""#, "price_usd = 25.0", 1);
    assert!(matches!(
        Catalogue::from_toml_str(&floats),
        Err(PricingError::CatalogueSyntax(_))
    ));
}
