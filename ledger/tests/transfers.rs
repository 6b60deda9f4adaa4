//! Batch transfers against real PostgreSQL: results, chains, idempotency, append-only.

mod common;

use common::*;
use ledger::TransferResult as R;
use sqlx::PgPool;

async fn setup(pool: &PgPool) {
    open(pool, "world", "TOKEN", false).await;
    open(pool, "alice", "TOKEN", true).await;
    open(pool, "bob", "TOKEN", true).await;
    open(pool, "usd", "USD", false).await;
}

#[sqlx::test(migrations = "../migrations")]
async fn results_in_request_order(pool: PgPool) {
    setup(&pool).await;
    let batch = vec![
        posted("t1", "world", "alice", 100),
        posted("t2", "alice", "bob", 150),
        posted("t3", "alice", "bob", 60),
        posted("t1", "world", "alice", 100),
        posted("t1", "world", "alice", 101),
        posted("t4", "alice", "alice", 1),
        posted("t5", "alice", "bob", 0),
        posted("t6", "alice", "nobody", 1),
        posted("t7", "alice", "usd", 1),
        posted("~t8", "world", "alice", 1),
    ];
    let results = ledger::create_transfers(&pool, &batch).await.unwrap();
    use R::*;
    assert_eq!(
        results,
        vec![
            Created,
            ExceedsCredits,
            Created,
            Exists,
            ExistsWithDifferentFields,
            AccountsMustBeDifferent,
            AmountMustNotBeZero,
            AccountNotFound,
            AssetMismatch,
            ReservedId
        ]
    );
    assert_eq!(balance(&pool, "alice").await, 40);
    assert_eq!(balance(&pool, "bob").await, 60);
    assert_eq!(balance(&pool, "world").await, -100);
    // Retrying the batch changes nothing.
    let again = ledger::create_transfers(&pool, &batch).await.unwrap();
    assert_eq!(again[0], Exists);
    assert_eq!(again[2], Exists);
    assert_eq!(balance(&pool, "alice").await, 40);
}

#[sqlx::test(migrations = "../migrations")]
async fn linked_chain_is_all_or_nothing(pool: PgPool) {
    setup(&pool).await;
    let batch = vec![
        linked(posted("a", "world", "alice", 10)),
        linked(posted("b", "alice", "bob", 5)),
        posted("c", "alice", "bob", 50),
        posted("d", "world", "bob", 1),
        linked(posted("e", "world", "bob", 1)),
    ];
    let results = ledger::create_transfers(&pool, &batch).await.unwrap();
    use R::*;
    assert_eq!(
        results,
        vec![
            LinkedEventFailed,
            LinkedEventFailed,
            ExceedsCredits,
            Created,
            LinkedEventChainOpen
        ]
    );
    assert_eq!(balance(&pool, "alice").await, 0);
    assert_eq!(balance(&pool, "bob").await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn transfers_and_entries_are_append_only(pool: PgPool) {
    setup(&pool).await;
    ledger::create_transfers(&pool, &[posted("t1", "world", "alice", 5)])
        .await
        .unwrap();
    for sql in [
        "UPDATE ledger_transfers SET amount = 6",
        "DELETE FROM ledger_transfers",
        "UPDATE ledger_entries SET credits_posted = 0",
        "DELETE FROM ledger_entries",
        "DELETE FROM ledger_accounts WHERE id = 'bob'",
        "UPDATE ledger_accounts SET asset = 'USD' WHERE id = 'bob'",
        "UPDATE ledger_accounts SET debits_posted = 10 WHERE id = 'alice'",
    ] {
        assert!(
            sqlx::query(sql).execute(&pool).await.is_err(),
            "{sql} should fail"
        );
    }
}
