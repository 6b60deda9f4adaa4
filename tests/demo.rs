//! `tally demo` end to end on a fresh database: through Kafka when KAFKA_BROKERS is set (as
//! the test script sets it), else through the write path. It must count every event exactly
//! once, price, move tokens and verify the ledger.

use sqlx::PgPool;

#[sqlx::test(migrator = "tally::db::MIGRATOR")]
async fn the_demo_counts_every_event_once_and_the_ledger_verifies(pool: PgPool) {
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["demo", "--events", "3000", "--seed", "7"])
        .env("DATABASE_URL", format!("{prefix}/{db}"))
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("events counted") && text.contains("(expected 3016: exact)"),
        "3,000 generated events and the small wallet's 16: {text}"
    );
    // The small-wallet tenant is charged, warned, suspended and resumed.
    assert!(
        text.contains("6         3       3  suspended (insufficient_balance)"),
        "{text}"
    );
    assert!(text.contains("70 %, 85 %, 95 %, 100 %"), "{text}");
    assert!(text.contains("wallet 17 → resumed"), "{text}");
    assert!(
        text.contains("charging reconciliation: ") && text.contains("0 unpaid: ok"),
        "{text}"
    );
    assert!(text.contains("tally ledger verify: OK"), "{text}");
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM metering_event_ids")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counted, 3016);
}
