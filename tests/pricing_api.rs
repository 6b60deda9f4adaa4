//! `POST /v1/pricing/quote` and the owner's catalogue endpoints.

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::{App, OWNER};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn plan_and_region_quotes_match_the_hand_computed_cases(pool: PgPool) {
    let app = App::new(pool);
    let cases = [
        // 12,345 runs × $0.001 = 12.345 → half-even → 12.34
        ("workflow_runs", "12345", "12.34"),
        // 1,234,567 tokens × $0.000002 = 2.469134 → 2.47
        ("ai_tokens", "1234567", "2.47"),
    ];
    for (meter, quantity, amount) in cases {
        let body = json!({"plan": "pro", "region": "US", "meter": meter, "quantity": quantity});
        let r = app
            .call("POST", "/v1/pricing/quote", OWNER, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(
            (r.body["currency"].as_str(), r.body["amount"].as_str()),
            (Some("USD"), Some(amount)),
            "{}",
            r.text
        );
        assert!(!r.body["breakdown"].as_array().unwrap().is_empty());
    }
    let r = app
        .call(
            "POST",
            "/v1/pricing/quote",
            OWNER,
            Some(json!({"plan": "pro", "region": "US", "meter": "nope", "quantity": "1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["details"]["field"], "meter");
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn a_tenant_quote_uses_the_allowance_left_this_month(pool: PgPool) {
    let app = App::new(pool);
    let mut t = common::tenant_body("acme");
    t["region"] = json!("US");
    t["currency"] = json!("USD");
    t["timezone"] = json!("UTC");
    assert_eq!(
        app.call("POST", "/v1/tenants", OWNER, Some(t)).await.status,
        StatusCode::CREATED
    );
    let ev = json!([{"id": "u1", "tenant": "acme", "subject": "s", "meter": "ai_tokens", "quantity": "60000",
                     "time": Utc::now().to_rfc3339()}]);
    assert_eq!(
        app.call("POST", "/v1/events", OWNER, Some(ev)).await.body["accepted"],
        1
    );
    // Pro includes 100,000 AI tokens a month: 40,000 are left, 10,000 of the 50,000 are billed.
    let r = app
        .call(
            "POST",
            "/v1/pricing/quote",
            OWNER,
            Some(json!({"tenant": "acme", "meter": "ai_tokens", "quantity": 50000})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["period_usage"], "60000", "{}", r.text);
    assert_eq!(r.body["included_quantity"], "40000", "{}", r.text);
    assert_eq!(r.body["billable_quantity"], "10000", "{}", r.text);
    assert_eq!(r.body["amount"], "0.02", "{}", r.text);
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn the_catalogue_can_grow_but_not_rewrite_the_past(pool: PgPool) {
    let app = App::new(pool);
    let r = app.call("GET", "/v1/pricing/catalogue", OWNER, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let toml = r.body["toml"].as_str().unwrap().to_string();
    let rewritten = toml
        .replace("rate = \"83.50\"", "rate = \"90.00\"")
        .replace("version = \"2026-01\"", "version = \"2026-02\"");
    let r = app
        .call(
            "PUT",
            "/v1/pricing/catalogue",
            OWNER,
            Some(json!({"toml": rewritten})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "catalogue_rewrites_past");
    let renamed = toml.replace("version = \"2026-01\"", "version = \"2026-02\"");
    let r = app
        .call(
            "PUT",
            "/v1/pricing/catalogue",
            OWNER,
            Some(json!({"toml": renamed})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["version"], "2026-02");
    let r = app
        .call(
            "PUT",
            "/v1/pricing/catalogue",
            OWNER,
            Some(json!({"toml": "not = [toml"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
}
