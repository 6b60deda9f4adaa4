//! Quota checks from the in-memory view, limits in force and owner overrides.

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::{App, OWNER};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn hard_daily_limits_deny_and_overrides_apply(pool: PgPool) {
    let app = App::new(pool.clone());
    let mut body = common::tenant_body("tiny");
    body["plan"] = json!("free");
    assert_eq!(
        app.call("POST", "/v1/tenants", OWNER, Some(body))
            .await
            .status,
        StatusCode::CREATED
    );
    let key = app.key("tiny", &["quota", "ingest", "read"]).await;
    let ev = json!([{"id": "r1", "tenant": "tiny", "subject": "s", "meter": "workflow_runs", "quantity": "45", "time": Utc::now().to_rfc3339()}]);
    assert_eq!(
        app.call("POST", "/v1/events", &key, Some(ev)).await.body["accepted"],
        1
    );
    app.state.quota.refresh(&pool, Utc::now()).await.unwrap();

    let check = |q: &str| json!({"tenant": "tiny", "meter": "workflow_runs", "quantity": q});
    // Free allows 50 service runs a day, hard.
    let r = app
        .call("POST", "/v1/quota/check", &key, Some(check("5")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (
            r.body["allowed"].as_bool(),
            r.body["used"].as_str(),
            r.body["remaining"].as_str()
        ),
        (Some(true), Some("45"), Some("5")),
        "{}",
        r.text
    );
    assert_eq!(r.body["limit"], "50");
    let r = app
        .call("POST", "/v1/quota/check", &key, Some(check("6")))
        .await;
    assert_eq!(
        (r.body["allowed"].as_bool(), r.body["reason"].as_str()),
        (Some(false), Some("quota_exceeded")),
        "{}",
        r.text
    );

    // The owner raises the limit and makes it soft: allowed, the overage is billed.
    let r = app
        .call(
            "PUT",
            "/v1/tenants/tiny/limits/workflow_runs",
            OWNER,
            Some(json!({"limit": "1000", "period": "daily", "hard": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .call("POST", "/v1/quota/check", &key, Some(check("600")))
        .await;
    assert_eq!(
        (r.body["allowed"].as_bool(), r.body["limit"].as_str()),
        (Some(true), Some("1000")),
        "{}",
        r.text
    );
    let r = app.call("GET", "/v1/tenants/tiny/limits", &key, None).await;
    let runs = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["meter"] == "workflow_runs")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            runs["source"].as_str(),
            runs["used"].as_str(),
            runs["period"].as_str()
        ),
        (Some("override"), Some("45"), Some("daily")),
        "{}",
        r.text
    );

    // A suspended tenant is refused whatever its usage.
    app.call(
        "POST",
        "/v1/tenants/tiny/suspend",
        OWNER,
        Some(json!({"reason": "test"})),
    )
    .await;
    app.state.quota.refresh(&pool, Utc::now()).await.unwrap();
    let r = app
        .call("POST", "/v1/quota/check", &key, Some(check("1")))
        .await;
    assert_eq!(
        (r.body["allowed"].as_bool(), r.body["reason"].as_str()),
        (Some(false), Some("suspended")),
        "{}",
        r.text
    );

    // Another tenant's quota is not this key's business.
    let r = app
        .call(
            "POST",
            "/v1/quota/check",
            &key,
            Some(json!({"tenant": "other", "meter": "api_calls", "quantity": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .call(
            "POST",
            "/v1/quota/check",
            &key,
            Some(json!({"tenant": "tiny", "meter": "api_calls", "quantity": "-1"})),
        )
        .await;
    assert_eq!(r.body["error"]["details"]["field"], "quantity");
}
