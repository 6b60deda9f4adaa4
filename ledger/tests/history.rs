//! Two-phase transfers, entries, point-in-time balances and `verify` against PostgreSQL.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::*;
use ledger::{NewTransfer, TransferKind, TransferResult as R};
use sqlx::PgPool;

fn post(id: &str, p: &str, amount: Option<u64>) -> NewTransfer {
    NewTransfer {
        id: tid(id),
        kind: TransferKind::PostPending {
            pending_id: tid(p),
            amount: amount.map(amt),
        },
        linked: false,
        metadata: None,
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn pending_post_void_expire(pool: PgPool) {
    open(&pool, "world", "TOKEN", false).await;
    open(&pool, "a", "TOKEN", true).await;
    let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let r = ledger::create_transfers_at(
        &pool,
        &[
            posted("f", "world", "a", 100),
            pending("p1", "a", "world", 30, 10),
            pending("p2", "a", "world", 50, 10),
        ],
        t0,
    )
    .await
    .unwrap();
    assert_eq!(r, vec![R::Created; 3]);
    let a = ledger::get_account(&pool, &acc("a"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a.balances.balance(), a.balances.available()), (100, 20));
    // Two batches race to post p1: exactly one creates.
    let (b1, b2) = ([post("q1", "p1", Some(10))], [post("q2", "p1", None)]);
    let (x, y) = tokio::join!(
        ledger::create_transfers_at(&pool, &b1, t0),
        ledger::create_transfers_at(&pool, &b2, t0)
    );
    let mut both = vec![x.unwrap()[0], y.unwrap()[0]];
    both.sort_by_key(|r| r.as_str());
    assert_eq!(both, vec![R::Created, R::PendingTransferAlreadyPosted]);
    let t1 = t0 + Duration::seconds(10);
    assert_eq!(
        ledger::create_transfers_at(&pool, &[post("q3", "p2", None)], t1)
            .await
            .unwrap(),
        vec![R::PendingTransferExpired]
    );
    let swept = ledger::sweep(&pool, t1).await.unwrap();
    assert_eq!(swept.pending_expired, 1);
    let report = ledger::verify(&pool).await.unwrap();
    assert!(report.is_ok(), "{report}");
}

#[sqlx::test(migrations = "../migrations")]
async fn entries_and_as_of(pool: PgPool) {
    open(&pool, "world", "TOKEN", false).await;
    open(&pool, "a", "TOKEN", true).await;
    let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    for i in 1..=5u64 {
        let at = t0 + Duration::minutes(i as i64);
        let r =
            ledger::create_transfers_at(&pool, &[posted(&format!("t{i}"), "world", "a", i)], at)
                .await
                .unwrap();
        assert_eq!(r, vec![R::Created]);
    }
    let page = ledger::list_entries(&pool, &acc("a"), None, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 4]
    );
    assert_eq!(page.entries[0].balances_after.balance(), 15);
    assert_eq!(page.entries[0].counterparty.as_str(), "world");
    let cursor = ledger::EntryCursor::parse(&page.next_cursor.unwrap().to_string()).unwrap();
    let page = ledger::list_entries(&pool, &acc("a"), Some(cursor), 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    assert!(page.next_cursor.is_none());
    assert!(ledger::list_entries(&pool, &acc("zz"), None, 10)
        .await
        .unwrap()
        .is_none());

    let a = acc("a");
    for (minutes, balance) in [(-1, 0), (2, 3), (9, 15)] {
        let at = t0 + Duration::minutes(minutes) + Duration::seconds(30);
        let b = ledger::balances_as_of(&pool, &a, at)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.balance(), balance, "as of {at}");
    }
    assert!(ledger::balances_as_of(&pool, &acc("zz"), t0)
        .await
        .unwrap()
        .is_none());
}

#[sqlx::test(migrations = "../migrations")]
async fn verify_reports_tampering(pool: PgPool) {
    open(&pool, "world", "TOKEN", false).await;
    open(&pool, "a", "TOKEN", true).await;
    ledger::create_transfers(&pool, &[posted("t", "world", "a", 7)])
        .await
        .unwrap();
    assert!(ledger::verify(&pool).await.unwrap().is_ok());
    // A counter changed behind the ledger's back (the trigger allows counter updates).
    sqlx::query("UPDATE ledger_accounts SET credits_posted = 8 WHERE id = 'a'")
        .execute(&pool)
        .await
        .unwrap();
    let report = ledger::verify(&pool).await.unwrap();
    assert!(!report.is_ok());
    let checks: Vec<&str> = report.violations.iter().map(|v| v.check).collect();
    for c in [
        "asset_balanced",
        "counters_match_transfers",
        "counters_match_last_entry",
    ] {
        assert!(checks.contains(&c), "{c} missing from {report}");
    }
    assert!(report.to_string().contains("VIOLATIONS"));
}

#[sqlx::test(migrations = "../migrations")]
async fn post_and_void_by_pending_id_are_idempotent(pool: PgPool) {
    open(&pool, "world", "TOKEN", false).await;
    open(&pool, "a", "TOKEN", true).await;
    let r = ledger::create_transfers(
        &pool,
        &[
            posted("f", "world", "a", 10),
            pending("p", "a", "world", 8, 0),
            pending("q", "a", "world", 2, 0),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r, vec![R::Created; 3]);
    let now = Utc::now();
    let cases = [
        (
            ledger::post_pending(&pool, &tid("p"), Some(amt(5)), now)
                .await
                .unwrap(),
            R::Created,
        ),
        (
            ledger::post_pending(&pool, &tid("p"), Some(amt(5)), now)
                .await
                .unwrap(),
            R::Exists,
        ),
        (
            ledger::post_pending(&pool, &tid("p"), Some(amt(6)), now)
                .await
                .unwrap(),
            R::ExistsWithDifferentFields,
        ),
        (
            ledger::void_pending(&pool, &tid("p"), now).await.unwrap(),
            R::PendingTransferAlreadyPosted,
        ),
        (
            ledger::void_pending(&pool, &tid("q"), now).await.unwrap(),
            R::Created,
        ),
        (
            ledger::void_pending(&pool, &tid("q"), now).await.unwrap(),
            R::Exists,
        ),
        (
            ledger::post_pending(&pool, &tid("nope"), None, now)
                .await
                .unwrap(),
            R::PendingTransferNotFound,
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, want, "case {i}");
    }
    assert_eq!(balance(&pool, "a").await, 5);
    assert!(ledger::verify(&pool).await.unwrap().is_ok());
}
