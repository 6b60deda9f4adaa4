//! Threshold alerts once per limit and period, auto-suspend, and the lifecycle's billing events.

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::{App, OWNER};
use serde_json::json;
use sqlx::PgPool;
use tally::alerting::Alerting;

async fn runs(app: &App, key: &str, id: &str, quantity: &str) {
    let ev = json!([{"id": id, "tenant": "tiny", "subject": "s", "meter": "workflow_runs", "quantity": quantity, "time": Utc::now().to_rfc3339()}]);
    assert_eq!(
        app.call("POST", "/v1/events", key, Some(ev)).await.body["accepted"],
        1
    );
}

async fn evaluate(app: &App, pool: &PgPool, alerting: &mut Alerting) -> usize {
    let now = Utc::now();
    app.state.quota.refresh(pool, now).await.unwrap();
    alerting
        .evaluate(pool, &app.state.quota, &app.state.catalogue.current(), now)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn thresholds_are_raised_once_and_a_hard_limit_suspends(pool: PgPool) {
    let app = App::new(pool.clone());
    let mut body = common::tenant_body("tiny");
    body["plan"] = json!("free");
    app.call("POST", "/v1/tenants", OWNER, Some(body)).await;
    let r = app
        .call(
            "PUT",
            "/v1/tenants/tiny/limits/workflow_runs",
            OWNER,
            Some(json!({"limit": "50", "period": "daily", "hard": true, "auto_suspend": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let key = app.key("tiny", &["ingest", "read", "quota"]).await;
    let mut alerting = Alerting::default();

    runs(&app, &key, "a", "30").await;
    assert_eq!(
        evaluate(&app, &pool, &mut alerting).await,
        0,
        "60 % raises nothing"
    );
    runs(&app, &key, "b", "6").await;
    assert_eq!(
        evaluate(&app, &pool, &mut alerting).await,
        1,
        "72 % raises 70 %"
    );
    // Another instance (a fresh evaluator) sees the same usage: nothing is raised twice.
    assert_eq!(evaluate(&app, &pool, &mut Alerting::default()).await, 0);
    runs(&app, &key, "c", "14").await;
    assert_eq!(
        evaluate(&app, &pool, &mut alerting).await,
        3,
        "50 of 50 raises 85, 95 and 100 % at once"
    );

    let r = app.call("GET", "/v1/tenants/tiny/alerts", &key, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let thresholds: Vec<i64> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["data"]["threshold"].as_i64().unwrap())
        .collect();
    assert_eq!(thresholds, [100, 95, 85, 70], "newest first: {}", r.text);
    assert_eq!(r.body["data"][0]["type"], "quota.threshold_crossed");

    let r = app.call("GET", "/v1/tenants/tiny", OWNER, None).await;
    assert_eq!(r.body["status"], "suspended", "{}", r.text);
    app.state.quota.refresh(&pool, Utc::now()).await.unwrap();
    let r = app
        .call(
            "POST",
            "/v1/quota/check",
            &key,
            Some(json!({"tenant": "tiny", "meter": "api_calls", "quantity": 1})),
        )
        .await;
    assert_eq!(r.body["reason"], "suspended", "{}", r.text);
    // Events keep being metered while suspended.
    runs(&app, &key, "d", "1").await;

    app.call("POST", "/v1/tenants/tiny/resume", OWNER, None)
        .await;
    let types: Vec<String> =
        sqlx::query_scalar("SELECT type FROM billing_events WHERE tenant = 'tiny' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let lifecycle: Vec<&str> = types
        .iter()
        .map(String::as_str)
        .filter(|t| t.starts_with("tenant."))
        .collect();
    assert_eq!(lifecycle, ["tenant.suspended", "tenant.resumed"]);
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "quota.threshold_crossed")
            .count(),
        4
    );
}
