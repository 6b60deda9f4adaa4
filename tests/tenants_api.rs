//! Tenants, API keys, isolation and the error shape, through the real router and PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{error_code, tenant_body, App, OWNER};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn create_read_and_duplicate(pool: PgPool) {
    let app = App::new(pool);
    let r = app.create_tenant("acme").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["timezone"], "Asia/Kolkata");

    let r = app.call("GET", "/v1/tenants/acme", OWNER, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["plan"].as_str(), r.body["currency"].as_str()),
        (Some("pro"), Some("INR"))
    );

    let r = app.create_tenant("acme").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(error_code(&r), "tenant_exists");

    let r = app.call("GET", "/v1/tenants/nobody", OWNER, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "not_found");
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn invalid_fields_are_named(pool: PgPool) {
    let app = App::new(pool);
    let cases = [
        ("timezone", json!("Mars/Olympus")),
        ("currency", json!("XYZ")),
        ("region", json!("ZZ")),
        ("plan", json!("platinum")),
        ("billing_mode", json!("credit")),
        ("id", json!("Not Valid!")),
    ];
    for (field, value) in cases {
        let mut body = tenant_body("t1");
        body[field] = value;
        let r = app.call("POST", "/v1/tenants", OWNER, Some(body)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            r.text
        );
        assert_eq!(error_code(&r), "validation_failed");
        assert_eq!(r.body["error"]["details"]["field"], field, "{}", r.text);
    }
    // A wrong JSON type is also 422 naming the field.
    let mut body = tenant_body("t1");
    body["name"] = json!(42);
    let r = app.call("POST", "/v1/tenants", OWNER, Some(body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["details"]["field"], "name", "{}", r.text);
    // Nothing was created by any of them.
    let r = app.call("GET", "/v1/tenants/t1", OWNER, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn malformed_json_and_oversized_bodies(pool: PgPool) {
    let app = App::new(pool);
    let r = app
        .raw(
            "POST",
            "/v1/tenants",
            Some(OWNER),
            Some(b"{\"id\": ".to_vec()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&r), "invalid_json");

    let big = format!("{{\"id\":\"big\",\"name\":\"{}\"}}", "x".repeat(2 << 20));
    let r = app
        .raw("POST", "/v1/tenants", Some(OWNER), Some(big.into_bytes()))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&r), "payload_too_large");

    let r = app.raw("GET", "/v1/nowhere", Some(OWNER), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&r), "route_not_found");
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn authentication_is_required(pool: PgPool) {
    let app = App::new(pool);
    app.create_tenant("acme").await;
    let r = app.raw("GET", "/v1/tenants/acme", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&r), "unauthorized");
    let r = app
        .raw("GET", "/v1/tenants/acme", Some("wrong-token"), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app
        .raw(
            "GET",
            "/v1/tenants/acme",
            Some("tly_abcdefgh_notarealkeynotarealkeynotareal"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn key_scopes_are_enforced(pool: PgPool) {
    let app = App::new(pool);
    app.create_tenant("acme").await;
    let read = app.key("acme", &["read"]).await;
    let ingest = app.key("acme", &["ingest"]).await;
    let admin = app.key("acme", &["admin"]).await;

    assert_eq!(
        app.call("GET", "/v1/tenants/acme", &read, None)
            .await
            .status,
        StatusCode::OK
    );
    let r = app.call("GET", "/v1/tenants/acme", &ingest, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&r), "insufficient_scope");

    // Only admin keys manage keys; only the owner creates tenants.
    let body = json!({"name": "ci", "scopes": ["ingest"]});
    let r = app
        .call(
            "POST",
            "/v1/tenants/acme/api-keys",
            &read,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call("POST", "/v1/tenants/acme/api-keys", &admin, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .call("POST", "/v1/tenants", &admin, Some(tenant_body("other")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&r), "owner_required");

    let r = app
        .call(
            "POST",
            "/v1/tenants/acme/api-keys",
            OWNER,
            Some(json!({"name": "x", "scopes": ["root"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["details"]["field"], "scopes[0]");
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn keys_are_stored_hashed_and_listed_without_secret(pool: PgPool) {
    let app = App::new(pool.clone());
    app.create_tenant("acme").await;
    let key = app.key("acme", &["read"]).await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&key));
    let r = app
        .call("GET", "/v1/tenants/acme/api-keys", OWNER, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.text.contains(&key),
        "the secret must never be shown again"
    );
    assert!(key.starts_with(r.body["data"][0]["prefix"].as_str().unwrap()));
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn tenants_are_isolated(pool: PgPool) {
    let app = App::new(pool);
    app.create_tenant("alpha").await;
    app.create_tenant("beta").await;
    let alpha = app.key("alpha", &["read", "admin"]).await;
    for path in ["/v1/tenants/beta", "/v1/tenants/beta/api-keys"] {
        let r = app.call("GET", path, &alpha, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let r = app
        .call(
            "POST",
            "/v1/tenants/beta/suspend",
            &alpha,
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call("GET", "/v1/tenants", &alpha, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn revoked_keys_are_refused(pool: PgPool) {
    let app = App::new(pool);
    app.create_tenant("acme").await;
    let r = app
        .call(
            "POST",
            "/v1/tenants/acme/api-keys",
            OWNER,
            Some(json!({"name": "k", "scopes": ["read"]})),
        )
        .await;
    let (id, key) = (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["key"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        app.call("GET", "/v1/tenants/acme", &key, None).await.status,
        StatusCode::OK
    );
    let r = app
        .call(
            "DELETE",
            &format!("/v1/tenants/acme/api-keys/{id}"),
            OWNER,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app.call("GET", "/v1/tenants/acme", &key, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
}

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn suspend_and_resume_are_logged(pool: PgPool) {
    let app = App::new(pool.clone());
    app.create_tenant("acme").await;
    let r = app
        .call(
            "POST",
            "/v1/tenants/acme/suspend",
            OWNER,
            Some(json!({"reason": "unpaid"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["status"].as_str(), r.body["status_reason"].as_str()),
        (Some("suspended"), Some("unpaid"))
    );
    let r = app
        .call("POST", "/v1/tenants/acme/resume", OWNER, None)
        .await;
    assert_eq!(r.body["status"], "active");
    let log: Vec<(String, String)> =
        sqlx::query_as("SELECT from_status, to_status FROM tenant_status_changes ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        log,
        vec![
            ("active".into(), "suspended".into()),
            ("suspended".into(), "active".into())
        ]
    );
}
