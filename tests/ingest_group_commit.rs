//! Group commit of `POST /v1/events`: concurrent requests merged into one transaction each get
//! exactly their own outcomes, an id sent by two of them counts once, and a request whose batch
//! cannot be written does not take the others down with it.

mod common;

use axum::http::StatusCode;
use chrono::Utc;
use common::{App, OWNER};
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn merged_requests_keep_their_own_outcomes(pool: PgPool) {
    let mut app = App::new(pool.clone());
    // One writer, so concurrent requests queue up behind it and are merged.
    app.state.ingest = tally::ingest::Coalescer::spawn(
        pool.clone(),
        app.state.catalogue.clone(),
        1,
        tally::ingest::DEFAULT_MAX_EVENTS,
    );
    let app = App::with_state(app.state);
    let mut body = common::tenant_body("gc");
    body["billing_mode"] = json!("postpaid");
    assert_eq!(
        app.call("POST", "/v1/tenants", OWNER, Some(body))
            .await
            .status,
        StatusCode::CREATED
    );
    let at = Utc::now().to_rfc3339();
    let event = |id: String, quantity: &str| json!({"id": id, "tenant": "gc", "meter": "workflow_runs", "quantity": quantity, "time": at});
    // Request r sends ids r*10 .. r*10+14: each overlaps the next request by five ids.
    let mut requests: Vec<Value> = (0..8)
        .map(|r| {
            Value::Array(
                (r * 10..r * 10 + 15)
                    .map(|i| event(format!("e{i}"), "1"))
                    .collect(),
            )
        })
        .collect();
    // One request cannot be written at all: its two events overflow a decimal in one bucket.
    let huge = "50000000000000000000000000000";
    requests.push(json!([
        event("big-1".into(), huge),
        event("big-2".into(), huge)
    ]));
    let answers = futures::future::join_all(
        requests
            .iter()
            .map(|r| app.call("POST", "/v1/events", OWNER, Some(r.clone()))),
    )
    .await;
    let mut accepted = 0;
    for (r, a) in answers.iter().take(8).enumerate() {
        assert_eq!(a.status, StatusCode::ACCEPTED, "request {r}: {}", a.text);
        let n = a.body["accepted"].as_i64().unwrap() + a.body["duplicates"].as_i64().unwrap();
        assert_eq!(
            n, 15,
            "request {r} accounts for each of its own events: {}",
            a.text
        );
        accepted += a.body["accepted"].as_i64().unwrap();
    }
    assert_eq!(
        accepted, 85,
        "ids e0..e84 each counted once across the requests"
    );
    assert!(
        !answers[8].status.is_success(),
        "the overflowing request fails: {}",
        answers[8].text
    );
    let runs: rust_decimal::Decimal = sqlx::query_scalar(
        "SELECT value FROM metering_rollup_month WHERE tenant_id = 'gc' AND meter = 'workflow_runs'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(runs, rust_decimal::Decimal::from(85));
}
