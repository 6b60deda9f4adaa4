//! Charging in the write path: usage priced and debited from prepaid wallets in the batch's
//! transaction, suspension when the wallet runs dry, settlement and resumption on top-up,
//! monthly grants, the reconciliation, the lifecycle and per-subject limits.

mod common;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use common::{App, OWNER};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn tenant(app: &App, id: &str, plan: &str, region: &str, mode: &str) {
    let mut body = common::tenant_body(id);
    body["plan"] = json!(plan);
    body["region"] = json!(region);
    body["currency"] = json!("USD");
    body["timezone"] = json!("America/New_York");
    body["billing_mode"] = json!(mode);
    let r = app.call("POST", "/v1/tenants", OWNER, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

async fn tokens(
    app: &App,
    key: &str,
    tenant: &str,
    id: &str,
    quantity: u64,
    at: DateTime<Utc>,
) -> Value {
    let ev = json!([{"id": id, "tenant": tenant, "subject": "u1", "meter": "ai_tokens",
                     "quantity": quantity.to_string(), "time": at.to_rfc3339()}]);
    let r = app.call("POST", "/v1/events", key, Some(ev)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.body
}

async fn top_up(app: &App, tenant: &str, id: &str, amount: u64) -> Value {
    let r = app
        .call(
            "POST",
            &format!("/v1/tenants/{tenant}/wallet/top-ups"),
            OWNER,
            Some(json!({"id": id, "amount": amount.to_string(), "reason": "test"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    r.body
}

async fn wallet_available(app: &App, tenant: &str) -> String {
    let r = app
        .call("GET", &format!("/v1/tenants/{tenant}/wallet"), OWNER, None)
        .await;
    r.body["available"].as_str().unwrap().to_string()
}

async fn status(app: &App, tenant: &str) -> Value {
    app.call("GET", &format!("/v1/tenants/{tenant}"), OWNER, None)
        .await
        .body
}

async fn check(
    app: &App,
    key: &str,
    tenant: &str,
    meter: &str,
    quantity: &str,
    subject: Option<&str>,
) -> Value {
    app.state
        .quota
        .refresh(&app.state.pool, Utc::now())
        .await
        .unwrap();
    let mut body = json!({"tenant": tenant, "meter": meter, "quantity": quantity});
    if let Some(s) = subject {
        body["subject"] = json!(s);
    }
    let r = app.call("POST", "/v1/quota/check", key, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

async fn reconcile(pool: &PgPool, app: &App) -> tally::charging::Reconciliation {
    tally::charging::reconcile(pool, &app.state.catalogue.current())
        .await
        .unwrap()
}

async fn event_types(pool: &PgPool, tenant: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT type FROM billing_events WHERE tenant = $1 ORDER BY id")
        .bind(tenant)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Starter in the US: 50,000 AI tokens a month included, then 0.000002 USD each; a platform
/// token costs 0.010 USD there, so 5,000 tokens of overage cost one platform token.
#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn prepaid_usage_is_debited_suspends_when_the_wallet_runs_dry_and_a_top_up_resumes(
    pool: PgPool,
) {
    let app = App::new(pool.clone());
    tenant(&app, "shop", "starter", "US", "prepaid").await;
    let key = app.key("shop", &["ingest", "read", "quota"]).await;
    top_up(&app, "shop", "t1", 10).await;
    let at = Utc::now();

    tokens(&app, &key, "shop", "a", 50_000, at).await;
    assert_eq!(
        wallet_available(&app, "shop").await,
        "10",
        "the allowance is free"
    );
    tokens(&app, &key, "shop", "b", 25_000, at).await;
    assert_eq!(
        wallet_available(&app, "shop").await,
        "5",
        "25,000 over = 0.05 USD = 5 tokens"
    );
    // Re-sending the same event charges nothing.
    let again = tokens(&app, &key, "shop", "b", 25_000, at).await;
    assert_eq!(again["duplicates"], 1);
    assert_eq!(wallet_available(&app, "shop").await, "5");

    let c = check(&app, &key, "shop", "ai_tokens", "100000", None).await;
    assert_eq!(c["allowed"], false, "{c}");
    assert_eq!(
        c["reason"], "insufficient_balance",
        "20 tokens > 5 available: {c}"
    );
    let c = check(&app, &key, "shop", "ai_tokens", "10000", None).await;
    assert_eq!(c["allowed"], true, "2 tokens fit: {c}");

    // 30,000 more: 11 tokens due in all, 6 more, only 5 available → suspended, still metered.
    let r = tokens(&app, &key, "shop", "c", 30_000, at).await;
    assert_eq!(r["accepted"], 1, "usage beyond the wallet is still metered");
    assert_eq!(wallet_available(&app, "shop").await, "0");
    let t = status(&app, "shop").await;
    assert_eq!(t["status"], "suspended", "{t}");
    assert_eq!(t["suspended_cause"], "insufficient_balance", "{t}");
    let c = check(&app, &key, "shop", "ai_tokens", "1", None).await;
    assert_eq!(c["reason"], "suspended", "{c}");
    let period: (i64, i64, i64) = sqlx::query_as(
        "SELECT tokens_due, tokens_debited, tokens_unpaid FROM charging_periods WHERE tenant_id = 'shop'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(period, (11, 10, 1));

    // A top-up pays the unpaid token first and resumes the tenant.
    let r = top_up(&app, "shop", "t2", 10).await;
    assert_eq!(r["tenant_resumed"], true, "{r}");
    assert_eq!(wallet_available(&app, "shop").await, "9");
    assert_eq!(status(&app, "shop").await["status"], "active");
    assert_eq!(
        event_types(&pool, "shop").await,
        ["tenant.suspended", "tenant.resumed"]
    );

    let report = reconcile(&pool, &app).await;
    assert!(report.mismatches.is_empty(), "{report}");
    assert_eq!((report.tokens_debited, report.tokens_unpaid), (11, 0));
    assert!(ledger::verify(&pool).await.unwrap().is_ok());

    // Usage changed behind the charge's back is caught.
    sqlx::query("UPDATE metering_rollup_5m SET value = value + 100000 WHERE tenant_id = 'shop' AND meter = 'ai_tokens'")
        .execute(&pool)
        .await
        .unwrap();
    let report = reconcile(&pool, &app).await;
    assert_eq!(report.mismatches.len(), 1, "{report}");
    assert!(
        report.mismatches[0].what.contains("priced rollups"),
        "{report}"
    );
}

/// A country the catalogue has no prices for (Switzerland) is charged at US prices rather
/// than failing the batch: usage is never refused for a pricing gap.
#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn an_unpriced_country_is_charged_at_us_prices(pool: PgPool) {
    let app = App::new(pool.clone());
    tenant(&app, "zurich", "starter", "CH", "prepaid").await;
    let key = app.key("zurich", &["ingest"]).await;
    top_up(&app, "zurich", "t", 10).await;
    tokens(&app, &key, "zurich", "a", 75_000, Utc::now()).await;
    assert_eq!(
        wallet_available(&app, "zurich").await,
        "5",
        "25,000 over = 5 tokens, as in the US"
    );
    let region: String =
        sqlx::query_scalar("SELECT region FROM charging_periods WHERE tenant_id = 'zurich'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(region, "US");
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn postpaid_usage_accrues_and_touches_no_wallet(pool: PgPool) {
    let app = App::new(pool.clone());
    tenant(&app, "corp", "starter", "US", "postpaid").await;
    let key = app.key("corp", &["ingest"]).await;
    tokens(&app, &key, "corp", "a", 1_050_000, Utc::now()).await;
    let (amount, debited): (rust_decimal::Decimal, i64) = sqlx::query_as(
        "SELECT amount, tokens_debited FROM charging_periods WHERE tenant_id = 'corp'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(amount.to_string(), "2.00", "1,000,000 over at 0.000002");
    assert_eq!(debited, 0);
    assert_eq!(status(&app, "corp").await["status"], "active");
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn the_monthly_grant_is_credited_once_and_burns_first(pool: PgPool) {
    let app = App::new(pool.clone());
    tenant(&app, "pro1", "pro", "US", "prepaid").await;
    let catalogue = app.state.catalogue.current();
    let now = Utc::now();
    let first = tally::charging::grant_and_settle(&pool, &catalogue, now)
        .await
        .unwrap();
    assert_eq!(first.0, 1);
    let again = tally::charging::grant_and_settle(&pool, &catalogue, now)
        .await
        .unwrap();
    assert_eq!(again.0, 0, "one grant per period");
    let w = app
        .call("GET", "/v1/tenants/pro1/wallet", OWNER, None)
        .await
        .body;
    assert_eq!(w["granted"], "500", "{w}");
    let expires: DateTime<Utc> = w["grants"][0]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let local = expires.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(
        local.format("%d %H:%M").to_string(),
        "01 00:00",
        "expires at local month end: {w}"
    );

    top_up(&app, "pro1", "t1", 100).await;
    let key = app.key("pro1", &["ingest"]).await;
    // Pro includes 100,000 AI tokens; 150,000 is 50,000 over = 0.10 USD = 10 tokens.
    tokens(&app, &key, "pro1", "a", 150_000, now).await;
    let w = app
        .call("GET", "/v1/tenants/pro1/wallet", OWNER, None)
        .await
        .body;
    assert_eq!(
        w["grants"][0]["remaining"], "490",
        "the grant burns first: {w}"
    );
    assert_eq!(w["purchased"], "100", "{w}");
    assert!(reconcile(&pool, &app).await.mismatches.is_empty());
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn the_lifecycle_state_machine(pool: PgPool) {
    let app = App::new(pool.clone());
    tenant(&app, "life", "starter", "US", "postpaid").await;
    let post = |path: &'static str| {
        let app = &app;
        async move {
            app.call(
                "POST",
                &format!("/v1/tenants/life/{path}"),
                OWNER,
                Some(json!({})),
            )
            .await
        }
    };
    assert_eq!(post("past-due").await.body["status"], "past_due");
    assert_eq!(post("resume").await.body["status"], "active");
    let s = post("suspend").await.body;
    assert_eq!(
        (s["status"].clone(), s["suspended_cause"].clone()),
        (json!("suspended"), json!("owner"))
    );
    assert_eq!(post("cancel").await.body["status"], "canceled");
    let r = post("resume").await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "canceled is terminal: {}",
        r.text
    );

    let r = app.call("DELETE", "/v1/tenants/life", OWNER, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        app.call("GET", "/v1/tenants/life", OWNER, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Its events are kept (parked), not lost.
    let ev = json!([{"id": "late", "tenant": "life", "meter": "api_calls", "quantity": "1", "time": Utc::now().to_rfc3339()}]);
    let r = app.call("POST", "/v1/events", OWNER, Some(ev)).await;
    assert_eq!(
        r.body["parked"][0]["reason"], "unknown_tenant",
        "{}",
        r.text
    );
    let r = app
        .call("POST", "/v1/tenants/life/restore", OWNER, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        status(&app, "life").await["status"],
        "canceled",
        "restored as it was"
    );
    let log: Vec<String> = sqlx::query_scalar(
        "SELECT to_status FROM tenant_status_changes WHERE tenant_id = 'life' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        log,
        [
            "past_due",
            "active",
            "suspended",
            "canceled",
            "deleted",
            "canceled"
        ]
    );
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn a_subject_limit_applies_to_that_subject_only(pool: PgPool) {
    let app = App::new(pool.clone());
    tenant(&app, "team", "starter", "US", "postpaid").await;
    let r = app
        .call(
            "PUT",
            "/v1/tenants/team/limits/workflow_runs",
            OWNER,
            Some(json!({"subject": "u1", "limit": "10", "period": "daily", "hard": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let key = app.key("team", &["ingest", "quota"]).await;
    let ev = json!([{"id": "w1", "tenant": "team", "subject": "u1", "meter": "workflow_runs", "quantity": "8", "time": Utc::now().to_rfc3339()}]);
    app.call("POST", "/v1/events", &key, Some(ev)).await;
    let c = check(&app, &key, "team", "workflow_runs", "5", Some("u1")).await;
    assert_eq!(
        (c["allowed"].clone(), c["reason"].clone()),
        (json!(false), json!("quota_exceeded")),
        "{c}"
    );
    assert_eq!(
        (
            c["limit"].clone(),
            c["used"].clone(),
            c["remaining"].clone()
        ),
        (json!("10"), json!("8"), json!("2"))
    );
    let c = check(&app, &key, "team", "workflow_runs", "5", Some("u2")).await;
    assert_eq!(c["allowed"], true, "{c}");
    // 8 of u1's 10 raises the subject's 70 % alert, naming the subject; the tenant stays active.
    let raised = tally::alerting::Alerting::default()
        .evaluate(
            &pool,
            &app.state.quota,
            &app.state.catalogue.current(),
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(raised, 1);
    let a = app
        .call("GET", "/v1/tenants/team/alerts", OWNER, None)
        .await
        .body;
    assert_eq!(a["data"][0]["data"]["subject"], "u1", "{a}");
    assert_eq!(a["data"][0]["data"]["threshold"], 70, "{a}");
    assert_eq!(status(&app, "team").await["status"], "active");
    let r = app
        .call(
            "PUT",
            "/v1/tenants/team/limits/workflow_runs",
            OWNER,
            Some(json!({"subject": "u1", "limit": "10", "period": "daily", "hard": true, "auto_suspend": true})),
        )
        .await;
    assert_eq!(common::error_code(&r), "validation_failed", "{}", r.text);
}

/// However the same usage is split into batches (and in whatever order they arrive), the
/// month's charge, the ledger's debits and the reconciliation come out the same: the charge is
/// a function of the month's totals, rounded once.
#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn the_charge_does_not_depend_on_batching_or_order(pool: PgPool) {
    let app = App::new(pool.clone());
    let at = Utc::now();
    // 40 events of odd sizes: 203,000 AI tokens in all on Starter (50,000 included).
    let sizes: Vec<u64> = (0..40).map(|i| 1_000 + (i * 7_919) % 9_000).collect();
    let mut results = Vec::new();
    for (n, batch) in [1usize, 3, 40].into_iter().enumerate() {
        let id = format!("b{n}");
        tenant(&app, &id, "starter", "US", "prepaid").await;
        top_up(&app, &id, "t", 1_000).await;
        let key = app.key(&id, &["ingest"]).await;
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        if n == 1 {
            order.reverse();
        }
        for chunk in order.chunks(batch) {
            let events: Vec<Value> = chunk
                .iter()
                .map(|&i| {
                    json!({"id": format!("e{i}"), "tenant": id, "meter": "ai_tokens",
                                  "quantity": sizes[i].to_string(), "time": at.to_rfc3339()})
                })
                .collect();
            let r = app
                .call("POST", "/v1/events", &key, Some(Value::Array(events)))
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        }
        let row: (rust_decimal::Decimal, i64, i64) = sqlx::query_as(
            "SELECT amount, tokens_due, tokens_debited FROM charging_periods WHERE tenant_id = $1",
        )
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
        results.push((row, wallet_available(&app, &id).await));
    }
    let total: u64 = sizes.iter().sum();
    let over = total - 50_000;
    let expected =
        (rust_decimal::Decimal::from(over) * rust_decimal::Decimal::new(2, 6)).round_dp(2);
    assert_eq!(results[0].0 .0, expected);
    assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    assert!(reconcile(&pool, &app).await.mismatches.is_empty());
}

/// Automatic resumption when the cause clears: an upgrade whose grant covers the unpaid tokens,
/// and a raised limit for a tenant suspended by its hard limit.
#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn an_upgrade_or_a_raised_limit_resumes_by_itself(pool: PgPool) {
    let app = App::new(pool.clone());
    tenant(&app, "up", "starter", "US", "prepaid").await;
    let key = app.key("up", &["ingest"]).await;
    // 60,000 tokens on Starter: 10,000 over = 2 tokens, and the wallet is empty.
    tokens(&app, &key, "up", "a", 60_000, Utc::now()).await;
    assert_eq!(
        status(&app, "up").await["suspended_cause"],
        "insufficient_balance"
    );
    let r = app
        .call(
            "PUT",
            "/v1/tenants/up/plan",
            OWNER,
            Some(json!({"plan": "pro"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["plan"].clone(), r.body["status"].clone()),
        (json!("pro"), json!("active")),
        "{}",
        r.text
    );
    let w = app
        .call("GET", "/v1/tenants/up/wallet", OWNER, None)
        .await
        .body;
    assert_eq!(
        w["available"], "498",
        "Pro's 500-token grant paid the 2 unpaid tokens: {w}"
    );
    let r = app
        .call(
            "PUT",
            "/v1/tenants/up/plan",
            OWNER,
            Some(json!({"plan": "platinum"})),
        )
        .await;
    assert_eq!(common::error_code(&r), "validation_failed", "{}", r.text);
    assert!(reconcile(&pool, &app).await.mismatches.is_empty());

    tenant(&app, "cap", "free", "US", "postpaid").await;
    let limit = |n: &'static str| json!({"limit": n, "period": "daily", "hard": true, "auto_suspend": true});
    app.call(
        "PUT",
        "/v1/tenants/cap/limits/workflow_runs",
        OWNER,
        Some(limit("10")),
    )
    .await;
    let key = app.key("cap", &["ingest"]).await;
    let ev = json!([{"id": "r", "tenant": "cap", "meter": "workflow_runs", "quantity": "10", "time": Utc::now().to_rfc3339()}]);
    app.call("POST", "/v1/events", &key, Some(ev)).await;
    let mut alerting = tally::alerting::Alerting::default();
    let evaluate = async |alerting: &mut tally::alerting::Alerting| {
        app.state.quota.refresh(&pool, Utc::now()).await.unwrap();
        alerting
            .evaluate(
                &pool,
                &app.state.quota,
                &app.state.catalogue.current(),
                Utc::now(),
            )
            .await
            .unwrap()
    };
    evaluate(&mut alerting).await;
    assert_eq!(status(&app, "cap").await["suspended_cause"], "limit");
    evaluate(&mut alerting).await;
    assert_eq!(
        status(&app, "cap").await["status"],
        "suspended",
        "still at its limit"
    );
    app.call(
        "PUT",
        "/v1/tenants/cap/limits/workflow_runs",
        OWNER,
        Some(limit("100")),
    )
    .await;
    evaluate(&mut alerting).await;
    assert_eq!(
        status(&app, "cap").await["status"],
        "active",
        "the raised limit cleared the cause"
    );
    assert_eq!(
        event_types(&pool, "cap")
            .await
            .iter()
            .filter(|t| t.starts_with("tenant."))
            .count(),
        2
    );
}

/// A rating failure that is not the database's never blocks metering: the usage is counted,
/// the rating's writes are undone.
#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn metering_does_not_wait_on_pricing(pool: PgPool) {
    let app = App::new(pool.clone());
    tenant(&app, "odd", "starter", "US", "prepaid").await;
    let key = app.key("odd", &["ingest"]).await;
    top_up(&app, "odd", "t", 10).await;
    // A plan the catalogue does not know (as after a careless catalogue edit).
    sqlx::query("UPDATE tenants SET plan = 'retired' WHERE id = 'odd'")
        .execute(&pool)
        .await
        .unwrap();
    let r = tokens(&app, &key, "odd", "a", 75_000, Utc::now()).await;
    assert_eq!(r["accepted"], 1, "{r}");
    assert_eq!(wallet_available(&app, "odd").await, "10");
    let periods: i64 =
        sqlx::query_scalar("SELECT count(*) FROM charging_periods WHERE tenant_id = 'odd'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(periods, 0, "the failed rating left nothing behind");
}

/// Events parked for a tenant that did not exist yet are counted and charged once it does
/// (what `tally serve` does every 5 s); events still unattributable are left alone.
#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn parked_events_are_counted_and_charged_once_their_tenant_exists(pool: PgPool) {
    let app = App::new(pool.clone());
    let ev = |id: &str, tenant: &str| json!({"id": id, "tenant": tenant, "meter": "ai_tokens", "quantity": "75000", "time": Utc::now().to_rfc3339()});
    let r = app
        .call(
            "POST",
            "/v1/events",
            OWNER,
            Some(json!([ev("early", "late-shop"), ev("lost", "nobody")])),
        )
        .await;
    assert_eq!(
        r.body["parked"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.text
    );
    tenant(&app, "late-shop", "starter", "US", "prepaid").await;
    top_up(&app, "late-shop", "t", 10).await;
    let rater = tally::charging::Rater::new(app.state.catalogue.clone());
    let replay = metering::replay_cleared_with(&pool, Utc::now(), 100, Some(&rater))
        .await
        .unwrap();
    assert_eq!(
        replay.outcome.accepted(),
        1,
        "only the event whose tenant now exists"
    );
    assert_eq!(
        wallet_available(&app, "late-shop").await,
        "5",
        "and it was charged: 25,000 over = 5 tokens"
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT tenant_id FROM metering_parked")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["nobody"]);
}
