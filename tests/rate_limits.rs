//! Tenant API calls are limited per key and per tenant by the plan's calls per hour.

mod common;

use axum::http::StatusCode;
use common::{App, OWNER};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn the_free_plan_allows_1000_calls_an_hour_across_keys(pool: PgPool) {
    let app = App::new(pool);
    let mut body = common::tenant_body("tiny");
    body["plan"] = json!("free");
    assert_eq!(
        app.call("POST", "/v1/tenants", OWNER, Some(body))
            .await
            .status,
        StatusCode::CREATED
    );
    let a = app.key("tiny", &["read"]).await;
    let b = app.key("tiny", &["read"]).await;

    let started = std::time::Instant::now();
    let r = app.call("GET", "/v1/tenants/tiny", &a, None).await;
    assert_eq!(r.headers["x-ratelimit-limit"], "1000");
    assert_eq!(r.headers["x-ratelimit-remaining"], "999");
    for _ in 0..599 {
        assert_eq!(
            app.call("GET", "/v1/tenants/tiny", &a, None).await.status,
            StatusCode::OK
        );
    }
    // Key B has its own 1,000 but the tenant has only 400 left (plus one call earned back
    // every 3.6 s while this test runs).
    let mut allowed_b = 0;
    let refused = loop {
        let r = app.call("GET", "/v1/tenants/tiny", &b, None).await;
        if r.status != StatusCode::OK || allowed_b > 500 {
            break r;
        }
        allowed_b += 1;
    };
    let earned = started.elapsed().as_millis() as usize / 3_600 + 1;
    assert!(
        (400..=400 + earned).contains(&allowed_b),
        "key b got {allowed_b} calls, earned back {earned}"
    );
    let r = refused;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=4).contains(&retry),
        "one call comes back every 3.6 s: {retry}"
    );
    assert_eq!(r.headers["x-ratelimit-remaining"], "0");

    // The owner is never limited.
    assert_eq!(
        app.call("GET", "/v1/tenants/tiny", OWNER, None)
            .await
            .status,
        StatusCode::OK
    );
}
