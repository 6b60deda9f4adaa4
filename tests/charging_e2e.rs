//! End to end through the real broker (tansu, `KAFKA_BROKERS`): a real `tally serve` consumes
//! usage from Kafka, prices it and debits a small prepaid wallet in the batch transactions,
//! raises the four threshold alerts and suspends the tenant when the wallet runs dry, and
//! publishes all of it on `billing-events`; a top-up resumes the tenant; `tally ledger
//! verify` (ledger invariants + charging reconciliation) passes at the end.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use common::{App, OWNER};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use serde_json::{json, Value};
use sqlx::PgPool;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn status(app: &App, tenant: &str) -> String {
    let t = app
        .call("GET", &format!("/v1/tenants/{tenant}"), OWNER, None)
        .await;
    t.body["status"].as_str().unwrap_or_default().to_string()
}

/// Reads `topic` from the start until `enough` says so (or 60 s pass).
fn billing_events(brokers: &str, topic: &str, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !enough(&seen) && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            seen.push(serde_json::from_slice(m.payload().unwrap()).unwrap());
        }
    }
    seen
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn a_small_wallet_runs_out_through_kafka_and_a_top_up_resumes(pool: PgPool) {
    let Some(brokers) = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
    else {
        println!("SKIPPED charging_e2e: KAFKA_BROKERS is unset (scripts/stack up prints it)");
        return;
    };
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").unwrap();
    let db_url = format!("{}/{db}", base.rsplit_once('/').unwrap().0);

    let run = uuid::Uuid::new_v4().simple().to_string();
    let (usage, dlq, billing) = (
        format!("usage-charge-{run}"),
        format!("usage-charge-dlq-{run}"),
        format!("billing-charge-{run}"),
    );
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let topics = [
        NewTopic::new(&usage, 3, TopicReplication::Fixed(1)),
        NewTopic::new(&dlq, 1, TopicReplication::Fixed(1)),
        NewTopic::new(&billing, 1, TopicReplication::Fixed(1)),
    ];
    for r in admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }

    // Starter in the US: 50,000 AI tokens included (a soft limit, so overage is billed);
    // 5,000 tokens of overage cost one platform token. The wallet holds 3.
    let app = App::new(pool.clone());
    let mut body = common::tenant_body("small");
    body["plan"] = json!("starter");
    body["region"] = json!("US");
    body["currency"] = json!("USD");
    body["billing_mode"] = json!("prepaid");
    assert_eq!(
        app.call("POST", "/v1/tenants", OWNER, Some(body))
            .await
            .status,
        StatusCode::CREATED
    );
    let top_up = |id: &'static str, amount: &'static str| {
        let app = &app;
        async move {
            let r = app
                .call(
                    "POST",
                    "/v1/tenants/small/wallet/top-ups",
                    OWNER,
                    Some(json!({"id": id, "amount": amount})),
                )
                .await;
            assert!(r.status.is_success(), "{}", r.text);
            r.body
        }
    };
    top_up("first", "3").await;
    let key = app.key("small", &["quota"]).await;

    let port = free_port();
    let mut serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("serve")
        .env("DATABASE_URL", &db_url)
        .env("TALLY_LISTEN", format!("127.0.0.1:{port}"))
        .env("TALLY_OWNER_TOKEN", OWNER)
        .env("KAFKA_BROKERS", &brokers)
        .env("KAFKA_USAGE_TOPIC", &usage)
        .env("KAFKA_DLQ_TOPIC", &dlq)
        .env("KAFKA_BILLING_EVENTS_TOPIC", &billing)
        .env("KAFKA_GROUP", format!("charge-{run}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tally serve");

    // 16 × 5,000 = 80,000 AI tokens: 70/85/95/100 % of the 50,000 allowance, then 30,000
    // over = 6 tokens due with 3 in the wallet.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "0")
        .set("enable.idempotence", "false")
        .create()
        .unwrap();
    let now = Utc::now();
    for i in 0..16 {
        let ev = json!({"id": format!("use-{i}"), "tenant": "small", "subject": "u1", "meter": "ai_tokens",
                        "quantity": "5000", "time": now.to_rfc3339()});
        producer
            .send(
                FutureRecord::to(&usage)
                    .key("small")
                    .payload(&ev.to_string()),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        // Spread over several batches so the thresholds are crossed one refresh at a time.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    wait_for("the suspension", async || {
        status(&app, "small").await == "suspended"
    })
    .await;
    let counted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM metering_event_ids WHERE tenant_id = 'small'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(counted > 0);
    wait_for("every event counted", async || {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM metering_event_ids WHERE tenant_id = 'small'")
                .fetch_one(&pool)
                .await
                .unwrap();
        n == 16
    })
    .await;
    let period: (i64, i64, i64) = sqlx::query_as(
        "SELECT tokens_due, tokens_debited, tokens_unpaid FROM charging_periods WHERE tenant_id = 'small'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        period,
        (6, 3, 3),
        "all usage metered and priced; the wallet covered 3"
    );

    app.state.quota.refresh(&pool, Utc::now()).await.unwrap();
    let c = app
        .call(
            "POST",
            "/v1/quota/check",
            &key,
            Some(json!({"tenant": "small", "meter": "ai_tokens", "quantity": "1"})),
        )
        .await;
    assert_eq!(
        (c.body["allowed"].clone(), c.body["reason"].clone()),
        (json!(false), json!("suspended")),
        "{}",
        c.text
    );

    // The top-up settles and resumes at once (or serve's 5 s settlement pass gets there first).
    top_up("second", "10").await;
    assert_eq!(status(&app, "small").await, "active");

    // The billing-events topic carries each threshold once, the suspension and the resumption.
    let wanted = |events: &[Value]| {
        let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
        types
            .iter()
            .filter(|t| **t == "quota.threshold_crossed")
            .count()
            >= 4
            && types.contains(&"tenant.suspended")
            && types.contains(&"tenant.resumed")
    };
    let events = tokio::task::spawn_blocking({
        let (brokers, billing) = (brokers.clone(), billing.clone());
        move || billing_events(&brokers, &billing, wanted)
    })
    .await
    .unwrap();
    // Publication is at least once: count distinct event ids.
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for e in events {
        assert_eq!(e["tenant"], "small", "{e}");
        by_id.insert(e["id"].as_str().unwrap().to_string(), e);
    }
    let mut thresholds: Vec<i64> = by_id
        .values()
        .filter(|e| e["type"] == "quota.threshold_crossed")
        .map(|e| e["data"]["threshold"].as_i64().unwrap())
        .collect();
    thresholds.sort();
    assert_eq!(
        thresholds,
        [70, 85, 95, 100],
        "each threshold once: {by_id:?}"
    );
    let lifecycle: Vec<&str> = by_id
        .values()
        .filter_map(|e| e["type"].as_str())
        .filter(|t| t.starts_with("tenant."))
        .collect();
    assert_eq!(lifecycle, ["tenant.suspended", "tenant.resumed"]);

    serve.start_kill().unwrap();
    let _ = serve.wait().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["ledger", "verify"])
        .env("DATABASE_URL", &db_url)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "charging reconciliation: 1 prepaid tenant-months, 6 tokens debited, 0 unpaid: ok"
        ),
        "{text}"
    );
}
