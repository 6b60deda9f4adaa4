//! The ledger over HTTP and `tally ledger verify`, against the real PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{App, OWNER};
use serde_json::{json, Value};
use sqlx::PgPool;

async fn transfers(app: &App, list: Value) -> Vec<String> {
    let r = app
        .call(
            "POST",
            "/v1/ledger/transfers",
            OWNER,
            Some(json!({ "transfers": list })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["result"].as_str().unwrap().to_string())
        .collect()
}

async fn balance(app: &App, id: &str) -> Value {
    let r = app
        .call("GET", &format!("/v1/ledger/accounts/{id}"), OWNER, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn transfers_follow_tigerbeetle_semantics(pool: PgPool) {
    let app = App::new(pool.clone());
    for (id, flags) in [
        ("world", json!({})),
        ("wallet", json!({"debits_must_not_exceed_credits": true})),
        ("sink", json!({})),
    ] {
        let r = app
            .call(
                "POST",
                "/v1/ledger/accounts",
                OWNER,
                Some(json!({"id": id, "asset": "TOKEN", "flags": flags})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = app
        .call(
            "POST",
            "/v1/ledger/accounts",
            OWNER,
            Some(json!({"id": "x", "asset": "NOPE"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    let got = transfers(&app, json!([
        {"id": "t1", "debit_account": "world", "credit_account": "wallet", "amount": "100"},
        {"id": "t2", "debit_account": "wallet", "credit_account": "sink", "amount": "150"},
        {"id": "t3", "debit_account": "wallet", "credit_account": "sink", "amount": "10", "linked": true},
        {"id": "t4", "debit_account": "wallet", "credit_account": "nowhere", "amount": "10"},
        {"id": "t1", "debit_account": "world", "credit_account": "wallet", "amount": "100"},
        {"id": "t1", "debit_account": "world", "credit_account": "wallet", "amount": "99"},
    ])).await;
    assert_eq!(
        got,
        [
            "created",
            "exceeds_credits",
            "linked_event_failed",
            "account_not_found",
            "exists",
            "exists_with_different_fields"
        ]
    );

    // Two-phase: hold 30, post 20 of it; the rest is released; voiding afterwards is refused.
    let got = transfers(&app, json!([{"id": "h1", "debit_account": "wallet", "credit_account": "sink", "amount": "30", "pending": true, "timeout_s": 3600}])).await;
    assert_eq!(got, ["created"]);
    assert_eq!(balance(&app, "wallet").await["available"], "70");
    let r = app
        .call(
            "POST",
            "/v1/ledger/transfers/h1/post",
            OWNER,
            Some(json!({"amount": "20"})),
        )
        .await;
    assert_eq!(r.body["results"][0]["result"], "created", "{}", r.text);
    let r = app
        .call("POST", "/v1/ledger/transfers/h1/void", OWNER, None)
        .await;
    assert_eq!(
        r.body["results"][0]["result"], "pending_transfer_already_posted",
        "{}",
        r.text
    );
    let w = balance(&app, "wallet").await;
    assert_eq!(
        (
            w["balance"].as_str(),
            w["available"].as_str(),
            w["debits_pending"].as_str()
        ),
        (Some("80"), Some("80"), Some("0"))
    );

    let r = app
        .call(
            "GET",
            "/v1/ledger/accounts/wallet?as_of=2000-01-01T00:00:00Z",
            OWNER,
            None,
        )
        .await;
    assert_eq!(r.body["balance"], "0", "{}", r.text);

    // History, newest first, paged.
    let r = app
        .call(
            "GET",
            "/v1/ledger/accounts/wallet/entries?limit=2",
            OWNER,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["data"][0]["balance_after"], "80");
    let next = r.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let r = app
        .call(
            "GET",
            &format!("/v1/ledger/accounts/wallet/entries?limit=2&cursor={next}"),
            OWNER,
            None,
        )
        .await;
    assert_eq!(r.body["data"][0]["balance_after"], "100", "{}", r.text);

    let r = app.call("POST", "/v1/ledger/transfers", OWNER, Some(json!({"transfers": [{"id": "bad", "debit_account": "world", "credit_account": "wallet", "amount": "-1"}]}))).await;
    assert_eq!(
        r.body["error"]["details"]["field"], "transfers[0].amount",
        "{}",
        r.text
    );

    verify_cli(&pool, true).await;
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn wallets_top_up_idempotently_and_stay_private(pool: PgPool) {
    let app = App::new(pool.clone());
    app.create_tenant("acme").await;
    app.create_tenant("beta").await;
    let body = json!({"id": "pay-1", "amount": "5000", "reason": "card payment"});
    let r = app
        .call(
            "POST",
            "/v1/tenants/acme/wallet/top-ups",
            OWNER,
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (r.status, r.body["result"].as_str()),
        (StatusCode::CREATED, Some("created")),
        "{}",
        r.text
    );
    let r = app
        .call("POST", "/v1/tenants/acme/wallet/top-ups", OWNER, Some(body))
        .await;
    assert_eq!(
        (r.status, r.body["result"].as_str()),
        (StatusCode::OK, Some("exists")),
        "{}",
        r.text
    );
    let key = app.key("acme", &["read"]).await;
    let r = app.call("GET", "/v1/tenants/acme/wallet", &key, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["available"].as_str(), r.body["purchased"].as_str()),
        (Some("5000"), Some("5000"))
    );
    assert_eq!(
        app.call("GET", "/v1/tenants/beta/wallet", &key, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .call(
            "POST",
            "/v1/tenants/acme/wallet/top-ups",
            &key,
            Some(json!({"id": "x", "amount": "1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    verify_cli(&pool, true).await;

    // Break the books behind the ledger's back: verify must notice and exit 1.
    sqlx::query("ALTER TABLE ledger_accounts DISABLE TRIGGER USER")
        .execute(&pool)
        .await
        .ok();
    sqlx::query("UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE tenant = 'acme' AND credits_posted > 0")
        .execute(&pool)
        .await
        .unwrap();
    verify_cli(&pool, false).await;
}

/// Runs the real `tally ledger verify` against the test's database.
async fn verify_cli(pool: &PgPool, expect_ok: bool) {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["ledger", "verify"])
        .env("DATABASE_URL", format!("{prefix}/{db}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.success(),
        expect_ok,
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
