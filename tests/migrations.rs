//! Migrations apply from scratch, are idempotent, and readiness follows them.

mod common;

use axum::http::StatusCode;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn migrations_apply_from_scratch_and_again(pool: PgPool) {
    assert!(!tally::db::migrations_current(&pool)
        .await
        .is_ok_and(|ok| ok));
    let app = common::App::new(pool.clone());
    assert_eq!(
        app.raw("GET", "/readyz", None, None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let caps = tally::db::migrate(&pool).await.unwrap();
    assert!(!caps.timescaledb, "these machines have no TimescaleDB");
    tally::db::migrate(&pool)
        .await
        .expect("a second run is a no-op");
    assert!(tally::db::migrations_current(&pool).await.unwrap());
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, tally::db::MIGRATOR.iter().count());
    let ts: bool = sqlx::query_scalar("SELECT tally_timescaledb_available()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!ts);

    let r = app.raw("GET", "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        app.raw("GET", "/healthz", None, None).await.status,
        StatusCode::OK
    );
}
