//! The binary's view of the plan catalogue.

/// Plan codes tenants may be created on.
const PLANS: &[&str] = &[
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

pub fn is_plan(code: &str) -> bool {
    PLANS.contains(&code)
}
