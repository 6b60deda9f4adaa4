//! `POST /v1/events` and `GET /v1/tenants/{id}/usage` through the real router and PostgreSQL.

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::{error_code, App, OWNER};
use serde_json::{json, Value};
use sqlx::PgPool;

fn event(id: &str, tenant: &str, quantity: Value) -> Value {
    json!({"id": id, "tenant": tenant, "subject": "user-1", "meter": "ai_tokens", "quantity": quantity,
           "time": Utc::now().to_rfc3339(), "properties": {"service": "chat"}})
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn a_bad_event_never_costs_its_siblings(pool: PgPool) {
    let app = App::new(pool);
    app.create_tenant("acme").await;
    let key = app.key("acme", &["ingest", "read"]).await;
    let batch = json!([
        event("e1", "acme", json!("1250")),
        event("e2", "acme", json!(750)),
        event("e3", "acme", json!("-5")),
        event("e1", "acme", json!("1250")),
        event("e4", "other", json!("1")),
    ]);
    let r = app.call("POST", "/v1/events", &key, Some(batch)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(2), Some(1)),
        "{}",
        r.text
    );
    let rejected = r.body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{}", r.text);
    assert_eq!(
        (
            rejected[0]["index"].as_u64(),
            rejected[0]["error"]["details"]["field"].as_str()
        ),
        (Some(2), Some("quantity"))
    );
    assert_eq!(
        (
            rejected[1]["index"].as_u64(),
            rejected[1]["error"]["code"].as_str()
        ),
        (Some(4), Some("tenant_mismatch"))
    );

    // The same events again, by the same path: all duplicates, nothing counted twice.
    let r = app
        .call(
            "POST",
            "/v1/events",
            &key,
            Some(json!([event("e1", "acme", json!("1250"))])),
        )
        .await;
    assert_eq!(
        (r.body["accepted"].as_u64(), r.body["duplicates"].as_u64()),
        (Some(0), Some(1))
    );

    let r = app
        .call(
            "GET",
            "/v1/tenants/acme/usage?meter=ai_tokens&granularity=1d&group_by=service",
            &key,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rows = r.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", r.text);
    assert_eq!(
        (rows[0]["value"].as_str(), rows[0]["service"].as_str()),
        (Some("2000"), Some("chat"))
    );
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn unknown_tenants_are_parked_not_dropped(pool: PgPool) {
    let app = App::new(pool.clone());
    let r = app
        .call(
            "POST",
            "/v1/events",
            OWNER,
            Some(json!([event("x1", "ghost", json!("3"))])),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        r.body["parked"][0]["reason"], "unknown_tenant",
        "{}",
        r.text
    );
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn bounds_and_scopes(pool: PgPool) {
    let app = App::new(pool);
    app.create_tenant("acme").await;
    let read = app.key("acme", &["read"]).await;
    let r = app
        .call(
            "POST",
            "/v1/events",
            &read,
            Some(json!([event("e1", "acme", json!("1"))])),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let many: Vec<Value> = (0..1001)
        .map(|i| event(&format!("e{i}"), "acme", json!("1")))
        .collect();
    let r = app
        .call("POST", "/v1/events", OWNER, Some(Value::Array(many)))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&r), "validation_failed");
    let r = app
        .call(
            "POST",
            "/v1/events",
            OWNER,
            Some(json!({"id": "not-an-array"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .call("GET", "/v1/tenants/acme/usage?granularity=1w", OWNER, None)
        .await;
    assert_eq!(r.body["error"]["details"]["field"], "granularity");
}
